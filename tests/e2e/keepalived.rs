//! A two-namespace lab: keepalived in one, our `vrrp` example in the other, one veth link.
//! The namespaces are named ([`Node::named`]): keepalived and `ip netns exec` see the
//! namespace's own sysfs. Everything started is killed by pid and every namespace deleted on
//! drop.

use std::io::Write;
use std::path::PathBuf;
use std::process::ChildStdin;
use std::time::Duration;

use super::{
    Node, Scratch, cargo_build, is_root, profile_dir, read_log, require_tools, run, veth, wait_for,
};

/// Whether the tests can run (root); prints the skip reason otherwise. As root a missing
/// keepalived is a failure.
pub(crate) fn can_run(test: &str) -> bool {
    if !is_root() {
        eprintln!("SKIP {test}: needs root for network namespaces");
        return false;
    }
    require_tools(&["keepalived", "setpriv"], "keepalived util-linux");
    true
}

/// The lab. Field order is drop order: processes and namespaces before the directory.
pub(crate) struct Lab {
    /// keepalived's namespace (interface `ka0`).
    pub(crate) ka: Node,
    /// Our namespace (interface `rs0`).
    pub(crate) ours: Node,
    /// keepalived's pid while it runs.
    keepalived: Option<u32>,
    /// Our pid and stdin while we run.
    ours_proc: Option<(u32, ChildStdin)>,
    /// Scratch directory for configs, logs and pid files.
    pub(crate) scratch: Scratch,
}

impl Lab {
    /// Two namespaces joined by a veth pair with 192.0.2.1/24 (keepalived) and 192.0.2.2/24
    /// (ours), DAD off so link-local addresses are usable at once.
    pub(crate) fn new(tag: &str) -> Self {
        let scratch = Scratch::new(&format!("keepalived-{tag}"));
        let dir = scratch.0.clone();
        let lab = Self {
            ka: Node::named(&format!("lvska{tag}"), &dir),
            ours: Node::named(&format!("lvsrs{tag}"), &dir),
            keepalived: None,
            ours_proc: None,
            scratch,
        };
        for ns in [&lab.ka, &lab.ours] {
            // arp_accept: gratuitous ARPs create neighbour entries, so a test can see the
            // announcements.
            ns.sh("sysctl -qw net.ipv4.conf.all.arp_accept=1 net.ipv4.conf.default.arp_accept=1");
        }
        veth(&lab.ka, "ka0", &lab.ours, "rs0");
        lab.ka.ip("addr add 192.0.2.1/24 dev ka0");
        lab.ours.ip("addr add 192.0.2.2/24 dev rs0");
        lab
    }

    /// The scratch directory.
    pub(crate) fn dir(&self) -> PathBuf {
        self.scratch.0.clone()
    }

    /// The link-local address of `dev` in namespace `ns`.
    pub(crate) fn link_local(&self, ns: &str, dev: &str) -> String {
        let mut found = String::new();
        wait_for(Duration::from_secs(5), || {
            let out = run(&[
                "ip", "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
            ]);
            found = out
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .unwrap_or_default()
                .to_owned();
            !found.is_empty()
        });
        assert!(!found.is_empty(), "no link-local address on {dev}");
        found
    }

    /// Starts keepalived (VRRP only, foreground, console log) with `conf`.
    pub(crate) fn start_keepalived(&mut self, conf: &str) {
        let dir = self.dir();
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, conf).expect("write conf");
        let pid = |n: &str| dir.join(n).display().to_string();
        let (p, r, c) = (pid("ka.pid"), pid("ka-vrrp.pid"), pid("ka-check.pid"));
        let conf = path.display().to_string();
        let args = [
            "keepalived",
            "-P",
            "-n",
            "-l",
            "-D",
            "-f",
            &conf,
            "-p",
            &p,
            "-r",
            &r,
            "-c",
            &c,
        ];
        self.keepalived = Some(self.ka.spawn(&args, "keepalived.log"));
    }

    /// Stops keepalived with SIGTERM (it resigns with priority 0) and waits for it.
    pub(crate) fn stop_keepalived(&mut self) {
        if let Some(pid) = self.keepalived.take() {
            self.ka.stop(pid, Some("TERM"), Duration::from_secs(10));
        }
    }

    /// keepalived's log so far.
    pub(crate) fn keepalived_log(&self) -> String {
        read_log(&self.dir().join("keepalived.log"))
    }

    /// Starts our example with `args` (after `--iface rs0`).
    pub(crate) fn start_ours(&mut self, args: &[&str]) {
        let bin = vrrp_example().display().to_string();
        let cmd = [&[bin.as_str(), "--iface", "rs0"][..], args].concat();
        self.ours_proc = Some(self.ours.spawn_piped(&cmd, "ours.log"));
    }

    /// Stops ours gracefully (EOF on stdin: resign) and waits for it.
    pub(crate) fn stop_ours(&mut self) {
        if let Some((pid, mut stdin)) = self.ours_proc.take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            self.ours.stop(pid, None, Duration::from_secs(10));
        }
    }

    /// Our log so far.
    pub(crate) fn ours_log(&self) -> String {
        read_log(&self.dir().join("ours.log"))
    }

    /// Whether `vip` is configured in namespace `ns`.
    pub(crate) fn has_vip(&self, ns: &str, vip: &str) -> bool {
        let out = run(&["ip", "-n", ns, "-o", "addr", "show"]);
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(vip))
    }

    /// The MAC address of `dev` in `ns`.
    pub(crate) fn mac(&self, ns: &str, dev: &str) -> String {
        let path = format!("/sys/class/net/{dev}/address");
        run(&["ip", "netns", "exec", ns, "cat", &path])
            .trim()
            .to_owned()
    }

    /// The link-layer address `ns` has learned for `addr`, if any.
    pub(crate) fn neighbour(&self, ns: &str, addr: &str) -> Option<String> {
        let out = run(&["ip", "-n", ns, "neigh", "show", addr]);
        out.split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .nth(1)
            .map(str::to_owned)
    }

    /// Logs of both sides, for assertion messages.
    pub(crate) fn logs(&self) -> String {
        format!(
            "--- keepalived ---\n{}\n--- ours ---\n{}",
            self.keepalived_log(),
            self.ours_log()
        )
    }
}

/// The `vrrp` example of lvs-net, built once per test binary (a no-op when fresh), so that a
/// filtered `cargo test --test keepalived_vrrp` never runs a stale example.
pub(crate) fn vrrp_example() -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| cargo_build(&["-p", "lvs-net", "--example", "vrrp"]));
    profile_dir().join("examples").join("vrrp")
}
