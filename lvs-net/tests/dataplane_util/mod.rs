//! Network-namespace fixtures for the data-plane tests: uniquely named namespaces (test name +
//! pid) removed by a Drop guard, veth links inside them, and threads that run inside one.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether namespace tests can run; prints why not otherwise.
pub fn can_run(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !root || !ip {
        eprintln!(
            "SKIP {test}: network namespace tests need root and iproute2 (root={root}, ip={ip})"
        );
        return false;
    }
    true
}

/// Runs `cmd` (split on spaces) and panics with its stderr on failure.
pub fn run(cmd: &str) -> String {
    let mut it = cmd.split_whitespace();
    let prog = it.next().expect("empty command");
    let out = Command::new(prog)
        .args(it)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace deleted on drop (with every interface inside it).
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `lvsnet-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "lvsnet-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(&format!("ip netns add {name}"));
        let ns = Self { name };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &str) -> String {
        run(&format!("ip -n {} {args}", self.name))
    }

    /// `ip netns exec NAME CMD`.
    pub fn exec(&self, cmd: &str) -> String {
        run(&format!("ip netns exec {} {cmd}", self.name))
    }

    /// The path to hand to `lvs_net::device::enter_netns`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.name))
    }

    /// Runs `f` on a new thread inside this namespace and returns its result.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            lvs_net::device::enter_netns(&path).expect("setns");
            f()
        })
    }

    /// The MAC of `dev` in this namespace.
    pub fn mac(&self, dev: &str) -> [u8; 6] {
        let out = self.ip(&format!("-o link show {dev}"));
        let s = out.split("link/ether ").nth(1).expect("no MAC");
        let mut m = [0u8; 6];
        for (b, h) in m
            .iter_mut()
            .zip(s.split_whitespace().next().unwrap().split(':'))
        {
            *b = u8::from_str_radix(h, 16).unwrap();
        }
        m
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair `a_dev` in `a` (with `a_addr`, CIDR) <-> `b_dev` in `b` (with `b_addr`), up.
/// TSO/GSO off on both ends: the data plane refuses GSO frames (see lvs_net::device::vnet).
/// Checksum offload stays on, so senders hand over CHECKSUM_PARTIAL frames.
pub fn veth(a: &Netns, a_dev: &str, a_addr: &str, b: &Netns, b_dev: &str, b_addr: &str) {
    a.ip(&format!(
        "link add {a_dev} type veth peer name {b_dev} netns {}",
        b.name
    ));
    for (ns, dev, addr) in [(a, a_dev, a_addr), (b, b_dev, b_addr)] {
        if !addr.is_empty() {
            ns.ip(&format!("addr add {addr} dev {dev}"));
        }
        ns.ip(&format!("link set {dev} up"));
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "ethtool", "-K", dev, "tso", "off", "gso", "off",
            ])
            .output();
    }
}

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lvs_net::neigh::SharedNeighbours;
use lvs_net::worker::{Counters, FrameHandler, Worker, WorkerConfig};

/// A worker running on its own thread inside a namespace.
pub struct Running<H> {
    pub stop: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
    pub thread: Option<JoinHandle<H>>,
}

impl<H> Running<H> {
    /// Stops the worker and returns its handler.
    pub fn finish(mut self) -> H {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("worker panicked")
    }
}

impl<H> Drop for Running<H> {
    fn drop(&mut self) {
        // Also on a failed assertion: the thread must not outlive its namespace guard.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens a worker inside `ns` and runs it until stopped (sockets open before this returns).
pub fn start_worker<H: FrameHandler + Send + 'static>(
    ns: &Netns,
    cfg: WorkerConfig,
    handler: H,
    neigh: SharedNeighbours,
) -> Running<H> {
    start_worker_announcing(ns, cfg, handler, neigh, Vec::new())
}

/// [`start_worker`], announcing `vips` (gratuitous ARP / unsolicited NA) once the sockets are
/// open.
pub fn start_worker_announcing<H: FrameHandler + Send + 'static>(
    ns: &Netns,
    cfg: WorkerConfig,
    handler: H,
    neigh: SharedNeighbours,
    vips: Vec<std::net::IpAddr>,
) -> Running<H> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let s = Arc::clone(&stop);
    let thread = ns.spawn(move || {
        let mut w = Worker::new(&cfg, handler, neigh).expect("open worker");
        w.announce(&vips).expect("announce");
        tx.send(w.counters()).unwrap();
        w.run_with(&s, |_| {}).expect("worker loop");
        w.into_handler()
    });
    let counters = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("worker did not start");
    Running {
        stop,
        counters,
        thread: Some(thread),
    }
}

/// Polls `cond` every 10 ms for at most `limit`; returns whether it became true.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}
