//! What the kernel hands the tap besides plain frames: GSO super-frames (refused and counted)
//! and IP fragments (reassembled by the fanout group).

mod dataplane_util;

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane_util::{Netns, can_run, start_worker, veth, wait_for};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_net::device::AfPacketConfig;
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Action, FrameHandler, PortConfig, WorkerConfig};

fn small_port(dev: &str) -> PortConfig {
    let mut d = AfPacketConfig::new(dev);
    d.block_size = 1 << 16;
    d.blocks = 8;
    PortConfig {
        device: d,
        ipv4: None,
        ipv6: None,
    }
}

struct PassAll;

impl FrameHandler for PassAll {
    fn handle_frame(&mut self, _now: Instant, _port: usize, _pkt: &mut PacketBuf<'_>) -> Action {
        Action::Pass
    }
}

/// With TSO on at the sender, the tap sees GSO super-frames: refused and counted, never handed
/// to the handler half-formed.
#[test]
fn gso_frames_are_refused_and_counted() {
    if !can_run("gso_frames_are_refused_and_counted") {
        return;
    }
    let (a, b) = (Netns::new("gsoa"), Netns::new("gsob"));
    // Not the veth() helper: it turns TSO off.
    a.ip(&format!(
        "link add a0 type veth peer name b0 netns {}",
        b.name
    ));
    a.ip("addr add 192.0.2.1/24 dev a0");
    b.ip("addr add 192.0.2.2/24 dev b0");
    a.ip("link set a0 up");
    b.ip("link set b0 up");
    let cfg = WorkerConfig {
        ports: vec![PortConfig {
            device: AfPacketConfig::new("b0"),
            ipv4: None,
            ipv6: None,
        }],
        routes: vec![],
    };
    let worker = start_worker(
        &b,
        cfg,
        PassAll,
        Arc::new(Mutex::new(NeighbourCache::new())),
    );
    let listener = b
        .spawn(|| std::net::TcpListener::bind("192.0.2.2:7100").unwrap())
        .join()
        .unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::io::copy(&mut s, &mut std::io::sink()).unwrap_or(0)
    });
    a.spawn(|| {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect("192.0.2.2:7100").unwrap();
        s.write_all(&vec![7u8; 4 << 20]).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(sink.join().unwrap(), 4 << 20);
    let c = worker.counters.snapshot();
    drop(worker);
    assert!(c.drop_gso > 0, "{c:?}");
}

/// Records the IPv4 total length of UDP datagrams to port 9002 and of fragments.
#[derive(Default)]
struct FragLog {
    whole: Vec<usize>,
    fragments: usize,
}

impl FrameHandler for FragLog {
    fn handle_frame(&mut self, _now: Instant, _port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        let f = pkt.frame();
        if f.len() < 42 || f[12..14] != [8, 0] || f[23] != 17 {
            return Action::Pass;
        }
        let frag = u16::from_be_bytes([f[20], f[21]]);
        if frag & 0x3fff != 0 {
            self.fragments += 1;
        } else if f[36..38] == 9002u16.to_be_bytes() {
            self.whole
                .push(usize::from(u16::from_be_bytes([f[16], f[17]])));
        }
        Action::Drop
    }
}

/// The fanout group reassembles fragments (PACKET_FANOUT_FLAG_DEFRAG) before the handler.
#[test]
fn fanout_group_hands_over_reassembled_datagrams() {
    if !can_run("fanout_group_hands_over_reassembled_datagrams") {
        return;
    }
    let (a, b) = (Netns::new("fraga"), Netns::new("fragb"));
    veth(&a, "a0", "192.0.2.1/24", &b, "b0", "192.0.2.2/24");
    let mut port = small_port("b0");
    port.device.fanout_group = Some(7);
    let cfg = WorkerConfig {
        ports: vec![port],
        routes: vec![],
    };
    let worker = start_worker(
        &b,
        cfg,
        FragLog::default(),
        Arc::new(Mutex::new(NeighbourCache::new())),
    );
    a.spawn(|| {
        let s = UdpSocket::bind("192.0.2.1:0").unwrap();
        // 3000 bytes over a 1500-byte MTU: three fragments on the wire.
        s.send_to(&[1u8; 3000], "192.0.2.2:9002").unwrap();
    })
    .join()
    .unwrap();
    let c = Arc::clone(&worker.counters);
    wait_for(Duration::from_secs(3), || c.snapshot().handler_drops >= 1);
    let log = worker.finish();
    assert_eq!(log.whole, vec![20 + 8 + 3000]);
    assert_eq!(log.fragments, 0);
}
