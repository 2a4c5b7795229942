//! Active/backup failover on real sockets: VRRP (driving [`lvs_core::vrrp`]) and the IPVS
//! connection sync transport (carrying [`lvs_core::sync`] messages).
//!
//! ```text
//!   runner   VrrpRunner: the real clock, the socket, VIP take/release, notify scripts
//!   vip      VipOwner (the router's hook) and IpCommandOwner (`ip addr add/del`)
//!   socket   VrrpSocket (raw IP protocol 112, multicast group, TTL 255) and LinkSocket
//!            (AF_PACKET, gratuitous ARP / unsolicited NA frames)
//!   sync     SyncSendSocket / SyncRecvSocket (UDP 224.0.0.81:8848, TTL 1)
//!   iface    interface index, MAC and link state from /sys/class/net
//! ```

mod iface;
mod runner;
mod socket;
mod sync;
mod vip;

use crate::sys::ha as sys;

pub use iface::Interface;
pub use runner::{Notify, VrrpRunner};
pub use socket::{LinkSocket, Received, VrrpSocket};
pub use sync::{SyncRecvSocket, SyncSendSocket, SyncSocketConfig};
pub use vip::{IpCommandOwner, VipOwner};

use std::io;

/// What failed, on which interface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaError {
    /// A socket call failed.
    #[error("{op} on {iface}: {source}")]
    Socket {
        /// The operation (`"join 224.0.0.18"`, `"send advert"`, ...).
        op: &'static str,
        /// The interface.
        iface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The interface does not exist or its attributes could not be read.
    #[error("interface {iface}: {source}")]
    Interface {
        /// The interface.
        iface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An `ip` command or notify script failed.
    #[error("command `{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status and stderr.
        detail: String,
    },
    /// The VRRP configuration was refused.
    #[error(transparent)]
    Vrrp(#[from] lvs_core::vrrp::VrrpError),
}

impl HaError {
    fn socket<'a>(op: &'static str, iface: &'a str) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| Self::Socket {
            op,
            iface: iface.to_owned(),
            source,
        }
    }
}

/// Whether a receive with SO_RCVTIMEO ended without a packet: the timeout ran out or a signal
/// cut the wait short.
fn no_packet_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
