//! NAT reference: the kernel's own DNAT is the oracle for `lvs-router replay`.
//!
//! A router namespace DNATs VIP:80 to RIP:8080 with nftables (TCP and UDP; IPv4 and IPv6, one
//! test each) while a real client
//! and server talk through it; a datagram to VIP:81 (DNAT to the closed RIP:8081) brings back a
//! port-unreachable that conntrack translates as a related ICMP error. tcpdump records both
//! router interfaces and `any`. The frames that *entered* the router (client -> VIP on r0,
//! server -> client on r1) are replayed through the director with the equivalent ipvsadm rules,
//! and every frame the director transmits must carry the same IP and TCP/UDP/ICMP headers,
//! quoted packet and payload as the frame the kernel transmitted, field by field and then byte
//! for byte. The one intended difference is the source MAC: the director has one, the kernel's
//! router one per interface.
//!
//! Needs root and `ip netns` (skipped with a message otherwise), and then nft, tcpdump, ethtool,
//! python3 (Debian: `netns::PACKAGES`), whose absence fails the test.

mod e2e;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use e2e::compare;
use e2e::netns::{self, CLIENT, CLIENT6, Lab, RIP, RIP6, VIP, VIP6};
use lvs_core::wire::MacAddr;
use lvs_net::pcap::{LinkMacs, read_capture};
use lvs_net::replay::{DEFAULT_MAC, DEFAULT_PEER_MAC, ReplayOptions, replay_files};

/// One address family's addresses and the words that differ between them.
struct Family {
    tag: &'static str,
    client: &'static str,
    vip: &'static str,
    rip: &'static str,
    /// nftables table family and address match (`ip daddr`, `ip6 daddr`).
    nft: (&'static str, &'static str),
    /// tcpdump filter; IPv6 leaves out neighbour discovery and MLD (informational ICMPv6).
    filter: &'static str,
    /// Python's socket family and wildcard address.
    af: (&'static str, &'static str),
}

const V4: Family = Family {
    tag: "nat4",
    client: CLIENT,
    vip: VIP,
    rip: RIP,
    nft: ("ip", "ip daddr"),
    filter: "ip",
    af: ("AF_INET", "0.0.0.0"),
};

const V6: Family = Family {
    tag: "nat6",
    client: CLIENT6,
    vip: VIP6,
    rip: RIP6,
    nft: ("ip6", "ip6 daddr"),
    filter: "ip6 and not (icmp6 and ip6[40] >= 128) and not ip6 proto 0",
    af: ("AF_INET6", "::"),
};

impl Family {
    /// `addr:port` as nft and ipvsadm write it (`[v6]:port`).
    fn endpoint(addr: &str, port: u16) -> String {
        if addr.contains(':') {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        }
    }

    /// The router's rules: what `ipvsadm -A/-a ... -m` does, in the kernel's other NAT engine.
    fn nft_rules(&self) -> String {
        let (table, daddr) = self.nft;
        let rip = |port| Self::endpoint(self.rip, port);
        format!(
            "table {table} lvsref {{\n chain pre {{\n  type nat hook prerouting priority dstnat;\n  \
             {daddr} {vip} tcp dport 80 dnat to {r80}\n  {daddr} {vip} udp dport 80 dnat to {r80}\n  \
             {daddr} {vip} udp dport 81 dnat to {r81}\n }}\n}}\n",
            vip = self.vip,
            r80 = rip(8080),
            r81 = rip(8081),
        )
    }

    /// The equivalent ipvsadm-save lines.
    fn ipvs_rules(&self) -> String {
        let (v80, v81) = (Self::endpoint(self.vip, 80), Self::endpoint(self.vip, 81));
        let (r80, r81) = (
            Self::endpoint(self.rip, 8080),
            Self::endpoint(self.rip, 8081),
        );
        format!(
            "-A -t {v80} -s rr\n-a -t {v80} -r {r80} -m -w 1\n-A -u {v80} -s rr\n\
             -a -u {v80} -r {r80} -m -w 1\n-A -u {v81} -s rr\n-a -u {v81} -r {r81} -m -w 1\n"
        )
    }

    /// One TCP request/response (the server closes first) and one UDP echo, each bounded by a
    /// 5 s socket timeout; prints "ready" once both sockets listen.
    fn server_script(&self) -> String {
        let (af, any) = self.af;
        format!(
            r#"
import socket
t = socket.socket(socket.{af}); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("{any}", 8080)); t.listen(1); t.settimeout(5)
u = socket.socket(socket.{af}, socket.SOCK_DGRAM); u.bind(("{any}", 8080)); u.settimeout(5)
print("ready", flush=True)
c, _ = t.accept(); c.settimeout(5)
req = b""
while not req.endswith(b"\n"):
    chunk = c.recv(100)
    if not chunk: break
    req += chunk
c.sendall(b"reply to " + req)
c.close()
data, peer = u.recvfrom(100)
u.sendto(b"echo " + data, peer)
print("served", flush=True)
"#
        )
    }

    /// The client's side; a datagram to VIP:81 (nothing listens on RIP:8081) brings back a
    /// port-unreachable, a related ICMP error.
    fn client_script(&self) -> String {
        let (af, vip) = (self.af.0, self.vip);
        format!(
            r#"
import socket
s = socket.create_connection(("{vip}", 80), timeout=5)
s.sendall(b"hello lvs\n")
got = b""
while True:
    chunk = s.recv(100)
    if not chunk: break
    got += chunk
s.close()
assert got == b"reply to hello lvs\n", got
u = socket.socket(socket.{af}, socket.SOCK_DGRAM); u.settimeout(5)
u.sendto(b"ping", ("{vip}", 80))
data, peer = u.recvfrom(100)
assert data == b"echo ping" and peer[:2] == ("{vip}", 80), (data, peer)
r = socket.socket(socket.{af}, socket.SOCK_DGRAM); r.settimeout(5)
r.connect(("{vip}", 81)); r.send(b"anyone?")
try:
    r.recv(100)
    raise SystemExit("no ICMP error")
except ConnectionRefusedError:
    pass
print("client ok")
"#
        )
    }
}

/// The kernel's side of the exchange: `before.pcap` on r0 (client side), `after.pcap` on r1,
/// `any-sll2.pcap` and `any-sll.pcap` on all the router's interfaces (Linux cooked v2 and v1).
fn kernel_captures(lab: &mut Lab, family: &Family) {
    let rules = lab.path("rules.nft");
    std::fs::write(&rules, family.nft_rules()).unwrap();
    lab.router.run(&["nft", "-f", rules.to_str().unwrap()]);
    let filter = family.filter;
    lab.capture("r0", "before.pcap", None, filter);
    lab.capture("r1", "after.pcap", None, filter);
    lab.capture("any", "any-sll2.pcap", Some("LINUX_SLL2"), filter);
    lab.capture("any", "any-sll.pcap", Some("LINUX_SLL"), filter);
    let server_script = family.server_script();
    lab.server.spawn_ready(
        &["timeout", "20", "python3", "-c", &server_script],
        "server.log",
        "ready",
        Duration::from_secs(10),
    );
    let out = lab
        .client
        .run(&["timeout", "20", "python3", "-c", &family.client_script()]);
    assert!(out.contains("client ok"), "client: {out}");
    lab.wait_for("server.log", "served");
    lab.stop_captures();
}

/// The IP source and destination of an Ethernet frame, and its source MAC.
fn addrs(frame: &[u8]) -> Option<(IpAddr, IpAddr, [u8; 6])> {
    let (src, dst) = compare::parse(frame)?.addrs();
    Some((src, dst, frame[6..12].try_into().ok()?))
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    let macs = LinkMacs {
        local: DEFAULT_MAC,
        peer: DEFAULT_PEER_MAC,
    };
    let capture = read_capture(&netns::read(path)[..], macs).unwrap();
    capture.frames.into_iter().map(|f| f.data).collect()
}

/// The frames of `capture` from `src` to `dst`, in capture order.
fn between(capture: &[Vec<u8>], src: IpAddr, dst: IpAddr) -> Vec<Vec<u8>> {
    capture
        .iter()
        .filter(|f| addrs(f).is_some_and(|(s, d, _)| (s, d) == (src, dst)))
        .cloned()
        .collect()
}

fn assert_same(what: &str, ours: &[Vec<u8>], kernel: &[Vec<u8>]) {
    assert_eq!(ours.len(), kernel.len(), "{what}: frame count");
    for (i, (o, k)) in ours.iter().zip(kernel).enumerate() {
        let diffs = compare::diff(o, k);
        assert!(diffs.is_empty(), "{what}, frame {}: {diffs:#?}", i + 1);
        // Whole IP packets: nothing outside the compared fields differs either.
        assert_eq!(o[14..], k[14..], "{what}, frame {}: IP packet bytes", i + 1);
    }
}

#[test]
fn replay_matches_kernel_dnat_ipv4() {
    reference(&V4);
}

#[test]
fn replay_matches_kernel_dnat_ipv6() {
    reference(&V6);
}

fn reference(family: &Family) {
    if let Some(why) = netns::unavailable() {
        eprintln!("SKIPPED nat_reference: {why} (needs root and `ip netns`)");
        return;
    }
    netns::require_tools();
    let parse = |a: &str| -> IpAddr { a.parse().unwrap() };
    let (client, vip, rip) = (parse(family.client), parse(family.vip), parse(family.rip));
    let mut lab = Lab::build(family.tag);
    kernel_captures(&mut lab, family);
    let before = frames(&lab.path("before.pcap"));
    let after = frames(&lab.path("after.pcap"));

    // What entered the router, and what the kernel sent on.
    let requests = between(&before, client, vip);
    let replies = between(&after, rip, client);
    let kernel = (between(&after, client, rip), between(&before, vip, client));
    // Client: SYN, ACK, request, [ACK], FIN, two datagrams; server: SYN-ACK, [ACK], reply, FIN,
    // ACK, a datagram, a port-unreachable. Whether a pure ACK goes out or rides on data depends
    // on timing.
    assert!(
        requests.len() >= 6 && replies.len() >= 6,
        "the kernel's exchange"
    );
    let counts = (kernel.0.len(), kernel.1.len());
    assert_eq!(
        counts,
        (requests.len(), replies.len()),
        "the kernel forwarded every frame"
    );
    let n = (requests.len() + replies.len()) as u64;

    // The neighbours the kernel resolved by ARP / ND, read from the frames they sent.
    let client_mac = MacAddr(addrs(&requests[0]).unwrap().2);
    let server_mac = MacAddr(addrs(&replies[0]).unwrap().2);
    let rules = lab.path("rules.ipvs");
    std::fs::write(&rules, family.ipvs_rules()).unwrap();
    let options = ReplayOptions {
        neighbours: vec![(client, client_mac), (rip, server_mac)],
        ..ReplayOptions::default()
    };

    // Both whole interface captures: the kernel's own output in them is not addressed to a
    // service nor a reply of a connection, so the director passes it.
    let inputs = [lab.path("before.pcap"), lab.path("after.pcap")];
    let out = lab.path("replay.pcap");
    let report = replay_files(&inputs, &rules, &out, &options).unwrap();
    let s = &report.summary;
    let total = (before.len() + after.len()) as u64;
    assert_eq!(
        (s.frames_in, s.forwarded, s.passed),
        (total, n, total - n),
        "{s}"
    );
    let rest = (
        s.dropped_total(),
        s.unresolved_next_hop,
        s.transmitted,
        s.replies,
    );
    assert_eq!(rest, (0, 0, 0, 0), "{s}");
    assert_replay_is_kernel(&frames(&out), family, &kernel);

    // `tcpdump -i any` (Linux cooked captures): the router's output is marked outgoing and
    // skipped, its input converted to Ethernet from the link address in the cooked header.
    for capture in ["any-sll2.pcap", "any-sll.pcap"] {
        let out = lab.path(&format!("replay-{capture}"));
        let report = replay_files(&[lab.path(capture)], &rules, &out, &options).unwrap();
        let s = &report.summary;
        assert!(report.skipped_outgoing >= n, "{capture}: {report:?}");
        let counts = (s.forwarded, s.dropped_total(), s.unresolved_next_hop);
        assert_eq!(counts, (n, 0, 0), "{capture}: {s}");
        assert_replay_is_kernel(&frames(&out), family, &kernel);
    }
}

/// Replay's output, split by direction, against the kernel's (to the server, to the client).
fn assert_replay_is_kernel(
    ours: &[Vec<u8>],
    family: &Family,
    kernel: &(Vec<Vec<u8>>, Vec<Vec<u8>>),
) {
    let parse = |a: &str| -> IpAddr { a.parse().unwrap() };
    let (client, vip, rip) = (parse(family.client), parse(family.vip), parse(family.rip));
    let ours_to_server = between(ours, client, rip);
    let ours_to_client = between(ours, vip, client);
    assert_same("client -> real server", &ours_to_server, &kernel.0);
    assert_same("real server -> client", &ours_to_client, &kernel.1);
    // Link layer: the next hops are the kernel's; the source is the director's one MAC where
    // the kernel used each interface's own (an intended difference: replay has one port).
    let pairs = ours_to_server
        .iter()
        .zip(&kernel.0)
        .chain(ours_to_client.iter().zip(&kernel.1));
    for (o, k) in pairs {
        assert_eq!(o[..6], k[..6], "destination MAC");
        assert_eq!(o[6..12], DEFAULT_MAC.octets(), "source MAC");
    }
}
