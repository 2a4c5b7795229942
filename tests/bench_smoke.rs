//! Smoke test of the namespace benchmark (`tests/bench/bench.py`): a `--quick` run of about a
//! second per load over lvs-router NAT and kernel forwarding, the pps and conns loads, with
//! this build's `lvs-router`. Functional only: the driver must exit 0, write the table with a
//! row per path, and count packets, connections and director CPU on every path; no number is
//! compared with a threshold (the machine is shared). Leaves no `bn<pid>*` namespace behind.
//!
//! Needs root and the benchmark's tools (`apt-get install -y` the packages in [`PACKAGES`]).
//! Without them the test is skipped with a message, except under CI (`CI=true`), where a
//! missing tool is a failure.

mod e2e;

use std::path::PathBuf;
use std::process::Command;

/// Debian packages the benchmark needs (also in .ci/run).
const PACKAGES: &str =
    "iproute2 nftables ethtool util-linux procps python3 netsniff-ng wrk nginx iperf3 haproxy";

/// The driver's exit code for "cannot run here" (not root, a tool missing).
const SKIP: i32 = 77;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (outside CI) or fails (under CI) with `why`.
fn skip(why: &str) {
    assert!(!ci(), "bench smoke test cannot run under CI: {why}");
    eprintln!("SKIP bench_quick_smoke: {why} (apt-get install -y {PACKAGES})");
}

#[test]
fn bench_quick_smoke() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/bench/bench.py");
    // Removed on drop unless the test fails.
    let scratch = e2e::Scratch::new("bench-smoke");
    let dir = &scratch.0;
    let (md, jsonl) = (dir.join("smoke.md"), dir.join("smoke.jsonl"));
    // Checked before building lvs-router, so a machine without the tools skips quickly.
    if Command::new("python3").arg("--version").output().is_err() {
        skip("python3 missing");
        return;
    }
    let child = Command::new("python3")
        .arg(&script)
        .args(["--quick", "--paths", "nat,kfwd", "--loads", "pps,conns"])
        .args(["--seconds", "1", "--warmup", "0.5"])
        .arg("--binary")
        .arg(e2e::router_bin())
        .arg("--out")
        .arg(&md)
        .arg("--jsonl")
        .arg(&jsonl)
        .spawn()
        .expect("python3 tests/bench/bench.py");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let leftover: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("bn{pid}")))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftover.is_empty(), "namespaces left behind: {leftover:?}");
    match out.status.code() {
        Some(0) => {}
        Some(SKIP) => {
            skip("the driver cannot run here (see its message above)");
            return;
        }
        other => panic!("bench.py exited {other:?}"),
    }
    let table = std::fs::read_to_string(&md).expect("the markdown table");
    for row in ["| lvs-router NAT |", "| kernel forwarding |"] {
        assert!(table.contains(row), "no row {row} in:\n{table}");
    }
    let text = std::fs::read_to_string(&jsonl).expect("the raw results");
    let mut seen = Vec::new();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        if r["kind"] != "result" {
            continue;
        }
        let (path, load) = (r["path"].as_str().unwrap(), r["load"].as_str().unwrap());
        assert!(r["error"].is_null(), "{path} {load}: {}", r["error"]);
        let runs = r["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1, "{path} {load}: {runs:?}");
        let counted = match load {
            "pps" => &runs[0]["packets"],
            _ => &runs[0]["requests"],
        };
        assert!(
            counted.as_u64().is_some_and(|n| n > 0),
            "{path} {load}: nothing counted: {}",
            runs[0]
        );
        // The director's CPU is accounted (lvs-router's process, the kernel's softirq): a
        // loaded director uses at least a clock tick in the window.
        assert!(
            runs[0]["director_cpu_s"].as_f64().is_some_and(|s| s > 0.0),
            "{path} {load}: no director CPU: {}",
            runs[0]
        );
        seen.push(format!("{path}/{load}"));
    }
    seen.sort();
    assert_eq!(seen, ["kfwd/conns", "kfwd/pps", "nat/conns", "nat/pps"]);
}
