//! A three-namespace lab (client, router, server) for reference tests against the kernel.
//!
//! ```text
//!   client ns              router ns                           server ns
//!   c0 203.0.113.2 ------- r0 203.0.113.1    r1 172.16.0.1 ----- s0 172.16.0.2
//!      2001:db8:1::2          2001:db8:1::1     fd00:5e::1          fd00:5e::2
//!   (VIPs 192.0.2.10 and 2001:db8:2::10 are never assigned: nftables DNATs them in prerouting)
//! ```
//!
//! Client and VIPs are documentation addresses (TEST-NET-3, TEST-NET-1, 2001:db8::/32), the
//! server's are private (RFC 1918, ULA) and exist only inside the server namespace.
//!
//! Names carry the test's pid, so parallel runs do not collide, and [`Lab`]'s `Drop` kills the
//! processes it started (by pid) and deletes its namespaces, also when an assertion fails.
//! Traffic never leaves these namespaces: they have no link to the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The client's address (TEST-NET-3).
pub(crate) const CLIENT: &str = "203.0.113.2";
/// The virtual IP (TEST-NET-1).
pub(crate) const VIP: &str = "192.0.2.10";
/// The real server's address, private and only inside the server namespace.
pub(crate) const RIP: &str = "172.16.0.2";
/// The client's IPv6 address (documentation prefix).
pub(crate) const CLIENT6: &str = "2001:db8:1::2";
/// The IPv6 virtual IP (documentation prefix).
pub(crate) const VIP6: &str = "2001:db8:2::10";
/// The real server's IPv6 address (unique local).
pub(crate) const RIP6: &str = "fd00:5e::2";

/// The namespaces, the interfaces and the processes of one test run.
pub(crate) struct Lab {
    /// Namespace names: client, router, server.
    pub(crate) client: String,
    pub(crate) router: String,
    pub(crate) server: String,
    /// Where captures and logs go.
    pub(crate) dir: PathBuf,
    children: Vec<Child>,
    captures: Vec<u32>,
    capture_logs: Vec<String>,
}

/// The Debian packages the lab's tools come from.
pub(crate) const PACKAGES: &str = "iproute2 nftables tcpdump ethtool python3 procps coreutils";

/// Why the lab cannot run here (not root, or `ip netns` impossible): the test is skipped with
/// this text. Anything else missing is a failure ([`require_tools`]).
pub(crate) fn unavailable() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Some("not root".into());
    }
    let probe = format!("lvsprobe{}", std::process::id());
    if !run_status(&["ip", "netns", "add", &probe]) {
        return Some("`ip netns add` is not possible here".into());
    }
    run_status(&["ip", "netns", "del", &probe]);
    None
}

/// Panics naming the packages to install when a tool is missing: as root the test must run,
/// not skip, or CI would pass without checking anything.
pub(crate) fn require_tools() {
    let missing: Vec<&str> = [
        "nft", "tcpdump", "ethtool", "python3", "sysctl", "timeout", "kill",
    ]
    .into_iter()
    .filter(|tool| !run_status(&["sh", "-c", &format!("command -v {tool}")]))
    .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} not found: apt-get install -y {PACKAGES}"
    );
}

fn run_status(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command to completion and panics with its output if it fails.
pub(crate) fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    /// Creates the namespaces and links, addresses, routes and the router's forwarding; tx
    /// checksum offload is off on every veth so captured checksums are the real ones.
    pub(crate) fn build(tag: &str) -> Self {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("lvs-{tag}-{pid}"));
        fs::create_dir_all(&dir).unwrap();
        let lab = Self {
            client: format!("lvs{tag}c{pid}"),
            router: format!("lvs{tag}r{pid}"),
            server: format!("lvs{tag}s{pid}"),
            dir,
            children: Vec::new(),
            captures: Vec::new(),
            capture_logs: Vec::new(),
        };
        // Register every namespace before the first fallible step so Drop removes them.
        for ns in [&lab.client, &lab.router, &lab.server] {
            run(&["ip", "netns", "add", ns]);
            // Inherited by the veths created next: no DAD delay, no router solicitations.
            for knob in ["accept_dad=0", "router_solicitations=0", "accept_ra=0"] {
                lab.exec(
                    ns,
                    &["sysctl", "-qw", &format!("net.ipv6.conf.default.{knob}")],
                );
            }
        }
        let (c, r, s) = (
            lab.client.as_str(),
            lab.router.as_str(),
            lab.server.as_str(),
        );
        run(&[
            "ip", "-n", c, "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", r,
        ]);
        run(&[
            "ip", "-n", s, "link", "add", "s0", "type", "veth", "peer", "name", "r1", "netns", r,
        ]);
        for (ns, dev, addr, addr6) in [
            (c, "c0", "203.0.113.2/24", "2001:db8:1::2/64"),
            (r, "r0", "203.0.113.1/24", "2001:db8:1::1/64"),
            (r, "r1", "172.16.0.1/24", "fd00:5e::1/64"),
            (s, "s0", "172.16.0.2/24", "fd00:5e::2/64"),
        ] {
            lab.exec(ns, &["ip", "addr", "add", addr, "dev", dev]);
            lab.exec(ns, &["ip", "addr", "add", addr6, "dev", dev, "nodad"]);
            let offloads = ["tx", "off", "tso", "off", "gso", "off", "gro", "off"];
            lab.exec(ns, &[&["ethtool", "-K", dev][..], &offloads].concat());
            lab.exec(ns, &["ip", "link", "set", dev, "up"]);
            lab.exec(ns, &["ip", "link", "set", "lo", "up"]);
        }
        lab.exec(c, &["ip", "route", "add", "default", "via", "203.0.113.1"]);
        lab.exec(
            c,
            &[
                "ip",
                "-6",
                "route",
                "add",
                "default",
                "via",
                "2001:db8:1::1",
            ],
        );
        lab.exec(s, &["ip", "route", "add", "default", "via", "172.16.0.1"]);
        lab.exec(
            s,
            &["ip", "-6", "route", "add", "default", "via", "fd00:5e::1"],
        );
        lab.exec(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        lab.exec(r, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        lab
    }

    /// Runs a command inside namespace `ns` to completion.
    pub(crate) fn exec(&self, ns: &str, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Starts a command inside `ns` in the background, output to `DIR/log`; killed on drop.
    pub(crate) fn spawn(&mut self, ns: &str, args: &[&str], log: &str) -> u32 {
        let out = fs::File::create(self.dir.join(log)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {args:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits until `DIR/log` contains `text` (a process says it is ready), at most 10 s.
    pub(crate) fn wait_for(&self, log: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let path = self.dir.join(log);
        while !fs::read_to_string(&path).unwrap_or_default().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{}: no {text:?} after 10 s",
                path.display()
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Starts tcpdump on `dev` in `ns`, writing the frames of both directions that match
    /// `filter` (a pcap filter) to `DIR/file`; `link_type` picks the capture's link type (`-y`),
    /// for `any` the cooked v1 or v2 header.
    pub(crate) fn capture(
        &mut self,
        ns: &str,
        dev: &str,
        file: &str,
        link_type: Option<&str>,
        filter: &str,
    ) -> PathBuf {
        let path = self.dir.join(file);
        let log = format!("{file}.log");
        let path_str = path.to_str().unwrap().to_owned();
        // --immediate-mode and -U: hand over and write every packet at once, so stopping tcpdump
        // loses nothing (the default buffering holds packets up to a second). An immediate-mode
        // ring holds buffer / snaplen frames: with the defaults (2 MiB, 256 KiB) a burst of 8
        // overflows it, hence the small snaplen and the larger buffer. -n: no DNS.
        let mut args = vec!["tcpdump", "-i", dev, "-n", "-U", "--immediate-mode"];
        args.extend(["-s", "2048", "-B", "8192", "-w", &path_str]);
        if let Some(link_type) = link_type {
            args.extend(["-y", link_type]);
        }
        args.push(filter);
        let pid = self.spawn(ns, &args, &log);
        self.captures.push(pid);
        self.wait_for(&log, "listening on");
        self.capture_logs.push(log);
        path
    }

    /// Stops every capture (SIGINT, so tcpdump closes its file) and waits for it to exit.
    pub(crate) fn stop_captures(&mut self) {
        // Frames still on their way through the veths.
        sleep(Duration::from_millis(300));
        for pid in std::mem::take(&mut self.captures) {
            run_status(&["kill", "-INT", &pid.to_string()]);
            if let Some(child) = self.children.iter_mut().find(|c| c.id() == pid) {
                let _ = child.wait();
            }
        }
        // A capture that lost frames would make the comparison fail for the wrong reason.
        for log in &self.capture_logs {
            let text = fs::read_to_string(self.dir.join(log)).unwrap_or_default();
            let clean = text
                .lines()
                .any(|l| l.trim() == "0 packets dropped by kernel");
            assert!(clean, "{log}: {text}");
        }
    }

    /// A path in the lab's directory.
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            // Only our own children, by pid: kill() on one that already exited is harmless.
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.client, &self.router, &self.server] {
            run_status(&["ip", "netns", "del", ns]);
        }
        // Captures and logs stay for a post-mortem when the test failed or LVS_KEEP_CAPTURES is
        // set (to try `lvs-router replay` on real captures by hand).
        if std::thread::panicking() || std::env::var_os("LVS_KEEP_CAPTURES").is_some() {
            eprintln!("captures and logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Reads a whole file, with its name in the panic message.
pub(crate) fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
