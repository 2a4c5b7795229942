//! Client-endpoint steering for PACKET_FANOUT: a classic BPF program that sends both directions
//! of a connection to the same worker (lvs_core's conn module, "Design note: N workers").
//!
//! - a packet **to a VIP** comes from the client: hash its source `(caddr, cport)`;
//! - a packet **to a FULLNAT local address** is a reply to `(laddr, lport)`: return `lport`,
//!   so member `lport % workers` gets it (each worker allocates local ports from its own
//!   residue class, `lvs_core::director::PortShare`); an ICMP error to a local address
//!   returns the source port of the packet it quotes (the director's own, `laddr:lport`), so
//!   it reaches the same worker;
//! - anything else is treated as a NAT reply to the client: hash its destination
//!   `(caddr, cport)`.
//!
//! With [`SteerKey::ClientAddress`] the client's port is left out of the hash, so every
//! connection of one client reaches one worker: persistence templates live in each worker's
//! own table, and a persistent client split over workers would be scheduled once per worker.
//! [`SteerKey::ClientNetwork`] also masks the client address before hashing (IPv4 by a mask,
//! IPv6 by a prefix length), so every client of one network reaches one worker: a persistent
//! service with `-M` wider than /32 or /128 keeps one template per client network, as the
//! kernel's `ip_vs_sched_persist` does. Both directions of a NAT connection mask alike (a
//! reply's destination is the client); FULLNAT replies still go by local port.
//!
//! The kernel takes the program's return value modulo the number of group members, and members
//! are numbered in the order they joined, so workers must open their sockets in index order.
//! Addresses are read relative to the network header (`SKF_NET_OFF`), so VLAN tags do not
//! matter. Fragments are reassembled first (the group is opened with
//! PACKET_FANOUT_FLAG_DEFRAG). IPv6 extension headers are not walked (ports are read right
//! after the fixed header), and ICMP errors other than those to local addresses hash their own
//! header, not the quoted connection: both can land on another worker than the connection's.
//!
//! [`program_value`] computes in user space what the program returns for a packet, and
//! [`fanout_member`] which member the kernel then picks: the sync backup (lvs-router's `ha`)
//! imports a synced connection only into the worker its packets will reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::ipvsadm::Netmask;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

const LD_IMM: u16 = 0x00;
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const LD_MEM: u16 = 0x60;
const ST: u16 = 0x02;
const TAX: u16 = 0x07;
const XOR_X: u16 = 0xac;
const MUL_K: u16 = 0x24;
const AND_K: u16 = 0x54;
const RSH_K: u16 = 0x74;
const JEQ_K: u16 = 0x15;
const JA: u16 = 0x05;
const RET_A: u16 = 0x16;
const RET_K: u16 = 0x06;
/// `SKF_NET_OFF`: loads relative to the network header.
const NET: i64 = -0x10_0000;
/// `SKF_AD_OFF + SKF_AD_PROTOCOL`: skb->protocol.
const AD_PROTOCOL: u32 = (-0x1000i32) as u32;

/// The final mix: Fibonacci hashing's multiplier, then the high half.
const MIX_MUL: u32 = 0x9e37_79b1;
const MIX_SHIFT: u32 = 16;

fn net(off: i64) -> u32 {
    (NET + off) as u32
}

#[derive(Clone, Copy)]
enum Op {
    S(u16, u32),
    Jeq(u32, usize, usize),
    Ja(usize),
    Label(usize),
}

/// Labels of the program.
const V4: usize = 0;
const V6: usize = 1;
const RET0: usize = 2;
const V4_SRC: usize = 3;
const V4_LPORT: usize = 4;
const V6_SRC: usize = 5;
const V6_LPORT: usize = 6;
const MIX: usize = 7;
const FIRST_FREE: usize = 8;

/// What the client side of the hash covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SteerKey {
    /// `(caddr, cport)`: one client's connections spread over the workers.
    #[default]
    ClientEndpoint,
    /// `caddr` alone: one client's connections meet on one worker (persistent services with
    /// the default `-M`, /32 or /128).
    ClientAddress,
    /// `caddr` masked: all clients of one network meet on one worker (persistent services
    /// with a wider `-M`). With both masks full it steers as [`SteerKey::ClientAddress`].
    ClientNetwork {
        /// The IPv4 client mask, any bit pattern as ipvsadm's `-M 255.255.255.0`.
        v4_mask: Ipv4Addr,
        /// The IPv6 client prefix length, 0..=128 (larger counts as 128).
        v6_prefix: u8,
    },
}

impl SteerKey {
    /// The key for persistent services whose client netmasks are `netmasks`: the one mask
    /// of each family that every one of them contains (the AND of the IPv4 masks, the
    /// shortest IPv6 prefix), so clients that share a template share a worker;
    /// [`SteerKey::ClientAddress`] when that is /32 and /128 (also for no netmasks).
    pub fn for_netmasks(netmasks: impl IntoIterator<Item = Netmask>) -> Self {
        let (mut v4, mut v6) = (u32::MAX, 128u8);
        for m in netmasks {
            match m {
                Netmask::V4(m) => v4 &= m.to_bits(),
                Netmask::V6(p) => v6 = v6.min(p),
            }
        }
        if v4 == u32::MAX && v6 == 128 {
            Self::ClientAddress
        } else {
            Self::ClientNetwork {
                v4_mask: Ipv4Addr::from_bits(v4),
                v6_prefix: v6,
            }
        }
    }

    /// The client masks the key hashes by, as a 32-bit IPv4 mask and a 128-bit IPv6 mask;
    /// `None` for [`SteerKey::ClientEndpoint`], which hashes the client port too.
    fn masks(self) -> Option<(u32, u128)> {
        match self {
            Self::ClientEndpoint => None,
            Self::ClientAddress => Some((u32::MAX, u128::MAX)),
            Self::ClientNetwork { v4_mask, v6_prefix } => {
                Some((v4_mask.to_bits(), v6_prefix_mask(v6_prefix)))
            }
        }
    }

    /// Whether every two clients that `netmask` maps to one network (one persistence
    /// template) are steered to one worker: the key leaves the port out and masks no bit
    /// that `netmask` keeps (only `netmask`'s family is compared).
    pub fn groups(self, netmask: Netmask) -> bool {
        let Some((v4, v6)) = self.masks() else {
            return false;
        };
        match netmask {
            Netmask::V4(m) => v4 & !m.to_bits() == 0,
            Netmask::V6(p) => v6 & !v6_prefix_mask(p) == 0,
        }
    }
}

/// The 128-bit mask of an IPv6 prefix length (128 and more: all ones).
fn v6_prefix_mask(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// Builds the steering program for `vips` and FULLNAT `laddrs`, hashing client endpoints;
/// `None` if it does not fit classic BPF's 8-bit jump offsets (hundreds of addresses: use
/// plain hash fanout then).
pub fn client_program(vips: &[IpAddr], laddrs: &[IpAddr]) -> Option<Vec<Insn>> {
    client_program_keyed(vips, laddrs, SteerKey::ClientEndpoint)
}

/// [`client_program`] with the client side of the hash chosen by `key`.
pub fn client_program_keyed(
    vips: &[IpAddr],
    laddrs: &[IpAddr],
    key: SteerKey,
) -> Option<Vec<Insn>> {
    let mut ops = Vec::new();
    let mut next_label = FIRST_FREE;
    // The kernel's classic BPF check (`check_load_and_stores`) follows M[] validity along
    // jumps and straight-line flow but not across a return: without this store the code
    // after V6_LPORT's return (MIX, which loads M[0]) is refused with EINVAL as soon as an
    // IPv6 local address jumps to V6_LPORT. Storing A (0) first makes M[0] valid everywhere.
    ops.push(Op::S(ST, 0));
    ops.push(Op::S(LD_H_ABS, AD_PROTOCOL));
    ops.push(Op::Jeq(0x0800, V4, FIRST_FREE));
    ops.push(Op::Label(FIRST_FREE));
    next_label += 1;
    ops.push(Op::Jeq(0x86dd, V6, RET0));
    ops.push(Op::Label(RET0));
    ops.push(Op::S(RET_K, 0));
    // IPv4: compare the destination with each VIP, then each local address.
    ops.push(Op::Label(V4));
    ops.push(Op::S(LD_W_ABS, net(16)));
    for (list, target) in [(vips, V4_SRC), (laddrs, V4_LPORT)] {
        for a in list.iter().filter_map(|a| {
            if let IpAddr::V4(v) = a {
                Some(v.to_bits())
            } else {
                None
            }
        }) {
            ops.push(Op::Jeq(a, target, next_label));
            ops.push(Op::Label(next_label));
            next_label += 1;
        }
    }
    let (v4_mask, v6_mask) = key.masks().unwrap_or((u32::MAX, u128::MAX));
    let v4_addr_port = |ops: &mut Vec<Op>, addr_off: i64, port_off: i64| {
        ops.push(Op::S(LD_W_ABS, net(addr_off)));
        if v4_mask != u32::MAX {
            ops.push(Op::S(AND_K, v4_mask));
        }
        ops.push(Op::S(ST, 0));
        ops.push(Op::S(LDX_B_MSH, net(0)));
        ops.push(Op::S(LD_H_IND, net(port_off)));
        ops.push(Op::Ja(MIX));
    };
    v4_addr_port(&mut ops, 16, 2);
    ops.push(Op::Label(V4_SRC));
    v4_addr_port(&mut ops, 12, 0);
    ops.push(Op::Label(V4_LPORT));
    ops.push(Op::S(LDX_B_MSH, net(0)));
    let (icmp, not_icmp) = (next_label, next_label + 1);
    next_label += 2;
    ops.push(Op::S(LD_B_ABS, net(9)));
    ops.push(Op::Jeq(1, icmp, not_icmp));
    ops.push(Op::Label(not_icmp));
    ops.push(Op::S(LD_H_IND, net(2)));
    ops.push(Op::S(RET_A, 0));
    // An ICMP error to a local address quotes the director's own packet (laddr:lport ->
    // real server), whose IPv4 header has no options: its source port is 8 + 20 bytes in.
    ops.push(Op::Label(icmp));
    ops.push(Op::S(LD_H_IND, net(8 + 20)));
    ops.push(Op::S(RET_A, 0));
    // IPv6: four word compares per address.
    ops.push(Op::Label(V6));
    for (list, target) in [(vips, V6_SRC), (laddrs, V6_LPORT)] {
        for a in list.iter().filter_map(|a| {
            if let IpAddr::V6(v) = a {
                Some(v.octets())
            } else {
                None
            }
        }) {
            let miss = next_label;
            next_label += 1;
            for (i, w) in a.chunks(4).enumerate() {
                let w = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                ops.push(Op::S(LD_W_ABS, net(24 + 4 * i as i64)));
                let hit = if i == 3 { target } else { next_label };
                ops.push(Op::Jeq(w, hit, miss));
                if i < 3 {
                    ops.push(Op::Label(next_label));
                    next_label += 1;
                }
            }
            ops.push(Op::Label(miss));
        }
    }
    // The address's four words XORed, each masked by its part of the client mask: words the
    // mask clears are not loaded, a mask that clears all of them hashes 0.
    let v6_words: Vec<(i64, u32)> = (0..4)
        .map(|i| (i, (v6_mask >> (96 - 32 * i)) as u32))
        .filter(|&(_, m)| m != 0)
        .collect();
    let v6_addr_port = |ops: &mut Vec<Op>, addr_off: i64, port_off: i64| {
        if v6_words.is_empty() {
            ops.push(Op::S(LD_IMM, 0));
        }
        for (n, &(i, m)) in v6_words.iter().enumerate() {
            if n > 0 {
                ops.push(Op::S(TAX, 0));
            }
            ops.push(Op::S(LD_W_ABS, net(addr_off + 4 * i)));
            if m != u32::MAX {
                ops.push(Op::S(AND_K, m));
            }
            if n > 0 {
                ops.push(Op::S(XOR_X, 0));
            }
        }
        ops.push(Op::S(ST, 0));
        ops.push(Op::S(LD_H_ABS, net(port_off)));
        ops.push(Op::Ja(MIX));
    };
    v6_addr_port(&mut ops, 24, 42);
    ops.push(Op::Label(V6_SRC));
    v6_addr_port(&mut ops, 8, 40);
    ops.push(Op::Label(V6_LPORT));
    let (icmp, not_icmp) = (next_label, next_label + 1);
    next_label += 2;
    ops.push(Op::S(LD_B_ABS, net(6)));
    ops.push(Op::Jeq(58, icmp, not_icmp));
    ops.push(Op::Label(not_icmp));
    ops.push(Op::S(LD_H_ABS, net(42)));
    ops.push(Op::S(RET_A, 0));
    // ICMPv6 error to a local address: the quoted packet's source port, 40 + 8 + 40 bytes in.
    ops.push(Op::Label(icmp));
    ops.push(Op::S(LD_H_ABS, net(40 + 8 + 40)));
    ops.push(Op::S(RET_A, 0));
    // A = port, M[0] = address: mix both so neighbouring ports spread (Fibonacci hashing), or
    // the address alone.
    ops.push(Op::Label(MIX));
    if key == SteerKey::ClientEndpoint {
        ops.extend([Op::S(TAX, 0), Op::S(LD_MEM, 0), Op::S(XOR_X, 0)]);
    } else {
        ops.push(Op::S(LD_MEM, 0));
    }
    ops.extend([
        Op::S(MUL_K, MIX_MUL),
        Op::S(RSH_K, MIX_SHIFT),
        Op::S(RET_A, 0),
    ]);
    assemble(&ops, next_label)
}

/// The fields of a packet the steering program reads (besides its family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteerPacket {
    /// IP protocol (the fixed IPv6 header's next header).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// The first 16-bit word of the transport header: the source port of TCP, UDP, SCTP.
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// The second 16-bit word of the transport header: the destination port.
    pub dport: u16,
}

impl SteerPacket {
    /// A packet from the client of connection `caddr:cport -> vaddr:vport`.
    pub fn from_client(protocol: u8, caddr: IpAddr, cport: u16, vaddr: IpAddr, vport: u16) -> Self {
        Self {
            protocol,
            src: caddr,
            sport: cport,
            dst: vaddr,
            dport: vport,
        }
    }
}

/// The 32-bit word the program hashes for an address masked by `masks` ([`SteerKey`]'s): an
/// IPv4 address as loaded (network order read as a big-endian number), an IPv6 address as
/// the XOR of its four such words.
fn addr_word(a: IpAddr, (v4_mask, v6_mask): (u32, u128)) -> u32 {
    match a {
        IpAddr::V4(v) => v.to_bits() & v4_mask,
        IpAddr::V6(v) => {
            let b = Ipv6Addr::from_bits(v.to_bits() & v6_mask).octets();
            b.chunks(4)
                .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
                .fold(0, |acc, w| acc ^ w)
        }
    }
}

/// What [`client_program_keyed`]`(vips, laddrs, key)` returns for `pkt` (before the kernel's
/// modulo, [`fanout_member`]), for a packet without IPv4 options that matter (the program
/// skips them) and without IPv6 extension headers (the program does not walk them).
///
/// `None` where the header fields are not enough: source and destination of different
/// families, or an ICMP / ICMPv6 packet to a local address (the program returns the port of
/// the packet it quotes).
pub fn program_value(
    vips: &[IpAddr],
    laddrs: &[IpAddr],
    key: SteerKey,
    pkt: &SteerPacket,
) -> Option<u32> {
    if pkt.src.is_ipv4() != pkt.dst.is_ipv4() {
        return None;
    }
    // The program compares the destination with every VIP first, then every local address.
    let (addr, port) = if vips.contains(&pkt.dst) {
        (pkt.src, pkt.sport)
    } else if laddrs.contains(&pkt.dst) {
        let icmp = if pkt.dst.is_ipv4() { 1 } else { 58 };
        return (pkt.protocol != icmp).then_some(u32::from(pkt.dport));
    } else {
        (pkt.dst, pkt.dport)
    };
    let mixed = match key.masks() {
        None => addr_word(addr, (u32::MAX, u128::MAX)) ^ u32::from(port),
        Some(masks) => addr_word(addr, masks),
    };
    Some(mixed.wrapping_mul(MIX_MUL) >> MIX_SHIFT)
}

/// The fanout group member (worker index, as members joined in index order) the kernel hands
/// a frame for which the program returned `value`: `value % members` (`fanout_demux_bpf`).
/// `members` must not be 0.
pub fn fanout_member(value: u32, members: usize) -> usize {
    let members = u32::try_from(members).unwrap_or(u32::MAX);
    (value % members) as usize
}

fn assemble(ops: &[Op], labels: usize) -> Option<Vec<Insn>> {
    let mut pos = vec![usize::MAX; labels];
    let mut pc = 0;
    for op in ops {
        match op {
            Op::Label(l) => pos[*l] = pc,
            _ => pc += 1,
        }
    }
    let mut out = Vec::with_capacity(pc);
    for op in ops {
        let here = out.len();
        let rel = |l: usize| pos.get(l).and_then(|&p| p.checked_sub(here + 1));
        let insn = match *op {
            Op::Label(_) => continue,
            Op::S(code, k) => Insn {
                code,
                jt: 0,
                jf: 0,
                k,
            },
            Op::Jeq(k, t, f) => Insn {
                code: JEQ_K,
                jt: u8::try_from(rel(t)?).ok()?,
                jf: u8::try_from(rel(f)?).ok()?,
                k,
            },
            Op::Ja(l) => Insn {
                code: JA,
                jt: 0,
                jf: 0,
                k: u32::try_from(rel(l)?).ok()?,
            },
        };
        out.push(insn);
    }
    // BPF_MAXINSNS.
    (out.len() <= 4096).then_some(out)
}

#[cfg(test)]
#[path = "steer_tests.rs"]
mod tests;
