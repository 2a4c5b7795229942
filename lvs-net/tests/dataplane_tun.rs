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
