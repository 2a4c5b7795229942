//! The one home of the namespace test fixtures of the root package: every root test that
//! builds namespaces (`e2e_*.rs`, `keepalived_vrrp.rs`, `nat_reference.rs`, `bench_smoke.rs`)
//! declares `mod e2e;` and takes what it needs from here.
//!
//! This file holds the pieces every lab uses: commands run to completion, the `lvs-router`
//! binary, bounded waits, scratch directories, and [`Node`], a network namespace with the
//! processes started in it (killed by pid on drop). The labs build on it: [`cluster`] (client,
//! director, three real servers; with [`client`] and [`checks`]), [`failover`] (two directors
//! with VRRP and sync), [`keepalived`] (keepalived against the `vrrp` example) and [`netns`]
//! (the kernel reference lab, with [`compare`] for frames).
//!
//! A [`Node`] is either held by a process ([`Node::new`]: `unshare --net cat` with a pipe on
//! its stdin, so the namespace dies with the test process for any reason, and the same code
//! runs as root and as root of an unprivileged user namespace, where `ip netns add` cannot
//! mount /run/netns) or named ([`Node::named`]: `ip netns add`, for tools that want sysfs of
//! the namespace, which `ip netns exec` mounts and `nsenter` does not).

#![allow(dead_code, unreachable_pub)]

pub mod checks;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod failover;
pub mod keepalived;
pub mod netns;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Debian packages the end-to-end tests need.
pub const PACKAGES: &str = "iproute2 nftables ethtool python3 curl util-linux coreutils";

/// Why these tests cannot run here, if they cannot: they need root (real or in a user
/// namespace) and the tools. As root a missing tool is a failure, not a skip.
pub fn unavailable(test: &str) -> bool {
    if !is_root() {
        eprintln!("SKIP {test}: needs root (or `unshare -Urn`)");
        return true;
    }
    require_tools(
        &[
            "ip", "nft", "ethtool", "python3", "curl", "unshare", "nsenter",
        ],
        PACKAGES,
    );
    false
}

/// Whether this process runs as uid 0 (real root or root of a user namespace).
pub fn is_root() -> bool {
    run_ok(&["id", "-u"]).is_some_and(|s| s.trim() == "0")
}

/// Panics naming `packages` when one of `tools` is not on the PATH: as root a test must run,
/// not skip, or CI would pass without checking anything.
pub fn require_tools(tools: &[&str], packages: &str) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| run_ok(&["sh", "-c", &format!("command -v {t}")]).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} missing: apt-get install -y {packages}"
    );
}

/// Runs `args`; its stdout if it succeeded.
pub fn run_ok(args: &[&str]) -> Option<String> {
    let out = Command::new(args[0]).args(&args[1..]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `args` and panics with its status and output on failure; its stdout.
pub fn run(args: &[&str]) -> String {
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

/// `target/<profile>` of this test binary: where cargo puts the binaries and `examples/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

/// `cargo build -q ARGS` in this test binary's profile; panics if it fails. The root package
/// cannot name another package's binaries with `CARGO_BIN_EXE_*`, and building first (a no-op
/// when fresh) means a filtered `cargo test --test X` never runs a stale binary.
pub fn cargo_build(args: &[&str]) {
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(["build", "-q"]).args(args);
    if profile_dir().ends_with("release") {
        c.arg("--release");
    }
    let st = c.status().expect("cargo build");
    assert!(st.success(), "cargo build {args:?} failed");
}

/// The `lvs-router` binary of this build profile, built once per test process
/// (`LVS_ROUTER_BIN` names another one; `LVS_E2E_NO_BUILD` skips the build).
pub fn router_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(b) = std::env::var_os("LVS_ROUTER_BIN") {
            return PathBuf::from(b);
        }
        if std::env::var_os("LVS_E2E_NO_BUILD").is_none() {
            cargo_build(&["-p", "lvs-router", "--bin", "lvs-router"]);
        }
        let bin = profile_dir().join("lvs-router");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
}

/// `lvs-router adm --socket SOCK ARGS`: (success, stdout, stderr).
pub fn adm(sock: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(router_bin())
        .args(["adm", "--socket", sock.to_str().unwrap()])
        .args(args)
        .output()
        .expect("lvs-router adm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends `sig` to `pid` (one of our own children).
pub fn signal(pid: u32, sig: &str) {
    run(&["kill", &format!("-{sig}"), &pid.to_string()]);
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

/// A log file's text so far (empty if it does not exist yet).
pub fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Waits at most `limit` until the log `path` contains `text` (a process says it is ready);
/// panics with the log if it does not.
pub fn await_log(path: &Path, text: &str, limit: Duration) {
    assert!(
        wait_for(limit, || read_log(path).contains(text)),
        "{}: no {text:?} after {limit:?}:\n{}",
        path.display(),
        read_log(path)
    );
}

/// Waits at most `limit` for `child` to exit; its status, `None` if it is still running.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory for one test, removed on drop unless the test failed or
/// `LVS_KEEP_CAPTURES` is set (to look at logs and captures, or replay them by hand).
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `$TMPDIR/lvs-e2e-TAG-PID`, empty.
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("lvs-e2e-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Self(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("LVS_KEEP_CAPTURES").is_some() {
            eprintln!("logs kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// How a [`Node`]'s namespace lives.
enum Holder {
    /// `unshare --net cat`: the namespace is this process's.
    Process(Child),
    /// `ip netns add NAME`, deleted on drop.
    Named,
}

/// The sysctls every new namespace gets: no IPv6 DAD delay, no router solicitations or
/// advertisements (inherited by the interfaces created later).
const IPV6_QUIET: [&str; 3] = ["accept_dad=0", "accept_ra=0", "router_solicitations=0"];

/// A network namespace plus the processes started in it.
pub struct Node {
    /// A label with the pid (for a named node, the `ip netns` name).
    pub name: String,
    holder: Holder,
    children: Vec<Child>,
    /// Where [`Node::spawn`] writes logs.
    pub dir: PathBuf,
}

impl Node {
    /// A new namespace held by a process, `lo` up, IPv6 quiet. `name` is a label for logs
    /// (with the pid).
    pub fn new(name: &str, dir: &Path) -> Self {
        let holder = Command::new("unshare")
            .args(["--net", "--", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("unshare --net");
        let node = Self {
            name: format!("{name}-{}", std::process::id()),
            holder: Holder::Process(holder),
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
        node.setup();
        node
    }

    /// A new named namespace (`ip netns add NAME-PID`), `lo` up, IPv6 quiet; on drop every
    /// process in it is killed by pid and the namespace deleted.
    pub fn named(name: &str, dir: &Path) -> Self {
        let node = Self {
            name: format!("{name}-{}", std::process::id()),
            holder: Holder::Named,
            children: Vec::new(),
            dir: dir.to_owned(),
        };
        // A namespace left by a killed run of the same pid would make `add` fail.
        let _ = run_ok(&["ip", "netns", "del", &node.name]);
        run(&["ip", "netns", "add", &node.name]);
        node.setup();
        node
    }

    fn setup(&self) {
        self.ip("link set lo up");
        for k in IPV6_QUIET {
            self.sh(&format!(
                "sysctl -qw net.ipv6.conf.default.{k} net.ipv6.conf.all.{k}"
            ));
        }
    }

    /// The holder's pid (what `ip link ... netns PID` takes); 0 for a named node.
    pub fn pid(&self) -> u32 {
        match &self.holder {
            Holder::Process(c) => c.id(),
            Holder::Named => 0,
        }
    }

    /// What `ip link ... netns X` takes: the holder's pid or the name.
    pub fn netns_arg(&self) -> String {
        match &self.holder {
            Holder::Process(c) => c.id().to_string(),
            Holder::Named => self.name.clone(),
        }
    }

    /// `/proc/PID/ns/net` or `/run/netns/NAME`.
    pub fn ns_path(&self) -> PathBuf {
        match &self.holder {
            Holder::Process(c) => PathBuf::from(format!("/proc/{}/ns/net", c.id())),
            Holder::Named => PathBuf::from(format!("/run/netns/{}", self.name)),
        }
    }

    /// The command prefix that runs a program inside (it execs the program, so a spawned
    /// child's pid is the program's).
    fn prefix(&self) -> Vec<String> {
        match &self.holder {
            Holder::Process(_) => vec![
                "nsenter".into(),
                format!("--net={}", self.ns_path().display()),
                "--".into(),
            ],
            Holder::Named => vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                self.name.clone(),
            ],
        }
    }

    fn enter(&self) -> Command {
        let p = self.prefix();
        let mut c = Command::new(&p[0]);
        c.args(&p[1..]);
        c
    }

    /// Runs `args` inside, panicking with its output on failure; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let p = self.prefix();
        let mut full: Vec<&str> = p.iter().map(String::as_str).collect();
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command line (split on spaces) inside, panicking on failure.
    pub fn sh(&self, cmd: &str) -> String {
        self.run(&cmd.split_whitespace().collect::<Vec<_>>())
    }

    /// `ip ARGS` inside.
    pub fn ip(&self, args: &str) -> String {
        self.sh(&format!("ip {args}"))
    }

    /// A command inside, its status and combined output (no panic).
    pub fn try_cmd(&self, args: &[&str]) -> (bool, String) {
        let out = self.enter().args(args).output().unwrap();
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), s)
    }

    /// Starts `args` inside in the background, output to `DIR/log`; killed on drop. Returns
    /// its pid.
    pub fn spawn(&mut self, args: &[&str], log: &str) -> u32 {
        self.start(args, log, Stdio::null()).id()
    }

    /// [`Node::spawn`] with a pipe on the process's stdin.
    pub fn spawn_piped(&mut self, args: &[&str], log: &str) -> (u32, ChildStdin) {
        let child = self.start(args, log, Stdio::piped());
        (child.id(), child.stdin.take().unwrap())
    }

    /// [`Node::spawn`], then waits at most `limit` for `text` in its log (it is ready).
    pub fn spawn_ready(&mut self, args: &[&str], log: &str, text: &str, limit: Duration) -> u32 {
        let pid = self.spawn(args, log);
        await_log(&self.dir.join(log), text, limit);
        pid
    }

    fn start(&mut self, args: &[&str], log: &str, stdin: Stdio) -> &mut Child {
        let out = fs::File::create(self.dir.join(log)).unwrap();
        // setpriv --pdeathsig: a test process that is killed (no Drop) takes its servers and
        // routers with it instead of leaving them running in orphaned namespaces.
        let child = self
            .enter()
            .args(["setpriv", "--pdeathsig", "KILL", "--"])
            .args(args)
            .stdin(stdin)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.children.push(child);
        self.children.last_mut().unwrap()
    }

    /// The pids of the background processes started with [`Node::spawn`], in start order.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Waits for a background process `pid` to exit, at most `limit`; its exit code.
    pub fn wait(&mut self, pid: u32, limit: Duration) -> Option<i32> {
        let c = self.children.iter_mut().find(|c| c.id() == pid)?;
        wait_exit(c, limit).and_then(|st| st.code())
    }

    /// Sends `sig` to background process `pid` (when `sig` is given) and waits at most `limit`
    /// for it to exit, then kills it; its exit code if it exited in time.
    pub fn stop(&mut self, pid: u32, sig: Option<&str>, limit: Duration) -> Option<i32> {
        if let Some(sig) = sig {
            let _ = run_ok(&["kill", &format!("-{sig}"), &pid.to_string()]);
        }
        let code = self.wait(pid, limit);
        if let Some(c) = self.children.iter_mut().find(|c| c.id() == pid) {
            let _ = c.kill();
            let _ = c.wait();
        }
        code
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
            // Only our own children, by pid: kill() on one that already exited is harmless.
            let _ = c.kill();
            let _ = c.wait();
        }
        match &mut self.holder {
            Holder::Process(holder) => {
                let _ = holder.kill();
                let _ = holder.wait();
            }
            Holder::Named => {
                // What our children forked lives on in the namespace: kill those by pid too.
                let pids = run_ok(&["ip", "netns", "pids", &self.name]).unwrap_or_default();
                for pid in pids.split_whitespace() {
                    let _ = run_ok(&["kill", "-KILL", pid]);
                }
                let _ = run_ok(&["ip", "netns", "del", &self.name]);
            }
        }
    }
}

/// A veth pair `a_dev` in `a` <-> `b_dev` in `b`, up, with TSO/GSO off, so these tests see
/// plain MTU-sized segments (checksum offload stays on: the data plane completes partial
/// checksums). e2e_offload turns TSO/GSO back on to test the GSO path.
pub fn veth(a: &Node, a_dev: &str, b: &Node, b_dev: &str) {
    a.ip(&format!(
        "link add name {a_dev} type veth peer name {b_dev} netns {}",
        b.netns_arg()
    ));
    for (n, d) in [(a, a_dev), (b, b_dev)] {
        let _ = n.try_cmd(&["ethtool", "-K", d, "tso", "off", "gso", "off"]);
        n.ip(&format!("link set {d} up"));
    }
}

/// A bridge `br` in `sw`, up, with no STP listening delay and no multicast snooping.
pub fn bridge(sw: &Node, br: &str) {
    sw.ip(&format!("link add name {br} type bridge"));
    sw.ip(&format!(
        "link set {br} type bridge forward_delay 0 mcast_snooping 0"
    ));
    sw.ip(&format!("link set {br} up"));
}

/// A veth from `n`'s `dev` to port `port` of bridge `br` in `sw`.
pub fn attach(n: &Node, dev: &str, sw: &Node, port: &str, br: &str) {
    veth(n, dev, sw, port);
    sw.ip(&format!("link set {port} master {br}"));
}
