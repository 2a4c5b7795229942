//! AF_PACKET workers in network namespaces: receive what a kernel socket sends, forward to a
//! kernel socket behind ARP resolution (with checksum completion), fanout over two workers,
//! and ARP answers for an owned VIP that the kernel's neighbour table takes.
//!
//! ```text
//!  ns A (kernel)            ns B (worker)                  ns C (kernel)
//!  a0 192.0.2.1/24 ---veth--- b0 192.0.2.2/24
//!                             b1 198.51.100.1/24 ---veth--- c0 198.51.100.2/24
//! ```

mod dataplane_util;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane_util::{
    can_run, small_port, start_worker, three_namespaces, two_namespaces, wait_for,
};
use lvs_core::rewrite::{PacketBuf, originate};
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use lvs_net::device::AfPacketConfig;
use lvs_net::device::isolate::Isolation;
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Action, FrameHandler, Route, WorkerConfig};

const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn udp_dst(f: &[u8]) -> Option<(Ipv4Addr, u16)> {
    if f.len() < 42 || f[12..14] != [8, 0] || f[23] != 17 {
        return None;
    }
    let ihl = usize::from(f[14] & 15) * 4;
    let port = u16::from_be_bytes([*f.get(14 + ihl + 2)?, *f.get(14 + ihl + 3)?]);
    Some((Ipv4Addr::new(f[30], f[31], f[32], f[33]), port))
}

/// Forwards UDP for `RS` toward it (MAC left for the worker to resolve), counts other UDP.
#[derive(Default)]
struct Forwarder {
    forwarded: u64,
    seen: Arc<AtomicU64>,
}

impl FrameHandler for Forwarder {
    fn handle_frame(&mut self, _now: Instant, _port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        match udp_dst(pkt.frame()) {
            Some((ip, _)) if ip == RS => {
                self.forwarded += 1;
                Action::Forward {
                    next_hop: IpAddr::V4(ip),
                    mac: None,
                }
            }
            Some(_) => {
                self.seen.fetch_add(1, Ordering::Relaxed);
                Action::Drop
            }
            None => Action::Pass,
        }
    }
}

#[test]
fn forwards_udp_to_a_kernel_socket_after_arp() {
    if !can_run("forwards_udp_to_a_kernel_socket_after_arp") {
        return;
    }
    let (a, b, c) = three_namespaces("fw");
    // Keep B's kernel off the forwarded flow (it would answer with ICMP unreachable).
    let iso = b.spawn(|| Isolation::apply("b0", &[IpAddr::V4(RS)], &[]));
    let iso = iso.join().unwrap().expect("nft isolation");
    assert!(
        b.exec(&format!("nft list table netdev {}", iso.table()))
            .contains("198.51.100.2")
    );

    let server = c.spawn(|| {
        let s = UdpSocket::bind((RS, 9000)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 20 {
            match s.recv_from(&mut buf) {
                Ok((n, _)) => got.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        got
    });
    let neigh = Arc::new(Mutex::new(NeighbourCache::new()));
    let cfg = WorkerConfig {
        ports: vec![
            small_port("b0", Some([192, 0, 2, 2].into())),
            small_port("b1", Some([198, 51, 100, 1].into())),
        ],
        routes: vec![Route {
            net: [198, 51, 100, 0].into(),
            prefix: 24,
            port: 1,
            gateway: None,
        }],
    };
    let worker = start_worker(&b, cfg, Forwarder::default(), Arc::clone(&neigh));
    let client = a.spawn(|| {
        let s = UdpSocket::bind("192.0.2.1:0").unwrap();
        for i in 0..20u8 {
            s.send_to(&[i; 100], (RS, 9000)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    client.join().unwrap();
    let got = server.join().unwrap();
    let counters = worker.counters.snapshot();
    let handler = worker.finish();
    // Every datagram arrived intact: the kernel in C verified the UDP checksum the worker
    // completed (a0 sends CHECKSUM_PARTIAL frames).
    assert_eq!(got.len(), 20, "counters: {counters:?}");
    for (i, d) in got.iter().enumerate() {
        assert_eq!(d, &vec![i as u8; 100]);
    }
    assert_eq!(handler.forwarded, 20);
    assert!(counters.neigh_requests >= 1, "{counters:?}");
    assert!(
        counters.neigh_queued >= 1,
        "the first datagram waits for ARP: {counters:?}"
    );
    assert_eq!(
        counters.drop_bad_vnet + counters.drop_gso + counters.tx_errors,
        0,
        "{counters:?}"
    );
    let c_mac = MacAddr(c.mac("c0"));
    assert_eq!(neigh.lock().unwrap().get(IpAddr::V4(RS)), Some(c_mac));
    iso.remove().expect("nft delete");
    drop((a, b, c));
}

#[test]
fn fanout_spreads_flows_over_two_workers() {
    if !can_run("fanout_spreads_flows_over_two_workers") {
        return;
    }
    let (a, b) = two_namespaces("fan");
    // GRO on first, so the check below sees the function turn it off.
    b.exec("ethtool -K b0 gro on");
    b.spawn(|| lvs_net::device::disable_offloads("b0"))
        .join()
        .unwrap()
        .expect("ethtool");
    assert!(
        b.exec("ethtool -k b0")
            .contains("generic-receive-offload: off")
    );
    let neigh = Arc::new(Mutex::new(NeighbourCache::new()));
    let mut port = small_port("b0", None);
    port.device.fanout_group = Some(4242);
    let cfg = WorkerConfig {
        ports: vec![port],
        routes: vec![],
    };
    let seen: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::default()).collect();
    let workers: Vec<_> = seen
        .iter()
        .map(|s| {
            let h = Forwarder {
                forwarded: 0,
                seen: Arc::clone(s),
            };
            start_worker(&b, cfg.clone(), h, Arc::clone(&neigh))
        })
        .collect();
    const FLOWS: usize = 50;
    const PER_FLOW: usize = 4;
    a.spawn(|| {
        for _ in 0..FLOWS {
            let s = UdpSocket::bind("192.0.2.1:0").unwrap();
            for _ in 0..PER_FLOW {
                s.send_to(b"fanout", "192.0.2.2:9001").unwrap();
            }
        }
    })
    .join()
    .unwrap();
    let total = || seen.iter().map(|s| s.load(Ordering::Relaxed)).sum::<u64>();
    let all = wait_for(Duration::from_secs(5), || {
        total() >= (FLOWS * PER_FLOW) as u64
    });
    let per: Vec<u64> = seen.iter().map(|s| s.load(Ordering::Relaxed)).collect();
    drop(workers);
    assert!(all, "received {per:?} of {}", FLOWS * PER_FLOW);
    assert_eq!(total(), (FLOWS * PER_FLOW) as u64);
    // 50 flows hashed over 2 members: all on one side has probability 2^-49.
    assert!(per.iter().all(|&n| n > 0), "{per:?}");
}

/// Answers ARP requests for one VIP with `originate::arp_reply` written over the request.
struct ArpResponder {
    vip: Ipv4Addr,
    mac: MacAddr,
}

impl FrameHandler for ArpResponder {
    fn handle_frame(&mut self, _now: Instant, _port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        let f = pkt.frame();
        if f.len() < 42
            || f[12..14] != [8, 6]
            || f[20..22] != [0, 1]
            || f[38..42] != self.vip.octets()
        {
            return Action::Pass;
        }
        let (Some(to_mac), to_ip) = (
            MacAddr::from_bytes(&f[22..28]),
            Ipv4Addr::new(f[28], f[29], f[30], f[31]),
        ) else {
            return Action::Drop;
        };
        match originate::arp_reply(pkt.frame_mut(), self.mac, self.vip, to_mac, to_ip) {
            Ok(len) => Action::Reply { len },
            Err(_) => Action::Drop,
        }
    }
}

#[test]
fn answers_arp_for_an_owned_vip() {
    if !can_run("answers_arp_for_an_owned_vip") {
        return;
    }
    let (a, b) = two_namespaces("arp");
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let b_mac = MacAddr(b.mac("b0"));
    let neigh = Arc::new(Mutex::new(NeighbourCache::new()));
    let cfg = WorkerConfig {
        ports: vec![small_port("b0", None)],
        routes: vec![],
    };
    let worker = start_worker(
        &b,
        cfg,
        ArpResponder { vip, mac: b_mac },
        Arc::clone(&neigh),
    );
    // Any datagram to the VIP makes A's kernel resolve it.
    let poke = move || {
        let s = UdpSocket::bind("192.0.2.1:0").unwrap();
        let _ = s.send_to(b"who", (vip, 9));
    };
    a.spawn(poke).join().unwrap();
    let mac_text = b_mac
        .0
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let resolved = wait_for(Duration::from_secs(5), || {
        let out = a.ip("neigh show 192.0.2.100");
        out.contains(&mac_text) && !out.contains("FAILED") && !out.contains("INCOMPLETE")
    });
    let counters = worker.counters.snapshot();
    drop(worker);
    assert!(
        resolved,
        "ip neigh: {} counters: {counters:?}",
        a.ip("neigh show")
    );
    assert!(counters.replies >= 1, "{counters:?}");
    // The request taught the shared cache A's MAC.
    assert_eq!(
        neigh.lock().unwrap().get(IpAddr::V4([192, 0, 2, 1].into())),
        Some(MacAddr(a.mac("a0")))
    );
}

/// Records the client port of every UDP frame it sees, per direction.
#[derive(Default)]
struct PortLog {
    requests: Vec<u16>,
    replies: Vec<u16>,
}

impl FrameHandler for PortLog {
    fn handle_frame(&mut self, _now: Instant, _port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        let f = pkt.frame();
        if f.len() < 42 || f[12..14] != [8, 0] || f[23] != 17 {
            return Action::Pass;
        }
        let sport = u16::from_be_bytes([f[34], f[35]]);
        let dport = u16::from_be_bytes([f[36], f[37]]);
        if f[30..34] == [192, 0, 2, 100] {
            self.requests.push(sport);
        } else if f[30..34] == [203, 0, 113, 7] {
            self.replies.push(dport);
        }
        Action::Drop
    }
}

#[test]
fn client_steering_keeps_both_directions_on_one_worker() {
    if !can_run("client_steering_keeps_both_directions_on_one_worker") {
        return;
    }
    let (a, b) = two_namespaces("str");
    let mut port = small_port("b0", None);
    port.device.fanout_group = Some(4243);
    port.device.steering = lvs_net::device::Steering::Client {
        vips: vec![IpAddr::V4([192, 0, 2, 100].into())],
        laddrs: vec![],
        // The address key (persistent services); e2e_fullnat and e2e_failover attach the
        // endpoint key in the kernel.
        key: lvs_net::device::steer::SteerKey::ClientAddress,
    };
    let cfg = WorkerConfig {
        ports: vec![port],
        routes: vec![],
    };
    let neigh = Arc::new(Mutex::new(NeighbourCache::new()));
    // Members are numbered in join order: start_worker returns after the sockets are open.
    let workers: Vec<_> = (0..2)
        .map(|_| start_worker(&b, cfg.clone(), PortLog::default(), Arc::clone(&neigh)))
        .collect();
    let b_mac = b.mac("b0");
    const PORTS: u16 = 64;
    a.spawn(move || {
        let mut dev = lvs_net::device::AfPacket::open(&AfPacketConfig {
            blocks: 2,
            ..AfPacketConfig::new("a0")
        })
        .unwrap();
        let mac = dev.mac().0;
        for cport in 40_000..40_000 + PORTS {
            for (src, sport, dst, dport) in [
                ([203, 0, 113, 7], cport, [192, 0, 2, 100], 80),
                ([198, 51, 100, 10], 8080, [203, 0, 113, 7], cport),
            ] {
                let mut f = Vec::new();
                etherparse::PacketBuilder::ethernet2(mac, b_mac)
                    .ipv4(src, dst, 64)
                    .udp(sport, dport)
                    .write(&mut f, b"steer")
                    .unwrap();
                dev.send(&f).unwrap();
            }
        }
    })
    .join()
    .unwrap();
    let seen = |w: &dataplane_util::Running<PortLog>| w.counters.snapshot().handler_drops;
    let all = wait_for(Duration::from_secs(5), || {
        workers.iter().map(seen).sum::<u64>() >= u64::from(PORTS) * 2
    });
    let logs: Vec<PortLog> = workers
        .into_iter()
        .map(dataplane_util::Running::finish)
        .collect();
    assert!(all, "not every frame arrived");
    for cport in 40_000..40_000 + PORTS {
        let owners: Vec<(bool, bool)> = logs
            .iter()
            .map(|l| (l.requests.contains(&cport), l.replies.contains(&cport)))
            .collect();
        assert!(
            owners == [(true, true), (false, false)] || owners == [(false, false), (true, true)],
            "cport {cport}: {owners:?}"
        );
    }
    // Keyed by client address, the one client's 64 connections meet on one worker (the
    // endpoint key spreads them; the BPF interpreter test in steer_tests checks both keys).
    assert_eq!(
        logs.iter().filter(|l| !l.requests.is_empty()).count(),
        1,
        "one client's connections on several workers"
    );
}
