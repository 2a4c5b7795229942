//! A multi-queue TUN device inside a namespace: read what the kernel routes into it, write a
//! packet the kernel delivers to a local socket.

mod dataplane_util;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use dataplane_util::{Netns, can_run};
use lvs_net::device::tun::open_tun;

#[test]
fn tun_queues_read_and_write() {
    if !can_run("tun_queues_read_and_write") {
        return;
    }
    let ns = Netns::new("tun");
    let (tx, rx) = std::sync::mpsc::channel();
    let ns_name = ns.name.clone();
    let t = ns.spawn(move || {
        let queues = open_tun("lvt0", 2).expect("open tun");
        assert_eq!(queues.len(), 2);
        for q in &queues {
            q.set_nonblocking(true).unwrap();
        }
        for args in ["link set lvt0 up", "addr add 203.0.113.1/24 dev lvt0"] {
            dataplane_util::run(&format!("ip -n {ns_name} {args}"));
        }
        tx.send(()).unwrap();
        // Kernel -> TUN: a datagram routed to 203.0.113.5 comes out of one of the queues.
        let s = UdpSocket::bind("203.0.113.1:7000").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        let mut read = None;
        let end = Instant::now() + Duration::from_secs(5);
        while read.is_none() && Instant::now() < end {
            let _ = s.send_to(b"to tun", "203.0.113.5:7001");
            std::thread::sleep(Duration::from_millis(20));
            for q in &queues {
                if let Ok(n) = q.recv(&mut buf) {
                    let p = etherparse::SlicedPacket::from_ip(&buf[..n]).unwrap();
                    if let Some(etherparse::TransportSlice::Udp(u)) = p.transport
                        && u.payload() == b"to tun"
                    {
                        read = Some(u.destination_port());
                    }
                }
            }
        }
        // TUN -> kernel: a datagram from 203.0.113.5 to the local socket.
        let mut pkt = Vec::new();
        etherparse::PacketBuilder::ipv4([203, 0, 113, 5], [203, 0, 113, 1], 64)
            .udp(7001, 7000)
            .write(&mut pkt, b"from tun")
            .unwrap();
        queues[1].send(&pkt).unwrap();
        let (n, from) = s.recv_from(&mut buf).expect("datagram written to the TUN");
        (read, buf[..n].to_vec(), from)
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("tun set-up");
    let (read, got, from) = t.join().unwrap();
    assert_eq!(read, Some(7001));
    assert_eq!(got, b"from tun");
    assert_eq!(from.ip(), Ipv4Addr::new(203, 0, 113, 5));
}

/// The real-server helper: IPIP frames from a director are decapsulated into a TUN device
/// carrying the VIP, and the service socket on the VIP receives the inner datagram; a
/// tunnelled frame sent to another MAC is not.
#[test]
fn tunnel_endpoint_delivers_inner_packets_to_the_vip() {
    use std::sync::{Arc, Mutex};

    use dataplane_util::{start_worker, veth};
    use lvs_net::device::isolate::Isolation;
    use lvs_net::device::{AfPacket, AfPacketConfig};
    use lvs_net::neigh::NeighbourCache;
    use lvs_net::worker::{PortConfig, TunnelEndpoint, WorkerConfig};

    if !can_run("tunnel_endpoint_delivers_inner_packets_to_the_vip") {
        return;
    }
    let (d, r) = (Netns::new("tund"), Netns::new("tunr"));
    veth(&d, "d0", "198.51.100.1/24", &r, "r0", "198.51.100.2/24");
    let r_name = r.name.clone();
    let (queue, iso, service) = r
        .spawn(move || {
            let mut q = open_tun("lvt0", 1).expect("open tun");
            for args in ["link set lvt0 up", "addr add 192.0.2.100/32 dev lvt0"] {
                dataplane_util::run(&format!("ip -n {r_name} {args}"));
            }
            let iso = Isolation::apply_tunnel_endpoint("r0", None).expect("nft");
            let s = UdpSocket::bind("192.0.2.100:9000").unwrap();
            (q.remove(0), iso, s)
        })
        .join()
        .unwrap();
    let cfg = WorkerConfig {
        ports: vec![PortConfig {
            device: AfPacketConfig {
                block_size: 1 << 16,
                blocks: 4,
                ..AfPacketConfig::new("r0")
            },
            ipv4: None,
            ipv6: None,
        }],
        routes: vec![],
    };
    let worker = start_worker(
        &r,
        cfg,
        TunnelEndpoint::new(queue, None),
        Arc::new(Mutex::new(NeighbourCache::new())),
    );
    let r_mac = r.mac("r0");
    d.spawn(move || {
        let mut dev = AfPacket::open(&AfPacketConfig {
            blocks: 2,
            ..AfPacketConfig::new("d0")
        })
        .unwrap();
        let tunnelled = |to: [u8; 6], payload: &[u8]| {
            let mut inner = Vec::new();
            etherparse::PacketBuilder::ipv4([203, 0, 113, 7], [192, 0, 2, 100], 63)
                .udp(5555, 9000)
                .write(&mut inner, payload)
                .unwrap();
            let mut frame = Vec::new();
            etherparse::PacketBuilder::ethernet2(dev.mac().0, to)
                .ipv4([198, 51, 100, 1], [198, 51, 100, 2], 64)
                .write(&mut frame, etherparse::IpNumber::IPV4, &inner)
                .unwrap();
            frame
        };
        // First a frame for another host's MAC (what a switch floods while it has not learnt
        // that MAC): not this host's, so not decapsulated, as in the kernel.
        let other = tunnelled([2, 0, 0, 0, 0, 0x99], b"flooded");
        let ours = tunnelled(r_mac, b"tunnelled");
        dev.send(&other).unwrap();
        dev.send(&ours).unwrap();
    })
    .join()
    .unwrap();
    service
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let got = service.recv_from(&mut buf);
    let h = worker.finish();
    iso.remove().expect("nft delete");
    let (n, from) = got.unwrap_or_else(|e| panic!("no inner datagram: {e}; handler {h:?}"));
    assert_eq!(&buf[..n], b"tunnelled");
    assert_eq!(from, "203.0.113.7:5555".parse().unwrap());
    assert_eq!((h.delivered, h.errors), (1, 0));
}
