//! The lab: a client, a director and three real servers on one bridged link (one-arm LVS).
//!
//! ```text
//!   client  c0 203.0.113.2/24 2001:db8:1::2/64      routes: VIPs via the director
//!   director d0 203.0.113.1/24 172.16.0.1/24 2001:db8:1::1/64 fd00:5e::1/64 (lvs-router run)
//!   rsN     e0 172.16.0.1N/24 fd00:5e::1N/64        default via 172.16.0.1 (NAT replies)
//!   sw      br0 with every other end of the veths
//!   VIPs    192.0.2.10, 2001:db8:2::10 (TEST-NET-1 / documentation), never host addresses
//! ```
//!
//! Client and VIPs use documentation prefixes; the private 172.16/fd00 ranges exist only in
//! these namespaces, which have no link to the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Node, Scratch, attach, bridge, read_log, router_bin, signal, veth, wait_for};

pub const VIP: &str = "192.0.2.10";
pub const VIP6: &str = "2001:db8:2::10";
pub const CLIENT: &str = "203.0.113.2";
pub const CLIENT6: &str = "2001:db8:1::2";

/// The real servers' addresses.
pub fn rip(i: usize) -> String {
    format!("172.16.0.1{i}")
}

/// The real servers' IPv6 addresses.
pub fn rip6(i: usize) -> String {
    format!("fd00:5e::1{i}")
}

/// A running lab. Field order is drop order: processes and namespaces before the scratch dir.
pub struct Cluster {
    pub client: Node,
    pub director: Node,
    pub servers: Vec<Node>,
    pub sw: Node,
    /// `lvs-router run`'s pid, once started.
    pub router: Option<u32>,
    pub scratch: Scratch,
}

/// A file of `n` bytes with a fixed pseudo-random content.
fn pattern(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // LVS_E2E_HOLD=SECS keeps a failed lab up for a look (`nsenter --net=/proc/PID/ns/net`).
        if std::thread::panicking()
            && let Some(secs) = std::env::var("LVS_E2E_HOLD")
                .ok()
                .and_then(|s| s.parse().ok())
        {
            for n in [&self.client, &self.director, &self.sw]
                .into_iter()
                .chain(&self.servers)
            {
                eprintln!("{} pid {}", n.name, n.pid());
            }
            std::thread::sleep(Duration::from_secs(secs));
        }
    }
}

impl Cluster {
    /// Builds the one-arm lab (module doc) and starts the Python servers.
    pub fn build(tag: &str) -> Self {
        Self::build_with(tag, false)
    }

    /// With `two_arm` the client is not on the switch but on its own link to the director
    /// (director `d1` 203.0.113.1 / 2001:db8:1::1 <-> client `c0`); `d0` keeps the server side.
    pub fn build_with(tag: &str, two_arm: bool) -> Self {
        let scratch = Scratch::new(tag);
        let dir = scratch.0.clone();
        let sw = Node::new(&format!("{tag}-sw"), &dir);
        bridge(&sw, "br0");
        let client = Node::new(&format!("{tag}-cl"), &dir);
        let director = Node::new(&format!("{tag}-lb"), &dir);
        let mut servers: Vec<Node> = (1..=3)
            .map(|i| Node::new(&format!("{tag}-rs{i}"), &dir))
            .collect();
        if two_arm {
            veth(&client, "c0", &director, "d1");
        } else {
            attach(&client, "c0", &sw, "pc", "br0");
        }
        attach(&director, "d0", &sw, "pd", "br0");
        for (i, s) in servers.iter().enumerate() {
            attach(s, "e0", &sw, &format!("p{}", i + 1), "br0");
        }
        client.ip("addr add 203.0.113.2/24 dev c0");
        client.ip("addr add 2001:db8:1::2/64 dev c0 nodad");
        client.ip("route add 192.0.2.0/24 via 203.0.113.1");
        client.ip("-6 route add 2001:db8:2::/64 via 2001:db8:1::1");
        let front = if two_arm { "d1" } else { "d0" };
        director.ip(&format!("addr add 203.0.113.1/24 dev {front}"));
        director.ip(&format!("addr add 2001:db8:1::1/64 dev {front} nodad"));
        director.ip("addr add 172.16.0.1/24 dev d0");
        director.ip("addr add fd00:5e::1/64 dev d0 nodad");
        let www = dir.join("www");
        fs::create_dir_all(&www).unwrap();
        fs::write(www.join("small"), pattern(32)).unwrap();
        fs::write(www.join("big"), pattern(10 << 20)).unwrap();
        for (i, s) in servers.iter_mut().enumerate() {
            let n = i + 1;
            s.ip(&format!("addr add {}/24 dev e0", rip(n)));
            s.ip(&format!("addr add {}/64 dev e0 nodad", rip6(n)));
            s.ip("route add default via 172.16.0.1");
            s.ip("-6 route add default via fd00:5e::1");
            let root = dir.join(format!("www{n}"));
            fs::create_dir_all(&root).unwrap();
            for f in ["small", "big"] {
                // Hard links: one 10 MiB file on disk, not four.
                fs::hard_link(www.join(f), root.join(f)).unwrap();
            }
            fs::write(root.join("id"), format!("rs{n}")).unwrap();
            spawn_server(s, &format!("rs{n}"), &root, &[VIP, VIP6]);
        }
        Self {
            client,
            director,
            servers,
            sw,
            router: None,
            scratch,
        }
    }

    /// Starts rs`n`'s server again (after it was killed); its pid, once it listens.
    pub fn restart_server(&mut self, n: usize) -> u32 {
        let root = self.dir().join(format!("www{n}"));
        spawn_server(
            &mut self.servers[n - 1],
            &format!("rs{n}"),
            &root,
            &[VIP, VIP6],
        )
    }

    /// The pid of rs`n`'s server (the last one started).
    pub fn server_pid(&self, n: usize) -> u32 {
        *self.servers[n - 1]
            .pids()
            .last()
            .expect("a server was started")
    }

    /// The scratch directory.
    pub fn dir(&self) -> PathBuf {
        self.scratch.0.clone()
    }

    /// Writes `rules` and `toml` and starts `lvs-router run -v` in the director namespace;
    /// waits for its "data plane started" log line.
    pub fn start_router(&mut self, rules: &str, toml: &str) -> u32 {
        let dir = self.dir();
        fs::write(dir.join("rules"), rules).unwrap();
        fs::write(dir.join("router.toml"), toml).unwrap();
        let bin = router_bin().to_str().unwrap().to_owned();
        let r = dir.join("rules");
        let c = dir.join("router.toml");
        let pid = self.director.spawn_ready(
            &[
                &bin,
                "-vv",
                "run",
                "--rules",
                r.to_str().unwrap(),
                "--config",
                c.to_str().unwrap(),
            ],
            "router.log",
            "data plane started",
            Duration::from_secs(20),
        );
        self.router = Some(pid);
        pid
    }

    /// The router's log so far.
    pub fn router_log(&self) -> String {
        read_log(&self.dir().join("router.log"))
    }

    /// Rewrites the rules file and sends SIGHUP; waits for the "reloaded" line.
    pub fn reload(&self, rules: &str) {
        let before = self.router_log().matches("reloaded").count();
        fs::write(self.dir().join("rules"), rules).unwrap();
        signal(self.router.expect("router running"), "HUP");
        assert!(
            wait_for(Duration::from_secs(10), || self
                .router_log()
                .matches("reloaded")
                .count()
                > before),
            "no reload: {}",
            self.router_log()
        );
    }

    /// SIGTERM to the router; its exit code.
    pub fn stop_router(&mut self) -> Option<i32> {
        let pid = self.router.take()?;
        signal(pid, "TERM");
        self.director.wait(pid, Duration::from_secs(10))
    }

    /// `curl` in the client namespace: the body of `url` (bounded at 30 s).
    pub fn curl(&self, url: &str) -> Result<Vec<u8>, String> {
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", self.client.ns_path().display()))
            .args(["--", "curl", "-sS", "--max-time", "30", "-g", url])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The content every real server serves as `name` (`small` or `big`).
    pub fn served(&self, name: &str) -> Vec<u8> {
        fs::read(self.dir().join("www").join(name)).unwrap()
    }
}

/// Starts tests/e2e/server.py in `s` as `name` (files in `root`, also bound to `vips`, log
/// `DIR/NAME.log`, truncated) and waits for its "ready"; its pid.
pub fn spawn_server(s: &mut Node, name: &str, root: &Path, vips: &[&str]) -> u32 {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/server.py");
    let mut args = vec![script.to_str().unwrap(), name, root.to_str().unwrap()];
    args.extend_from_slice(vips);
    let log = format!("{name}.log");
    s.spawn_ready(
        &[&["python3"], &args[..]].concat(),
        &log,
        "ready",
        Duration::from_secs(10),
    )
}

/// The director's TOML for the two-arm lab: client side `d1`, server side `d0`, and routes so
/// NAT replies (arriving on d0) leave toward the client on d1.
pub fn two_arm_toml(extra: &str) -> String {
    format!(
        "addrs = [\"172.16.0.1\", \"fd00:5e::1\"]\n{extra}\n
[[interface]]\nname = \"d1\"\nrole = \"client\"\nipv4 = \"203.0.113.1\"\nipv6 = \"2001:db8:1::1\"\n
[[interface]]\nname = \"d0\"\nrole = \"server\"\nipv4 = \"172.16.0.1\"\nipv6 = \"fd00:5e::1\"\n
[[route]]\nto = \"203.0.113.0/24\"\ninterface = \"d1\"\n
[[route]]\nto = \"2001:db8:1::/64\"\ninterface = \"d1\"\n
[[route]]\nto = \"172.16.0.0/24\"\ninterface = \"d0\"\n
[[route]]\nto = \"fd00:5e::/64\"\ninterface = \"d0\"\n"
    )
}

/// The director's TOML for the one-arm lab.
pub fn one_arm_toml(extra: &str) -> String {
    format!(
        "addrs = [\"172.16.0.1\", \"fd00:5e::1\"]\n{extra}\n\n[[interface]]\nname = \"d0\"\nrole = \"both\"\nipv4 = \"172.16.0.1\"\nipv6 = \"fd00:5e::1\"\n"
    )
}
