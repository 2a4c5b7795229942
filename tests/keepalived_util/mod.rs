//! A two-namespace lab: keepalived in one, our `vrrp` example in the other, one veth link.
//! Everything it starts is killed by pid and every namespace deleted on drop.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the tests can run (root); prints the skip reason otherwise.
pub(crate) fn can_run(test: &str) -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    if uid.ok().as_deref().map(|u| u.trim_ascii()) != Some(b"0".as_slice()) {
        eprintln!("SKIP {test}: needs root for network namespaces");
        return false;
    }
    true
}

/// Runs a command, panicking with its stderr on failure.
pub(crate) fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `cond` every 100 ms for at most `limit`.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// The lab.
pub(crate) struct Lab {
    /// keepalived's namespace (interface `ka0`).
    pub(crate) ns_ka: String,
    /// Our namespace (interface `rs0`).
    pub(crate) ns_ours: String,
    /// Scratch directory for configs, logs and pid files.
    pub(crate) dir: PathBuf,
    keepalived: Option<Child>,
    ours: Option<Child>,
}

impl Lab {
    /// Two namespaces joined by a veth pair with 192.0.2.1/24 (keepalived) and 192.0.2.2/24
    /// (ours), DAD off so link-local addresses are usable at once.
    pub(crate) fn new(tag: &str) -> Self {
        let id = format!("{}{tag}", std::process::id());
        let lab = Self {
            ns_ka: format!("lvska{id}"),
            ns_ours: format!("lvsrs{id}"),
            dir: std::env::temp_dir().join(format!("lvs-keepalived-{id}")),
            keepalived: None,
            ours: None,
        };
        let _ = std::fs::remove_dir_all(&lab.dir);
        std::fs::create_dir_all(&lab.dir).expect("scratch dir");
        for ns in [&lab.ns_ka, &lab.ns_ours] {
            sh(&["ip", "netns", "add", ns]);
            for key in ["all", "default"] {
                // DAD off: link-local sources usable at once. arp_accept: gratuitous ARPs create
                // neighbour entries, so a test can see the announcements.
                for k in [
                    format!("net.ipv6.conf.{key}.accept_dad=0"),
                    format!("net.ipv4.conf.{key}.arp_accept=1"),
                ] {
                    sh(&["ip", "netns", "exec", ns, "sysctl", "-qw", &k]);
                }
            }
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        sh(&[
            "ip",
            "link",
            "add",
            "ka0",
            "netns",
            &lab.ns_ka,
            "type",
            "veth",
            "peer",
            "name",
            "rs0",
            "netns",
            &lab.ns_ours,
        ]);
        for (ns, dev, addr) in [
            (&lab.ns_ka, "ka0", "192.0.2.1/24"),
            (&lab.ns_ours, "rs0", "192.0.2.2/24"),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    /// The link-local address of our interface.
    pub(crate) fn link_local(&self, ns: &str, dev: &str) -> String {
        let mut found = String::new();
        wait_until(Duration::from_secs(5), || {
            let out = sh(&[
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
        let path = self.dir.join("keepalived.conf");
        std::fs::write(&path, conf).expect("write conf");
        let log = std::fs::File::create(self.dir.join("keepalived.log")).expect("log");
        let pid = |n: &str| self.dir.join(n).display().to_string();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns_ka,
                "keepalived",
                "-P",
                "-n",
                "-l",
                "-D",
                "-f",
            ])
            .arg(&path)
            .args([
                "-p",
                &pid("ka.pid"),
                "-r",
                &pid("ka-vrrp.pid"),
                "-c",
                &pid("ka-check.pid"),
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("keepalived runs (apt-get install keepalived)");
        self.keepalived = Some(child);
    }

    /// Stops keepalived with SIGTERM (it resigns with priority 0) and waits for it.
    pub(crate) fn stop_keepalived(&mut self) {
        if let Some(mut child) = self.keepalived.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// keepalived's log so far.
    pub(crate) fn keepalived_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("keepalived.log")).unwrap_or_default()
    }

    /// Starts our example with `args` (after `--iface rs0`).
    pub(crate) fn start_ours(&mut self, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join("ours.log")).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns_ours])
            .arg(vrrp_example())
            .args(["--iface", "rs0"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the vrrp example");
        self.ours = Some(child);
    }

    /// Stops ours gracefully (EOF on stdin: resign) and waits for it.
    pub(crate) fn stop_ours(&mut self) {
        if let Some(mut child) = self.ours.take() {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"stop\n");
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Our log so far.
    pub(crate) fn ours_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ours.log")).unwrap_or_default()
    }

    /// Whether `vip` is configured in namespace `ns`.
    pub(crate) fn has_vip(&self, ns: &str, vip: &str) -> bool {
        let out = sh(&["ip", "-n", ns, "-o", "addr", "show"]);
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(vip))
    }

    /// The MAC address of `dev` in `ns`.
    pub(crate) fn mac(&self, ns: &str, dev: &str) -> String {
        let out = sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{dev}/address"),
        ]);
        out.trim().to_owned()
    }

    /// The link-layer address `ns` has learned for `addr`, if any.
    pub(crate) fn neighbour(&self, ns: &str, addr: &str) -> Option<String> {
        let out = sh(&["ip", "-n", ns, "neigh", "show", addr]);
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

impl Drop for Lab {
    fn drop(&mut self) {
        for child in [self.keepalived.take(), self.ours.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.ns_ka, &self.ns_ours] {
            // Any process keepalived forked lives in the namespace: kill those by pid too.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        // Keep the logs of a failed test for a post-mortem.
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `vrrp` example of lvs-net, next to this test binary. `cargo build -p lvs-net --example
/// vrrp` runs once per test binary first (a no-op when fresh), so that a filtered
/// `cargo test --test keepalived_vrrp` never runs a stale example.
pub(crate) fn vrrp_example() -> PathBuf {
    static BUILT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let release = profile_dir.ends_with("release");
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "lvs-net", "--example", "vrrp"]);
        if release {
            cmd.arg("--release");
        }
        cmd.status().is_ok_and(|s| s.success())
    });
    assert!(*built, "building the vrrp example failed");
    profile_dir.join("examples").join("vrrp")
}
