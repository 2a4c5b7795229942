//! Lookup keys, the owned connection form and the compact per-family entry.

use core::hash::BuildHasher;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use foldhash::fast::FixedState;

use super::{ConnFlags, ConnId, ForwardMethod};
use crate::time::Instant;
use crate::wire::IpProtocol;
use crate::wire::flow::FlowKey;

/// The key of client -> VIP packets: `(proto, caddr, cport, vaddr, vport)`.
///
/// A persistence template uses the same shape (client network, 0 or the port, VIP, vport or
/// 0, with `proto` the service's or [`IpProtocol::HopByHop`] (0) for a fwmark service, as the
/// kernel's `IPPROTO_IP`), looked up with [`ConnTable::lookup_template`](super::ConnTable::lookup_template).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// Protocol.
    pub proto: IpProtocol,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
}

impl ConnKey {
    /// The key of a client packet (source = client, destination = VIP).
    #[inline]
    pub const fn from_flow(flow: &FlowKey) -> Self {
        Self {
            proto: flow.proto,
            caddr: flow.src_addr,
            cport: flow.src_port,
            vaddr: flow.dst_addr,
            vport: flow.dst_port,
        }
    }
}

/// The key of real server -> director replies: `(proto, daddr, dport, caddr or laddr, cport
/// or lport)`: the reply packet's own source and destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OutKey {
    /// Protocol.
    pub proto: IpProtocol,
    /// Real server address (the reply's source).
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// The reply's destination: the client (NAT) or the local address (FULLNAT).
    pub addr: IpAddr,
    /// The reply's destination port.
    pub port: u16,
}

impl OutKey {
    /// The key of a reply packet.
    #[inline]
    pub const fn from_flow(flow: &FlowKey) -> Self {
        Self {
            proto: flow.proto,
            daddr: flow.src_addr,
            dport: flow.src_port,
            addr: flow.dst_addr,
            port: flow.dst_port,
        }
    }
}

/// A connection in owned form: what [`ConnTable::insert`](super::ConnTable::insert) takes and
/// what expiry and removal hand back. Addresses of one connection share a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    /// Protocol.
    pub proto: IpProtocol,
    /// Forwarding method.
    pub fwd: ForwardMethod,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// FULLNAT local address (ignored by other methods).
    pub laddr: IpAddr,
    /// FULLNAT local port.
    pub lport: u16,
    /// Protocol state: a [`TcpState`](super::TcpState) number for TCP, an
    /// [`SctpState`](super::SctpState) number for SCTP, 0 otherwise.
    pub state: u8,
    /// Flags. On insert the table adds `NO_OUTPUT` for methods without replies.
    pub flags: ConnFlags,
    /// Owning service (opaque to the table).
    pub svc: u32,
    /// Owning dest (opaque to the table; a `sched::DestId` value once merged).
    pub dest: u32,
    /// The persistence template controlling this connection.
    pub control: Option<ConnId>,
    /// Deadline (on insert: ignored, the insert's timeout sets it).
    pub expires: Instant,
}

impl Conn {
    /// The in key.
    pub const fn key(&self) -> ConnKey {
        ConnKey {
            proto: self.proto,
            caddr: self.caddr,
            cport: self.cport,
            vaddr: self.vaddr,
            vport: self.vport,
        }
    }
}

/// The table's keyed hash: one 64x64 -> 128-bit folded multiply for an IPv4 tuple (the
/// packet path's hash), seeded foldhash for IPv6.
pub(super) struct KeyHasher {
    fixed: FixedState,
    k0: u64,
    k1: u64,
}

impl KeyHasher {
    pub(super) fn new(seed: u64) -> Self {
        let fixed = FixedState::with_seed(seed);
        // Two keys from the seed (foldhash's own mixing, so related seeds give unrelated keys).
        let k0 = fixed.hash_one(0x243f_6a88_85a3_08d3_u64) | 1;
        let k1 = fixed.hash_one(0x1319_8a2e_0370_7344_u64) | 1;
        Self { fixed, k0, k1 }
    }
}

/// The folded multiply (foldhash's and wyhash's core): the xor of the product's halves.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// An address family the table stores compactly.
pub(super) trait Family: Copy + Eq + Into<IpAddr> {
    /// The unspecified address (free slots, no FULLNAT local address).
    const UNSPECIFIED: Self;
    /// Hashes `(kind, proto, a, ap, b, bp)`.
    fn hash(state: &KeyHasher, kind: u8, proto: u8, a: Self, ap: u16, b: Self, bp: u16) -> u64;
    /// The address if it is of this family.
    fn from_ip(ip: IpAddr) -> Option<Self>;
}

impl Family for Ipv4Addr {
    const UNSPECIFIED: Self = Self::UNSPECIFIED;

    #[inline]
    fn hash(state: &KeyHasher, kind: u8, proto: u8, a: Self, ap: u16, b: Self, bp: u16) -> u64 {
        let addrs = (u64::from(a.to_bits()) << 32) | u64::from(b.to_bits());
        let rest = (u64::from(ap) << 32)
            | (u64::from(bp) << 16)
            | (u64::from(proto) << 8)
            | u64::from(kind);
        folded_multiply(addrs ^ state.k0, rest ^ state.k1)
    }

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

impl Family for Ipv6Addr {
    const UNSPECIFIED: Self = Self::UNSPECIFIED;

    #[inline]
    fn hash(state: &KeyHasher, kind: u8, proto: u8, a: Self, ap: u16, b: Self, bp: u16) -> u64 {
        let rest = (u64::from(ap) << 32)
            | (u64::from(bp) << 16)
            | (u64::from(proto) << 8)
            | u64::from(kind);
        state.fixed.hash_one((a.to_bits(), b.to_bits(), rest))
    }

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// Hash kinds: connections (both their in and out entries: a packet's own tuple) and templates
/// share the index but never match each other (the kernel's `IP_VS_CONN_F_TEMPLATE` test in
/// `ip_vs_conn_in_get` / `ip_vs_ct_in_get`).
pub(super) const KIND_CONN: u8 = 0;
pub(super) const KIND_TEMPLATE: u8 = 1;

/// Everything but the addresses: 45 bytes (48 with padding).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Meta {
    pub(super) cport: u16,
    pub(super) vport: u16,
    pub(super) dport: u16,
    pub(super) lport: u16,
    /// Deadline, whole seconds since the epoch (rounded up).
    pub(super) expires: u32,
    /// Deadline of the authoritative timer-wheel entry.
    pub(super) queued: u32,
    pub(super) svc: u32,
    pub(super) dest: u32,
    /// Template slot (tagged) and generation; `u32::MAX` slot = none.
    pub(super) control_slot: u32,
    pub(super) control_gen: u32,
    /// Connections this one controls (templates).
    pub(super) n_control: u32,
    pub(super) generation: u32,
    pub(super) proto: u8,
    pub(super) fwd: u8,
    pub(super) state: u8,
    pub(super) flags: ConnFlags,
    /// Client packets seen, saturating (`cp->in_pkts`, for the `drop_entry` defense; counted
    /// only while that sysctl is on). Lives in the padding: the entry stays one line.
    pub(super) in_pkts: u8,
}

/// A slab entry: 61 bytes of data for IPv4, 109 for IPv6, aligned to a cache line so an IPv4
/// lookup + touch reads and writes exactly one line (unaligned 60-byte entries straddle two
/// lines most of the time); the price is 3 bytes per IPv4 entry.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(super) struct Entry<A> {
    pub(super) caddr: A,
    pub(super) vaddr: A,
    pub(super) daddr: A,
    pub(super) laddr: A,
    pub(super) meta: Meta,
}

impl<A: Family> Default for Entry<A> {
    fn default() -> Self {
        Self {
            caddr: A::UNSPECIFIED,
            vaddr: A::UNSPECIFIED,
            daddr: A::UNSPECIFIED,
            laddr: A::UNSPECIFIED,
            meta: Meta::default(),
        }
    }
}

impl<A: Family> Entry<A> {
    #[inline]
    pub(super) fn is_live(&self) -> bool {
        self.meta.flags.contains(ConnFlags::LIVE)
    }

    #[inline]
    pub(super) fn in_kind(&self) -> u8 {
        if self.meta.flags.contains(ConnFlags::TEMPLATE) {
            KIND_TEMPLATE
        } else {
            KIND_CONN
        }
    }

    #[inline]
    pub(super) fn in_hash(&self, state: &KeyHasher) -> u64 {
        let m = &self.meta;
        A::hash(
            state,
            self.in_kind(),
            m.proto,
            self.caddr,
            m.cport,
            self.vaddr,
            m.vport,
        )
    }

    /// The reply's destination: the local address for FULLNAT, the client otherwise.
    #[inline]
    pub(super) fn out_dst(&self) -> (A, u16) {
        if self.meta.fwd == ForwardMethod::FullNat as u8 {
            (self.laddr, self.meta.lport)
        } else {
            (self.caddr, self.meta.cport)
        }
    }

    #[inline]
    pub(super) fn out_hash(&self, state: &KeyHasher) -> u64 {
        let (b, bp) = self.out_dst();
        A::hash(
            state,
            KIND_CONN,
            self.meta.proto,
            self.daddr,
            self.meta.dport,
            b,
            bp,
        )
    }

    #[inline]
    pub(super) fn matches_in(&self, kind: u8, proto: u8, c: A, cp: u16, v: A, vp: u16) -> bool {
        self.caddr == c
            && self.vaddr == v
            && self.meta.cport == cp
            && self.meta.vport == vp
            && self.meta.proto == proto
            && self.in_kind() == kind
    }

    #[inline]
    pub(super) fn matches_out(&self, proto: u8, d: A, dp: u16, b: A, bp: u16) -> bool {
        let (ob, obp) = self.out_dst();
        self.daddr == d
            && ob == b
            && self.meta.dport == dp
            && obp == bp
            && self.meta.proto == proto
            && !self.meta.flags.contains(ConnFlags::TEMPLATE)
    }

    pub(super) fn conn(&self) -> Conn {
        let m = &self.meta;
        Conn {
            proto: IpProtocol::from(m.proto),
            fwd: ForwardMethod::from_u8(m.fwd),
            caddr: self.caddr.into(),
            cport: m.cport,
            vaddr: self.vaddr.into(),
            vport: m.vport,
            daddr: self.daddr.into(),
            dport: m.dport,
            laddr: self.laddr.into(),
            lport: m.lport,
            state: m.state,
            flags: ConnFlags::from_bits_truncate(m.flags.bits()),
            svc: m.svc,
            dest: m.dest,
            control: (m.control_slot != u32::MAX).then_some(ConnId {
                slot: m.control_slot,
                generation: m.control_gen,
            }),
            expires: Instant::from_secs(u64::from(m.expires)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_sizes() {
        // The memory budget (<= 100 B per IPv4 connection with both indexes) relies on these.
        assert_eq!(size_of::<Meta>(), 48);
        assert_eq!(size_of::<Entry<Ipv4Addr>>(), 64);
        assert_eq!(size_of::<Entry<Ipv6Addr>>(), 128);
    }
}
