//! Throughput smoke measurement (printed, never asserted): 64-byte UDP frames from an
//! AF_PACKET sendmmsg generator in ns A (256 flows, batches of 64), through a worker in ns B
//! running a trivial MAC-rewrite handler, to ns C. The generator is bounded in time (5 s) and
//! count (5 M frames).
//!
//! Two handlers: a trivial MAC rewrite, and the real director doing UDP NAT (256 flows).
//! `cargo test --release -p lvs-net --test dataplane_smoke -- --nocapture --test-threads 1`
//! prints the rates.

mod dataplane_util;

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane_util::{can_run, start_worker, three_namespaces};
use lvs_core::director::{Director, DirectorConfig};
use lvs_core::ipvsadm::parse_line;
use lvs_core::rewrite::PacketBuf;
use lvs_core::wire::MacAddr;
use lvs_net::device::isolate::Isolation;
use lvs_net::device::{AfPacket, AfPacketConfig};
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Action, DirectorHandler, FrameHandler, PortConfig, Route, WorkerConfig};

const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const WINDOW: Duration = Duration::from_secs(5);
const MAX_FRAMES: u64 = 5_000_000;

/// Writes the real server's MAC and forwards; everything else goes to the host.
struct MacRewrite {
    rs_mac: MacAddr,
}

impl FrameHandler for MacRewrite {
    fn handle_frame(
        &mut self,
        _now: lvs_core::time::Instant,
        _port: usize,
        pkt: &mut PacketBuf<'_>,
    ) -> Action {
        let f = pkt.frame_mut();
        if f.len() >= 34 && f[12..14] == [8, 0] && f[30..34] == RS.octets() {
            f[..6].copy_from_slice(&self.rs_mac.0);
            return Action::Forward {
                next_hop: IpAddr::V4(RS),
                mac: Some(self.rs_mac),
            };
        }
        Action::Pass
    }
}

/// 256 UDP frames (one per source port) laid end to end, and their ranges.
fn frames(src: MacAddr, dst: MacAddr, to: Ipv4Addr) -> (Vec<u8>, Vec<Range<usize>>) {
    let mut all = Vec::new();
    let mut ranges = Vec::new();
    for i in 0..256u16 {
        let start = all.len();
        etherparse::PacketBuilder::ethernet2(src.0, dst.0)
            .ipv4([192, 0, 2, 1], to.octets(), 64)
            .udp(10_000 + i, 9)
            .write(&mut all, &[0u8; 18])
            .unwrap();
        ranges.push(start..all.len());
    }
    (all, ranges)
}

/// Sends 64-byte frames to `to` from ns A for [`WINDOW`] through a worker running `handler`
/// in ns B; prints and returns (sent, forwarded).
fn measure<H: FrameHandler + Send + 'static>(
    label: &str,
    make: impl FnOnce(MacAddr, MacAddr) -> H,
    to: Ipv4Addr,
) -> u64 {
    let tag = &label[..3];
    let (a, b, c) = three_namespaces(tag);
    let iso = b
        .spawn(move || Isolation::apply("b0", &[IpAddr::V4(to)], &[]))
        .join()
        .unwrap()
        .expect("nft");
    let rs_mac = MacAddr(c.mac("c0"));
    let handler = make(MacAddr(b.mac("b0")), rs_mac);
    let port = |dev: &str| PortConfig {
        device: AfPacketConfig::new(dev),
        ipv4: None,
        ipv6: None,
    };
    let cfg = WorkerConfig {
        ports: vec![port("b0"), port("b1")],
        routes: vec![Route {
            net: RS.into(),
            prefix: 24,
            port: 1,
            gateway: None,
        }],
    };
    let worker = start_worker(
        &b,
        cfg,
        handler,
        Arc::new(Mutex::new(NeighbourCache::new())),
    );
    let before = worker.counters.snapshot();
    let start = Instant::now();
    let b_mac = b.mac("b0");
    let sent = a
        .spawn(move || {
            let mut dev = AfPacket::open(&AfPacketConfig {
                blocks: 2,
                ..AfPacketConfig::new("a0")
            })
            .unwrap();
            let (frames, ranges) = frames(dev.mac(), MacAddr(b_mac), to);
            let end = Instant::now() + WINDOW;
            let mut n = 0u64;
            while n < MAX_FRAMES && Instant::now() < end {
                for chunk in ranges.chunks(64) {
                    n += dev.send_ranges(&frames, chunk).unwrap_or(0) as u64;
                }
            }
            n
        })
        .join()
        .unwrap();
    // Let the worker drain what is still in the ring (1 ms block timeout).
    std::thread::sleep(Duration::from_millis(100));
    let secs = start.elapsed().as_secs_f64();
    let after = worker.counters.snapshot();
    drop(worker);
    iso.remove().expect("nft delete");
    let fwd = after.forwarded - before.forwarded;
    eprintln!(
        "smoke {label}: sent {sent} frames in {secs:.2} s ({:.0}/s); worker forwarded {fwd} ({:.0}/s), tx {} tx_errors {} ring_drops {}",
        sent as f64 / secs,
        fwd as f64 / secs,
        after.tx_frames,
        after.tx_errors,
        after.ring_drops,
    );
    fwd
}

#[test]
fn smoke_throughput_mac_rewrite() {
    if !can_run("smoke_throughput_mac_rewrite") {
        return;
    }
    let fwd = measure("mac-rewrite", |_, rs_mac| MacRewrite { rs_mac }, RS);
    assert!(fwd > 0, "nothing forwarded");
}

#[test]
fn smoke_throughput_nat_director() {
    if !can_run("smoke_throughput_nat_director") {
        return;
    }
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let make = |b_mac, rs_mac| {
        let mut d = Director::new(DirectorConfig {
            mac: b_mac,
            addrs: vec!["192.0.2.2".parse().unwrap()],
            vips: vec![IpAddr::V4(vip)],
            neighbours: vec![(IpAddr::V4(RS), rs_mac)],
            ..DirectorConfig::default()
        });
        for line in [
            "-A -u 192.0.2.100:9 -s rr",
            "-a -u 192.0.2.100:9 -r 198.51.100.2:9 -m",
        ] {
            d.apply(&parse_line(line).unwrap(), lvs_net::worker::now())
                .unwrap();
        }
        DirectorHandler::new(d)
    };
    let fwd = measure("nat-director", make, vip);
    assert!(fwd > 0, "nothing forwarded");
}
