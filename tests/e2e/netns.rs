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
//! The namespaces are named ([`Node::named`]: `ip netns`), with the test's pid in the names so
//! parallel runs do not collide; their `Drop` kills the processes started in them (by pid) and
//! deletes them, also when an assertion fails. Traffic never leaves these namespaces: they
//! have no link to the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Node, Scratch, await_log, is_root, read_log, run_ok, veth};

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

/// The namespaces and the processes of one test run. Field order is drop order: processes and
/// namespaces before the directory.
pub(crate) struct Lab {
    pub(crate) client: Node,
    pub(crate) router: Node,
    pub(crate) server: Node,
    /// The tcpdump processes in the router namespace, and their logs.
    captures: Vec<(u32, String)>,
    /// Where captures and logs go.
    scratch: Scratch,
}

/// The Debian packages the lab's tools come from.
pub(crate) const PACKAGES: &str = "iproute2 nftables tcpdump ethtool python3 procps coreutils";

/// Why the lab cannot run here (not root, or `ip netns` impossible): the test is skipped with
/// this text. Anything else missing is a failure ([`require_tools`]).
pub(crate) fn unavailable() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    let probe = format!("lvsprobe{}", std::process::id());
    if run_ok(&["ip", "netns", "add", &probe]).is_none() {
        return Some("`ip netns add` is not possible here".into());
    }
    run_ok(&["ip", "netns", "del", &probe]);
    None
}

/// Panics naming the packages to install when a tool is missing: as root the test must run,
/// not skip, or CI would pass without checking anything.
pub(crate) fn require_tools() {
    super::require_tools(
        &[
            "nft", "tcpdump", "ethtool", "python3", "sysctl", "timeout", "kill", "setpriv",
        ],
        PACKAGES,
    );
}

impl Lab {
    /// Creates the namespaces and links, addresses, routes and the router's forwarding; tx
    /// checksum offload is off on every veth so captured checksums are the real ones.
    pub(crate) fn build(tag: &str) -> Self {
        let scratch = Scratch::new(&format!("ref{tag}"));
        let dir = scratch.0.clone();
        let lab = Self {
            client: Node::named(&format!("lvs{tag}c"), &dir),
            router: Node::named(&format!("lvs{tag}r"), &dir),
            server: Node::named(&format!("lvs{tag}s"), &dir),
            captures: Vec::new(),
            scratch,
        };
        let (c, r, s) = (&lab.client, &lab.router, &lab.server);
        veth(c, "c0", r, "r0");
        veth(s, "s0", r, "r1");
        for (ns, dev, addr, addr6) in [
            (c, "c0", "203.0.113.2/24", "2001:db8:1::2/64"),
            (r, "r0", "203.0.113.1/24", "2001:db8:1::1/64"),
            (r, "r1", "172.16.0.1/24", "fd00:5e::1/64"),
            (s, "s0", "172.16.0.2/24", "fd00:5e::2/64"),
        ] {
            ns.run(&["ip", "addr", "add", addr, "dev", dev]);
            ns.run(&["ip", "addr", "add", addr6, "dev", dev, "nodad"]);
            let offloads = ["tx", "off", "tso", "off", "gso", "off", "gro", "off"];
            ns.run(&[&["ethtool", "-K", dev][..], &offloads].concat());
        }
        c.ip("route add default via 203.0.113.1");
        c.ip("-6 route add default via 2001:db8:1::1");
        s.ip("route add default via 172.16.0.1");
        s.ip("-6 route add default via fd00:5e::1");
        r.sh("sysctl -qw net.ipv4.ip_forward=1");
        r.sh("sysctl -qw net.ipv6.conf.all.forwarding=1");
        lab
    }

    /// Starts tcpdump on the router's `dev`, writing the frames of both directions that match
    /// `filter` (a pcap filter) to `DIR/file`; `link_type` picks the capture's link type (`-y`),
    /// for `any` the cooked v1 or v2 header.
    pub(crate) fn capture(
        &mut self,
        dev: &str,
        file: &str,
        link_type: Option<&str>,
        filter: &str,
    ) -> PathBuf {
        let path = self.path(file);
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
        let pid = self
            .router
            .spawn_ready(&args, &log, "listening on", Duration::from_secs(10));
        self.captures.push((pid, log));
        path
    }

    /// Stops every capture (SIGINT, so tcpdump closes its file) and waits for it to exit.
    pub(crate) fn stop_captures(&mut self) {
        // Frames still on their way through the veths.
        std::thread::sleep(Duration::from_millis(300));
        for (pid, log) in std::mem::take(&mut self.captures) {
            self.router.stop(pid, Some("INT"), Duration::from_secs(10));
            // A capture that lost frames would make the comparison fail for the wrong reason.
            let text = read_log(&self.path(&log));
            let clean = text
                .lines()
                .any(|l| l.trim() == "0 packets dropped by kernel");
            assert!(clean, "{log}: {text}");
        }
    }

    /// Waits until `DIR/log` contains `text` (a process says it is ready), at most 10 s.
    pub(crate) fn wait_for(&self, log: &str, text: &str) {
        await_log(&self.path(log), text, Duration::from_secs(10));
    }

    /// A path in the lab's directory.
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.scratch.0.join(file)
    }
}

/// Reads a whole file, with its name in the panic message.
pub(crate) fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
