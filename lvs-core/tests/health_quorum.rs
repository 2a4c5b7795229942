//! Quorum, hysteresis and the sorry server (keepalived `update_quorum_state`): below
//! `quorum - hysteresis` the sorry server goes in and the alive real servers out; at
//! `quorum + hysteresis` they come back and the sorry server leaves.

use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr};

use lvs_core::health::{
    CheckKind, CheckOutcome, CheckerConfig, FailedConnPolicy, HealthAction, HealthEvent,
    HealthMonitor, RealServerHealth, SorryServer, Timing, VirtualServerHealth,
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

/// retry 0 and no warmup: every server is probed at 1, 11, 21, ... s and changes state on the
/// first differing result.
fn rs(last: u8, weight: u32) -> RealServerHealth {
    let mut c = CheckerConfig::new(CheckKind::Tcp);
    c.timing = Timing {
        delay_loop: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Some(Duration::ZERO),
    };
    RealServerHealth::new(dest(last, weight), vec![c])
}

/// Three servers of weight 2, quorum 4, hysteresis 1: lost below 3, regained at 5.
fn monitor() -> HealthMonitor {
    let mut vs = VirtualServerHealth::new(svc(), vec![rs(1, 2), rs(2, 2), rs(3, 2)]);
    vs.quorum = 4;
    vs.hysteresis = 1;
    vs.sorry_server = Some(SorryServer {
        dest: dest(99, 1),
        inhibit: false,
    });
    vs.quorum_down = Some("/bin/page-oncall".into());
    vs.real_servers[0].on_failure = FailedConnPolicy::ExpireNow;
    HealthMonitor::new(vec![vs], 1, Instant::ZERO)
}

/// One probing round at `secs`: server i answers `alive[i]`.
fn round(m: &mut HealthMonitor, secs: u64, alive: [bool; 3]) -> Vec<HealthAction> {
    let now = Instant::from_secs(secs);
    for req in m.poll_checks(now) {
        let i = match req.target.ip() {
            IpAddr::V4(a) => usize::from(a.octets()[3]) - 1,
            IpAddr::V6(_) => unreachable!(),
        };
        let outcome = if alive[i] {
            CheckOutcome::Up { weight: None }
        } else {
            CheckOutcome::Down {
                reason: "timeout".into(),
            }
        };
        m.handle_result(now, req.token, outcome);
    }
    std::iter::from_fn(|| m.poll_action()).collect()
}

fn apply(a: &[HealthAction]) -> Vec<Command> {
    a.iter()
        .filter_map(|a| match a {
            HealthAction::Apply(c) => Some(c.clone()),
            HealthAction::Notify(_) => None,
        })
        .collect()
}

fn del(last: u8) -> Command {
    Command::DeleteDest(svc(), dest(last, 0).addr, 80)
}

#[test]
fn sorry_server_below_quorum_and_back_above_quorum_plus_hysteresis() {
    let mut m = monitor();
    let init = apply(&std::iter::from_fn(|| m.poll_action()).collect::<Vec<_>>());
    assert_eq!(
        init.len(),
        3,
        "three alive dests, no sorry server: {init:?}"
    );

    // One down: 4 >= 3, quorum kept.
    let a = round(&mut m, 1, [false, true, true]);
    assert_eq!(apply(&a), vec![del(1)]);
    assert!(a.contains(&HealthAction::Notify(HealthEvent::Down {
        service: svc(),
        dest: "10.0.0.1:80".parse().unwrap(),
        notify: None,
        conns: FailedConnPolicy::ExpireNow,
    })));

    // Two down: 2 < 3, lost: sorry server in first, then the last alive server out.
    let a = round(&mut m, 11, [false, false, true]);
    assert_eq!(
        apply(&a),
        vec![del(2), Command::AddDest(svc(), dest(99, 1)), del(3)]
    );
    assert!(a.contains(&HealthAction::Notify(HealthEvent::QuorumDown {
        service: svc(),
        notify: Some("/bin/page-oncall".into()),
    })));

    // One back: 4 < 5, still without quorum; the server stays out of the table.
    let a = round(&mut m, 21, [true, false, true]);
    assert!(apply(&a).is_empty(), "{a:?}");
    assert!(matches!(
        a[..],
        [HealthAction::Notify(HealthEvent::Up { .. })]
    ));

    // All back: 6 >= 5, regained: alive servers in first, then the sorry server out.
    let a = round(&mut m, 31, [true, true, true]);
    assert_eq!(
        apply(&a),
        vec![
            Command::AddDest(svc(), dest(1, 2)),
            Command::AddDest(svc(), dest(2, 2)),
            Command::AddDest(svc(), dest(3, 2)),
            del(99),
        ]
    );
    assert!(matches!(
        a.last(),
        Some(HealthAction::Notify(HealthEvent::QuorumUp { .. }))
    ));
}

#[test]
fn hysteresis_moves_the_loss_line_below_the_quorum() {
    // Weights 1, 2, 2 and quorum 4; server 2 fails: 3 is left.
    for (hysteresis, lost) in [(0, true), (1, false)] {
        let mut vs = VirtualServerHealth::new(svc(), vec![rs(1, 1), rs(2, 2), rs(3, 2)]);
        vs.quorum = 4;
        vs.hysteresis = hysteresis;
        let mut m = HealthMonitor::new(vec![vs], 1, Instant::ZERO);
        std::iter::from_fn(|| m.poll_action()).for_each(drop);
        let a = round(&mut m, 1, [true, false, true]);
        let quorum_down = a
            .iter()
            .any(|a| matches!(a, HealthAction::Notify(HealthEvent::QuorumDown { .. })));
        assert_eq!(quorum_down, lost, "hysteresis {hysteresis}: {a:?}");
    }
}

#[test]
fn alpha_with_sorry_server_starts_on_the_sorry_server() {
    let mut vs = VirtualServerHealth::new(svc(), vec![rs(1, 1)]);
    vs.alpha = true;
    vs.sorry_server = Some(SorryServer {
        dest: dest(99, 1),
        inhibit: true,
    });
    let mut m = HealthMonitor::new(vec![vs], 1, Instant::ZERO);
    let init: Vec<_> = std::iter::from_fn(|| m.poll_action()).collect();
    assert_eq!(apply(&init), vec![Command::AddDest(svc(), dest(99, 1))]);
    let a = round(&mut m, 1, [true, true, true]);
    // Sorry server inhibited: kept with weight 0.
    assert_eq!(
        apply(&a),
        vec![
            Command::AddDest(svc(), dest(1, 1)),
            Command::EditDest(svc(), dest(99, 0)),
        ]
    );
}

#[test]
fn a_dynamic_weight_can_bring_quorum_back() {
    let mut c = CheckerConfig::new(CheckKind::Misc {
        program: "weigh".into(),
        dynamic: true,
    });
    c.timing.warmup = Some(Duration::ZERO);
    let mut vs = VirtualServerHealth::new(svc(), vec![RealServerHealth::new(dest(1, 1), vec![c])]);
    vs.quorum = 3;
    vs.sorry_server = Some(SorryServer {
        dest: dest(99, 1),
        inhibit: false,
    });
    let mut m = HealthMonitor::new(vec![vs], 1, Instant::ZERO);
    let init: Vec<_> = std::iter::from_fn(|| m.poll_action()).collect();
    // Weight 1 < quorum 3 from the start: the dest goes in, then out for the sorry server.
    assert_eq!(
        apply(&init),
        vec![
            Command::AddDest(svc(), dest(1, 1)),
            Command::AddDest(svc(), dest(99, 1)),
            del(1),
        ]
    );
    let now = Instant::from_secs(1);
    let req = m.poll_checks(now).remove(0);
    m.handle_result(now, req.token, CheckOutcome::Up { weight: Some(5) });
    let a: Vec<_> = std::iter::from_fn(|| m.poll_action()).collect();
    assert_eq!(
        apply(&a),
        vec![Command::AddDest(svc(), dest(1, 5)), del(99)]
    );
}

#[test]
fn listing_has_one_line_per_checker() {
    let mut m = monitor();
    std::iter::from_fn(|| m.poll_action()).for_each(drop);
    round(&mut m, 1, [true, false, true]);
    let text = m.listing(Instant::from_secs(4));
    eprintln!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("Service"), "{text}");
    let words: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        words,
        [
            "-t",
            "192.0.2.1:80",
            "10.0.0.2:80",
            "TCP_CHECK",
            "DOWN",
            "1",
            "3s",
            "timeout"
        ],
        "{text}"
    );
    assert!(
        lines[1].contains(" UP ") && lines[1].contains(" ok"),
        "{text}"
    );
    let rows = m.rows(Instant::from_secs(4));
    assert_eq!((rows[1].up, rows[1].fails), (false, 1));
}
