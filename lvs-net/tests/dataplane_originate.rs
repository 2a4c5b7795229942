//! Frames a worker sends on its own: gratuitous ARP on start, and frames the handler
//! originates from a timer (poll_timeout -> handle_timeout -> poll_transmit).

mod dataplane_util;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane_util::{Netns, can_run, start_worker, start_worker_announcing, veth, wait_for};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_net::device::AfPacketConfig;
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Action, FrameHandler, PortConfig, WorkerConfig};

fn cfg() -> WorkerConfig {
    let mut d = AfPacketConfig::new("b0");
    d.block_size = 1 << 16;
    d.blocks = 4;
    WorkerConfig {
        ports: vec![PortConfig {
            device: d,
            ipv4: None,
            ipv6: None,
        }],
        routes: vec![],
    }
}

fn pair(tag: &str) -> (Netns, Netns) {
    let (a, b) = (
        Netns::new(&format!("{tag}a")),
        Netns::new(&format!("{tag}b")),
    );
    veth(&a, "a0", "192.0.2.1/24", &b, "b0", "192.0.2.2/24");
    (a, b)
}

struct Idle;

impl FrameHandler for Idle {
    fn handle_frame(&mut self, _now: Instant, _port: usize, _pkt: &mut PacketBuf<'_>) -> Action {
        Action::Pass
    }
}

#[test]
fn gratuitous_arp_updates_the_peer_cache() {
    if !can_run("gratuitous_arp_updates_the_peer_cache") {
        return;
    }
    let (a, b) = pair("garp");
    // A stale entry with a wrong MAC: a gratuitous ARP updates existing entries even with
    // arp_accept=0 (which only governs creating new ones).
    a.ip("neigh replace 192.0.2.100 lladdr 02:00:00:00:00:99 dev a0 nud stale");
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
    let w = start_worker_announcing(
        &b,
        cfg(),
        Idle,
        Arc::new(Mutex::new(NeighbourCache::new())),
        vec![vip],
    );
    let mac = b
        .mac("b0")
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let updated = wait_for(Duration::from_secs(3), || {
        a.ip("neigh show 192.0.2.100").contains(&mac)
    });
    let c = w.counters.snapshot();
    drop(w);
    assert!(updated, "ip neigh: {} counters {c:?}", a.ip("neigh show"));
}

/// Originates one UDP datagram to A once its timer (`due`) has fired.
struct Timer {
    due: Option<Instant>,
    fired: bool,
    frame: Vec<u8>,
}

impl FrameHandler for Timer {
    fn handle_frame(&mut self, _now: Instant, _port: usize, _pkt: &mut PacketBuf<'_>) -> Action {
        Action::Pass
    }

    fn handle_timeout(&mut self, _now: Instant) {
        self.fired = true;
        self.due = None;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.fired { None } else { self.due }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.fired || self.frame.is_empty() {
            return None;
        }
        let n = self.frame.len();
        buf.get_mut(..n)?.copy_from_slice(&self.frame);
        self.frame.clear();
        Some(n)
    }
}

#[test]
fn timer_then_originated_frame_reaches_the_kernel() {
    if !can_run("timer_then_originated_frame_reaches_the_kernel") {
        return;
    }
    let (a, b) = pair("orig");
    let server = a.spawn(|| {
        let s = UdpSocket::bind("192.0.2.1:7000").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        s.recv_from(&mut buf)
            .map(|(n, from)| (buf[..n].to_vec(), from))
    });
    // Give the server a moment to bind before the timer fires.
    std::thread::sleep(Duration::from_millis(50));
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2(b.mac("b0"), a.mac("a0"))
        .ipv4([192, 0, 2, 2], [192, 0, 2, 1], 64)
        .udp(7001, 7000)
        .write(&mut frame, b"originated")
        .unwrap();
    let due = Some(lvs_net::worker::now() + Duration::from_millis(100));
    let w = start_worker(
        &b,
        cfg(),
        Timer {
            due,
            fired: false,
            frame,
        },
        Arc::new(Mutex::new(NeighbourCache::new())),
    );
    let got = server.join().unwrap();
    let c = w.counters.snapshot();
    let h = w.finish();
    assert!(h.fired);
    let (data, from) = got.unwrap_or_else(|e| panic!("no datagram: {e}; counters {c:?}"));
    assert_eq!(data, b"originated");
    assert_eq!(from.port(), 7001);
    assert_eq!(c.originated, 1);
}
