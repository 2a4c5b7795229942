//! Typed views over packet bytes, checksums and flow keys.
//!
//! ```text
//!   dump      tcpdump-style one-line summaries (for humans, examples, `replay`)
//!   flow      one pass over a frame: FlowKey + offsets the rewriters use without re-parsing
//!   ethernet arp ipv4 ipv6 tcp udp icmpv4 icmpv6
//!             zero-copy views `XPacket<T: AsRef<[u8]>>` and `XRepr` emitters
//!   checksum  RFC 1071 full sums, RFC 1624 incremental updates
//! ```
//!
//! The shape follows smoltcp's `wire` module: a view wraps any buffer `T`; getters need
//! `T: AsRef<[u8]>`, setters `T: AsMut<[u8]>`. `new_unchecked` wraps without looking;
//! `new_checked` validates every length the accessors rely on, so that afterwards **no accessor
//! panics** (each module restates the exact contract). Nothing here allocates, and nothing panics
//! on any input given to a `new_checked` view or to [`flow`]/[`dump`].
//!
//! Wire numbers are open enums ([`EtherType`], [`IpProtocol`], ...): an unknown value is
//! `Unknown(n)`, not an error, and converts back to the same integer.

#[macro_use]
mod macros;

mod arp;
pub mod checksum;
pub mod dump;
mod error;
mod ethernet;
pub mod flow;
mod icmpv4;
mod icmpv6;
mod ip;
mod ipv4;
mod ipv6;
mod tcp;
mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use error::WireError;
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr, Icmpv4Type, dst_unreachable};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr, Icmpv6Type, NeighborFlags};
pub use ip::{IpProtocol, IpVersion};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Fragment, Ipv6Packet, Ipv6Repr, Ipv6UpperLayer, MAX_EXT_HEADERS};
pub use tcp::{TcpFlags, TcpOption, TcpOptions, TcpPacket};
pub use udp::{UdpPacket, UdpRepr};

pub(crate) use ethernet::{ethertype, payload_ethertype};
pub(crate) use ip::proto;
pub(crate) use ipv6::walk_ext_headers;

/// Result of the fallible operations of this module.
pub type Result<T> = core::result::Result<T, WireError>;

/// Reads a big-endian `u16` at `at`. Callers have checked the bounds (or accept a panic, in the
/// `new_unchecked` contract).
#[inline(always)]
pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

#[inline(always)]
fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[inline(always)]
pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline(always)]
fn write_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}
