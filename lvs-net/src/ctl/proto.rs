//! The wire protocol: one request and one response per connection, each a big-endian `u32`
//! length followed by that many bytes of JSON.
//!
//! ```text
//! {"version":1,"body":{"Apply":{"commands":[["-A","-t","192.0.2.1:80","-s","rr"]]}}}
//! {"version":1,"result":{"Ok":"Applied"}}
//! {"version":1,"body":{"Get":{"conns":false}}}
//! {"version":1,"result":{"Ok":{"State":{"table_size":4096,"services":[...],...}}}}
//! {"version":1,"body":"Health"}
//! {"version":1,"result":{"Ok":{"Health":"Service  RemoteAddress:Port ...\n"}}}
//! {"version":1,"result":{"Err":{"message":"Service already exists","index":0,"exit_code":255}}}
//! ```
//!
//! Commands travel as ipvsadm words, so the server checks them with the same parser; a version
//! other than [`PROTOCOL_VERSION`] is answered with an error naming both versions.

use std::io::{self, Read, Write};

use lvs_core::ipvsadm::{AdmState, DaemonConfig};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest request the server reads (a restore of ~100k lines fits).
pub(super) const MAX_REQUEST: u32 = 16 << 20;
/// Largest response the client reads (connection listings can be large).
pub(super) const MAX_RESPONSE: u32 = 1 << 30;

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// What to do.
    pub body: RequestBody,
}

/// What a request asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RequestBody {
    /// Table commands, `-Z` and `--set`, as ipvsadm words (without the program name); applied
    /// all or nothing.
    Apply {
        /// One word list per command.
        commands: Vec<Vec<String>>,
    },
    /// The state for `-L`, `-S` and `--json`; connections only when `conns`.
    Get {
        /// Include the connection table (`-c`).
        conns: bool,
    },
    /// `--start-daemon`.
    StartDaemon(DaemonConfig),
    /// `--stop-daemon`; `true` for master.
    StopDaemon(bool),
    /// `-L --health`: the health checkers' listing.
    Health,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// [`PROTOCOL_VERSION`] of the server.
    pub version: u32,
    /// The answer.
    pub result: Result<ResponseBody, CtlFailure>,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ResponseBody {
    /// The batch (or daemon command) was applied.
    Applied,
    /// The state.
    State(Box<AdmState>),
    /// The health listing text (`lvs_core::health::HealthMonitor::listing`).
    Health(String),
}

/// A refusal: ipvsadm's message and exit status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlFailure {
    /// What ipvsadm would print on stderr (without the newline).
    pub message: String,
    /// The refused command's index in an `Apply` batch.
    pub index: Option<usize>,
    /// ipvsadm's exit status for it.
    pub exit_code: u8,
}

/// Writes one frame.
pub(super) fn write_frame<T: Serialize>(w: &mut impl Write, value: &T) -> io::Result<()> {
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Reads one frame of at most `max` bytes.
pub(super) fn read_frame<T: for<'de> Deserialize<'de>>(
    r: &mut impl Read,
    max: u32,
) -> io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
