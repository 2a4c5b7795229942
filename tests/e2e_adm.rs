//! `lvs-router adm --socket PATH` against a running `lvs-router run` (`control_socket` in its
//! TOML): the listing of the loaded rules in ipvsadm's exact format, a dest added over the
//! socket (listed, and traffic still flows), a refused command (ipvsadm's text, non-zero exit,
//! listing unchanged), `-S`, a SIGHUP reload replacing the stored rules, and the socket file
//! removed at exit. Lab: tests/e2e/cluster.rs.
//! Needs root (or `unshare -Urn`) and the Debian packages in `e2e::PACKAGES`.

mod e2e;

use std::path::Path;
use std::process::Command;

use e2e::cluster::{Cluster, one_arm_toml, rip};

/// `lvs-router adm --socket SOCK ARGS`: (success, stdout, stderr).
fn adm(sock: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(e2e::router_bin())
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

fn listing(sock: &Path) -> String {
    let (ok, out, err) = adm(sock, &["-Ln"]);
    assert!(ok, "adm -Ln: {err}");
    out
}

/// The listing without the connection counts (dest lines cut after the weight), for after
/// traffic went through.
fn config_of(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|l| match l.strip_prefix("  -> ") {
            Some(rest) if !rest.starts_with("RemoteAddress") => rest
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            _ => l.to_owned(),
        })
        .collect()
}

const HEAD: &str = "IP Virtual Server version 1.2.1 (size=4096)\n\
                    Prot LocalAddress:Port Scheduler Flags\n  \
                    -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                    TCP  192.0.2.10:80 rr\n";

#[test]
fn adm_over_the_control_socket() {
    if e2e::unavailable("adm_over_the_control_socket") {
        return;
    }
    let mut lab = Cluster::build("adm");
    let sock = lab.dir().join("ctl.sock");
    let rules = format!(
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r {}:8080 -m -w 1\n\
         -a -t 192.0.2.10:80 -r {}:8080 -m -w 2\n",
        rip(1),
        rip(2)
    );
    let extra = format!(
        "conn_budget = 4096\ncontrol_socket = \"{}\"",
        sock.display()
    );
    lab.start_router(&rules, &one_arm_toml(&extra));
    let log = |lab: &Cluster| lab.router_log();

    // Dests in the order the director holds them (rules order).
    let loaded = format!(
        "{HEAD}  -> 172.16.0.11:8080             Masq    1      0          0         \n  \
         -> 172.16.0.12:8080             Masq    2      0          0         \n"
    );
    assert_eq!(listing(&sock), loaded, "{}", log(&lab));

    let (ok, _, err) = adm(
        &sock,
        &["-a", "-t", "192.0.2.10:80", "-r", "172.16.0.13:8080", "-m"],
    );
    assert!(ok, "adm -a: {err}\n{}", log(&lab));
    let added = format!(
        "{HEAD}  -> 172.16.0.11:8080             Masq    1      0          0         \n  \
         -> 172.16.0.12:8080             Masq    2      0          0         \n  \
         -> 172.16.0.13:8080             Masq    1      0          0         \n"
    );
    assert_eq!(listing(&sock), added, "{}", log(&lab));

    // A dest of a service that does not exist: ipvsadm's text, non-zero exit, no change.
    let (ok, out, err) = adm(
        &sock,
        &["-a", "-t", "192.0.2.10:81", "-r", "172.16.0.13:80", "-m"],
    );
    assert!(!ok, "a dest of a missing service was accepted: {out}");
    assert_eq!(err, "Service not defined\n");
    assert_eq!(listing(&sock), added);
    // -Z is refused, not pretended.
    let (ok, _, err) = adm(&sock, &["-Z"]);
    assert!(!ok && err.contains("not supported"), "-Z: {err}");

    let (ok, saved, err) = adm(&sock, &["-S", "-n"]);
    assert!(ok, "adm -S: {err}");
    assert!(
        saved.contains("-a -t 192.0.2.10:80 -r 172.16.0.13:8080 -m -w 1"),
        "{saved}"
    );

    // Three requests over rr: every dest, the new one included, answers.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let body = lab
            .curl("http://192.0.2.10/id")
            .unwrap_or_else(|e| panic!("curl: {e}\n{}", log(&lab)));
        seen.push(String::from_utf8_lossy(&body).trim().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["rs1", "rs2", "rs3"], "{}", log(&lab));

    // SIGHUP re-reads the rules file: the socket's change is gone, the stored rules follow
    // (a later -a builds on the reloaded rules, not on the old ones).
    lab.reload(&rules);
    assert_eq!(
        config_of(&listing(&sock)),
        config_of(&loaded),
        "{}",
        log(&lab)
    );
    let (ok, _, err) = adm(
        &sock,
        &[
            "-e",
            "-t",
            "192.0.2.10:80",
            "-r",
            "172.16.0.12:8080",
            "-m",
            "-w",
            "5",
        ],
    );
    assert!(ok, "adm -e: {err}");
    assert_eq!(
        config_of(&listing(&sock)),
        config_of(&loaded.replace("Masq    2 ", "Masq    5 ")),
        "{}",
        log(&lab)
    );

    assert_eq!(lab.stop_router(), Some(0), "{}", log(&lab));
    assert!(!sock.exists(), "socket file left behind");
}
