//! The runner end to end on loopback: real TCP servers, real probes, the commands applied to a
//! `ServiceTable` (the control plane a Director wraps); one server killed and restarted.

mod health_util;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use health_util::{Server, wait_for};
use lvs_core::ipvsadm::{Command, ServiceKey, parse_line};
use lvs_core::service::ServiceTable;
use lvs_net::health::{HealthFile, HealthRunner, RunnerOptions};

fn dests(table: &Mutex<ServiceTable>, svc: &ServiceKey) -> Vec<SocketAddr> {
    let t = table.lock().unwrap();
    let mut v: Vec<_> = t
        .service(svc)
        .map(|s| {
            s.dests()
                .iter()
                .map(|d| SocketAddr::new(d.addr, d.port))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn killed_server_leaves_rotation_and_comes_back() {
    let servers: Vec<Server> = (0..3)
        .map(|_| Server::start("127.0.0.1:0".parse().unwrap()))
        .collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let marker = std::env::temp_dir().join(format!("lvs-health-notify-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);

    // delay_loop 0.5 s, connect_timeout 0.5 s, retry 1, delay_before_retry 0.2 s, no warmup.
    let mut toml =
        String::from("[[virtual_server]]\nservice = \"-t 192.0.2.1:80\"\ndelay_loop = 0.5\n");
    for a in &addrs {
        toml += &format!(
            "[[virtual_server.real_server]]\nserver = \"-r {a} -m\"\nnotify_down = \"touch {}\"\n\
             [[virtual_server.real_server.check]]\ntype = \"tcp\"\nconnect_timeout = 0.5\n\
             retry = 1\ndelay_before_retry = 0.2\nwarmup = 0\n",
            marker.display()
        );
    }
    let file: HealthFile = toml::from_str(&toml).unwrap();
    let configs = file.to_core().unwrap();
    let svc = configs[0].service;

    let table = Arc::new(Mutex::new(ServiceTable::default()));
    table
        .lock()
        .unwrap()
        .apply(&parse_line("-A -t 192.0.2.1:80 -s rr").unwrap())
        .unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (t, e) = (Arc::clone(&table), Arc::clone(&errors));
    let options = RunnerOptions {
        threads: 2,
        seed: 1,
    };
    let runner = HealthRunner::new(configs, options).unwrap();
    let handle = runner
        .spawn(move |cmd: Command| {
            if let Err(err) = t.lock().unwrap().apply(&cmd) {
                e.lock().unwrap().push(format!("{cmd:?}: {err}"));
            }
        })
        .unwrap();

    let mut all = addrs.clone();
    all.sort();
    wait_for("initial dests", Duration::from_secs(5), || {
        dests(&table, &svc) == all
    });

    let mut servers = servers;
    let killed = servers.remove(1).kill();
    let took = wait_for("killed server out", Duration::from_secs(10), || {
        !dests(&table, &svc).contains(&killed)
    });
    eprintln!(
        "left rotation after {took:?} (bound: delay_loop + 2 x connect_timeout + delay_before_retry)"
    );
    assert_eq!(dests(&table, &svc).len(), 2);
    wait_for("notify_down ran", Duration::from_secs(5), || {
        marker.exists()
    });
    let listing = handle.listing();
    let line = listing
        .lines()
        .find(|l| l.contains(&killed.to_string()))
        .unwrap();
    assert!(
        line.contains("DOWN") && line.contains("TCP_CHECK"),
        "{listing}"
    );

    let _restarted = Server::start(killed);
    let took = wait_for("restarted server back", Duration::from_secs(10), || {
        dests(&table, &svc).contains(&killed)
    });
    eprintln!("back in rotation after {took:?} (bound: one delay_loop)");
    handle.stop();
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
    let _ = std::fs::remove_file(&marker);
}

#[test]
fn a_panicking_prober_still_answers() {
    use lvs_core::health::{CheckKind, CheckOutcome, CheckRequest, CheckToken};
    let pool =
        lvs_net::health::ProbePool::with_prober(1, Arc::new(|_: &CheckRequest| panic!("boom")))
            .unwrap();
    let token = CheckToken { checker: 3, seq: 9 };
    pool.submit(CheckRequest {
        token,
        kind: CheckKind::Tcp,
        target: "127.0.0.1:1".parse().unwrap(),
        timeout: Duration::from_secs(1),
    });
    let (got, outcome) = pool
        .wait_result(Duration::from_secs(10))
        .expect("an answer");
    assert_eq!(got, token);
    assert!(matches!(outcome, CheckOutcome::Down { reason } if reason.contains("panicked")));
}

/// One probe thread, seven checkers whose probes take 0.6 s of their 1 s timeout: the last one
/// waits 3.6 s in the queue, longer than the monitor's lost-result grace (2 x timeout + 1 s).
/// Waiting for a thread is not a failure: no server goes down.
#[test]
fn a_probe_queued_behind_slow_ones_is_not_a_failure() {
    use lvs_core::health::{CheckOutcome, HealthAction, HealthEvent};
    let mut toml =
        String::from("[[virtual_server]]\nservice = \"-t 192.0.2.1:80\"\ndelay_loop = 0.5\n");
    for i in 1..=7 {
        toml += &format!(
            "[[virtual_server.real_server]]\nserver = \"-r 10.0.0.{i}:80 -m\"\n\
             [[virtual_server.real_server.check]]\ntype = \"tcp\"\nconnect_timeout = 1\n\
             retry = 0\nwarmup = 0\n"
        );
    }
    let file: HealthFile = toml::from_str(&toml).unwrap();
    let options = RunnerOptions {
        threads: 1,
        seed: 1,
    };
    let slow: lvs_net::health::Prober = Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(600));
        CheckOutcome::Up { weight: None }
    });
    let runner = HealthRunner::with_prober(file.to_core().unwrap(), options, slow).unwrap();
    let downs = Arc::new(Mutex::new(Vec::new()));
    let d = Arc::clone(&downs);
    let handle = runner
        .spawn_actions(move |a| {
            if let HealthAction::Notify(HealthEvent::Down { dest, .. }) = a {
                d.lock().unwrap().push(dest);
            }
        })
        .unwrap();
    // Bootstrap (1 s) plus a round of seven 0.6 s probes on one thread, and some slack.
    std::thread::sleep(Duration::from_millis(1000 + 7 * 600 + 500));
    let rows = handle.rows();
    handle.stop();
    assert!(
        downs.lock().unwrap().is_empty(),
        "{:?}",
        downs.lock().unwrap()
    );
    assert!(rows.iter().all(|r| r.up && r.last == "ok"), "{rows:?}");
}
