//! What the kernel hands the tap besides plain frames: GSO super-frames (handed to the handler
//! whole, counted) and IP fragments (reassembled by the fanout group).

mod dataplane_util;

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane_util::{Netns, can_run, small_port, start_worker, two_namespaces, wait_for};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_net::device::AfPacketConfig;
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Action, FrameHandler, PortConfig, WorkerConfig};

struct PassAll;

impl FrameHandler for PassAll {
    fn handle_frame(&mut self, _now: Instant, _port: usize, _pkt: &mut PacketBuf<'_>) -> Action {
        Action::Pass
    }
}

/// With TSO on at the sender, the tap sees GSO super-frames: TCP trains are handed to the
/// handler whole (the handler may forward them with their GSO header), none is refused.
#[test]
fn gso_frames_are_handed_on_whole() {
    if !can_run("gso_frames_are_handed_on_whole") {
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
    assert!(c.gso_whole > 0, "{c:?}");
    assert_eq!(c.drop_gso, 0, "{c:?}");
    assert!(c.passed >= c.gso_whole, "{c:?}");
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
    let (a, b) = two_namespaces("frag");
    let mut port = small_port("b0", None);
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
