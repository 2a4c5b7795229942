//! End to end in process: a `Director` under a steady stream of new connections, three real TCP
//! servers on loopback probed by the health runner (through `connect_ip`/`connect_port`), its
//! commands applied to the Director. One server is killed: new connections stop reaching it;
//! it is restarted: they reach it again. Packets are frames built with etherparse; the probes
//! use real sockets.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket};
use lvs_core::director::{Director, DirectorConfig, Verdict};
use lvs_core::health::{CheckKind, CheckerConfig, RealServerHealth, Timing, VirtualServerHealth};
use lvs_core::ipvsadm::{Command, parse_line};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use lvs_net::health::{HealthRunner, RunnerOptions};

/// A TCP server that can be stopped (its port then refuses) and started again on that port.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(addr: SocketAddr) -> Self {
        let l = TcpListener::bind(addr).unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn kill(mut self) -> SocketAddr {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.addr
    }
}

/// The director's clock, shared with the runner's callback.
#[derive(Clone, Copy)]
struct Clock(StdInstant);

impl Clock {
    fn now(self) -> Instant {
        Instant::from_nanos(self.0.elapsed().as_nanos() as u64)
    }
}

const RS: [&str; 3] = ["10.0.0.11", "10.0.0.12", "10.0.0.13"];

/// One new connection (a SYN from a fresh client port) through the director: the real server
/// it was sent to.
fn new_conn(d: &Mutex<Director>, clock: Clock, sport: u16) -> Option<IpAddr> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 51, 100, 7], [192, 0, 2, 1], 64)
        .tcp(sport, 80, 1000, 29200)
        .syn()
        .write(&mut frame, &[])
        .unwrap();
    let mut buf = vec![0u8; frame.len() + 128];
    buf[64..64 + frame.len()].copy_from_slice(&frame);
    let mut pkt = PacketBuf::new(&mut buf, 64, frame.len()).unwrap();
    let mut d = d.lock().unwrap();
    match d.handle_packet(clock.now(), &mut pkt) {
        Verdict::Forward { frame, .. } => match SlicedPacket::from_ethernet(frame).ok()?.net? {
            NetSlice::Ipv4(v4) => Some(IpAddr::V4(v4.header().destination_addr())),
            _ => None,
        },
        _ => None,
    }
}

/// Sends `n` new connections and returns the set of real servers they reached.
fn spread(d: &Mutex<Director>, clock: Clock, sport: &mut u16, n: usize) -> BTreeSet<IpAddr> {
    (0..n)
        .filter_map(|_| {
            *sport = sport.wrapping_add(1).max(1024);
            new_conn(d, clock, *sport)
        })
        .collect()
}

fn wait_for(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = StdInstant::now();
    while !cond() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

#[test]
fn a_killed_real_server_leaves_rotation_and_returns() {
    let servers: Vec<Server> = (0..3)
        .map(|_| Server::start("127.0.0.1:0".parse().unwrap()))
        .collect();
    let timing = Timing {
        delay_loop: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        retry: 1,
        delay_before_retry: Duration::from_millis(200),
        warmup: Some(Duration::ZERO),
    };
    let service = match parse_line("-A -t 192.0.2.1:80 -s rr").unwrap() {
        Command::AddService(key, _) => key,
        other => panic!("{other:?}"),
    };
    let real_servers = RS
        .iter()
        .zip(&servers)
        .map(|(rip, srv)| {
            let dest = match parse_line(&format!("-a -t 192.0.2.1:80 -r {rip}:80 -m")).unwrap() {
                Command::AddDest(_, d) => d,
                other => panic!("{other:?}"),
            };
            let checker = CheckerConfig {
                timing,
                connect_ip: Some(srv.addr.ip()),
                connect_port: Some(srv.addr.port()),
                ..CheckerConfig::new(CheckKind::Tcp)
            };
            RealServerHealth::new(dest, vec![checker])
        })
        .collect();

    let clock = Clock(StdInstant::now());
    let director = Arc::new(Mutex::new(Director::new(DirectorConfig {
        mac: MacAddr([2, 0, 0, 0, 0, 2]),
        addrs: vec!["10.0.0.1".parse().unwrap()],
        ..DirectorConfig::default()
    })));
    director
        .lock()
        .unwrap()
        .apply(
            &parse_line("-A -t 192.0.2.1:80 -s rr").unwrap(),
            clock.now(),
        )
        .unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (d, e) = (Arc::clone(&director), Arc::clone(&errors));
    let runner = HealthRunner::new(
        vec![VirtualServerHealth::new(service, real_servers)],
        RunnerOptions {
            threads: 2,
            seed: 3,
        },
    )
    .unwrap();
    let handle = runner
        .spawn(move |cmd| {
            if let Err(err) = d.lock().unwrap().apply(&cmd, clock.now()) {
                e.lock().unwrap().push(format!("{cmd:?}: {err}"));
            }
        })
        .unwrap();

    let all: BTreeSet<IpAddr> = RS.iter().map(|a| a.parse().unwrap()).collect();
    let mut sport = 1024;
    wait_for("all three in rotation", Duration::from_secs(5), || {
        spread(&director, clock, &mut sport, 6) == all
    });

    let mut servers = servers;
    let killed = servers.remove(1).kill();
    let victim: IpAddr = RS[1].parse().unwrap();
    let took = wait_for(
        "killed server out of rotation",
        Duration::from_secs(10),
        || !spread(&director, clock, &mut sport, 6).contains(&victim),
    );
    eprintln!("left rotation {took:?} after the kill");
    let rest: BTreeSet<IpAddr> = all.iter().copied().filter(|a| *a != victim).collect();
    assert_eq!(
        spread(&director, clock, &mut sport, 30),
        rest,
        "only the live two get new connections"
    );

    let _restarted = Server::start(killed);
    let took = wait_for("restarted server back", Duration::from_secs(10), || {
        spread(&director, clock, &mut sport, 6) == all
    });
    eprintln!("back in rotation {took:?} after the restart");
    handle.stop();
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
}
