//! Quiesce by reload: while clients keep making requests and six long-lived connections are
//! open, the rules file changes rs1's weight to 0 and `lvs-router run` gets SIGHUP. No request
//! fails, every old connection (rs1's included) keeps working, and no new connection goes to
//! rs1. Then a broken rules file is refused on SIGHUP and the running configuration stays.

mod e2e;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use e2e::client::{Held, http_get};
use e2e::cluster::{Cluster, one_arm_toml, rip};

fn rules(w1: u32) -> String {
    let mut r = String::from("-A -t 192.0.2.10:80 -s wlc\n-A -t 192.0.2.10:9002 -s rr\n");
    for i in 1..=3 {
        let w = if i == 1 { w1 } else { 1 };
        r.push_str(&format!(
            "-a -t 192.0.2.10:80 -r {}:8080 -m -w {w}\n",
            rip(i)
        ));
        r.push_str(&format!(
            "-a -t 192.0.2.10:9002 -r {}:9002 -m -w {w}\n",
            rip(i)
        ));
    }
    r
}

fn hold(lab: &Cluster, n: usize) -> Vec<Held> {
    lab.client
        .thread(move || {
            (0..n)
                .map(|_| Held::open("192.0.2.10:9002".parse().unwrap()).expect("hold"))
                .collect()
        })
        .join()
        .unwrap()
}

#[test]
fn quiesce_by_sighup_during_traffic() {
    if e2e::unavailable("quiesce_by_sighup_during_traffic") {
        return;
    }
    let mut lab = Cluster::build("quiesce");
    lab.start_router(&rules(1), &one_arm_toml(""));
    let mut old = hold(&lab, 6);
    let on_rs1 = old.iter().filter(|h| h.server == "rs1").count();
    assert_eq!(on_rs1, 2, "rr spreads 6 over 3");

    // Requests before, during and after the reload; `after` marks those started after it.
    let (stop, after) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (s, a) = (stop.clone(), after.clone());
    let load = lab.client.thread(move || {
        let vip: SocketAddr = "192.0.2.10:80".parse().unwrap();
        let (mut before, mut later, mut failed) = (0, BTreeMap::<String, usize>::new(), 0);
        // Bounded: at most 5000 requests even if the test stalls.
        for _ in 0..5000 {
            if s.load(Ordering::Relaxed) {
                break;
            }
            let phase2 = a.load(Ordering::Relaxed);
            match http_get(vip, "/id") {
                Ok(b) if phase2 => {
                    *later.entry(String::from_utf8_lossy(&b).into()).or_default() += 1
                }
                Ok(_) => before += 1,
                Err(_) => failed += 1,
            }
        }
        (before, later, failed)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    lab.reload(&rules(0));
    after.store(true, Ordering::Relaxed);
    let new = hold(&lab, 6);
    std::thread::sleep(std::time::Duration::from_millis(500));

    // A broken file is refused; the running configuration (rs1 quiesced) stays.
    std::fs::write(
        lab.dir().join("rules"),
        "-A -t 192.0.2.10:80 -s wlc\n-a -t nonsense\n",
    )
    .unwrap();
    e2e::signal(lab.router.unwrap(), "HUP");
    assert!(
        e2e::wait_for(std::time::Duration::from_secs(10), || lab
            .router_log()
            .contains("reload refused")),
        "{}",
        lab.router_log()
    );
    let newer = hold(&lab, 3);
    stop.store(true, Ordering::Relaxed);
    let (before, later, failed) = load.join().unwrap();

    assert_eq!(
        failed,
        0,
        "requests failed across the reload\n{}",
        lab.router_log()
    );
    assert!(
        before > 0 && later.values().sum::<usize>() > 0,
        "{before} {later:?}"
    );
    assert!(
        !later.contains_key("rs1"),
        "new requests reached quiesced rs1: {later:?}"
    );
    for h in new.iter().chain(&newer) {
        assert_ne!(h.server, "rs1", "a new connection reached quiesced rs1");
    }
    for h in &mut old {
        let server = h.server.clone();
        h.ping(b"still there?")
            .unwrap_or_else(|e| panic!("old conn to {server}: {e}"));
    }
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
