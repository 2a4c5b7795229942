//! Failover under load (issue 9): two `lvs-router run` directors, VRRP between them and IPVS
//! connection sync on. A client keeps a long-lived TCP stream through NAT and one through DR
//! (an echo every 20 ms each) and makes short connections to both VIPs all along.
//!
//! 1. d1 (priority 150) is master, d2 (100) backup; `-L --daemon` shows d1's master and d2's
//!    backup sync daemon; d2 holds the streams' connections (synced) before anything fails,
//!    each once (in the worker that would get its packets, not in both).
//! 2. kill -9 d1: d2 owns the VIPs within Master_Down_Interval (+ margin for this shared
//!    machine), both streams continue on d2 (which has their connections thanks to sync),
//!    new connections succeed.
//! 3. Restart d1: it comes up as VRRP backup and sync backup, receives the connections from d2
//!    during its preempt delay, then preempts; the streams still continue and new
//!    connections succeed.
//!
//! 4. `--stop-daemon` / `--start-daemon` over the control socket, with ipvsadm's errors.
//!
//! The lab is tests/e2e/failover.rs. Everything is bounded in time (about 40 s in all).

mod e2e;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use e2e::client::{Held, http_get_within};
use e2e::failover::{Lab, PREEMPT_DELAY_MS, VIP_DR, VIP_NAT, master_down_interval};

/// What a long-lived stream saw: echo times since the test's start.
#[derive(Default)]
struct StreamLog {
    server: String,
    echoes: Vec<Duration>,
    error: Option<String>,
}

/// An echo every 20 ms over one connection to `vip:9002` until `stop`.
fn stream(
    lab: &Lab,
    vip: &str,
    t0: Instant,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<StreamLog>>,
) -> JoinHandle<()> {
    let addr: SocketAddr = format!("{vip}:9002").parse().unwrap();
    lab.client.thread(move || {
        let mut held = match Held::open(addr) {
            Ok(h) => h,
            Err(e) => {
                out.lock().unwrap().error = Some(format!("connect: {e}"));
                return;
            }
        };
        // Long enough for the client's retransmission back-off across a failover.
        let _ = held.stream.set_read_timeout(Some(Duration::from_secs(20)));
        out.lock().unwrap().server.clone_from(&held.server);
        let mut seq = 0u64;
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            if let Err(e) = held.ping(format!("seq {seq:08}\n").as_bytes()) {
                out.lock().unwrap().error = Some(format!("echo {seq}: {e}"));
                return;
            }
            out.lock().unwrap().echoes.push(t0.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Short connections (`GET /id`, new TCP connection each) alternating between the VIPs:
/// `(started, vip, result)`.
type Shorts = Arc<Mutex<Vec<(Duration, &'static str, Result<String, String>)>>>;

fn shorts(lab: &Lab, t0: Instant, stop: Arc<AtomicBool>, out: Shorts) -> JoinHandle<()> {
    lab.client.thread(move || {
        let mut nat = true;
        while !stop.load(Ordering::Relaxed) {
            let vip = if nat { VIP_NAT } else { VIP_DR };
            nat = !nat;
            let started = t0.elapsed();
            let addr: SocketAddr = format!("{vip}:80").parse().unwrap();
            let r = get_id(addr, Duration::from_secs(3));
            out.lock().unwrap().push((started, vip, r));
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// `GET /id` with every step bounded by `limit`: the body.
fn get_id(addr: SocketAddr, limit: Duration) -> Result<String, String> {
    let (_, body) = http_get_within(addr, "/id", limit).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Echoes of `s` after `from`.
fn echoes_after(s: &Mutex<StreamLog>, from: Duration) -> usize {
    s.lock()
        .unwrap()
        .echoes
        .iter()
        .filter(|t| **t > from)
        .count()
}

/// The longest gap between echoes of `s`.
fn longest_gap(s: &Mutex<StreamLog>) -> Duration {
    let l = s.lock().unwrap();
    l.echoes
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// Short connections started in `[from, to)`: (succeeded, failed with reasons).
fn shorts_between(s: &Shorts, from: Duration, to: Duration) -> (usize, Vec<String>) {
    let l = s.lock().unwrap();
    let mut ok = 0;
    let mut failed = Vec::new();
    for (t, vip, r) in l.iter().filter(|(t, ..)| *t >= from && *t < to) {
        match r {
            Ok(body) if ["rs1", "rs2", "rd"].contains(&body.as_str()) => ok += 1,
            Ok(body) => failed.push(format!("{t:?} {vip}: body {body:?}")),
            Err(e) => failed.push(format!("{t:?} {vip}: {e}")),
        }
    }
    (ok, failed)
}

/// Active connections listed by director `i` for `vip:9002` (summed over its rows).
fn active_conns(lab: &Lab, i: usize, vip: &str) -> u64 {
    let out = lab.adm(i, "-Ln");
    let mut in_service = false;
    let mut total = 0;
    for line in out.lines() {
        if line.starts_with("TCP") {
            in_service = line.contains(&format!("{vip}:9002"));
        } else if in_service && line.trim_start().starts_with("->") {
            // -> RIP:PORT Forward Weight ActiveConn InActConn
            let cols: Vec<&str> = line.split_whitespace().collect();
            total += cols.get(4).and_then(|c| c.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    total
}

#[test]
fn failover_keeps_streams_and_new_connections_work() {
    if e2e::unavailable("failover_keeps_streams_and_new_connections_work") {
        return;
    }
    let mut lab = Lab::build("fo");
    let t0 = Instant::now();

    // 1. d1 master, d2 backup, sync daemons following.
    lab.start(0);
    assert!(
        e2e::wait_for(Duration::from_secs(10), || lab.entered(0, "Master", 1)),
        "d1 never became master: {}",
        lab.log(0)
    );
    lab.start(1);
    assert!(
        e2e::wait_for(Duration::from_secs(10), || lab.entered(1, "Backup", 1)
            && lab.log(1).contains("sync daemon started")),
        "d2 not backup: {}",
        lab.log(1)
    );
    let daemons = lab.adm(0, "-L --daemon");
    assert_eq!(
        daemons,
        "master sync daemon (mcast=e1, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n",
        "d1 -L --daemon"
    );
    let daemons = lab.adm(1, "-L --daemon");
    assert!(
        daemons.starts_with("backup sync daemon (mcast=e1, syncid=51"),
        "{daemons}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let nat = Arc::new(Mutex::new(StreamLog::default()));
    let dr = Arc::new(Mutex::new(StreamLog::default()));
    let short: Shorts = Arc::default();
    let threads = vec![
        stream(&lab, VIP_NAT, t0, stop.clone(), nat.clone()),
        stream(&lab, VIP_DR, t0, stop.clone(), dr.clone()),
        shorts(&lab, t0, stop.clone(), short.clone()),
    ];
    let stop_all = |threads: Vec<JoinHandle<()>>| {
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
    };
    let load_start = t0.elapsed();
    // The backup gets the streams' connections (every 10 packets, sent within 2 s).
    let synced = e2e::wait_for(Duration::from_secs(8), || {
        active_conns(&lab, 1, VIP_NAT) >= 1 && active_conns(&lab, 1, VIP_DR) >= 1
    });
    let before = t0.elapsed();
    if !synced {
        stop_all(threads);
        panic!(
            "d2 did not receive the streams' connections:\n{}\n{}",
            lab.adm(1, "-Ln"),
            lab.log(1)
        );
    }
    // Each synced connection sits in the one worker that would get its packets, so the backup
    // counts each stream once (it counted it once per worker, twice here, when every worker
    // imported every entry): in -Ln and in -Lnc, as the master does.
    std::thread::sleep(Duration::from_millis(500));
    for vip in [VIP_NAT, VIP_DR] {
        let rows = |i: usize| {
            lab.adm(i, "-Lnc")
                .lines()
                .filter(|l| l.contains(&format!("{vip}:9002")))
                .count()
        };
        let counts = [
            (active_conns(&lab, 0, vip), rows(0)),
            (active_conns(&lab, 1, vip), rows(1)),
        ];
        if counts != [(1, 1), (1, 1)] {
            stop_all(threads);
            panic!(
                "{vip}:9002 (ActiveConn, -Lnc rows) on d1, d2: {counts:?}\n{}\n{}",
                lab.adm(1, "-Ln"),
                lab.adm(1, "-Lnc")
            );
        }
    }
    let (ok_before, failed_before) = shorts_between(&short, load_start, before);

    // 2. kill -9 the master.
    let killed_at = t0.elapsed();
    e2e::signal(lab.routers[0].take().unwrap(), "KILL");
    let took_over = e2e::wait_for(Duration::from_secs(10), || lab.entered(1, "Master", 1));
    let takeover = t0.elapsed() - killed_at;
    std::thread::sleep(Duration::from_secs(4));
    let after_failover = t0.elapsed();
    let nat_after_failover = echoes_after(&nat, killed_at + takeover);
    let dr_after_failover = echoes_after(&dr, killed_at + takeover);
    let (ok_failover, failed_failover) = shorts_between(
        &short,
        killed_at + takeover + Duration::from_secs(1),
        after_failover,
    );

    // 3. Restart d1: backup + sync backup during its preempt delay, then it preempts.
    lab.start(0);
    let restarted_at = t0.elapsed();
    let preempted = e2e::wait_for(
        Duration::from_millis(PREEMPT_DELAY_MS) + Duration::from_secs(8),
        || lab.entered(0, "Master", 1),
    );
    let preempt = t0.elapsed();
    std::thread::sleep(Duration::from_secs(4));
    let end = t0.elapsed();
    stop_all(threads);

    let report = format!(
        "takeover {takeover:?} after kill (Master_Down_Interval {:?}); preempt {:?} after \
         restart; longest echo gap NAT {:?} DR {:?}; short connections ok {ok_before} before, \
         {ok_failover} after failover\nd1:\n{}\nd2:\n{}",
        master_down_interval(100),
        preempt - restarted_at,
        longest_gap(&nat),
        longest_gap(&dr),
        lab.log(0),
        lab.log(1),
    );
    eprintln!("{}", report.lines().next().unwrap());
    assert!(failed_before.is_empty(), "{failed_before:?}\n{report}");
    assert!(ok_before >= 4, "{report}");
    assert!(took_over, "d2 never took over\n{report}");
    assert!(
        takeover <= master_down_interval(100) + Duration::from_millis(1500),
        "{report}"
    );
    for (name, s) in [("NAT", &nat), ("DR", &dr)] {
        let l = s.lock().unwrap();
        assert!(l.error.is_none(), "{name} stream: {:?}\n{report}", l.error);
    }
    assert!(
        nat_after_failover >= 20 && dr_after_failover >= 20,
        "streams after failover: NAT {nat_after_failover} DR {dr_after_failover}\n{report}"
    );
    assert!(failed_failover.is_empty(), "{failed_failover:?}\n{report}");
    assert!(ok_failover >= 4, "{report}");
    assert!(preempted, "d1 did not preempt\n{report}");
    assert!(
        preempt - restarted_at >= Duration::from_millis(PREEMPT_DELAY_MS),
        "d1 preempted before its delay\n{report}"
    );
    assert!(
        echoes_after(&nat, preempt + Duration::from_secs(1)) >= 20
            && echoes_after(&dr, preempt + Duration::from_secs(1)) >= 20,
        "streams after preempt\n{report}"
    );
    let (ok_preempt, failed_preempt) =
        shorts_between(&short, preempt + Duration::from_secs(1), end);
    assert!(failed_preempt.is_empty(), "{failed_preempt:?}\n{report}");
    assert!(ok_preempt >= 4, "{report}");
    assert!(
        lab.entered(1, "Backup", 2),
        "d2 did not step back\n{report}"
    );

    // The daemons by hand over the control socket, as with ipvsadm and the kernel.
    assert!(lab.adm(1, "-L --daemon").starts_with("backup sync daemon"));
    assert_eq!(lab.adm(1, "--stop-daemon backup"), "");
    assert_eq!(lab.adm(1, "-L --daemon"), "");
    let (ok, text) = lab.try_adm(1, "--stop-daemon backup");
    assert!(!ok && text.contains("No daemon is running"), "{text}");
    lab.adm(1, "--start-daemon backup --mcast-interface e1 --syncid 9");
    let (ok, text) = lab.try_adm(1, "--start-daemon backup --mcast-interface e1");
    assert!(!ok && text.contains("Daemon has already run"), "{text}");
    assert_eq!(
        lab.adm(1, "-L --daemon"),
        "backup sync daemon (mcast=e1, syncid=9, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );

    // Clean stop: d1 resigns (priority 0), SIGTERM exits 0 on both.
    for i in [0, 1] {
        let pid = lab.routers[i].take().unwrap();
        e2e::signal(pid, "TERM");
        assert_eq!(
            lab.directors[i].wait(pid, Duration::from_secs(10)),
            Some(0),
            "d{} exit\n{report}",
            i + 1
        );
    }
}
