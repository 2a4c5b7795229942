//! Health checks of `lvs-router run` end to end: three NAT real servers, each with a TCP, an
//! HTTP (`GET /health`) and an external-program checker (delay_loop 1 s, connect_timeout 1 s,
//! retry 1, delay_before_retry 1 s), under continuous client load (new connections in a loop
//! from two threads). Four outages, one after the other:
//!
//! 1. rs1's server process is killed (TCP and HTTP checks fail), then restarted;
//! 2. rs2's link goes down (`ip link set e0 down`: probes time out), then up; rs2 has
//!    `on_failure = "expire"`, so its connections are expired when it fails;
//! 3. rs3's `/health` answers 500 (a flag file server.py reads); while it is out the rules
//!    are reloaded (SIGHUP), then the `[health]` sections too (rs3's checkers unchanged), and a
//!    service is added over the control socket, and it must stay out; `adm -L --health` shows
//!    why;
//! 4. rs1's external program exits 1 (a flag file it tests).
//!
//! Each time the dest leaves rotation (`adm -Ln`) within delay_loop + (retry + 1) x
//! connect_timeout + retry x delay_before_retry plus a margin, no request started after that
//! reaches it or fails, and once healed it is back within delay_loop (+ connect_timeout and a
//! margin) and answers again. Requests may fail only if they started before it left rotation
//! (the connections that were on it). Timings are printed, not asserted beyond those bounds.
//! Needs root (or `unshare -Urn`) and the Debian packages in `e2e::PACKAGES`.

mod e2e;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::client::http_get_within;
use e2e::cluster::{Cluster, VIP, one_arm_toml, rip};
use e2e::{signal, wait_for};

/// One request of the load: when it started and ended, the server that answered or the error.
#[derive(Clone, Debug)]
struct Record {
    start: Instant,
    end: Instant,
    result: Result<String, String>,
}

/// The client's own timeout: a connection stuck on a dead server fails after this.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

fn get_id(addr: SocketAddr) -> Result<String, String> {
    let (status, body) = http_get_within(addr, "/id", CLIENT_TIMEOUT).map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&body).into_owned();
    if status.starts_with("HTTP/1.0 200") {
        Ok(body)
    } else {
        Err(format!("bad answer: {status} {body:?}"))
    }
}

/// Continuous load: `threads` loops of new connections until `stop`.
struct Load {
    records: Arc<Mutex<Vec<Record>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(lab: &Cluster, threads: usize) -> Self {
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
        let threads = (0..threads)
            .map(|_| {
                let (records, stop) = (Arc::clone(&records), Arc::clone(&stop));
                lab.client.thread(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let start = Instant::now();
                        let result = get_id(addr);
                        let end = Instant::now();
                        records.lock().unwrap().push(Record { start, end, result });
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        Self {
            records,
            stop,
            threads,
        }
    }

    fn since(&self, t: Instant) -> Vec<Record> {
        let r = self.records.lock().unwrap();
        r.iter().filter(|r| r.start >= t).cloned().collect()
    }

    fn stop(self) -> Vec<Record> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(self.records).unwrap().into_inner().unwrap()
    }
}

/// `lvs-router adm --socket SOCK ARGS`: (success, stdout + stderr).
fn adm(sock: &Path, args: &[&str]) -> (bool, String) {
    let (ok, out, err) = e2e::adm(sock, args);
    (ok, out + &err)
}

/// Whether rs`n` is a dest of the VIP:80 service in the running tables.
fn in_rotation(sock: &Path, n: usize) -> bool {
    let (ok, out) = adm(sock, &["-Ln", "-t", &format!("{VIP}:80")]);
    assert!(ok, "adm -Ln: {out}");
    out.contains(&format!("-> {}:80 ", rip(n)))
}

const DELAY_LOOP: f64 = 1.0;
const CONNECT_TIMEOUT: f64 = 1.0;
const RETRY: f64 = 1.0;
const DELAY_BEFORE_RETRY: f64 = 1.0;
/// Slack for a loaded two-core machine (process start, thread scheduling, polling).
const MARGIN: f64 = 5.0;

/// The `[health]` sections; `rs1_extra` goes into rs1's real_server table.
fn health_toml(dir: &Path, rs1_extra: &str) -> String {
    let timing = format!(
        "connect_timeout = {CONNECT_TIMEOUT:?}\nretry = {}\ndelay_before_retry = \
         {DELAY_BEFORE_RETRY:?}\nwarmup = 0.0\n",
        RETRY as u32
    );
    let mut t = format!(
        "[health]\nthreads = 4\n\n[[health.virtual_server]]\nservice = \"-t {VIP}:80\"\n\
         delay_loop = {DELAY_LOOP:?}\n"
    );
    for n in 1..=3 {
        let expire = match n {
            1 => rs1_extra,
            2 => "on_failure = \"expire\"\n",
            _ => "",
        };
        t.push_str(&format!(
            "\n[[health.virtual_server.real_server]]\nserver = \"-r {rip}:80 -m -w 1\"\n{expire}\
             \n[[health.virtual_server.real_server.check]]\ntype = \"tcp\"\n{timing}\
             \n[[health.virtual_server.real_server.check]]\ntype = \"http\"\n\
             url = [{{ path = \"/health\" }}]\n{timing}\
             \n[[health.virtual_server.real_server.check]]\ntype = \"misc\"\n\
             program = \"test ! -e {flag}\"\n{timing}",
            rip = rip(n),
            flag = dir.join(format!("down{n}")).display(),
        ));
    }
    t
}

/// One outage of rs`n`: `fail`, wait until it left rotation, keep the load on it for a while
/// (`during` runs then), `heal`, wait until it is back and answering. Checks the load's
/// records and returns (seconds to leave, seconds to come back, failed requests).
fn outage(
    lab: &mut Cluster,
    load: &Load,
    n: usize,
    what: &str,
    fail: &dyn Fn(&mut Cluster),
    during: &dyn Fn(&mut Cluster),
    heal: &dyn Fn(&mut Cluster),
) -> (f64, f64, usize) {
    let sock = lab.dir().join("ctl.sock");
    let name = format!("rs{n}");
    assert!(
        in_rotation(&sock, n),
        "{what}: rs{n} not in rotation before"
    );
    let t_fail = Instant::now();
    fail(lab);
    let leave_bound =
        DELAY_LOOP + (RETRY + 1.0) * CONNECT_TIMEOUT + RETRY * DELAY_BEFORE_RETRY + MARGIN;
    assert!(
        wait_for(Duration::from_secs_f64(leave_bound), || !in_rotation(
            &sock, n
        )),
        "{what}: rs{n} still in rotation after {leave_bound} s\n{}",
        lab.router_log()
    );
    let t_out = Instant::now();
    // The scratch table the listing reads is updated just before the workers'.
    let settled = t_out + Duration::from_millis(300);
    during(lab);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !in_rotation(&sock, n),
        "{what}: rs{n} came back while failed"
    );
    let t_heal = Instant::now();
    heal(lab);
    let back_bound = DELAY_LOOP + CONNECT_TIMEOUT + MARGIN;
    assert!(
        wait_for(Duration::from_secs_f64(back_bound), || in_rotation(
            &sock, n
        )),
        "{what}: rs{n} not back after {back_bound} s\n{}",
        lab.router_log()
    );
    let t_back = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || load
            .since(t_back)
            .iter()
            .any(|r| r.result.as_deref() == Ok(name.as_str()))),
        "{what}: rs{n} back in the table but answers no request"
    );
    // While out: every request started after it left is answered, by another server.
    let out: Vec<Record> = load
        .since(settled)
        .into_iter()
        .filter(|r| r.start < t_heal)
        .collect();
    assert!(out.len() > 10, "{what}: too little load while out: {out:?}");
    for r in &out {
        match &r.result {
            Ok(s) => assert_ne!(s, &name, "{what}: a new connection reached rs{n} while out"),
            Err(e) => panic!("{what}: a request started while rs{n} was out failed: {e}"),
        }
    }
    // Failures only among requests started before it left rotation.
    let failed: Vec<Record> = load
        .since(t_fail - CLIENT_TIMEOUT)
        .into_iter()
        .filter(|r| r.result.is_err())
        .collect();
    for r in &failed {
        assert!(
            r.start < settled,
            "{what}: a request failed that was not on rs{n}: {r:?}"
        );
    }
    let leave = (t_out - t_fail).as_secs_f64();
    let back = (t_back - t_heal).as_secs_f64();
    eprintln!(
        "{what}: out of rotation after {leave:.2} s (bound {leave_bound} s), back {back:.2} s \
         after healing (bound {back_bound} s), {} requests while out, {} failed (started \
         before it left; ended by {:?})",
        out.len(),
        failed.len(),
        failed.iter().map(|r| r.end - r.start).max()
    );
    (leave, back, failed.len())
}

fn rules() -> String {
    let mut r = format!("-A -t {VIP}:80 -s rr\n");
    for n in 1..=3 {
        r.push_str(&format!("-a -t {VIP}:80 -r {}:80 -m -w 1\n", rip(n)));
    }
    r
}

#[test]
fn failed_servers_leave_rotation_and_come_back() {
    if e2e::unavailable("failed_servers_leave_rotation_and_come_back") {
        return;
    }
    let begin = Instant::now();
    let mut lab = Cluster::build("hc");
    let dir = lab.dir();
    let sock = dir.join("ctl.sock");
    let toml = |rs1_extra: &str| {
        one_arm_toml(&format!(
            "control_socket = \"{}\"\n\n{}",
            sock.display(),
            health_toml(&dir, rs1_extra)
        ))
    };
    eprintln!("lab built after {:.1} s", begin.elapsed().as_secs_f64());
    lab.start_router(&rules(), &toml(""));
    // The first probes run BOOTSTRAP_DELAY (1 s) after start; all up by then.
    assert!(
        wait_for(Duration::from_secs(10), || {
            let (ok, out) = adm(&sock, &["-L", "--health"]);
            ok && out.matches(" UP ").count() == 9 && !out.lines().any(|l| l.ends_with("s -"))
        }),
        "checkers not all up: {}\n{}",
        adm(&sock, &["-L", "--health"]).1,
        lab.router_log()
    );
    eprintln!(
        "lab and router up after {:.1} s",
        begin.elapsed().as_secs_f64()
    );
    let load = Load::start(&lab, 2);
    std::thread::sleep(Duration::from_millis(500));

    // 1. The server process dies, then starts again.
    outage(
        &mut lab,
        &load,
        1,
        "killed",
        &|lab| signal(lab.server_pid(1), "KILL"),
        &|_| {},
        &|lab| {
            lab.restart_server(1);
        },
    );

    // 2. Its link goes down, then up (connections expired on failure: on_failure = "expire").
    outage(
        &mut lab,
        &load,
        2,
        "link down",
        &|lab| {
            lab.servers[1].ip("link set e0 down");
        },
        &|_| {},
        &|lab| {
            let s = &lab.servers[1];
            s.ip("link set e0 up");
            // Down took the routes through e0 with it: the default route NAT replies take
            // (the load is IPv4 only).
            s.ip("route replace default via 172.16.0.1");
        },
    );
    assert!(
        lab.router_log().contains("health: connections expired"),
        "no expiry logged for rs2"
    );

    // 3. HTTP 500 from /health; a reload and an `adm -A` while it is out keep it out.
    let flag500 = dir.join("www3/fail500");
    outage(
        &mut lab,
        &load,
        3,
        "HTTP 500",
        &|_| std::fs::write(&flag500, "").unwrap(),
        &|lab| {
            let (ok, out) = adm(&sock, &["-L", "--health"]);
            assert!(ok, "{out}");
            let row = out
                .lines()
                .find(|l| l.contains(&format!("{}:80", rip(3))) && l.contains("HTTP_GET"))
                .unwrap_or_else(|| panic!("no HTTP_GET row for rs3: {out}"));
            assert!(row.contains("DOWN") && row.contains("500"), "{row}");
            eprintln!("adm -L --health while rs3 answers 500:\n{out}");
            lab.reload(&rules());
            assert!(!in_rotation(&sock, 3), "rs3 back after SIGHUP");
            // A reload that changes [health] (not rs3's checkers): rs3's verdict carries over.
            std::fs::write(dir.join("router.toml"), toml("notify_up = \"true\"\n")).unwrap();
            lab.reload(&rules());
            assert!(
                wait_for(Duration::from_secs(3), || lab
                    .router_log()
                    .contains("health: new configuration applied")),
                "[health] not reloaded: {}",
                lab.router_log()
            );
            assert!(!in_rotation(&sock, 3), "rs3 back after a [health] reload");
            let (ok, out) = adm(&sock, &["-A", "-t", &format!("{VIP}:8080"), "-s", "rr"]);
            assert!(ok, "adm -A: {out}");
            assert!(!in_rotation(&sock, 3), "rs3 back after adm -A");
        },
        &|_| std::fs::remove_file(&flag500).unwrap(),
    );

    // 4. The external program says down (exit 1), then up.
    let flag = dir.join("down1");
    outage(
        &mut lab,
        &load,
        1,
        "program",
        &|_| std::fs::write(&flag, "").unwrap(),
        &|_| {},
        &|_| std::fs::remove_file(&flag).unwrap(),
    );

    let all = load.stop();
    let ok = all.iter().filter(|r| r.result.is_ok()).count();
    eprintln!(
        "{} requests, {ok} answered, total {:.1} s",
        all.len(),
        begin.elapsed().as_secs_f64()
    );
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
