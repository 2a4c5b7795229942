//! The monitor: every checker of every virtual server, the real servers' liveness and quorum.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::VecDeque;
use std::net::SocketAddr;

use super::checker::{Checker, Transition};
use super::{
    BOOTSTRAP_DELAY, CheckOutcome, CheckRequest, CheckToken, HealthAction, HealthEvent,
    VirtualServerHealth,
};
use crate::ipvsadm::{Command, DestConfig};
use crate::time::Instant;

/// A real server's runtime state (keepalived `real_server_t`).
#[derive(Clone, Debug)]
pub(super) struct Rs {
    /// keepalived `alive`: all its checkers are up.
    pub(super) alive: bool,
    /// Whether the dest is in the service's table (keepalived `set`).
    in_table: bool,
    /// Effective weight: configured, or the last `misc_dynamic` value.
    pub(super) weight: u32,
    /// Checkers currently down.
    failed: usize,
}

/// A virtual server's runtime state.
#[derive(Clone, Debug)]
pub(super) struct Vs {
    pub(super) cfg: VirtualServerHealth,
    pub(super) rss: Vec<Rs>,
    quorum_up: bool,
    /// The sorry server is serving (keepalived `s_svr->alive`).
    sorry_alive: bool,
    sorry_in_table: bool,
}

/// Health checks of a set of virtual servers, driven in virtual time.
///
/// Call [`poll_checks`](Self::poll_checks) whenever [`poll_timeout`](Self::poll_timeout) has
/// passed, run the returned probes, feed their results to
/// [`handle_result`](Self::handle_result), and drain [`poll_action`](Self::poll_action) after
/// each of these calls (and once after [`new`](Self::new)).
#[derive(Clone, Debug)]
pub struct HealthMonitor {
    pub(super) vss: Vec<Vs>,
    pub(super) checkers: Vec<Checker>,
    actions: VecDeque<HealthAction>,
    lost_results_fail: bool,
}

impl HealthMonitor {
    /// Starts monitoring at `now`. Each checker's first probe is due at
    /// `now + BOOTSTRAP_DELAY + warmup * random()` (keepalived `register_checkers_thread`), the
    /// random share drawn from `seed`. The initial actions add the alive dests (and the
    /// inhibited dead ones with weight 0) and, without quorum, the sorry server.
    pub fn new(configs: Vec<VirtualServerHealth>, seed: u64, now: Instant) -> Self {
        Self::build(configs, seed, now, None)
    }

    /// A monitor for a new configuration (a reload) that keeps this one's verdicts: a checker
    /// with the same configuration on the same real server (service, address and port) starts
    /// in the state its predecessor is in (up or down, retries spent, last result, fails,
    /// since) rather than up (or down with `alpha`), so a dead server stays out of the initial
    /// actions. Quorum is worked out afresh from those states (a lost one is announced again).
    /// Results of this monitor's probes still in flight are ignored by the new one.
    pub fn reconfigured(&self, configs: Vec<VirtualServerHealth>, seed: u64, now: Instant) -> Self {
        let mut m = Self::build(configs, seed, now, Some(self));
        m.lost_results_fail = self.lost_results_fail;
        m
    }

    fn build(
        configs: Vec<VirtualServerHealth>,
        seed: u64,
        now: Instant,
        previous: Option<&Self>,
    ) -> Self {
        // Probe numbers above any of the old monitor's: its late results match nothing here.
        let seq_base = previous.map_or(0, |p| {
            p.checkers.iter().map(Checker::seq).max().unwrap_or(0)
        });
        let mut used = vec![false; previous.map_or(0, |p| p.checkers.len())];
        // Warmup needs spread, not quality; a seeded StdRng keeps tests deterministic.
        let mut rng = StdRng::seed_from_u64(seed);
        let mut checkers = Vec::new();
        let mut vss = Vec::with_capacity(configs.len());
        for (v, cfg) in configs.into_iter().enumerate() {
            let mut rss = Vec::with_capacity(cfg.real_servers.len());
            for (r, rs) in cfg.real_servers.iter().enumerate() {
                for ck in &rs.checkers {
                    let warmup = ck.timing.warmup.unwrap_or(ck.timing.delay_loop);
                    let frac = u128::from(rng.random::<u32>());
                    let nanos = (warmup.as_nanos() * frac) >> 32;
                    let delay =
                        core::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                    let first = now + BOOTSTRAP_DELAY + delay;
                    let mut c = Checker::new(ck.clone(), v, r, !cfg.alpha, first, now);
                    c.set_seq(seq_base);
                    let dest = SocketAddr::new(rs.dest.addr, rs.dest.port);
                    if let Some(p) = previous
                        && let Some(i) = p.checkers.iter().enumerate().position(|(i, o)| {
                            !used[i]
                                && o.cfg == *ck
                                && p.vss[o.vs].cfg.service == cfg.service
                                && p.dest_of(o) == dest
                        })
                    {
                        used[i] = true;
                        c.carry(&p.checkers[i]);
                    }
                    checkers.push(c);
                }
                let first = checkers.len() - rs.checkers.len();
                let failed = checkers[first..].iter().filter(|c| !c.is_up).count();
                rss.push(Rs {
                    alive: failed == 0,
                    in_table: false,
                    weight: rs.dest.weight,
                    failed,
                });
            }
            vss.push(Vs {
                cfg,
                rss,
                quorum_up: true,
                sorry_alive: false,
                sorry_in_table: false,
            });
        }
        let mut m = Self {
            vss,
            checkers,
            actions: VecDeque::new(),
            lost_results_fail: true,
        };
        for v in 0..m.vss.len() {
            for r in 0..m.vss[v].rss.len() {
                let vs = &m.vss[v];
                if vs.rss[r].alive {
                    m.add_rs(v, r);
                } else if vs.cfg.real_servers[r].inhibit_on_failure {
                    m.del_rs(v, r);
                }
            }
            m.update_quorum(v);
        }
        m
    }

    /// The real server a checker probes for, as its `addr:port`.
    fn dest_of(&self, c: &Checker) -> SocketAddr {
        let d = &self.vss[c.vs].cfg.real_servers[c.rs].dest;
        SocketAddr::new(d.addr, d.port)
    }

    /// Whether a probe whose result never comes back counts as failed, once twice its timeout
    /// plus a second has passed (the default). An IO layer that always answers (the lvs-net
    /// runner's pool, where a probe may wait in the queue behind slow ones) turns this off, so
    /// that waiting for a free worker is not mistaken for a dead server.
    pub fn set_lost_results_fail(&mut self, on: bool) {
        self.lost_results_fail = on;
    }

    /// The probes due at `now`. A probe whose result has not come back long after its timeout
    /// counts as failed here, so a lost result cannot stall a checker.
    pub fn poll_checks(&mut self, now: Instant) -> Vec<CheckRequest> {
        let mut out = Vec::new();
        for i in 0..self.checkers.len() {
            if self.checkers[i].lost_at.is_some_and(|t| t <= now) {
                let reason = "no result".to_owned();
                let tr = self.checkers[i].finish(now, false, reason);
                self.after_transition(i, tr);
            }
            let c = &mut self.checkers[i];
            if c.next.is_some_and(|t| t <= now) {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                let token = c.start(index, now, self.lost_results_fail);
                let vs = &self.vss[c.vs];
                let dest = &vs.cfg.real_servers[c.rs].dest;
                let target = SocketAddr::new(
                    c.cfg.connect_ip.unwrap_or(dest.addr),
                    c.cfg.connect_port.unwrap_or(dest.port),
                );
                out.push(CheckRequest {
                    token,
                    kind: c.cfg.kind.clone(),
                    target,
                    timeout: c.cfg.timing.connect_timeout,
                });
            }
        }
        out
    }

    /// Feeds a probe's result. Results of probes no longer in flight are ignored.
    pub fn handle_result(&mut self, now: Instant, token: CheckToken, outcome: CheckOutcome) {
        let i = token.checker as usize;
        let Some(c) = self.checkers.get_mut(i) else {
            return;
        };
        if !c.expects(token) {
            return;
        }
        let (v, r) = (c.vs, c.rs);
        let tr = match outcome {
            CheckOutcome::Up { weight } => {
                let result = weight.map_or_else(|| "ok".to_owned(), |w| format!("ok weight {w}"));
                let tr = c.finish(now, true, result);
                if let Some(w) = weight {
                    self.set_weight(v, r, w);
                }
                tr
            }
            CheckOutcome::Down { reason } => c.finish(now, false, reason),
        };
        self.after_transition(i, tr);
    }

    /// The earliest instant at which [`poll_checks`](Self::poll_checks) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.checkers
            .iter()
            .filter_map(|c| c.next.or(c.lost_at))
            .min()
    }

    /// The next control-plane command or event, in the order they must be applied.
    pub fn poll_action(&mut self) -> Option<HealthAction> {
        self.actions.pop_front()
    }

    /// Whether a health-checked real server is alive; `None` for one the monitor does not know.
    pub fn is_alive(&self, service: &crate::ipvsadm::ServiceKey, dest: SocketAddr) -> Option<bool> {
        let vs = self.vss.iter().find(|vs| vs.cfg.service == *service)?;
        let r = vs
            .cfg
            .real_servers
            .iter()
            .position(|rs| SocketAddr::new(rs.dest.addr, rs.dest.port) == dest)?;
        Some(vs.rss[r].alive)
    }

    fn after_transition(&mut self, i: usize, tr: Transition) {
        let (v, r) = (self.checkers[i].vs, self.checkers[i].rs);
        let rs = &mut self.vss[v].rss[r];
        match tr {
            Transition::None => {}
            Transition::Up => {
                rs.failed = rs.failed.saturating_sub(1);
                if rs.failed == 0 {
                    self.set_alive(v, r, true);
                }
            }
            Transition::Down => {
                rs.failed += 1;
                if rs.failed == 1 {
                    self.set_alive(v, r, false);
                }
            }
        }
    }

    /// Whether real-server changes go to the table now: not while the sorry server serves.
    fn pool_active(&self, v: usize) -> bool {
        let vs = &self.vss[v];
        vs.quorum_up || vs.cfg.sorry_server.is_none() || !vs.sorry_alive
    }

    /// keepalived `perform_svr_state`.
    fn set_alive(&mut self, v: usize, r: usize, alive: bool) {
        if self.vss[v].rss[r].alive == alive {
            return;
        }
        if self.pool_active(v) {
            if alive {
                self.add_rs(v, r);
            } else {
                self.del_rs(v, r);
            }
        }
        let vs = &mut self.vss[v];
        vs.rss[r].alive = alive;
        let cfg = &vs.cfg.real_servers[r];
        let service = vs.cfg.service;
        let dest = SocketAddr::new(cfg.dest.addr, cfg.dest.port);
        let event = if alive {
            HealthEvent::Up {
                service,
                dest,
                notify: cfg.notify_up.clone(),
            }
        } else {
            HealthEvent::Down {
                service,
                dest,
                notify: cfg.notify_down.clone(),
                conns: cfg.on_failure,
            }
        };
        self.actions.push_back(HealthAction::Notify(event));
        self.update_quorum(v);
    }

    /// keepalived `update_svr_wgt`: a `misc_dynamic` weight.
    fn set_weight(&mut self, v: usize, r: usize, weight: u32) {
        let rs = &mut self.vss[v].rss[r];
        if rs.weight == weight {
            return;
        }
        rs.weight = weight;
        if rs.alive {
            // While the sorry server serves, the weight only counts toward quorum; the dest
            // goes back with it when quorum returns.
            if self.pool_active(v) {
                self.add_rs(v, r);
            }
            self.update_quorum(v);
        }
    }

    /// Puts a real server in the pool with its effective weight.
    fn add_rs(&mut self, v: usize, r: usize) {
        let vs = &mut self.vss[v];
        let dest = DestConfig {
            weight: vs.rss[r].weight,
            ..vs.cfg.real_servers[r].dest
        };
        let cmd = if vs.rss[r].in_table {
            Command::EditDest(vs.cfg.service, dest)
        } else {
            Command::AddDest(vs.cfg.service, dest)
        };
        vs.rss[r].in_table = true;
        self.actions.push_back(HealthAction::Apply(cmd));
    }

    /// Takes a real server out of the pool: removed, or weight 0 with `inhibit_on_failure`.
    fn del_rs(&mut self, v: usize, r: usize) {
        let vs = &mut self.vss[v];
        let dest = vs.cfg.real_servers[r].dest;
        let inhibit = vs.cfg.real_servers[r].inhibit_on_failure;
        let cmd = take_out(vs.cfg.service, dest, inhibit, &mut vs.rss[r].in_table);
        self.actions.extend(cmd.map(HealthAction::Apply));
    }
}

/// The command that takes `dest` out of rotation, updating whether it is in the table.
fn take_out(
    service: crate::ipvsadm::ServiceKey,
    dest: DestConfig,
    inhibit: bool,
    in_table: &mut bool,
) -> Option<Command> {
    let was = *in_table;
    *in_table = inhibit;
    match (inhibit, was) {
        (true, true) => Some(Command::EditDest(service, DestConfig { weight: 0, ..dest })),
        (true, false) => Some(Command::AddDest(service, DestConfig { weight: 0, ..dest })),
        (false, true) => Some(Command::DeleteDest(service, dest.addr, dest.port)),
        (false, false) => None,
    }
}

mod quorum;
