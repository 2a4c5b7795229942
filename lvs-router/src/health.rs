//! Health checks in `lvs-router run` (`[health]` in the TOML): keepalived-style checkers that
//! take failed real servers out of rotation and put them back.
//!
//! ```text
//!   health thread: HealthRunner (lvs_net::health; probes on its own pool of `threads`)
//!     Apply(ipvsadm Command) --> Overlay (what health wants for each checked dest)
//!                                  |  Engine::replace(rules)  (the running rules, unchanged)
//!                                  v
//!   effective rules = rules (file + control socket) with the overlay applied --> every worker
//!     Notify(Down, expire) --> Engine::each_director(expire_dest_conns)
//! ```
//!
//! The health state is an *overlay* over the rules rather than commands applied once to the
//! workers: [`Engine::replace`] re-applies it to every rule set it installs (SIGHUP reload,
//! `adm -a` over the control socket), so a dead server stays out of rotation across them and a
//! revived one is not lost. For each checked dest the overlay holds either "absent" or the
//! dest as health adds it (the `server` words of the section, its weight, or weight 0 with
//! `inhibit_on_failure`, or a `misc_dynamic` weight); in the effective rules that replaces
//! whatever the rules say about that dest, in every service the rules define (a service the
//! rules do not define is left alone: the overlay never creates services). So the health
//! section, not the rules, decides a checked dest's presence and settings, as keepalived's
//! configuration does; `adm -e` on a checked dest is overridden at the next change.
//!
//! Checks run off the packet path: the runner thread and its probe pool never touch a worker
//! except through [`Engine::replace`] and [`Engine::each_director`] jobs.
//!
//! A SIGHUP with other `[health]` sections hands them to the checker thread
//! ([`Health::reconfigure`]): checkers that did not change keep their verdicts (a dead server
//! stays out), new ones start as keepalived's do, and the overlay is rebuilt from the new
//! monitor's initial actions in one swap. `threads` changes only on restart, and so do the
//! sections when `run` started without any (no checker thread runs then).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lvs_core::director::DirectorSnapshot;
use lvs_core::health::{FailedConnPolicy, HealthAction, HealthEvent, VirtualServerHealth};
use lvs_core::ipvsadm::{Command, DestConfig, ServiceKey};
use lvs_core::sched::SchedConfig;
use lvs_core::service::ServiceTable;
use lvs_net::health::{HealthRunner, HealthStatus, RunnerOptions};
use lvs_net::metrics::{DestHealth, MetricsSource};
use lvs_net::worker::now;

use crate::config::Loaded;
use crate::engine::Engine;

/// What health wants for one checked dest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    service: ServiceKey,
    dest: SocketAddr,
    /// In rotation as this (`None`: not in the service).
    want: Option<DestConfig>,
}

/// The health overlay: one entry per checked dest (and sorry server), in configuration order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Overlay {
    entries: Vec<Entry>,
}

impl Overlay {
    /// Every dest of `configs` absent: the monitor's initial actions add the alive ones.
    pub(crate) fn new(configs: &[VirtualServerHealth]) -> Self {
        let mut o = Self::default();
        for vs in configs {
            let dests = vs
                .real_servers
                .iter()
                .map(|rs| rs.dest)
                .chain(vs.sorry_server.map(|s| s.dest));
            for d in dests {
                o.set(vs.service, SocketAddr::new(d.addr, d.port), None);
            }
        }
        o
    }

    fn set(&mut self, service: ServiceKey, dest: SocketAddr, want: Option<DestConfig>) {
        match self
            .entries
            .iter_mut()
            .find(|e| e.service == service && e.dest == dest)
        {
            Some(e) => e.want = want,
            None => self.entries.push(Entry {
                service,
                dest,
                want,
            }),
        }
    }

    /// Folds one of the monitor's commands in; `false` for a command that is not about a
    /// dest (the monitor emits none).
    pub(crate) fn fold(&mut self, cmd: &Command) -> bool {
        match *cmd {
            Command::AddDest(s, d) | Command::EditDest(s, d) => {
                self.set(s, SocketAddr::new(d.addr, d.port), Some(d));
            }
            Command::DeleteDest(s, addr, port) => self.set(s, SocketAddr::new(addr, port), None),
            _ => return false,
        }
        true
    }

    /// The rules with the overlay applied: after them, for each entry of a service the rules
    /// define, the command that makes the dest what the overlay wants. The rules are replayed
    /// on a scratch table to see what they hold; an overlay command that table refuses is
    /// left out with a warning, so a health entry can never block a reload.
    pub(crate) fn apply(&self, rules: &[Command]) -> Vec<Command> {
        let mut table = ServiceTable::new(SchedConfig::default());
        for c in rules {
            // Checked before they got here (a reload, the control socket).
            let _ = table.apply(c);
        }
        let mut out = rules.to_vec();
        for e in &self.entries {
            let Some(svc) = table.service(&e.service) else {
                continue;
            };
            let present = svc
                .dests()
                .iter()
                .any(|d| d.addr == e.dest.ip() && d.port == e.dest.port());
            let cmd = match (e.want, present) {
                (Some(d), true) => Command::EditDest(e.service, d),
                (Some(d), false) => Command::AddDest(e.service, d),
                (None, true) => Command::DeleteDest(e.service, e.dest.ip(), e.dest.port()),
                (None, false) => continue,
            };
            match table.apply(&cmd) {
                Ok(()) => out.push(cmd),
                Err(err) => tracing::warn!(command = %cmd, "health: not applicable: {err}"),
            }
        }
        out
    }
}

/// The services a rule sequence leaves (for a warning at start).
fn services_after(rules: &[Command]) -> HashSet<ServiceKey> {
    let mut services = HashSet::new();
    for c in rules {
        match *c {
            Command::AddService(s, _) => {
                services.insert(s);
            }
            Command::DeleteService(s) => {
                services.remove(&s);
            }
            Command::Clear => services.clear(),
            _ => {}
        }
    }
    services
}

/// The checkers of a running router, before and after their thread starts.
pub(crate) struct Health {
    /// Taken by [`Health::run`].
    runner: Mutex<Option<HealthRunner>>,
    /// A configuration from a reload, for the checker thread.
    pending: Mutex<Option<Vec<VirtualServerHealth>>>,
    overlay: Arc<Mutex<Overlay>>,
    status: HealthStatus,
}

impl Health {
    /// The runner for the `[health]` sections, with the overlay of its initial actions (`None`
    /// without sections). Rules given to [`Health::effective`] from then on get the overlay.
    pub(crate) fn start(loaded: &Loaded) -> Result<Option<Self>, String> {
        let configs = loaded.router.health_checks()?;
        if configs.is_empty() {
            return Ok(None);
        }
        let services = services_after(&loaded.commands);
        for vs in configs.iter().filter(|v| !services.contains(&v.service)) {
            tracing::warn!(
                service = %vs.service,
                "[health]: the rules define no such service; its checks change nothing until one is added"
            );
        }
        let options = RunnerOptions {
            threads: loaded.router.health.threads.unwrap_or(4),
            ..RunnerOptions::default()
        };
        let mut overlay = Overlay::new(&configs);
        let mut runner = HealthRunner::new(configs, options).map_err(|e| e.to_string())?;
        // The initial actions (alive dests in, alpha ones out) are drained here, so the
        // workers start with them; no probe is due before BOOTSTRAP_DELAY.
        runner.turn(&mut |a| {
            if let HealthAction::Apply(cmd) = a {
                overlay.fold(&cmd);
            }
        });
        Ok(Some(Self {
            status: runner.status(),
            runner: Mutex::new(Some(runner)),
            pending: Mutex::new(None),
            overlay: Arc::new(Mutex::new(overlay)),
        }))
    }

    /// `loaded` with the overlay applied to its rules (what the workers start with).
    pub(crate) fn effective(&self, loaded: &Loaded) -> Loaded {
        Loaded {
            router: loaded.router.clone(),
            commands: lock(&self.overlay).apply(&loaded.commands),
        }
    }

    /// Makes every later [`Engine::replace`] apply the overlay.
    pub(crate) fn install(&self, engine: &Engine) {
        let overlay = Arc::clone(&self.overlay);
        engine.set_overlay(Arc::new(move |rules: &[Command]| {
            lock(&overlay).apply(rules)
        }));
    }

    /// Runs the checkers on this thread until `stop`: each command updates the overlay and
    /// re-applies the running rules with it; a dest that fails with `on_failure = "expire"`
    /// has its connections expired on every worker after it left the tables. A configuration
    /// handed over by [`Health::reconfigure`] is taken between two turns.
    pub(crate) fn run(&self, engine: &Engine, loaded: &Mutex<Loaded>, stop: &AtomicBool) {
        let Some(mut runner) = lock(&self.runner).take() else {
            return;
        };
        let overlay = Arc::clone(&self.overlay);
        let mut on_action = |action| match action {
            HealthAction::Apply(cmd) => {
                tracing::info!(command = %cmd, "health");
                lock(&overlay).fold(&cmd);
                // The rules lock orders this replace with reloads and control-socket changes.
                let rules = lock(loaded);
                if let Err(e) = engine.replace(&rules) {
                    tracing::error!(command = %cmd, "health: applying failed: {e}");
                }
            }
            HealthAction::Notify(event) => notified(engine, event),
        };
        while !stop.load(Ordering::Relaxed) {
            let pending = lock(&self.pending).take();
            if let Some(configs) = pending {
                // The new monitor's initial actions are the whole new state: fold them into
                // a fresh overlay and swap it in at once, so no rule set in between sees a
                // half-built one.
                let mut fresh = Overlay::new(&configs);
                let mut events = Vec::new();
                runner.reconfigure(configs);
                runner.turn(&mut |a| match a {
                    HealthAction::Apply(cmd) => {
                        fresh.fold(&cmd);
                    }
                    HealthAction::Notify(e) => events.push(e),
                });
                *lock(&overlay) = fresh;
                let rules = lock(loaded);
                match engine.replace(&rules) {
                    Ok(()) => tracing::info!("health: new configuration applied"),
                    Err(e) => tracing::error!("health: applying the new configuration: {e}"),
                }
                drop(rules);
                for e in events {
                    notified(engine, e);
                }
            }
            let wait = runner.turn(&mut on_action);
            runner.wait(wait);
        }
    }

    /// A reload with other `[health]` sections: the checker thread takes them between two
    /// turns; checkers that did not change keep their verdicts
    /// ([`lvs_core::health::HealthMonitor::reconfigured`]).
    pub(crate) fn reconfigure(&self, loaded: &Loaded) -> Result<(), String> {
        let configs = loaded.router.health_checks()?;
        *lock(&self.pending) = Some(configs);
        Ok(())
    }

    /// The `--health` listing as of the runner's last turn.
    pub(crate) fn listing(&self) -> String {
        self.status.listing()
    }

    /// The runner's view, for [`HealthMetrics`].
    pub(crate) fn status(&self) -> HealthStatus {
        self.status.clone()
    }
}

/// A metrics source with the health checkers' verdicts added (`lvs_dest_up`, one per checked
/// dest: up while all its checkers are): wrap `run`'s source in it when checks are configured.
pub(crate) struct HealthMetrics<S> {
    /// The director's counters.
    pub(crate) source: S,
    /// The checkers' state.
    pub(crate) status: HealthStatus,
}

impl<S: MetricsSource> MetricsSource for HealthMetrics<S> {
    fn snapshot(&self) -> DirectorSnapshot {
        self.source.snapshot()
    }

    fn health(&self) -> Vec<DestHealth> {
        DestHealth::from_rows(&self.status.rows())
    }

    fn workers(&self) -> Vec<lvs_net::worker::CountersSnapshot> {
        self.source.workers()
    }
}

/// Logs a health event; a server down with `on_failure = "expire"` has its connections
/// expired on every worker.
fn notified(engine: &Engine, event: HealthEvent) {
    tracing::info!(?event, "health");
    if let HealthEvent::Down {
        service,
        dest,
        conns: FailedConnPolicy::ExpireNow,
        ..
    } = event
    {
        let n: usize = engine
            .each_director(move |d| d.expire_dest_conns(&service, dest.ip(), dest.port(), now()))
            .into_iter()
            .sum();
        tracing::info!(%service, %dest, expired = n, "health: connections expired");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::health::{CheckKind, CheckerConfig, RealServerHealth, VirtualServerHealth};
    use lvs_core::ipvsadm::parse_line;

    fn rules(text: &str) -> Vec<Command> {
        text.lines().map(|l| parse_line(l).unwrap()).collect()
    }

    fn dest(words: &str) -> DestConfig {
        match parse_line(&format!("-a -t 192.0.2.1:80 {words}")).unwrap() {
            Command::AddDest(_, d) => d,
            other => panic!("{other:?}"),
        }
    }

    fn key() -> ServiceKey {
        match parse_line("-A -t 192.0.2.1:80").unwrap() {
            Command::AddService(k, _) => k,
            other => panic!("{other:?}"),
        }
    }

    fn shown(cmds: &[Command]) -> Vec<String> {
        cmds.iter().map(ToString::to_string).collect()
    }

    const RULES: &str = "-A -t 192.0.2.1:80 -s rr\n\
                         -a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1\n\
                         -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 1";

    fn overlay() -> Overlay {
        let rs = |w: &str| RealServerHealth::new(dest(w), vec![CheckerConfig::new(CheckKind::Tcp)]);
        Overlay::new(&[VirtualServerHealth::new(
            key(),
            vec![rs("-r 10.0.0.1:80 -m -w 2"), rs("-r 10.0.0.3:80 -m")],
        )])
    }

    #[test]
    fn unchecked_dests_stay_and_checked_ones_follow_the_overlay() {
        let mut o = overlay();
        // Before any action every checked dest is out: 10.0.0.1 deleted, 10.0.0.3 not added.
        let out = o.apply(&rules(RULES));
        assert_eq!(shown(&out[3..]), ["-d -t 192.0.2.1:80 -r 10.0.0.1:80"]);
        assert!(o.fold(&Command::AddDest(key(), dest("-r 10.0.0.1:80 -m -w 2"))));
        assert!(o.fold(&Command::AddDest(key(), dest("-r 10.0.0.3:80 -m -w 1"))));
        let out = o.apply(&rules(RULES));
        assert_eq!(
            shown(&out[3..]),
            [
                "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 2",
                "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m -w 1"
            ]
        );
        // 10.0.0.3 fails; a later rule set (a reload) still leaves it out.
        o.fold(&Command::DeleteDest(key(), "10.0.0.3".parse().unwrap(), 80));
        let out = o.apply(&rules(RULES));
        assert_eq!(
            shown(&out[3..]),
            ["-e -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 2"]
        );
        // Inhibited: weight 0, kept in the table.
        o.fold(&Command::EditDest(key(), dest("-r 10.0.0.3:80 -m -w 0")));
        let out = o.apply(&rules(RULES));
        assert_eq!(
            shown(&out[4..]),
            ["-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m -w 0"]
        );
        // And every effective set applies to a real table.
        let mut t = lvs_core::service::ServiceTable::new(Default::default());
        for c in &out {
            t.apply(c).unwrap();
        }
        assert_eq!(t.service(&key()).unwrap().dests().len(), 3);
    }

    #[test]
    fn a_command_the_table_refuses_is_left_out() {
        let mut o = overlay();
        // An IPv6 masquerading dest in an IPv4 service: the kernel refuses it (EAFNOSUPPORT).
        let v6 = DestConfig {
            addr: "2001:db8::3".parse().unwrap(),
            ..dest("-r 10.0.0.3:80 -m")
        };
        o.fold(&Command::AddDest(key(), v6));
        let out = o.apply(&rules(RULES));
        assert_eq!(shown(&out[3..]), ["-d -t 192.0.2.1:80 -r 10.0.0.1:80"]);
    }

    #[test]
    fn services_the_rules_lack_are_left_alone() {
        let mut o = overlay();
        o.fold(&Command::AddDest(key(), dest("-r 10.0.0.3:80 -m -w 1")));
        let deleted = format!("{RULES}\n-D -t 192.0.2.1:80");
        assert_eq!(o.apply(&rules(&deleted)).len(), 4);
        assert_eq!(o.apply(&rules("-C")).len(), 1);
        assert!(o.apply(&[]).is_empty());
    }

    /// The core's monitor in virtual time, its commands folded into the overlay: every probe
    /// fails, quorum is lost and the sorry server is all the effective rules keep.
    #[test]
    fn quorum_loss_leaves_only_the_sorry_server() {
        use lvs_core::health::{CheckOutcome, HealthMonitor, SorryServer};
        use lvs_core::time::Instant;
        let mut timing = CheckerConfig::new(CheckKind::Tcp);
        timing.timing.retry = 0;
        let rs = |w: &str| RealServerHealth::new(dest(w), vec![timing.clone()]);
        let mut vs = VirtualServerHealth::new(
            key(),
            vec![rs("-r 10.0.0.1:80 -m -w 1"), rs("-r 10.0.0.2:80 -m -w 1")],
        );
        vs.quorum = 2;
        vs.sorry_server = Some(SorryServer {
            dest: dest("-r 10.0.0.99:80 -m -w 1"),
            inhibit: false,
        });
        let configs = vec![vs];
        let mut o = Overlay::new(&configs);
        let mut m = HealthMonitor::new(configs, 1, Instant::ZERO);
        let drain = |m: &mut HealthMonitor, o: &mut Overlay| {
            while let Some(a) = m.poll_action() {
                if let HealthAction::Apply(c) = a {
                    assert!(o.fold(&c));
                }
            }
        };
        drain(&mut m, &mut o);
        let dests = |o: &Overlay| {
            let mut t = lvs_core::service::ServiceTable::new(Default::default());
            for c in o.apply(&rules(RULES)) {
                t.apply(&c).unwrap();
            }
            let mut v: Vec<String> = t
                .service(&key())
                .unwrap()
                .dests()
                .iter()
                .map(|d| d.addr.to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(dests(&o), ["10.0.0.1", "10.0.0.2"]);
        let mut now = Instant::ZERO;
        for _ in 0..400 {
            now = now + core::time::Duration::from_millis(500);
            for req in m.poll_checks(now) {
                let reason = "refused".to_owned();
                m.handle_result(now, req.token, CheckOutcome::Down { reason });
            }
            drain(&mut m, &mut o);
        }
        assert_eq!(dests(&o), ["10.0.0.99"]);
    }

    /// A scrape through [`HealthMetrics`] has `lvs_dest_up` from the runner's last turn.
    #[test]
    fn metrics_carry_the_checkers_verdicts() {
        use lvs_core::director::{Director, DirectorConfig};
        let rs = RealServerHealth::new(
            dest("-r 10.0.0.1:80 -m"),
            vec![CheckerConfig::new(CheckKind::Tcp)],
        );
        let mut runner = HealthRunner::new(
            vec![VirtualServerHealth::new(key(), vec![rs])],
            RunnerOptions::default(),
        )
        .unwrap();
        let metrics = HealthMetrics {
            source: Mutex::new(Director::new(DirectorConfig::default())),
            status: runner.status(),
        };
        assert!(metrics.health().is_empty(), "nothing before the first turn");
        runner.turn(&mut |_| {});
        let h = metrics.health();
        assert_eq!(h.len(), 1);
        assert!(h[0].up, "a checker starts up (no alpha)");
        let text = lvs_net::metrics::render(&metrics.snapshot(), &h);
        assert!(text.contains("lvs_dest_up{service=\"tcp/192.0.2.1:80\",dest=\"10.0.0.1:80\"} 1"));
    }
}
