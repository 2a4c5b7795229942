//! The common frame in one glance: untagged Ethernet, IPv4 without options, not a fragment,
//! TCP or UDP. It yields exactly the [`FrameInfo`] [`flow::extract`] would (a unit property
//! test compares both on random frames) without the general walk, and is built in place: the
//! general extractor's result is large enough that moving it costs `memcpy` calls per packet.
//! Anything else returns `None` and takes [`flow::extract`].
//!
//! [`Director::established_v4`] then handles such a frame of a known connection in the
//! common cases (client packets of NAT, DR and local connections, NAT replies; no SYN, TTL
//! above 1, a live dest) with fixed offsets, in the same order and with the same checksum
//! arithmetic as the general path (`conn_in` / `conn_out` + the rewriters), which takes every
//! other case. A property test runs both paths side by side on random traffic and compares
//! frames, verdicts and state.

use core::net::{IpAddr, Ipv4Addr};

use super::{Director, NextHop};
use crate::conn::tcp::flags as tcpf;
use crate::conn::{ConnId, ConnRef, Direction, ForwardMethod};
use crate::time::Instant;
use crate::wire::checksum::Delta;
use crate::wire::flow::{FlowKey, Fragment, FrameInfo};
use crate::wire::{IpProtocol, IpVersion};

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A common frame [`extract_v4`] accepted: what the fast path reads of it. The full
/// [`FrameInfo`] (a hundred-odd bytes) is only built for the general path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PlainV4 {
    pub(super) proto: IpProtocol,
    /// End of the IP packet in the frame (the IP length is `end - 14`).
    pub(super) end: usize,
    pub(super) src: Ipv4Addr,
    pub(super) sport: u16,
    pub(super) dst: Ipv4Addr,
    pub(super) dport: u16,
    pub(super) ttl: u8,
}

impl PlainV4 {
    /// The IP packet's length.
    #[inline(always)]
    pub(super) fn ip_len(&self) -> usize {
        self.end - 14
    }

    /// What [`flow::extract`] returns for this frame.
    #[inline]
    pub(super) fn info(&self) -> FrameInfo {
        FrameInfo {
            vlan_id: None,
            l3_offset: 14,
            l4_offset: 34,
            l4_end: self.end,
            ip_version: IpVersion::Ipv4,
            hop_limit: self.ttl,
            flow: FlowKey {
                proto: self.proto,
                src_addr: IpAddr::V4(self.src),
                src_port: self.sport,
                dst_addr: IpAddr::V4(self.dst),
                dst_port: self.dport,
            },
            fragment: Fragment::None,
            icmp: None,
        }
    }
}

/// [`flow::extract`](crate::wire::flow::extract) for the common frame, `None` otherwise.
#[inline(always)]
pub(super) fn extract_v4(frame: &[u8]) -> Option<PlainV4> {
    if frame.len() < 14 + 20 + 8 || be16(frame, 12) != 0x0800 || frame[14] != 0x45 {
        return None;
    }
    let total = usize::from(be16(frame, 16));
    let end = 14 + total;
    // Fragment bits (MF or an offset) and too-short packets take the general path.
    if be16(frame, 20) & 0x3fff != 0 || total < 28 || frame.len() < end {
        return None;
    }
    let l4 = &frame[34..end];
    let proto = match frame[23] {
        6 => {
            let hl = usize::from(l4.get(12)? >> 4) * 4;
            if l4.len() < 20 || hl < 20 || l4.len() < hl {
                return None;
            }
            IpProtocol::Tcp
        }
        17 => {
            let ul = usize::from(be16(l4, 4));
            if ul < 8 || l4.len() < ul {
                return None;
            }
            IpProtocol::Udp
        }
        _ => return None,
    };
    let (src, sport, dst, dport) = tuple_v4(frame);
    Some(PlainV4 {
        proto,
        end,
        src,
        sport,
        dst,
        dport,
        ttl: frame[22],
    })
}

/// The IPv4 source and destination address and port of a frame [`extract_v4`] accepted.
#[inline(always)]
fn tuple_v4(frame: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let a = |at: usize| {
        Ipv4Addr::from_bits(u32::from_be_bytes([
            frame[at],
            frame[at + 1],
            frame[at + 2],
            frame[at + 3],
        ]))
    };
    (a(SADDR), be16(frame, SPORT), a(DADDR), be16(frame, DPORT))
}

/// The tuple of an IPv4 TCP or UDP frame without options, for the batch warm-up: a hint, so
/// only the bytes it reads are checked, not the lengths of the packet.
#[inline(always)]
pub(super) fn peek_v4(frame: &[u8]) -> Option<crate::conn::V4Tuple> {
    if frame.len() < 38 || be16(frame, 12) != 0x0800 || frame[14] != 0x45 {
        return None;
    }
    let proto = match frame[23] {
        6 => IpProtocol::Tcp,
        17 => IpProtocol::Udp,
        _ => return None,
    };
    let (s, sp, d, dp) = tuple_v4(frame);
    Some((proto, s, sp, d, dp))
}

#[inline(always)]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Whether `info` (from either extractor) describes a frame the fixed offsets fit: untagged
/// Ethernet, IPv4 without options, TCP or UDP (whose headers the extractors checked), not a
/// fragment.
#[inline(always)]
pub(super) fn is_plain_v4(info: &FrameInfo) -> bool {
    info.vlan_id.is_none()
        && info.l3_offset == 14
        && info.l4_offset == 34
        && info.ip_version == IpVersion::Ipv4
        && info.fragment == Fragment::None
        && matches!(info.flow.proto, IpProtocol::Tcp | IpProtocol::Udp)
}

/// Whether the fast path forwards client packets of connections of this method (NAT
/// rewrites them; DR and local connections only change MACs and TTL).
#[inline(always)]
pub(super) const fn forwards_in(fwd: ForwardMethod) -> bool {
    matches!(
        fwd,
        ForwardMethod::Nat | ForwardMethod::Dr | ForwardMethod::Local
    )
}

/// The offsets of a frame [`extract_v4`] accepted: Ethernet, a 20-byte IPv4 header.
const TTL: usize = 22;
const IP_CSUM: usize = 24;
const SADDR: usize = 26;
const DADDR: usize = 30;
const SPORT: usize = 34;
const DPORT: usize = 36;
const TCP_FLAGS: usize = 34 + 13;
const TCP_CSUM: usize = 34 + 16;
const UDP_CSUM: usize = 34 + 6;

#[cfg(test)]
thread_local! {
    /// Tests switch the fast path off to compare it with the general path.
    pub(super) static DISABLED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Whether the fast path may be taken (tests switch it off to compare it with the general
/// path).
#[inline(always)]
pub(super) fn enabled() -> bool {
    #[cfg(test)]
    if DISABLED.with(core::cell::Cell::get) {
        return false;
    }
    true
}

/// What the fast path needs of a connection, read at the lookup.
#[derive(Clone, Copy)]
pub(super) struct Hit {
    fwd: ForwardMethod,
    dest: u32,
    svc: u32,
    /// The new address and port: the real server's (in) or the virtual service's (out).
    addr: IpAddr,
    port: u16,
    /// The next hop: the real server (in) or the client (out).
    hop: IpAddr,
}

impl Hit {
    /// A new connection's client packet toward `daddr:dport`.
    #[inline(always)]
    pub(super) fn to_dest(
        fwd: ForwardMethod,
        svc: u32,
        dest: u32,
        daddr: IpAddr,
        dport: u16,
    ) -> Self {
        Self {
            fwd,
            dest,
            svc,
            addr: daddr,
            port: dport,
            hop: daddr,
        }
    }

    #[inline(always)]
    pub(super) fn of(c: &ConnRef<'_>, dir: Direction) -> Self {
        let (addr, port, hop) = if dir == Direction::Out {
            (c.vaddr(), c.vport(), c.caddr())
        } else {
            (c.daddr(), c.dport(), c.daddr())
        };
        Self {
            fwd: c.fwd(),
            dest: c.dest(),
            svc: c.svc(),
            addr,
            port,
            hop,
        }
    }
}

impl Director {
    /// An established packet of a frame [`extract_v4`] accepted (`info`), whose connection
    /// `id` the lookup found in direction `dir`: tracks it, rewrites the frame in place,
    /// counts it and writes the MACs as [`send`](Director::send) does, returning the next hop.
    /// `None`, before any change, for the cases the general path handles.
    #[inline(always)]
    pub(super) fn established_v4(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        v4: &PlainV4,
        id: ConnId,
        dir: Direction,
        hit: &Hit,
    ) -> Option<NextHop> {
        if !enabled() {
            return None;
        }
        let proto = v4.proto;
        let tcp = proto == IpProtocol::Tcp;
        let flags = if tcp { frame[TCP_FLAGS] } else { 0 };
        // SYN: connection reuse and MSS clamping; TTL 1: time exceeded.
        if flags & tcpf::SYN != 0 || frame[TTL] <= 1 {
            return None;
        }
        let Hit { fwd, dest, .. } = *hit;
        let mac = match dir {
            Direction::In => {
                if !forwards_in(fwd) {
                    return None;
                }
                let d = self.reg.dests.get(dest as usize)?.as_ref()?;
                if !d.live {
                    return None;
                }
                d.mac
            }
            _ => {
                if fwd != ForwardMethod::Nat {
                    return None;
                }
                None
            }
        };
        if !hit.addr.is_ipv4() {
            return None;
        }
        // The rewrite needs nothing the tracking changes: done first, its chain of checksum
        // updates overlaps the state lookups that follow.
        let nat = fwd == ForwardMethod::Nat;
        let next_hop = self.forward_v4(frame, proto, v4.ip_len(), dir, nat, hit, mac);
        self.track(now, id, proto, dir, flags, dest);
        if dir == Direction::In && self.sync.is_some() {
            self.sync_after_in(now, id);
        }
        Some(next_hop)
    }

    /// The fixed-offset transmit of a frame [`extract_v4`] accepted, with a TTL above 1:
    /// TTL, the NAT rewrite when `nat` (destination for `In`, source for `Out`), counters and
    /// MACs, in the order and with the checksum arithmetic of the general path's `ttl`,
    /// `nat_in_at` / `nat_out_at`, `count_in` / `count_out` and `send`. `nat` is the
    /// caller's `hit.fwd == Nat`, which it has at hand (derived here again it cost 21 more
    /// instructions per established packet).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_v4(
        &mut self,
        frame: &mut [u8],
        proto: IpProtocol,
        ip_len: usize,
        dir: Direction,
        nat: bool,
        hit: &Hit,
        mac: Option<crate::wire::MacAddr>,
    ) -> NextHop {
        let Hit {
            dest,
            svc,
            addr,
            port,
            hop,
            ..
        } = *hit;
        let tcp = proto == IpProtocol::Tcp;
        // TTL first, with its own checksum update, as `decrement_ttl_at`.
        let ttl = frame[TTL];
        frame[TTL] = ttl - 1;
        let p = u16::from(frame[TTL + 1]);
        let mut d = Delta::default();
        d.word(u16::from(ttl) << 8 | p, u16::from(ttl - 1) << 8 | p);
        put16(frame, IP_CSUM, d.apply(be16(frame, IP_CSUM)));
        // NAT: the destination (in) or source (out) address and port, as `rewrite_tuple`.
        if nat && let IpAddr::V4(addr) = addr {
            let (a_at, p_at) = if dir == Direction::In {
                (DADDR, DPORT)
            } else {
                (SADDR, SPORT)
            };
            let old = u32::from_be_bytes([
                frame[a_at],
                frame[a_at + 1],
                frame[a_at + 2],
                frame[a_at + 3],
            ]);
            let new = addr.to_bits();
            let mut ad = Delta::default();
            ad.word((old >> 16) as u16, (new >> 16) as u16);
            ad.word(old as u16, new as u16);
            frame[a_at..a_at + 4].copy_from_slice(&new.to_be_bytes());
            let mut ld = ad;
            ld.word(be16(frame, p_at), port);
            put16(frame, p_at, port);
            put16(frame, IP_CSUM, ad.apply(be16(frame, IP_CSUM)));
            if tcp {
                put16(frame, TCP_CSUM, ld.apply(be16(frame, TCP_CSUM)));
            } else {
                let old = be16(frame, UDP_CSUM);
                if old != 0 {
                    let new = ld.apply(old);
                    put16(frame, UDP_CSUM, if new == 0 { 0xffff } else { new });
                }
            }
        }
        if dir == Direction::In {
            self.count_in(svc, dest, ip_len);
        } else {
            self.count_out(svc, dest, ip_len);
        }
        let mac = match mac {
            Some(m) => Some(m),
            None => self.neighbours.get(hop),
        };
        if let Some(m) = mac {
            frame[..6].copy_from_slice(&m.0);
        }
        frame[6..12].copy_from_slice(&self.mac.0);
        NextHop { addr: hop, mac }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::MacAddr;
    use crate::wire::flow;

    /// A valid TCP or UDP frame to mutate.
    fn base(tcp: bool) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20 + 4];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14..34].copy_from_slice(&[
            0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 192, 0, 2, 10,
        ]);
        f[34..38].copy_from_slice(&[0x04, 0xd2, 0x00, 0x50]);
        if tcp {
            f[46] = 0x50;
        } else {
            f[23] = 17;
            f[38..40].copy_from_slice(&24u16.to_be_bytes());
        }
        f
    }

    proptest! {
        #[test]
        fn agrees_with_flow_extract(
            tcp in any::<bool>(),
            edits in proptest::collection::vec((0usize..58, any::<u8>()), 0..4),
            cut in 0usize..60,
        ) {
            let mut f = base(tcp);
            for (at, v) in edits {
                f[at] = v;
            }
            f.truncate(cut.max(1).min(f.len()));
            if let Some(fast) = extract_v4(&f) {
                let info = fast.info();
                prop_assert_eq!(Ok(info), flow::extract(&f));
                prop_assert!(is_plain_v4(&info));
                prop_assert_eq!(peek_v4(&f), Some((fast.proto, fast.src, fast.sport, fast.dst, fast.dport)));
            }
        }
    }

    /// Client `c` (0..4) of 198.51.100.0/24 or real server `r` (0..2) on 10.0.0.0/24.
    fn addr(net: [u8; 3], k: u8) -> [u8; 4] {
        [net[0], net[1], net[2], 1 + k]
    }

    /// One packet of the differential test: Ethernet + IPv4 + TCP or UDP with arbitrary
    /// checksum fields (the director never verifies them, only updates them).
    #[derive(Debug, Clone)]
    struct Pkt {
        reply: bool,
        udp: bool,
        client: u8,
        rs: u8,
        vport_nat: bool,
        flags: u8,
        ttl: u8,
        ip_csum: u16,
        l4_csum: u16,
        payload: u8,
    }

    fn pkt() -> impl Strategy<Value = Pkt> {
        (
            (
                any::<bool>(),
                prop::bool::weighted(0.3),
                0u8..4,
                0u8..2,
                any::<bool>(),
            ),
            prop::sample::select(vec![0x02, 0x10, 0x18, 0x11, 0x04, 0x12, 0x14, 0x01]),
            prop::sample::select(vec![64u8, 2, 1, 0, 255]),
            (
                any::<u16>(),
                prop::sample::select(vec![0u16, 0xffff, 0x1234, 0xfffe]),
            ),
            0u8..3,
        )
            .prop_map(
                |((reply, udp, client, rs, vport_nat), flags, ttl, (ip_csum, l4_csum), payload)| {
                    Pkt {
                        reply,
                        udp,
                        client,
                        rs,
                        vport_nat,
                        flags,
                        ttl,
                        ip_csum,
                        l4_csum,
                        payload,
                    }
                },
            )
    }

    fn frame(p: &Pkt) -> Vec<u8> {
        let l4 = if p.udp { 8 } else { 20 };
        let len = 20 + l4 + usize::from(p.payload) * 4;
        let mut f = vec![0u8; 14 + len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let client = addr([198, 51, 100], p.client);
        let vip = [192, 0, 2, 10];
        let vport: u16 = if p.vport_nat { 80 } else { 81 };
        let rs = addr([10, 0, 0], 10 + p.rs);
        let cport = 40000 + u16::from(p.client);
        let (src, sport, dst, dport) = if p.reply {
            (rs, 8080, client, cport)
        } else {
            (client, cport, vip, vport)
        };
        f[14] = 0x45;
        f[16..18].copy_from_slice(&(len as u16).to_be_bytes());
        f[22] = p.ttl;
        f[23] = if p.udp { 17 } else { 6 };
        f[24..26].copy_from_slice(&p.ip_csum.to_be_bytes());
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        if p.udp {
            f[38..40].copy_from_slice(&((l4 + usize::from(p.payload) * 4) as u16).to_be_bytes());
            f[40..42].copy_from_slice(&p.l4_csum.to_be_bytes());
        } else {
            f[46] = 0x50;
            f[47] = p.flags;
            f[50..52].copy_from_slice(&p.l4_csum.to_be_bytes());
        }
        f
    }

    fn director() -> Director {
        director_with(crate::director::PREFETCH_MIN_CONNS)
    }

    /// The test director, looking batches up from `batch_lookup_from` connections.
    fn director_with(batch_lookup_from: usize) -> Director {
        use crate::director::DirectorConfig;
        use crate::ipvsadm::parse_line;
        let mut d = Director::new(DirectorConfig {
            batch_lookup_from,
            hash_seed: 7,
            rng_seed: 11,
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec!["10.0.0.1".parse().unwrap()],
            neighbours: vec![("10.0.0.11".parse().unwrap(), MacAddr([2, 0, 0, 0, 0, 0x11]))],
            ..DirectorConfig::default()
        });
        for l in [
            "-A -t 192.0.2.10:80 -s rr",
            "-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m",
            "-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m",
            "-A -u 192.0.2.10:80 -s rr",
            "-a -u 192.0.2.10:80 -r 10.0.0.11:8080 -m",
            "-A -t 192.0.2.10:81 -s rr",
            "-a -t 192.0.2.10:81 -r 10.0.0.11 -g",
            "-A -u 192.0.2.10:81 -s rr",
            "-a -u 192.0.2.10:81 -r 10.0.0.12 -g",
        ] {
            d.apply(&parse_line(l).unwrap(), Instant::ZERO).unwrap();
        }
        d
    }

    /// What a verdict did, owned.
    fn outcome(v: &crate::director::Verdict<'_>) -> String {
        format!("{v:?}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// The fast path is an optimisation only: on random client and reply traffic (TCP and
        /// UDP, NAT and DR, every flag combination that matters, TTLs near expiry, checksum
        /// edge values) a director with it and one without produce the same frames,
        /// verdicts, counters, connection states and events.
        #[test]
        fn fast_path_matches_the_general_path(
            pkts in proptest::collection::vec((pkt(), 0u64..3000), 1..60),
        ) {
            let (mut fast, mut slow) = (director(), director());
            let mut now = Instant::ZERO;
            for (p, dt) in &pkts {
                now = now + core::time::Duration::from_millis(*dt);
                let f = frame(p);
                let mut b1 = vec![0u8; 256];
                let mut b2 = vec![0u8; 256];
                b1[64..64 + f.len()].copy_from_slice(&f);
                b2[64..64 + f.len()].copy_from_slice(&f);
                let mut p1 = crate::rewrite::PacketBuf::new(&mut b1, 64, f.len()).unwrap();
                let mut p2 = crate::rewrite::PacketBuf::new(&mut b2, 64, f.len()).unwrap();
                fast.handle_timeout(now);
                slow.handle_timeout(now);
                let v1 = outcome(&fast.handle_packet(now, &mut p1));
                DISABLED.with(|d| d.set(true));
                let v2 = outcome(&slow.handle_packet(now, &mut p2));
                DISABLED.with(|d| d.set(false));
                prop_assert_eq!(v1, v2, "{:?}", p);
                prop_assert_eq!(&b1, &b2);
                prop_assert_eq!(fast.snapshot(), slow.snapshot());
                prop_assert_eq!(fast.conns(now).collect::<Vec<_>>(), slow.conns(now).collect::<Vec<_>>());
                prop_assert_eq!(fast.drop_counters(), slow.drop_counters());
                let mut buf = [0u8; 1600];
                loop {
                    let (t1, t2) = (fast.poll_transmit(now, &mut buf).map(|n| buf[..n].to_vec()),
                        slow.poll_transmit(now, &mut buf).map(|n| buf[..n].to_vec()));
                    prop_assert_eq!(&t1, &t2);
                    if t1.is_none() {
                        break;
                    }
                }
                loop {
                    let (e1, e2) = (fast.poll_event(), slow.poll_event());
                    prop_assert_eq!(&e1, &e2);
                    if e1.is_none() {
                        break;
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Looking a batch up first (`lookup_batch`, then `handle_packet_hinted` per frame)
        /// is an optimisation only: on random traffic in random batches (connections created,
        /// closed and reused inside one batch) it gives what one-by-one handling gives.
        #[test]
        fn batch_lookup_matches_one_by_one(
            pkts in proptest::collection::vec(pkt(), 1..80),
            sizes in proptest::collection::vec(1usize..=32, 1..20),
        ) {
            let (mut batched, mut single) = (director_with(0), director());
            let now = Instant::ZERO;
            let mut rest = &pkts[..];
            let mut sizes = sizes.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let frames: Vec<Vec<u8>> = chunk.iter().map(frame).collect();
                let mut b1: Vec<Vec<u8>> = frames
                    .iter()
                    .map(|f| {
                        let mut b = vec![0u8; 256];
                        b[64..64 + f.len()].copy_from_slice(f);
                        b
                    })
                    .collect();
                let mut b2 = b1.clone();
                let views: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
                let mut hints = vec![crate::conn::FlowHint::default(); n];
                batched.lookup_batch(&views, &mut hints);
                for (k, f) in frames.iter().enumerate() {
                    let mut p1 = crate::rewrite::PacketBuf::new(&mut b1[k], 64, f.len()).unwrap();
                    let mut p2 = crate::rewrite::PacketBuf::new(&mut b2[k], 64, f.len()).unwrap();
                    let v1 = outcome(&batched.handle_packet_hinted(now, 0, &mut p1, hints[k]));
                    let v2 = outcome(&single.handle_packet(now, &mut p2));
                    prop_assert_eq!(v1, v2, "{:?}", chunk[k]);
                }
                prop_assert_eq!(&b1, &b2);
                prop_assert_eq!(batched.snapshot(), single.snapshot());
                prop_assert_eq!(
                    batched.conns(now).collect::<Vec<_>>(),
                    single.conns(now).collect::<Vec<_>>()
                );
                prop_assert_eq!(batched.drop_counters(), single.drop_counters());
            }
        }
    }

    #[test]
    fn common_frames_take_the_fast_path() {
        for tcp in [true, false] {
            let f = base(tcp);
            assert_eq!(extract_v4(&f).map(|v| v.info()), flow::extract(&f).ok());
        }
    }
}
