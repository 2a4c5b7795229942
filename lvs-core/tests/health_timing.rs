//! Checker timing in virtual time, worked out by hand from keepalived 2.2's epilogs:
//! first probe at start + 1 s (+ warmup share), next probe `delay_loop` after a result, an up
//! checker retries `retry` times `delay_before_retry` apart and goes down on failure
//! `retry + 1`; a down checker comes back on its first success.

use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lvs_core::health::{
    CheckKind, CheckOutcome, CheckerConfig, HealthAction, HealthEvent, HealthMonitor,
    RealServerHealth, Timing, VirtualServerHealth,
};
use lvs_core::ipvsadm::{Command, DestConfig, FwdMethod, Protocol, ServiceKey, TunnelConfig};
use lvs_core::time::Instant;

fn svc() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 80,
    }
}

fn dest(last: u8, weight: u32) -> DestConfig {
    DestConfig {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port: 80,
        fwd: FwdMethod::Masq,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: TunnelConfig::default(),
    }
}

fn timing(retry: u32) -> Timing {
    Timing {
        delay_loop: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry,
        delay_before_retry: Duration::from_secs(1),
        warmup: Some(Duration::ZERO),
    }
}

fn checker(kind: CheckKind, retry: u32) -> CheckerConfig {
    CheckerConfig {
        timing: timing(retry),
        ..CheckerConfig::new(kind)
    }
}

fn one_server(rs: RealServerHealth, alpha: bool) -> HealthMonitor {
    let mut vs = VirtualServerHealth::new(svc(), vec![rs]);
    vs.alpha = alpha;
    HealthMonitor::new(vec![vs], 7, Instant::ZERO)
}

fn drain(m: &mut HealthMonitor) -> Vec<HealthAction> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

/// Runs the monitor until `end`, answering each probe after `latency` with `health(start)`.
/// Returns (when, action) pairs and the probe start times.
fn run(
    m: &mut HealthMonitor,
    end: u64,
    latency: Duration,
    health: impl Fn(SocketAddr, Instant) -> CheckOutcome,
) -> (Vec<(u64, HealthAction)>, Vec<u64>) {
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut pending: Vec<(Instant, lvs_core::health::CheckToken, CheckOutcome)> = Vec::new();
    loop {
        let next_check = m.poll_timeout();
        let next_reply = pending.iter().map(|p| p.0).min();
        let now = match (next_check, next_reply) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).expect("something to do"),
        };
        if now > Instant::from_secs(end) {
            return (out, starts);
        }
        pending.sort_by_key(|p| p.0);
        while pending.first().is_some_and(|p| p.0 <= now) {
            let (_, token, outcome) = pending.remove(0);
            m.handle_result(now, token, outcome);
        }
        for req in m.poll_checks(now) {
            starts.push(now.as_nanos() / 1_000_000);
            pending.push((now + latency, req.token, health(req.target, now)));
        }
        out.extend(
            drain(m)
                .into_iter()
                .map(|a| (now.as_nanos() / 1_000_000, a)),
        );
    }
}

fn up() -> CheckOutcome {
    CheckOutcome::Up { weight: None }
}

fn down() -> CheckOutcome {
    CheckOutcome::Down {
        reason: "connection refused".into(),
    }
}

fn commands(actions: &[(u64, HealthAction)]) -> Vec<(u64, Command)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            HealthAction::Apply(c) => Some((*t, c.clone())),
            HealthAction::Notify(_) => None,
        })
        .collect()
}

#[test]
fn initial_actions_add_the_alive_dest() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 3), vec![checker(CheckKind::Tcp, 1)]),
        false,
    );
    assert_eq!(
        drain(&mut m),
        vec![HealthAction::Apply(Command::AddDest(svc(), dest(1, 3)))]
    );
    assert_eq!(
        m.poll_timeout(),
        Some(Instant::from_secs(1)),
        "BOOTSTRAP_DELAY, no warmup"
    );
}

#[test]
fn down_after_retry_plus_one_refused_attempts() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 1), vec![checker(CheckKind::Tcp, 2)]),
        false,
    );
    drain(&mut m);
    // Up until 20 s, back from 40 s. Refusals are immediate.
    let (actions, starts) = run(&mut m, 60, Duration::ZERO, |_, t| {
        if t < Instant::from_secs(20) || t >= Instant::from_secs(40) {
            up()
        } else {
            down()
        }
    });
    // 1, 11 ok; 21 fails -> retries at 22 and 23 (retry 2); down at 23; probed at 33 (down),
    // 43 succeeds -> up; then 53.
    assert_eq!(
        starts,
        vec![1000, 11000, 21000, 22000, 23000, 33000, 43000, 53000]
    );
    let c = commands(&actions);
    assert_eq!(
        c,
        vec![
            (23000, Command::DeleteDest(svc(), dest(1, 1).addr, 80)),
            (43000, Command::AddDest(svc(), dest(1, 1))),
        ]
    );
}

#[test]
fn timeouts_count_toward_retries() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 1), vec![checker(CheckKind::Tcp, 1)]),
        false,
    );
    drain(&mut m);
    // Every probe from 20 s on times out after connect_timeout (5 s).
    let (actions, starts) = run(&mut m, 50, Duration::from_secs(5), |_, t| {
        if t < Instant::from_secs(20) {
            up()
        } else {
            down()
        }
    });
    // ok at 1 (reply 6) -> 16 ok (reply 21) -> 31 fails at 36 -> retry 37 fails at 42 -> down.
    assert_eq!(starts, vec![1000, 16000, 31000, 37000]);
    let c = commands(&actions);
    assert_eq!(
        c,
        vec![(42000, Command::DeleteDest(svc(), dest(1, 1).addr, 80))]
    );
}

#[test]
fn one_success_between_failures_resets_the_count() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 1), vec![checker(CheckKind::Tcp, 1)]),
        false,
    );
    drain(&mut m);
    // Fails at 1 (retry at 2 succeeds), fails at 12 (retry 13 succeeds): never two in a row.
    let (actions, starts) = run(&mut m, 30, Duration::ZERO, |_, t| {
        if t == Instant::from_secs(1) || t == Instant::from_secs(12) {
            down()
        } else {
            up()
        }
    });
    assert_eq!(starts, vec![1000, 2000, 12000, 13000, 23000]);
    assert!(commands(&actions).is_empty(), "{actions:?}");
}

#[test]
fn alpha_starts_down_and_comes_up_on_first_success() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 2), vec![checker(CheckKind::Tcp, 1)]),
        true,
    );
    let init = drain(&mut m);
    assert!(
        !init.iter().any(|a| matches!(a, HealthAction::Apply(_))),
        "no dest before a success: {init:?}"
    );
    let (actions, _) = run(&mut m, 5, Duration::ZERO, |_, _| up());
    assert_eq!(
        actions[0],
        (
            1000,
            HealthAction::Apply(Command::AddDest(svc(), dest(1, 2)))
        )
    );
    assert!(matches!(
        actions[1].1,
        HealthAction::Notify(HealthEvent::Up { .. })
    ));
}

#[test]
fn alpha_failure_does_not_retry() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 2), vec![checker(CheckKind::Tcp, 3)]),
        true,
    );
    drain(&mut m);
    let (actions, starts) = run(&mut m, 25, Duration::ZERO, |_, _| down());
    assert_eq!(
        starts,
        vec![1000, 11000, 21000],
        "a down checker waits delay_loop"
    );
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn inhibit_on_failure_sets_weight_zero() {
    let mut rs = RealServerHealth::new(dest(1, 4), vec![checker(CheckKind::Tcp, 0)]);
    rs.inhibit_on_failure = true;
    let mut m = one_server(rs, false);
    drain(&mut m);
    let (actions, _) = run(&mut m, 25, Duration::ZERO, |_, t| {
        if t < Instant::from_secs(5) || t > Instant::from_secs(15) {
            up()
        } else {
            down()
        }
    });
    // retry 0: down on the first failure at 11, up at 21.
    assert_eq!(
        commands(&actions),
        vec![
            (11000, Command::EditDest(svc(), dest(1, 0))),
            (21000, Command::EditDest(svc(), dest(1, 4))),
        ]
    );
}

#[test]
fn alpha_with_inhibit_adds_the_dest_with_weight_zero() {
    let mut rs = RealServerHealth::new(dest(1, 4), vec![checker(CheckKind::Tcp, 0)]);
    rs.inhibit_on_failure = true;
    let mut m = one_server(rs, true);
    let init = drain(&mut m);
    assert_eq!(
        init[0],
        HealthAction::Apply(Command::AddDest(svc(), dest(1, 0)))
    );
}

#[test]
fn misc_dynamic_sets_the_weight() {
    let kind = CheckKind::Misc {
        program: "exit 3".into(),
        dynamic: true,
    };
    let mut m = one_server(
        RealServerHealth::new(dest(1, 5), vec![checker(kind, 0)]),
        false,
    );
    drain(&mut m);
    let (actions, _) = run(&mut m, 25, Duration::ZERO, |_, t| CheckOutcome::Up {
        weight: Some(if t < Instant::from_secs(20) { 1 } else { 0 }),
    });
    let c = commands(&actions);
    assert_eq!(
        c,
        vec![
            (1000, Command::EditDest(svc(), dest(1, 1))),
            (21000, Command::EditDest(svc(), dest(1, 0)))
        ]
    );
    assert!(
        actions.iter().any(|(t, a)| *t == 21000
            && matches!(a, HealthAction::Notify(HealthEvent::QuorumDown { .. }))),
        "weight 0 is below quorum 1: {actions:?}"
    );
}

#[test]
fn warmup_spreads_first_probes_deterministically() {
    let first = |seed| {
        let rss = (1..=8)
            .map(|i| {
                let mut c = checker(CheckKind::Tcp, 1);
                c.timing.warmup = None; // defaults to delay_loop: 10 s
                RealServerHealth::new(dest(i, 1), vec![c])
            })
            .collect();
        let mut m = HealthMonitor::new(
            vec![VirtualServerHealth::new(svc(), rss)],
            seed,
            Instant::ZERO,
        );
        let mut times = Vec::new();
        while let Some(t) = m.poll_timeout().filter(|t| *t < Instant::from_secs(11)) {
            times.extend(m.poll_checks(t).iter().map(|_| t));
        }
        times
    };
    let a = first(1);
    assert_eq!(a.len(), 8);
    assert!(
        a.iter()
            .all(|t| *t >= Instant::from_secs(1) && *t < Instant::from_secs(11)),
        "{a:?}"
    );
    assert!(a.windows(2).any(|w| w[0] != w[1]), "spread: {a:?}");
    assert_eq!(a, first(1), "same seed, same schedule");
    assert_ne!(a, first(2), "another seed, another schedule");
}

#[test]
fn lost_and_stale_results() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 1), vec![checker(CheckKind::Tcp, 0)]),
        false,
    );
    drain(&mut m);
    let req = m.poll_checks(Instant::from_secs(1)).remove(0);
    // Never answered: lost after 2 x 5 s + 1 s, counted as a failure (retry 0: down).
    assert_eq!(m.poll_timeout(), Some(Instant::from_secs(12)));
    assert!(m.poll_checks(Instant::from_secs(12)).is_empty());
    let a = drain(&mut m);
    assert_eq!(
        a[0],
        HealthAction::Apply(Command::DeleteDest(svc(), dest(1, 1).addr, 80))
    );
    // The late answer is ignored.
    m.handle_result(Instant::from_secs(13), req.token, up());
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), Some(Instant::from_secs(22)));
    assert!(m.listing(Instant::from_secs(13)).contains("DOWN"));
}

#[test]
fn connect_ip_and_port_redirect_the_probe() {
    let mut c = checker(CheckKind::Tcp, 1);
    c.connect_ip = Some(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)));
    c.connect_port = Some(8080);
    let mut m = one_server(RealServerHealth::new(dest(1, 1), vec![c]), false);
    let req = m.poll_checks(Instant::from_secs(1)).remove(0);
    assert_eq!(req.target, "10.9.9.9:8080".parse().unwrap());
    assert_eq!(req.timeout, Duration::from_secs(5));
}

#[test]
fn lost_results_can_be_left_to_the_io_layer() {
    let mut m = one_server(
        RealServerHealth::new(dest(1, 1), vec![checker(CheckKind::Tcp, 0)]),
        false,
    );
    m.set_lost_results_fail(false);
    drain(&mut m);
    let req = m.poll_checks(Instant::from_secs(1)).remove(0);
    assert_eq!(m.poll_timeout(), None, "no deadline while the probe is out");
    assert!(m.poll_checks(Instant::from_secs(100)).is_empty());
    assert!(drain(&mut m).is_empty());
    m.handle_result(Instant::from_secs(100), req.token, up());
    assert_eq!(m.poll_timeout(), Some(Instant::from_secs(110)));
}
