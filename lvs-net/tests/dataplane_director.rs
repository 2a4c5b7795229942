//! End to end: a kernel TCP client talks to a kernel TCP server through the real director
//! (IPVS-NAT) running in an AF_PACKET worker.
//!
//! ```text
//!  ns A client              ns B director (worker + Director)        ns C real server
//!  a0 192.0.2.1/24 ---veth--- b0 192.0.2.2/24  VIP 192.0.2.100:80 (not local)
//!                             b1 198.51.100.1/24 ---veth--- c0 198.51.100.2/24, :8080
//!                                                            default via 198.51.100.1
//! ```

mod dataplane_util;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane_util::{Netns, can_run, start_worker, veth};
use lvs_core::director::{Director, DirectorConfig};
use lvs_core::ipvsadm::parse_line;
use lvs_core::wire::MacAddr;
use lvs_net::device::AfPacketConfig;
use lvs_net::device::isolate::Isolation;
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{DirectorHandler, PortConfig, Route, WorkerConfig};

#[test]
fn tcp_through_the_nat_director() {
    if !can_run("tcp_through_the_nat_director") {
        return;
    }
    let (a, b, c) = (Netns::new("dira"), Netns::new("dirb"), Netns::new("dirc"));
    veth(&a, "a0", "192.0.2.1/24", &b, "b0", "192.0.2.2/24");
    veth(&b, "b1", "198.51.100.1/24", &c, "c0", "198.51.100.2/24");
    c.ip("route add default via 198.51.100.1");
    let vip: IpAddr = "192.0.2.100".parse().unwrap();
    let rip: IpAddr = "198.51.100.2".parse().unwrap();
    // The host must not answer the VIP, nor route the real server's replies a second time.
    let isolation = b
        .spawn(move || {
            let front = Isolation::apply("b0", &[vip], &[])?;
            let back = Isolation::apply("b1", &[], &[rip])?;
            Ok::<_, lvs_net::device::DeviceError>((front, back))
        })
        .join()
        .unwrap()
        .expect("nft");

    let listener = c
        .spawn(|| TcpListener::bind("198.51.100.2:8080").unwrap())
        .join()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
        (buf, peer)
    });

    // Not b0's MAC: the client reaches the VIP only if the ARP answer carries the MAC of the
    // port it came in on, which the worker hands the director (`FrameHandler::set_port_macs`).
    assert_ne!(b.mac("b0"), [2, 0, 0, 0, 0, 0x99]);
    let mut director = Director::new(DirectorConfig {
        mac: MacAddr([2, 0, 0, 0, 0, 0x99]),
        addrs: vec!["192.0.2.2".parse().unwrap()],
        vips: vec![vip],
        ..DirectorConfig::default()
    });
    for line in [
        "-A -t 192.0.2.100:80 -s rr",
        "-a -t 192.0.2.100:80 -r 198.51.100.2:8080 -m",
    ] {
        director
            .apply(&parse_line(line).unwrap(), lvs_net::worker::now())
            .unwrap();
    }
    let port = |dev: &str, ip: &str| PortConfig {
        device: AfPacketConfig {
            block_size: 1 << 16,
            blocks: 8,
            ..AfPacketConfig::new(dev)
        },
        ipv4: Some(ip.parse().unwrap()),
        ipv6: None,
    };
    let cfg = WorkerConfig {
        ports: vec![port("b0", "192.0.2.2"), port("b1", "198.51.100.1")],
        routes: vec![
            Route {
                net: "198.51.100.0".parse().unwrap(),
                prefix: 24,
                port: 1,
                gateway: None,
            },
            Route {
                net: "192.0.2.0".parse().unwrap(),
                prefix: 24,
                port: 0,
                gateway: None,
            },
        ],
    };
    let worker = start_worker(
        &b,
        cfg,
        DirectorHandler::new(director),
        Arc::new(Mutex::new(NeighbourCache::new())),
    );

    let reply = a
        .spawn(|| {
            let mut s = TcpStream::connect_timeout(
                &"192.0.2.100:80".parse().unwrap(),
                Duration::from_secs(5),
            )?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"ping")?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>(buf)
        })
        .join()
        .unwrap();
    let counters = worker.counters.snapshot();
    let handler = worker.finish();
    let reply = reply.unwrap_or_else(|e| panic!("client: {e}; counters {counters:?}"));
    let (request, peer) = server.join().unwrap();
    assert_eq!(&request, b"ping");
    assert_eq!(&reply, b"pong");
    // NAT keeps the client's address.
    assert_eq!(peer.ip(), "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(handler.0.conn_count(), 1, "{counters:?}");
    assert!(
        counters.replies >= 1,
        "the director answered ARP for the VIP: {counters:?}"
    );
    // The answer named the port's MAC (a veth delivers frames to any MAC, so the connection
    // alone does not tell).
    let b0 = b.mac("b0").map(|x| format!("{x:02x}")).join(":");
    let neigh = a.ip("neigh show 192.0.2.100 dev a0");
    assert!(
        neigh.contains(&b0),
        "client's entry for the VIP: {neigh} (b0 is {b0})"
    );
    drop(isolation);
}
