//! Namespaces for the demo, each held by a process (`unshare --net cat`) and named by its pid.
//!
//! Why not `ip netns add`: it mounts under /run/netns, which only real root may do, while a
//! holder process works the same as root and as root of an unprivileged user namespace
//! (`unshare -Urn`). The holder reads a pipe from us: if the demo dies in any way, the pipe
//! closes, `cat` exits and the namespace with its veths goes away. Drop kills holders by pid.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace held by a child process.
pub(crate) struct Netns {
    /// A label for messages.
    pub(crate) label: &'static str,
    holder: Child,
}

/// A failed set-up step, with the command and its stderr.
#[derive(Debug, thiserror::Error)]
#[error("{cmd}: {msg}")]
pub(crate) struct LabError {
    cmd: String,
    msg: String,
}

fn fail(cmd: &[&str], msg: impl ToString) -> LabError {
    LabError {
        cmd: cmd.join(" "),
        msg: msg.to_string(),
    }
}

/// Runs `args`; its stdout, or an error with its stderr.
pub(crate) fn run(args: &[&str]) -> Result<String, LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(args, e))?;
    if !out.status.success() {
        return Err(fail(args, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Netns {
    /// A new namespace with `lo` up and IPv6 DAD off.
    pub(crate) fn new(label: &'static str) -> Result<Self, LabError> {
        use std::os::unix::process::CommandExt;
        let args = ["unshare", "--net", "--", "cat"];
        let holder = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // Own process group: Ctrl-C reaches the demo, which then cleans up in order.
            .process_group(0)
            .spawn()
            .map_err(|e| fail(&args, e))?;
        let ns = Self { label, holder };
        let ours = std::fs::read_link("/proc/self/ns/net").map_err(|e| fail(&args, e))?;
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::read_link(ns.path()) {
                Ok(p) if p != ours => break,
                _ if Instant::now() > end => return Err(fail(&args, "did not start")),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        ns.ip("link set lo up")?;
        for k in ["accept_dad=0", "accept_ra=0"] {
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.default.{k}"),
                &format!("net.ipv6.conf.all.{k}"),
            ])?;
        }
        Ok(ns)
    }

    /// The holder's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `/proc/PID/ns/net`: for `setns` (lvs_net::device::enter_netns) and `nsenter`.
    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid()))
    }

    /// Runs a program inside.
    pub(crate) fn exec(&self, args: &[&str]) -> Result<String, LabError> {
        let net = format!("--net={}", self.path().display());
        let mut full = vec!["nsenter", &net, "--"];
        full.extend_from_slice(args);
        run(&full).map_err(|mut e| {
            e.cmd = format!("[{}] {}", self.label, args.join(" "));
            e
        })
    }

    /// `ip ARGS` inside (ARGS split on spaces).
    pub(crate) fn ip(&self, args: &str) -> Result<String, LabError> {
        let mut full = vec!["ip"];
        full.extend(args.split_whitespace());
        self.exec(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Our own child, by pid; its namespace goes with it (and the veths in it).
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A veth pair `a_dev` in `a` <-> `b_dev` in `b`, up. TSO/GSO off, so the demo's captures show
/// MTU-sized segments (the data plane also carries GSO trains, see `lvs_net::device::vnet`);
/// checksum offload stays on (the data plane completes partial checksums).
pub(crate) fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) -> Result<(), LabError> {
    a.ip(&format!(
        "link add name {a_dev} type veth peer name {b_dev} netns {}",
        b.pid()
    ))?;
    for (n, d) in [(a, a_dev), (b, b_dev)] {
        n.exec(&["ethtool", "-K", d, "tso", "off", "gso", "off"])?;
        n.ip(&format!("link set {d} up"))?;
    }
    Ok(())
}

/// Whether we are root (uid 0, also inside a user namespace).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
