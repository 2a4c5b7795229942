//! `lvs-router demo` end to end: builds its namespace cluster, balances HTTP requests over
//! three real servers, prints the distribution and the listing, and cleans up; also when
//! interrupted. Needs root (CI) or a working `unshare -Urn`; skipped otherwise.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn can_run(test: &str) -> bool {
    let ok = Command::new("unshare")
        .args(["-Urn", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP {test}: neither root nor unshare -Urn available");
    }
    ok
}

fn demo(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvs-router"));
    c.arg("demo").arg("--no-progress").args(args);
    c
}

#[test]
fn demo_balances_over_three_servers_and_cleans_up() {
    if !can_run("demo_balances_over_three_servers_and_cleans_up") {
        return;
    }
    let out = demo(&["--requests", "300", "--time-limit", "60"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    assert!(
        text.contains("300 of 300 requests answered (0 failed)"),
        "{text}"
    );
    for rs in ["rs1:", "rs2:", "rs3:", "172.16.0.11:80", "Masq"] {
        assert!(text.contains(rs), "{rs} missing:\n{text}");
    }
    // The --stats row of the service counts every connection.
    let svc = text
        .lines()
        .filter(|l| l.starts_with("TCP  192.0.2.10:80"))
        .nth(1)
        .unwrap_or_else(|| panic!("no stats row:\n{text}"));
    assert_eq!(svc.split_whitespace().nth(2), Some("300"), "{svc}");
    assert!(text.contains("cleaned up"), "{text}");
}

#[test]
fn demo_interrupted_cleans_up() {
    if !can_run("demo_interrupted_cleans_up") {
        return;
    }
    let mut child = demo(&["--requests", "1000000", "--time-limit", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let end = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("demo did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code, Some(130), "{text}");
    assert!(text.contains("cleaned up"), "{text}");
}
