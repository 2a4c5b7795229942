//! IPv6: the worker resolves the next hop with a neighbour solicitation and forwards UDP to a
//! kernel socket (checksum completed over the IPv6 pseudo-header).

mod dataplane_util;

use std::net::{IpAddr, Ipv6Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane_util::{Netns, can_run, start_worker, veth};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use lvs_net::device::AfPacketConfig;
use lvs_net::device::isolate::Isolation;
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Action, FrameHandler, PortConfig, Route, WorkerConfig};

const RS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);

struct Forward6;

impl FrameHandler for Forward6 {
    fn handle_frame(&mut self, _now: Instant, _port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        let f = pkt.frame();
        if f.len() >= 62 && f[12..14] == [0x86, 0xdd] && f[20] == 17 && f[38..54] == RS.octets() {
            return Action::Forward {
                next_hop: IpAddr::V6(RS),
                mac: None,
            };
        }
        Action::Pass
    }
}

#[test]
fn forwards_udp6_after_neighbour_discovery() {
    if !can_run("forwards_udp6_after_neighbour_discovery") {
        return;
    }
    let (a, b, c) = (Netns::new("v6a"), Netns::new("v6b"), Netns::new("v6c"));
    veth(&a, "a0", "", &b, "b0", "");
    veth(&b, "b1", "", &c, "c0", "");
    // nodad: addresses usable at once instead of after duplicate address detection.
    a.ip("addr add 2001:db8:1::1/64 dev a0 nodad");
    b.ip("addr add 2001:db8:1::2/64 dev b0 nodad");
    b.ip("addr add 2001:db8:2::1/64 dev b1 nodad");
    c.ip("addr add 2001:db8:2::2/64 dev c0 nodad");
    a.ip("route add 2001:db8:2::/64 via 2001:db8:1::2");
    let iso = b
        .spawn(|| Isolation::apply("b0", &[IpAddr::V6(RS)], &[]))
        .join()
        .unwrap()
        .expect("nft");
    let server = c.spawn(|| {
        let s = UdpSocket::bind((RS, 9000)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 5 {
            match s.recv_from(&mut buf) {
                Ok((n, _)) => got.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        got
    });
    let port = |dev: &str, ipv6: &str| {
        let mut d = AfPacketConfig::new(dev);
        d.block_size = 1 << 16;
        d.blocks = 8;
        PortConfig {
            device: d,
            ipv4: None,
            ipv6: Some(ipv6.parse().unwrap()),
        }
    };
    let cfg = WorkerConfig {
        ports: vec![port("b0", "2001:db8:1::2"), port("b1", "2001:db8:2::1")],
        routes: vec![Route {
            net: "2001:db8:2::".parse().unwrap(),
            prefix: 64,
            port: 1,
            gateway: None,
        }],
    };
    let neigh = Arc::new(Mutex::new(NeighbourCache::new()));
    let w = start_worker(&b, cfg, Forward6, Arc::clone(&neigh));
    a.spawn(|| {
        let s = UdpSocket::bind("[2001:db8:1::1]:0").unwrap();
        for i in 0..5u8 {
            s.send_to(&[i; 64], (RS, 9000)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .join()
    .unwrap();
    let got = server.join().unwrap();
    let counters = w.counters.snapshot();
    drop(w);
    iso.remove().expect("nft delete");
    assert_eq!(got.len(), 5, "{counters:?}");
    assert!(counters.neigh_requests >= 1, "{counters:?}");
    assert_eq!(
        neigh.lock().unwrap().get(IpAddr::V6(RS)),
        Some(MacAddr(c.mac("c0")))
    );
}
