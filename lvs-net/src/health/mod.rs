//! Health checks: the real probes behind [`lvs_core::health`], and a runner that drives the
//! core's checker state machine with a real clock.
//!
//! ```text
//!   HealthRunner (own thread, off the packet path)
//!     HealthMonitor (lvs-core: timing, retries, quorum)  -- poll_checks --> ProbePool
//!        ^ handle_result                                              (N worker threads,
//!        |                                                             blocking sockets with
//!        +-------------------- results channel <----------------------  connect_timeout)
//!     poll_action -> on_command(Command) -> the router's Director
//!                 -> notify_up / notify_down / quorum programs (sh -c, not waited for)
//! ```
//!
//! Every probe is bounded by its `connect_timeout` (the whole exchange, as keepalived's
//! `connection_to` bounds each read and write); a probe never runs on a data-plane worker, and
//! at most `threads` probes run at a time: each checker has at most one probe in flight, so the
//! queue is bounded by the number of checkers.
//!
//! Dependencies: `socket2` (ICMP datagram/raw sockets without unsafe), `md-5` (RustCrypto, the
//! body digest of `HTTP_GET`), `regex` (send/expect patterns), `serde` (config sections) and
//! `rustls` with the `ring` provider for `SSL_GET`. ring builds its C and assembly with `cc`
//! (about a minute on two busy cores); aws-lc-rs, rustls' default provider, needs cmake and
//! several minutes, for nothing a health check uses.

mod config;
mod http;
mod icmp;
mod misc;
mod pool;
mod probe;
mod runner;
mod tls;

use std::net::SocketAddr;

pub use config::{HealthConfigError, HealthFile, RealServerSection, VirtualServerSection};
pub use pool::{ProbePool, Prober};
pub use probe::run_probe;
pub use runner::{HealthRunner, HealthStatus, RunnerHandle, RunnerOptions};

/// Errors of the health-check machinery itself (not probe failures, which are results).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// A probe worker thread could not be started.
    #[error("spawning health-check worker {index}: {source}")]
    SpawnWorker {
        /// Worker number.
        index: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// The runner thread could not be started.
    #[error("spawning the health-check runner thread: {0}")]
    SpawnRunner(std::io::Error),
    /// A notify program could not be started.
    #[error("running notify program `{program}`: {source}")]
    Notify {
        /// The command line.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A probe failure's reason, naming the operation and the target like the other lvs-net errors.
pub(crate) fn failure(op: &str, target: SocketAddr, err: impl core::fmt::Display) -> String {
    format!("{op} {target}: {err}")
}
