//! Shared fixtures of the end-to-end tests: namespaces held by a process (so the same code runs
//! as root and as root of an unprivileged user namespace, where `ip netns add` cannot mount
//! /run/netns), veth links, background processes killed by pid, and the `lvs-router` binary.
//!
//! Every namespace is held by `unshare --net cat` with a pipe on its stdin: the namespace lives
//! while that process does, and dies with it when the test process dies for any reason (the
//! pipe closes, `cat` exits). [`Node`]'s Drop kills its holder and the processes started in it.
//! tests/support/netns.rs (the replay reference lab) uses named `ip netns` namespaces, which
//! the unprivileged run cannot create; that is why these fixtures do not reuse it.

#![allow(dead_code, unreachable_pub)]

pub mod checks;
pub mod client;
pub mod cluster;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Debian packages the end-to-end tests need.
pub const PACKAGES: &str = "iproute2 nftables ethtool python3 curl util-linux coreutils";

/// Why these tests cannot run here, if they cannot: they need root (real or in a user
/// namespace) and the tools. As root a missing tool is a failure, not a skip.
pub fn unavailable(test: &str) -> bool {
    let root = run_ok(&["id", "-u"]).is_some_and(|s| s.trim() == "0");
    if !root {
        eprintln!("SKIP {test}: needs root (or `unshare -Urn`)");
        return true;
    }
    let missing: Vec<&str> = [
        "ip", "nft", "ethtool", "python3", "curl", "unshare", "nsenter",
    ]
    .into_iter()
    .filter(|t| run_ok(&["sh", "-c", &format!("command -v {t}")]).is_none())
    .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} missing: apt-get install -y {PACKAGES}"
    );
    false
}

fn run_ok(args: &[&str]) -> Option<String> {
    let out = Command::new(args[0]).args(&args[1..]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `args` and panics with its output on failure.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `lvs-router` binary of this build profile, built once per test process (the root
/// package cannot name another package's binary with `CARGO_BIN_EXE_*`).
pub fn router_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(b) = std::env::var_os("LVS_ROUTER_BIN") {
            return PathBuf::from(b);
        }
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().to_owned();
        let bin = dir.join("lvs-router");
        if std::env::var_os("LVS_E2E_NO_BUILD").is_none() {
            let cargo = option_env!("CARGO").unwrap_or("cargo");
            let mut c = Command::new(cargo);
            c.args(["build", "-q", "-p", "lvs-router", "--bin", "lvs-router"]);
            if dir.ends_with("release") {
                c.arg("--release");
            }
            let st = c.status().expect("cargo build -p lvs-router");
            assert!(st.success(), "building lvs-router failed");
        }
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
}

/// A network namespace held by a process, plus the processes started in it.
pub struct Node {
    pub name: String,
    holder: Child,
    children: Vec<Child>,
    pub dir: PathBuf,
}

impl Node {
    /// A new namespace, `lo` up, IPv6 DAD off. `name` is a label for logs (with the pid).
    pub fn new(name: &str, dir: &Path) -> Self {
        let holder = Command::new("unshare")
            .args(["--net", "--", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("unshare --net");
        let node = Self {
            name: format!("{name}-{}", std::process::id()),
            holder,
            children: Vec::new(),
            dir: dir.to_owned(),
        };
        // The holder has unshared once its namespace differs from ours.
        let ours = fs::read_link("/proc/self/ns/net").unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        while fs::read_link(node.ns_path()).ok().as_ref() == Some(&ours)
            || fs::read_link(node.ns_path()).is_err()
        {
            assert!(Instant::now() < end, "unshare did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        node.ip("link set lo up");
        for k in ["accept_dad=0", "accept_ra=0", "router_solicitations=0"] {
            node.sh(&format!(
                "sysctl -qw net.ipv6.conf.default.{k} net.ipv6.conf.all.{k}"
            ));
        }
        node
    }

    /// The holder's pid (what `ip link ... netns PID` takes).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `/proc/PID/ns/net`.
    pub fn ns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid()))
    }

    fn nsenter(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            format!("--net={}", self.ns_path().display()),
            "--".into(),
        ]
    }

    /// Runs a command line (split on spaces) inside, panicking on failure.
    pub fn sh(&self, cmd: &str) -> String {
        let mut args = self.nsenter();
        args.extend(cmd.split_whitespace().map(str::to_owned));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs)
    }

    /// `ip ARGS` inside.
    pub fn ip(&self, args: &str) -> String {
        self.sh(&format!("ip {args}"))
    }

    /// A command inside, its status and combined output (no panic).
    pub fn try_cmd(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.ns_path().display()))
            .arg("--")
            .args(args)
            .output()
            .unwrap();
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), s)
    }

    /// Starts `args` inside in the background, output to `DIR/log`; killed on drop. Returns
    /// its pid (nsenter and setpriv exec the program, so the pid is the program's).
    pub fn spawn(&mut self, args: &[&str], log: &str) -> u32 {
        let out = fs::File::create(self.dir.join(log)).unwrap();
        // setpriv --pdeathsig: a test process that is killed (no Drop) takes its servers and
        // routers with it instead of leaving them running in orphaned namespaces.
        let child = Command::new("nsenter")
            .arg(format!("--net={}", self.ns_path().display()))
            .args(["--", "setpriv", "--pdeathsig", "KILL", "--"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for a background process `pid` to exit, at most `limit`; its exit code.
    pub fn wait(&mut self, pid: u32, limit: Duration) -> Option<i32> {
        let c = self.children.iter_mut().find(|c| c.id() == pid)?;
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Runs `f` on a thread inside this namespace.
    pub fn thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let p = self.ns_path();
        std::thread::spawn(move || {
            lvs_net::device::enter_netns(&p).expect("setns");
            f()
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Sends `sig` to `pid` (one of our own children).
pub fn signal(pid: u32, sig: &str) {
    run(&["kill", &format!("-{sig}"), &pid.to_string()]);
}

/// A veth pair `a_dev` in `a` <-> `b_dev` in `b`, up, with TSO/GSO off, so these tests see
/// plain MTU-sized segments (checksum offload stays on: the data plane completes partial
/// checksums). e2e_offload turns TSO/GSO back on to test the GSO path.
pub fn veth(a: &Node, a_dev: &str, b: &Node, b_dev: &str) {
    a.ip(&format!(
        "link add name {a_dev} type veth peer name {b_dev} netns {}",
        b.pid()
    ));
    for (n, d) in [(a, a_dev), (b, b_dev)] {
        let _ = n.try_cmd(&["ethtool", "-K", d, "tso", "off", "gso", "off"]);
        n.ip(&format!("link set {d} up"));
    }
}

/// Polls `cond` every 20 ms for at most `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A scratch directory for one test, removed on drop unless the test failed.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("lvs-e2e-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Self(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
