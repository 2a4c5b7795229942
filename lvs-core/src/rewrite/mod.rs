//! In-place packet rewriters for each forwarding method (LVS-SPEC "Forwarding methods", "ICMP").
//!
//! ```text
//!   nat        NAT in/out: VIP:vport <-> RIP:dport              (+ icmp::nat_*)
//!   fullnat    FULLNAT in/out: both ends translated, MSS clamp  (+ icmp::fullnat_*)
//!   toa        TCP option 254 carrying the client address (FULLNAT)
//!   dr         DR: Ethernet addresses only
//!   tunnel     TUN encapsulation: ipip / 6in6 / 4in6 / 6in4, GUE, GRE, tunnel MTU
//!   decap      the reverse, for the real-server helper
//!   ttl        TTL / hop-limit decrement, expiry
//!   icmp       related ICMP errors: outer + quoted translation
//!   originate  packets the router sends itself: ICMP errors, ARP, neighbour advertisements
//!   partial    CHECKSUM_PARTIAL / GSO frames: the pseudo-header sum after a rewrite
//! ```
//!
//! # Contract
//! - Every rewriter takes an Ethernet frame (at most one VLAN tag, 0x8100 or 0x88a8, as
//!   [`crate::wire::EthernetFrame`]) as bytes, re-validates the
//!   headers it touches, and is a pure function of those bytes and its arguments.
//! - No allocation and no panic on any input; malformed input returns a [`RewriteError`], which
//!   the data path uses as the drop reason. On error the frame is unchanged.
//! - Forwarded packets get incremental checksum updates (RFC 1624); only originated packets (and
//!   new outer headers) are summed in full. SCTP's CRC32c is always recomputed.
//! - The data path parses once: [`Layout`] (from [`crate::wire::flow::extract`]'s `FrameInfo` or
//!   [`Layout::parse`]) feeds the `*_at` variants; the plain variants parse for themselves.
//! - Same-size rewrites take `&mut [u8]`. Rewrites that change the length take a [`PacketBuf`]
//!   (the frame plus head/tailroom of the caller's buffer) and move the shorter side of the gap.
//! - Related ICMP errors of DR and TUN connections need no translation: like the kernel's
//!   `ip_vs_in_icmp`, forward them with [`dr()`] or [`tunnel::encap`] as any other packet.
//! - Fragments are refused ([`RewriteError::Fragment`]): like IPVS behind netfilter defrag,
//!   the caller reassembles first.

mod buf;
pub mod decap;
mod dr;
mod error;
mod fullnat;
pub mod icmp;
mod layout;
mod nat;
pub mod originate;
mod parse;
pub mod partial;
mod sctp;
pub mod toa;
mod ttl;
pub mod tunnel;

use std::net::IpAddr;

pub use buf::PacketBuf;
pub use dr::dr;
pub use error::RewriteError;
pub use fullnat::{clamp_mss, fullnat_in, fullnat_in_at, fullnat_out, fullnat_out_at};
pub use layout::Layout;
pub use nat::{nat_in, nat_in_at, nat_out, nat_out_at};
pub use ttl::{TtlVerdict, decrement_ttl, decrement_ttl_at};

/// The addresses of one connection, with the IPVS field names (LVS-SPEC "Words").
///
/// NAT uses `vaddr/vport` and `daddr/dport`; FULLNAT also `caddr/cport` and `laddr/lport`.
/// All addresses of one connection share a family (the rewriters check the packet's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnAddrs {
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual (service) address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real-server (dest) address.
    pub daddr: IpAddr,
    /// Real-server port.
    pub dport: u16,
    /// FULLNAT local address of the director toward the real server.
    pub laddr: IpAddr,
    /// FULLNAT local port.
    pub lport: u16,
}
