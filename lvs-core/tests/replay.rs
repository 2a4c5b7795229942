//! `replay` over synthetic captures: frames built with etherparse go through the real director
//! and each transmitted frame must equal the frame etherparse builds from the NAT rules
//! (addresses and ports translated, TTL - 1, checksums computed by etherparse).

use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder, TcpHeader};
use lvs_core::director::{Director, DirectorConfig};
use lvs_core::replay::{Frame, MAX_TIMER_STEPS, Summary, merge, parse_rules, replay};
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const FALLBACK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 0x01];
const CLIENT: [u8; 4] = [203, 0, 113, 2];
const VIP: [u8; 4] = [192, 0, 2, 10];
const RIP: [u8; 4] = [172, 16, 0, 2];
const OTHER: [u8; 4] = [198, 51, 100, 7];

const RULES: &str = "\
-A -t 192.0.2.10:80 -s rr
-a -t 192.0.2.10:80 -r 172.16.0.2:8080 -m -w 1
-A -u 192.0.2.10:53 -s rr
-a -u 192.0.2.10:53 -r 172.16.0.2:5353 -m -w 1
";

/// An Ethernet + IPv4 (DF, id 0x1234) header in front of `ttl` and the given endpoints.
fn ip(src: [u8; 4], dst: [u8; 4], ttl: u8, proto: IpNumber) -> IpHeaders {
    let mut h = Ipv4Header::new(0, ttl, proto, src, dst).unwrap();
    h.identification = 0x1234;
    h.dont_fragment = true;
    IpHeaders::Ipv4(h, Default::default())
}

/// A TCP segment; `flags` is "S", "SA", "A", "PA", "FA".
#[allow(clippy::too_many_arguments)]
fn tcp(
    macs: ([u8; 6], [u8; 6]),
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    ttl: u8,
    seq: u32,
    ack: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = TcpHeader::new(from.1, to.1, seq, 64240);
    t.syn = flags.contains('S');
    t.fin = flags.contains('F');
    t.psh = flags.contains('P');
    t.ack = flags.contains('A');
    t.acknowledgment_number = if t.ack { ack } else { 0 };
    let builder = PacketBuilder::ethernet2(macs.0, macs.1)
        .ip(ip(from.0, to.0, ttl, IpNumber::TCP))
        .tcp_header(t);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn udp(
    macs: ([u8; 6], [u8; 6]),
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(macs.0, macs.1)
        .ip(ip(from.0, to.0, ttl, IpNumber::UDP))
        .udp(from.1, to.1);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn at(ms: u64) -> Instant {
    // Capture time: nanoseconds since the Unix epoch, in November 2023.
    Instant::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
}

/// A director with the rules applied at `start`; `client_known` adds the client's MAC.
fn director(start: Instant, client_known: bool) -> Director {
    let mut neighbours = vec![(RIP.into(), MacAddr(SERVER_MAC))];
    if client_known {
        neighbours.push((CLIENT.into(), MacAddr(CLIENT_MAC)));
    }
    let mut d = Director::new(DirectorConfig {
        mac: MacAddr(DIRECTOR_MAC),
        neighbours,
        ..DirectorConfig::default()
    });
    for rule in parse_rules(RULES).unwrap() {
        d.apply(&rule.command, start).unwrap();
    }
    d
}

fn run(d: &mut Director, frames: Vec<Frame>) -> (Vec<Frame>, Summary) {
    let mut out = Vec::new();
    let summary = replay(d, frames, MacAddr(FALLBACK_MAC), |f| out.push(f));
    (out, summary)
}

#[test]
fn nat_handshake_matches_etherparse_frames() {
    let c = (CLIENT, 40000);
    let to_dir = (CLIENT_MAC, DIRECTOR_MAC);
    let from_rs = (SERVER_MAC, DIRECTOR_MAC);
    let input = vec![
        Frame::new(at(0), tcp(to_dir, c, (VIP, 80), 64, 1000, 0, "S", b"")),
        Frame::new(
            at(1),
            tcp(from_rs, (RIP, 8080), c, 64, 5000, 1001, "SA", b""),
        ),
        Frame::new(
            at(2),
            tcp(to_dir, c, (VIP, 80), 64, 1001, 5001, "PA", b"GET /\n"),
        ),
    ];
    let (out, summary) = run(&mut director(at(0), true), input);
    let to_rs = (DIRECTOR_MAC, SERVER_MAC);
    let to_client = (DIRECTOR_MAC, CLIENT_MAC);
    let expected = vec![
        Frame::new(at(0), tcp(to_rs, c, (RIP, 8080), 63, 1000, 0, "S", b"")),
        Frame::new(
            at(1),
            tcp(to_client, (VIP, 80), c, 63, 5000, 1001, "SA", b""),
        ),
        Frame::new(
            at(2),
            tcp(to_rs, c, (RIP, 8080), 63, 1001, 5001, "PA", b"GET /\n"),
        ),
    ];
    assert_eq!(out, expected);
    assert_eq!(
        (summary.frames_in, summary.forwarded, summary.frames_out()),
        (3, 3, 3)
    );
}

#[test]
fn summary_counts_passes_drops_and_unknown_next_hops() {
    let to_dir = (CLIENT_MAC, DIRECTOR_MAC);
    let c = (CLIENT, 40001);
    let input = vec![
        // Not to a service: passed.
        Frame::new(at(0), udp(to_dir, c, (OTHER, 53), 64, b"q")),
        // To the VIP on a port without a service: passed.
        Frame::new(at(1), tcp(to_dir, c, (VIP, 443), 64, 1, 0, "S", b"")),
        // A mid-stream ACK to the service with no connection: dropped, it cannot start one.
        Frame::new(at(2), tcp(to_dir, c, (VIP, 80), 64, 1, 1, "A", b"")),
        // A UDP request and its reply; the client's MAC is unknown: the fallback MAC is used.
        Frame::new(at(3), udp(to_dir, c, (VIP, 53), 64, b"q")),
        Frame::new(
            at(4),
            udp((SERVER_MAC, DIRECTOR_MAC), (RIP, 5353), c, 64, b"a"),
        ),
        // A reply of no connection: passed.
        Frame::new(
            at(5),
            udp(
                (SERVER_MAC, DIRECTOR_MAC),
                (RIP, 5353),
                (CLIENT, 9),
                64,
                b"a",
            ),
        ),
    ];
    let (out, summary) = run(&mut director(at(0), false), input);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1],
        Frame::new(
            at(4),
            udp((DIRECTOR_MAC, FALLBACK_MAC), (VIP, 53), c, 63, b"a")
        )
    );
    assert_eq!(
        summary.to_string(),
        "frames in: 6\n\
         frames out: 2 (forwarded 2, replies 0, originated 0)\n\
         next hop MAC unknown (fallback used): 1\n\
         passed to the host: 3\n\
         dropped: 1\n  not_syn: 1\n"
    );
}

#[test]
fn connections_expire_in_capture_time() {
    // UDP connections live 300 s after their last packet (IPVS default), in either direction.
    let c = (CLIENT, 40002);
    let from_rs = (SERVER_MAC, DIRECTOR_MAC);
    let secs = |s: u64| at(s * 1000);
    let client_side = vec![Frame::new(
        secs(0),
        udp((CLIENT_MAC, DIRECTOR_MAC), c, (VIP, 53), 64, b"q"),
    )];
    let server_side = vec![
        Frame::new(secs(299), udp(from_rs, (RIP, 5353), c, 64, b"1")),
        // Re-armed at 299 s: alive until 599 s.
        Frame::new(secs(598), udp(from_rs, (RIP, 5353), c, 64, b"2")),
        // Expired at 898 s.
        Frame::new(secs(900), udp(from_rs, (RIP, 5353), c, 64, b"3")),
    ];
    let (out, summary) = run(
        &mut director(secs(0), true),
        merge([server_side, client_side]),
    );
    let times: Vec<Instant> = out.iter().map(|f| f.at).collect();
    assert_eq!(times, [secs(0), secs(299), secs(598)]);
    assert_eq!((summary.forwarded, summary.passed), (3, 1));
}

#[test]
fn arp_replies_and_originated_icmp_are_written_out() {
    use etherparse::{
        ArpEthIpv4Packet, ArpOperation, Icmpv4Type, NetHeaders, PacketHeaders, TransportHeader,
    };
    let dip = [192, 0, 2, 1];
    let mut d = Director::new(DirectorConfig {
        mac: MacAddr(DIRECTOR_MAC),
        addrs: vec![dip.into()],
        vips: vec![VIP.into()],
        neighbours: vec![(CLIENT.into(), MacAddr(CLIENT_MAC))],
        ..DirectorConfig::default()
    });
    for rule in parse_rules(RULES).unwrap() {
        d.apply(&rule.command, at(0)).unwrap();
    }
    let arp = |op, src_mac, src_ip, dst_mac, dst_ip| {
        let packet = ArpEthIpv4Packet {
            operation: op,
            sender_mac: src_mac,
            sender_ipv4: src_ip,
            target_mac: dst_mac,
            target_ipv4: dst_ip,
        };
        let eth_dst = if op == ArpOperation::REQUEST {
            [0xff; 6]
        } else {
            dst_mac
        };
        let mut out = Vec::new();
        PacketBuilder::ethernet2(src_mac, eth_dst)
            .arp(packet.to_arp_packet())
            .write(&mut out)
            .unwrap();
        out
    };
    let who_has_vip = arp(ArpOperation::REQUEST, CLIENT_MAC, CLIENT, [0; 6], VIP);
    // TTL 1: the director drops it and answers with ICMP time exceeded (RFC 792), from its DIP.
    let last_hop = tcp(
        (CLIENT_MAC, DIRECTOR_MAC),
        (CLIENT, 40003),
        (VIP, 80),
        1,
        7,
        0,
        "S",
        b"",
    );
    let input = vec![
        Frame::new(at(0), who_has_vip),
        Frame::new(at(1), last_hop.clone()),
    ];
    let (out, summary) = run(&mut d, input);
    assert_eq!(
        (
            summary.replies,
            summary.transmitted,
            summary.dropped.get("ttl_expired")
        ),
        (1, 1, Some(&1)),
        "{summary}"
    );
    assert_eq!(
        out[0],
        Frame::new(
            at(0),
            arp(ArpOperation::REPLY, DIRECTOR_MAC, VIP, CLIENT_MAC, CLIENT)
        )
    );

    assert_eq!(out[1].at, at(1));
    let icmp = PacketHeaders::from_ethernet_slice(&out[1].data).unwrap();
    let Some(NetHeaders::Ipv4(ip, _)) = &icmp.net else {
        panic!("{icmp:?}")
    };
    assert_eq!((ip.source, ip.destination), (dip, CLIENT));
    assert_eq!(ip.calc_header_checksum(), ip.header_checksum);
    let Some(TransportHeader::Icmpv4(h)) = &icmp.transport else {
        panic!("{icmp:?}")
    };
    assert!(
        matches!(h.icmp_type, Icmpv4Type::TimeExceeded(_)),
        "{:?}",
        h.icmp_type
    );
    assert_eq!(h.icmp_type.calc_checksum(icmp.payload.slice()), h.checksum);
    // The quote starts with the offending IP header and 8 bytes of TCP, as received.
    assert_eq!(icmp.payload.slice()[..28], last_hop[14..42]);
}

#[test]
fn a_gap_of_months_between_frames_does_not_stall() {
    // 90 days without traffic: 7.8 million one-second defense ticks if run one by one.
    let c = (CLIENT, 40004);
    let day = 86_400_000;
    let input = vec![
        Frame::new(
            at(0),
            udp((CLIENT_MAC, DIRECTOR_MAC), c, (VIP, 53), 64, b"q"),
        ),
        Frame::new(
            at(90 * day),
            udp((SERVER_MAC, DIRECTOR_MAC), (RIP, 5353), c, 64, b"a"),
        ),
    ];
    let (_, summary) = run(&mut director(at(0), true), input);
    // The connection expired in the gap: the reply is not translated.
    assert_eq!((summary.forwarded, summary.passed), (1, 1));
    // Bounded work: the deadlines one by one up to the bound, then one catch-up.
    assert_eq!(summary.timer_runs, u64::from(MAX_TIMER_STEPS) + 1);
}
