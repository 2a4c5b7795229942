//! VRRP (RFC 5798 v3, RFC 3768 v2) for active/backup directors, interoperable with keepalived.
//!
//! ```text
//!   config    VrrpConfig: version, VRID, priority, interval, VIPs, preempt, auth, GARPs
//!   machine   Vrrp: the Initialize/Backup/Master state machine (RFC 5798 section 6.4), the
//!             receive checks keepalived does, fault (interface tracking), resign on shutdown
//!   announce  gratuitous ARP / unsolicited NA frames a new master sends for its VIPs
//!   packet    VrrpPacket view and VrrpRepr writer for v2 and v3 adverts
//! ```
//!
//! Sans-IO like the rest of the core: the caller owns the raw socket and the clock.
//!
//! - [`Vrrp::handle_ip_packet`] / [`Vrrp::handle_advert`] when an advert arrives,
//! - [`Vrrp::handle_timeout`] when [`Vrrp::poll_timeout`] is reached,
//! - [`Vrrp::poll_transmit`] until `None` after any `handle_*` call (adverts for the raw socket,
//!   Ethernet frames for an AF_PACKET socket),
//! - [`Vrrp::poll_event`] for state changes (add/remove the VIPs, run notify scripts).

mod announce;
mod config;
mod machine;
mod packet;

pub use config::{DEFAULT_GARP_DELAY, DEFAULT_GARP_REPEAT, VrrpConfig};
pub use machine::{Transmit, Vrrp, VrrpEvent, VrrpState, VrrpStats};
pub use packet::{
    Family, HEADER_LEN, MCAST_V4, MCAST_V6, VrrpAuth, VrrpPacket, VrrpRepr, VrrpVersion,
};

/// Why an advert was dropped or a configuration refused. Each receive variant is also a
/// [`VrrpStats`] counter, named like keepalived's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum VrrpError {
    /// Shorter than the header, the address list or the v2 auth data says.
    #[error("truncated VRRP packet")]
    Truncated,
    /// Version other than 2 or 3, or not the configured one, or v2 over IPv6.
    #[error("bad VRRP version")]
    BadVersion,
    /// Type other than ADVERTISEMENT (RFC 5798 section 7.1).
    #[error("bad VRRP packet type")]
    BadType,
    /// The IP TTL / hop limit is not 255 (RFC 5798 section 7.1: the sender may be off-link).
    #[error("IP TTL is not 255")]
    BadTtl,
    /// The checksum does not verify.
    #[error("bad VRRP checksum")]
    BadChecksum,
    /// v2 auth type or password differs from ours (RFC 3768 section 7.1).
    #[error("VRRP authentication failure")]
    BadAuth,
    /// v2: the advert interval differs from ours (RFC 3768 section 7.1, keepalived drops too).
    #[error("VRRP advert interval mismatch")]
    IntervalMismatch,
    /// The address count or list differs from ours (counted; dropped only in strict mode).
    #[error("VRRP address list mismatch")]
    BadAddrList,
    /// Not an IP packet carrying VRRP, or an IPv4 fragment.
    #[error("not a VRRP packet")]
    NotVrrp,
    /// The configuration is out of the protocol's ranges (the message says which field).
    #[error("invalid VRRP configuration: {0}")]
    Config(&'static str),
}
