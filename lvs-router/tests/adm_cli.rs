//! `lvs-router adm` against a control socket served in this process: output, exit codes,
//! atomicity, `-S | -R`, the multi-call names and the peer-credential check.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use lvs_core::director::{Director, DirectorConfig};
use lvs_core::time::Instant;
use lvs_net::ctl::{ControlServer, DirectorTarget};

const BIN: &str = env!("CARGO_BIN_EXE_lvs-router");

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvs-adm-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A router stand-in: a director behind a control socket, served on a thread.
fn router(name: &str) -> PathBuf {
    let path = tmp(name).join("ctl.sock");
    let server = ControlServer::bind(&path).unwrap();
    std::thread::spawn(move || {
        let director = Mutex::new(Director::new(DirectorConfig {
            conn_budget: 4096,
            ..DirectorConfig::default()
        }));
        let target = DirectorTarget {
            director: &director,
            now: || Instant::ZERO,
        };
        server.serve(&target)
    });
    path
}

fn adm_in(socket: &Path, args: &str, stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("adm")
        .arg("--socket")
        .arg(socket)
        .args(args.split_whitespace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn adm(socket: &Path, args: &str) -> (String, String, i32) {
    let o = adm_in(socket, args, "");
    (
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
        o.status.code().unwrap(),
    )
}

fn ok(socket: &Path, args: &str) -> String {
    let (out, err, code) = adm(socket, args);
    assert_eq!((code, err.as_str()), (0, ""), "{args}");
    out
}

#[test]
fn commands_listings_and_errors() {
    let s = router("main");
    ok(&s, "-A -t 192.0.2.1:80 -s rr");
    ok(&s, "-a -t 192.0.2.1:80 -r 10.0.0.2:8080 -m -w 2");
    ok(&s, "-at 192.0.2.1:80 -r 10.0.0.1 -g");
    // Expected from ipvsadm's formats: "  -> %-28s %-7s %-6d %-10u %-10u".
    let listing = "IP Virtual Server version 1.2.1 (size=4096)\n\
                   Prot LocalAddress:Port Scheduler Flags\n  \
                   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                   TCP  192.0.2.1:80 rr\n  \
                   -> 10.0.0.1:80                  Route   1      0          0         \n  \
                   -> 10.0.0.2:8080                Masq    2      0          0         \n";
    assert_eq!(ok(&s, "-Ln"), listing);
    assert_eq!(
        ok(&s, "-L -n --timeout"),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    ok(&s, "--set 0 60 0");
    assert_eq!(
        ok(&s, "-Ln --timeout"),
        "Timeout (tcp tcpfin udp): 900 60 300\n"
    );
    assert_eq!(ok(&s, "-L --daemon"), "");
    assert_eq!(
        ok(&s, "-Lnc"),
        "IPVS connection entries\npro expire state       source             virtual            destination\n"
    );
    let errors: &[(&str, &str, i32)] = &[
        ("-A -t 192.0.2.1:80", "Service already exists\n", 255),
        (
            "-a -t 192.0.2.1:80 -r 10.0.0.1",
            "Destination already exists\n",
            255,
        ),
        (
            "-d -t 192.0.2.9:80 -r 10.0.0.1",
            "Service not defined\n",
            255,
        ),
        (
            "-e -t 192.0.2.1:80 -r 10.0.0.9",
            "No such destination\n",
            255,
        ),
        ("-D -t 192.0.2.9:80", "No such service\n", 255),
        (
            "-E -t 192.0.2.1:80 -s nosuch",
            "Scheduler or persistence engine not found\n",
            255,
        ),
        (
            "-A -t 192.0.2.5",
            "Zero port specified for non-persistent service\n",
            2,
        ),
        (
            "-A -t 192.0.2.5:80 -w 3",
            "Illegal 'weight' option with the 'add-service' command\n",
            2,
        ),
        ("-L -t 192.0.2.9:80", "No such service\n", 1),
        (
            "-L --stats -c",
            "options conflicts in the list command\n",
            2,
        ),
        (
            "-Z -t 192.0.2.1:80",
            "zeroing the counters of one service is not supported; use -Z alone\n",
            255,
        ),
        ("--start-daemon master", "Protocol not available\n", 255),
        (
            "-x",
            "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
            255,
        ),
        ("-L --frobnicate", "--frobnicate: unknown option\n", 255),
    ];
    for (args, err, code) in errors {
        assert_eq!(
            adm(&s, args),
            (String::new(), err.to_string(), *code),
            "{args}"
        );
    }
    // A restore batch with a bad line changes nothing, and says which line.
    let o = adm_in(
        &s,
        "-R",
        "-D -t 192.0.2.1:80\n-a -t 192.0.2.7:80 -r 10.0.0.1\n",
    );
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "Service not defined\n");
    let o = adm_in(&s, "-R", "-C\n-A -t 192.0.2.1:80 -w 1\n");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        ok(&s, "-Ln"),
        listing,
        "state unchanged after every refusal"
    );
    // Help and version need no router.
    let (out, _, code) = adm(Path::new("/nonexistent"), "-h");
    assert!(code == 0 && out.starts_with("ipvsadm v1.31 2019/12/24"));
    let (_, err, code) = adm(Path::new("/nonexistent/x.sock"), "-Ln");
    assert_eq!(code, 2);
    assert!(err.starts_with("Can't initialize ipvs: "), "{err}");
}

#[test]
fn save_restore_round_trip_and_json() {
    let a = router("save-a");
    let b = router("save-b");
    for line in [
        "-A -t 192.0.2.1:80 -s sh -b sh-port -p 120 -M 255.255.0.0",
        "-a -t 192.0.2.1:80 -r 10.0.0.1 -i --tun-type gue --tun-port 5555 --tun-remcsum",
        "-a -t 192.0.2.1:80 -r 10.0.0.2 -g -w 0",
        "-A -u [2001:db8::53]:53 -o",
        "-a -u [2001:db8::53]:53 -r [2001:db8::1]:5353 -m -w 7",
        "-A -f 42 -6 -s mh -b mh-fallback,mh-port",
        "-A --sctp-service 192.0.2.3:9000 -s lc",
    ] {
        ok(&a, line);
    }
    let saved = ok(&a, "-S -n");
    let o = adm_in(&b, "-R", &saved);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(ok(&b, "-S -n"), saved);
    assert_eq!(ok(&b, "-Ln --tun-info"), ok(&a, "-Ln --tun-info"));
    let v: serde_json::Value = serde_json::from_str(&ok(&a, "-Ln --json")).unwrap();
    assert_eq!(v["services"].as_array().unwrap().len(), 4);
    let v: serde_json::Value = serde_json::from_str(&ok(&a, "-L --timeout --json")).unwrap();
    assert_eq!(v["tcpfin"], 120);
}

#[test]
fn multi_call_names() {
    let s = router("multi");
    let dir = tmp("multi-bin");
    for name in ["ipvsadm", "ipvsadm-save", "ipvsadm-restore"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(BIN, &link).unwrap();
    }
    let run = |name: &str, args: &[&str], stdin: &str| {
        let mut child = Command::new(dir.join(name))
            .env("LVS_ROUTER_SOCKET", &s)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{name} {args:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    run(
        "ipvsadm-restore",
        &[],
        "ipvsadm -A -u 192.0.2.8:53 -s rr\n-a -u 192.0.2.8:53 -r 10.0.0.3 -m\n",
    );
    assert_eq!(
        run("ipvsadm-save", &["-n"], ""),
        "-A -u 192.0.2.8:53 -s rr\n-a -u 192.0.2.8:53 -r 10.0.0.3:53 -m -w 1\n"
    );
    assert!(run("ipvsadm", &["-Ln"], "").contains("UDP  192.0.2.8:53 rr\n"));
}

#[test]
fn the_socket_refuses_other_users() {
    if !rustix_is_root() {
        eprintln!("skipped: the peer-credential test needs root to run a client as uid 65534");
        return;
    }
    let s = router("perm");
    // A copy nobody can execute wherever the build tree lives (CI may build under /root).
    let bin = tmp("perm-bin").join("lvs-router");
    std::fs::copy(BIN, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [bin.parent().unwrap(), bin.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let as_nobody = |socket: &Path| {
        // ETXTBSY: a test thread forking at the moment of the copy holds the written file
        // open until its child execs (rust-lang/rust#114554); it goes away at once.
        for _ in 0..50 {
            match Command::new(&bin)
                .args(["adm", "--socket"])
                .arg(socket)
                .arg("-Ln")
                .uid(65534)
                .gid(65534)
                .output()
            {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r.unwrap(),
            }
        }
        panic!("{} stayed busy", bin.display());
    };
    // Mode 0600 keeps nobody out at connect(2).
    let o = as_nobody(&s);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Permission denied"));
    // Opened up, the server's SO_PEERCRED check still refuses.
    let dir = s.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody(&s);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Permission denied (you must be root)\n"
    );
    // Root still gets through.
    assert!(ok(&s, "-Ln").starts_with("IP Virtual Server"));
}

fn rustix_is_root() -> bool {
    // The test's own uid, read without unsafe code: /proc/self/status "Uid:" real uid.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn state_file_without_a_router() {
    let file = tmp("state").join("ipvs.rules");
    let _ = std::fs::remove_file(&file);
    let run = |args: &str| {
        let o = Command::new(BIN)
            .arg("adm")
            .arg("--state")
            .arg(&file)
            .args(args.split_whitespace())
            .output()
            .unwrap();
        (
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8(o.stderr).unwrap(),
            o.status.code().unwrap(),
        )
    };
    assert_eq!(run("-A -t 192.0.2.1:80 -s rr").2, 0);
    assert_eq!(run("-a -t 192.0.2.1:80 -r 10.0.0.1 -m").2, 0);
    assert_eq!(
        run("-A -t 192.0.2.1:80"),
        (String::new(), "Service already exists\n".into(), 255)
    );
    let saved = "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1\n";
    assert_eq!(std::fs::read_to_string(&file).unwrap(), saved);
    assert_eq!(run("-S -n").0, saved);
    assert!(
        run("-Ln")
            .0
            .contains("TCP  192.0.2.1:80 rr\n  -> 10.0.0.1:80")
    );
}
