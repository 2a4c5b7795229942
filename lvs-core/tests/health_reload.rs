//! A reload of the health configuration ([`HealthMonitor::reconfigured`]) in virtual time:
//! verdicts of unchanged checkers carry over (a dead server is not re-added by the initial
//! actions), new checkers start fresh, and a result of the old monitor's probe in flight does
//! not count in the new one.

mod health_util;

use core::time::Duration;

use health_util::{dest, svc};
use lvs_core::health::{
    CheckKind, CheckOutcome, CheckerConfig, HealthAction, HealthMonitor, RealServerHealth, Timing,
    VirtualServerHealth,
};
use lvs_core::time::Instant;

fn checker(kind: CheckKind) -> CheckerConfig {
    CheckerConfig {
        timing: Timing {
            delay_loop: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            retry: 0,
            delay_before_retry: Duration::from_secs(1),
            warmup: Some(Duration::ZERO),
        },
        ..CheckerConfig::new(kind)
    }
}

fn config(servers: &[u8]) -> Vec<VirtualServerHealth> {
    let rss = servers
        .iter()
        .map(|&n| RealServerHealth::new(dest(n, 1), vec![checker(CheckKind::Tcp)]))
        .collect();
    vec![VirtualServerHealth::new(svc(), rss)]
}

fn commands(m: &mut HealthMonitor) -> Vec<String> {
    std::iter::from_fn(|| m.poll_action())
        .filter_map(|a| match a {
            HealthAction::Apply(c) => Some(c.to_string()),
            HealthAction::Notify(_) => None,
        })
        .collect()
}

fn outcome(up: bool) -> CheckOutcome {
    if up {
        CheckOutcome::Up { weight: None }
    } else {
        CheckOutcome::Down {
            reason: "connection refused".into(),
        }
    }
}

#[test]
fn a_dead_server_stays_out_across_a_reload() {
    let mut m = HealthMonitor::new(config(&[1, 2]), 1, Instant::ZERO);
    assert_eq!(commands(&mut m).len(), 2, "both added at start");
    // First round at 1 s: 10.0.0.2 refuses and (retry 0) goes down at once.
    let now = Instant::from_secs(1);
    for req in m.poll_checks(now) {
        let alive = req.target.ip().to_string() != "10.0.0.2";
        m.handle_result(now, req.token, outcome(alive));
    }
    assert_eq!(commands(&mut m), ["-d -t 192.0.2.1:80 -r 10.0.0.2:80"]);
    // A probe of the old monitor is in flight when the reload comes.
    let now = Instant::from_secs(3);
    let stale = m.poll_checks(now);
    assert_eq!(stale.len(), 2);

    // The reload adds 10.0.0.3; 10.0.0.2 keeps its verdict, 10.0.0.3 starts up.
    let mut n = m.reconfigured(config(&[1, 2, 3]), 1, now);
    assert_eq!(
        commands(&mut n),
        [
            "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1",
            "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m -w 1"
        ]
    );
    assert_eq!(
        n.is_alive(&svc(), "10.0.0.2:80".parse().unwrap()),
        Some(false)
    );
    let rows = n.rows(now);
    assert_eq!(
        rows[1].last, "connection refused",
        "the last result is kept"
    );
    // The old probe of 10.0.0.2 answers "up": not this monitor's probe, ignored.
    for req in &stale {
        n.handle_result(now, req.token, outcome(true));
    }
    assert!(commands(&mut n).is_empty());
    assert_eq!(
        n.is_alive(&svc(), "10.0.0.2:80".parse().unwrap()),
        Some(false)
    );
    // Its own probe does count.
    let now = Instant::from_secs(5);
    for req in n.poll_checks(now) {
        n.handle_result(now, req.token, outcome(true));
    }
    assert_eq!(
        commands(&mut n),
        ["-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 1"]
    );
}

#[test]
fn a_changed_checker_starts_afresh() {
    let mut m = HealthMonitor::new(config(&[1]), 1, Instant::ZERO);
    let _ = commands(&mut m);
    let now = Instant::from_secs(1);
    for req in m.poll_checks(now) {
        m.handle_result(now, req.token, outcome(false));
    }
    assert_eq!(commands(&mut m), ["-d -t 192.0.2.1:80 -r 10.0.0.1:80"]);
    // Same server, another kind of checker: no verdict to carry, it starts up.
    let mut cfg = config(&[1]);
    cfg[0].real_servers[0].checkers = vec![checker(CheckKind::Icmp)];
    let mut n = m.reconfigured(cfg, 1, now);
    assert_eq!(
        commands(&mut n),
        ["-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1"]
    );
}
