//! The whole chain without real root: this test re-runs itself as uid 65534 inside an
//! unprivileged user + network namespace (`setpriv ... unshare -Urn`), where the inner test
//! builds the same namespace lab (namespaces held by processes, not `ip netns`), starts
//! `lvs-router run` in NAT mode and checks IPv4 and IPv6 transfers, UDP and rr, and a clean
//! SIGTERM. The outer test only runs as real root (CI); the inner one only when re-run.

mod e2e;

use std::process::Command;

use e2e::checks::{rules, transfers_both};
use e2e::cluster::{Cluster, one_arm_toml};

const INNER: &str = "LVS_E2E_UNPRIVILEGED_INNER";

#[test]
fn unprivileged_user_namespace_run() {
    if std::env::var_os(INNER).is_some() || e2e::unavailable("unprivileged_user_namespace_run") {
        return;
    }
    let in_userns = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().nth(1) != Some("0"));
    if in_userns {
        eprintln!("SKIP unprivileged_user_namespace_run: already inside a user namespace");
        return;
    }
    // Build lvs-router now: the inner run cannot write to target/.
    let bin = e2e::router_bin().to_owned();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "-Urn",
        ])
        .arg(&exe)
        .args(["--exact", "nat_inside_unprivileged_userns", "--nocapture"])
        .env(INNER, "1")
        .env("LVS_E2E_NO_BUILD", "1")
        .env("LVS_ROUTER_BIN", &bin)
        // Tools from the system, not from root's home (unreadable for uid 65534).
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("TMPDIR", "/tmp")
        .output()
        .expect("setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner run failed:\n{text}");
    // The inner test must have run, not skipped.
    assert!(
        text.contains("test nat_inside_unprivileged_userns ... ok"),
        "{text}"
    );
    assert!(text.contains("INNER-RAN"), "{text}");
}

#[test]
fn nat_inside_unprivileged_userns() {
    if std::env::var_os(INNER).is_none() {
        return;
    }
    assert!(!e2e::unavailable("nat_inside_unprivileged_userns"));
    let mut lab = Cluster::build("userns");
    lab.start_router(&rules("-m", true), &one_arm_toml(""));
    transfers_both(&lab, 1);
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
    println!("INNER-RAN");
}
