//! The runner: the core's [`HealthMonitor`] on a real clock, probes on a [`ProbePool`], actions
//! handed to the router.
//!
//! Wiring with one director (the services exist before the runner starts; the health-managed
//! dests are added by the runner's first actions, not by the router; `lvs-router run` instead
//! folds the commands into an overlay over its rules, see lvs-router/src/health.rs):
//!
//! ```text
//! let runner = HealthRunner::new(health_file.to_core()?, RunnerOptions::default())?;
//! let director = Arc::clone(&director); // Arc<Mutex<Director>>
//! let handle = runner.spawn(move |cmd| {
//!     let now = clock.now(); // the data plane's lvs_core::time::Instant
//!     if let Err(err) = director.lock().unwrap().apply(&cmd, now) {
//!         tracing::warn!("health: {cmd:?}: {err}");
//!     }
//! })?;
//! // `adm -L --health`:
//! print!("{}", handle.listing());
//! ```

use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lvs_core::health::{HealthAction, HealthEvent, HealthMonitor, HealthRow, VirtualServerHealth};
use lvs_core::ipvsadm::Command;
use lvs_core::time::Instant;

use super::pool::Prober;
use super::{HealthError, ProbePool};

/// The longest the run loop sleeps, so that a stop request is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// How a runner is set up.
#[derive(Clone, Copy, Debug)]
pub struct RunnerOptions {
    /// Probe threads: the most probes that run at once (default 4).
    pub threads: usize,
    /// Seed of the warmup randomness.
    pub seed: u64,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self { threads: 4, seed }
    }
}

/// Drives a [`HealthMonitor`] with a monotonic clock.
#[derive(Debug)]
pub struct HealthRunner {
    monitor: HealthMonitor,
    pool: ProbePool,
    epoch: std::time::Instant,
    children: Vec<Child>,
    status: HealthStatus,
    seed: u64,
}

/// The runner's view as of its last turn, readable from other threads (a control socket's
/// `--health` listing, a metrics scrape) while the runner owns the monitor.
#[derive(Clone, Debug, Default)]
pub struct HealthStatus(Arc<Mutex<StatusInner>>);

#[derive(Debug, Default)]
struct StatusInner {
    listing: String,
    rows: Vec<HealthRow>,
}

impl HealthStatus {
    /// The `--health` listing text.
    pub fn listing(&self) -> String {
        self.0.lock().map(|s| s.listing.clone()).unwrap_or_default()
    }

    /// The listing's rows (one per checker).
    pub fn rows(&self) -> Vec<HealthRow> {
        self.0.lock().map(|s| s.rows.clone()).unwrap_or_default()
    }

    fn set(&self, monitor: &HealthMonitor, now: Instant) {
        if let Ok(mut s) = self.0.lock() {
            s.listing = monitor.listing(now);
            s.rows = monitor.rows(now);
        }
    }
}

impl HealthRunner {
    /// A runner with the real probes. Its clock starts now.
    pub fn new(
        configs: Vec<VirtualServerHealth>,
        options: RunnerOptions,
    ) -> Result<Self, HealthError> {
        Ok(Self::with_pool(
            configs,
            options,
            ProbePool::new(options.threads)?,
        ))
    }

    /// A runner with another prober (tests, or a caller with its own probes).
    pub fn with_prober(
        configs: Vec<VirtualServerHealth>,
        options: RunnerOptions,
        prober: Prober,
    ) -> Result<Self, HealthError> {
        Ok(Self::with_pool(
            configs,
            options,
            ProbePool::with_prober(options.threads, prober)?,
        ))
    }

    fn with_pool(
        configs: Vec<VirtualServerHealth>,
        options: RunnerOptions,
        pool: ProbePool,
    ) -> Self {
        let mut monitor = HealthMonitor::new(configs, options.seed, Instant::ZERO);
        // The pool answers every probe (a panic is a failure), each within its timeout once a
        // thread takes it: time spent queued behind slow probes is not a dead server.
        monitor.set_lost_results_fail(false);
        Self {
            monitor,
            pool,
            epoch: std::time::Instant::now(),
            children: Vec::new(),
            status: HealthStatus::default(),
            seed: options.seed,
        }
    }

    /// The monitor's clock: time since the runner was created.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The state machine, e.g. for [`HealthMonitor::rows`].
    pub fn monitor(&self) -> &HealthMonitor {
        &self.monitor
    }

    /// The `--health` listing as of now.
    pub fn listing(&self) -> String {
        self.monitor.listing(self.now())
    }

    /// A handle on the listing and rows as of each turn, for other threads.
    pub fn status(&self) -> HealthStatus {
        self.status.clone()
    }

    /// Takes a new configuration (a reload) with [`HealthMonitor::reconfigured`]: unchanged
    /// checkers keep their verdicts. Drain the new monitor's initial actions with the next
    /// [`turn`](Self::turn): they describe the whole new state (every alive dest added, the
    /// sorry server without quorum).
    pub fn reconfigure(&mut self, configs: Vec<VirtualServerHealth>) {
        let now = self.now();
        self.seed = self.seed.wrapping_add(1);
        self.monitor = self.monitor.reconfigured(configs, self.seed, now);
    }

    /// Waits at most `max` for a probe to finish and feeds its result (call between turns).
    pub fn wait(&mut self, max: Duration) {
        if let Some((token, outcome)) = self.pool.wait_result(max) {
            let now = self.now();
            self.monitor.handle_result(now, token, outcome);
        }
    }

    /// One turn without blocking: feeds finished probes, starts due ones, runs notify programs
    /// and hands every action to `on_action`. Returns how long the caller may wait before the
    /// next turn (a finished probe is a reason to come back earlier).
    pub fn turn(&mut self, on_action: &mut dyn FnMut(HealthAction)) -> Duration {
        while let Some((token, outcome)) = self.pool.try_result() {
            let now = self.now();
            self.monitor.handle_result(now, token, outcome);
        }
        let now = self.now();
        for req in self.monitor.poll_checks(now) {
            self.pool.submit(req);
        }
        while let Some(action) = self.monitor.poll_action() {
            if let HealthAction::Notify(event) = &action {
                self.notify(event);
            }
            on_action(action);
        }
        self.children
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
        self.status.set(&self.monitor, now);
        self.monitor
            .poll_timeout()
            .map_or(MAX_WAIT, |t| t.saturating_duration_since(self.now()))
            .min(MAX_WAIT)
    }

    /// Runs until `stop` is set, handing each control-plane command to `on_command` (the router
    /// applies it to its Director) and logging events; notify programs are run.
    pub fn run(&mut self, stop: &AtomicBool, mut on_command: impl FnMut(Command)) {
        self.run_actions(stop, |a| match a {
            HealthAction::Apply(cmd) => on_command(cmd),
            HealthAction::Notify(e) => tracing::info!(event = ?e, "health"),
        });
    }

    /// Runs until `stop` is set, handing every action to `on_action`: commands and events
    /// (a router that honours [`FailedConnPolicy`](lvs_core::health::FailedConnPolicy) reads
    /// it from `HealthEvent::Down`). Notify programs are run either way.
    pub fn run_actions(&mut self, stop: &AtomicBool, mut on_action: impl FnMut(HealthAction)) {
        while !stop.load(Ordering::Relaxed) {
            let wait = self.turn(&mut on_action);
            self.wait(wait);
        }
    }

    /// [`run`](Self::run) on its own thread; the handle stops it and reads the listing.
    pub fn spawn(
        self,
        mut on_command: impl FnMut(Command) + Send + 'static,
    ) -> Result<RunnerHandle, HealthError> {
        self.spawn_actions(move |a| match a {
            HealthAction::Apply(cmd) => on_command(cmd),
            HealthAction::Notify(e) => tracing::info!(event = ?e, "health"),
        })
    }

    /// [`run_actions`](Self::run_actions) on its own thread.
    pub fn spawn_actions(
        mut self,
        on_action: impl FnMut(HealthAction) + Send + 'static,
    ) -> Result<RunnerHandle, HealthError> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = self.status();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("lvs-health".into())
            .spawn(move || self.run_actions(&flag, on_action))
            .map_err(HealthError::SpawnRunner)?;
        Ok(RunnerHandle {
            stop,
            thread: Some(thread),
            status,
        })
    }

    /// keepalived `notify_exec`: the program runs by `sh -c` and is not waited for.
    fn notify(&mut self, event: &HealthEvent) {
        let program = match event {
            HealthEvent::Up { notify, .. }
            | HealthEvent::Down { notify, .. }
            | HealthEvent::QuorumUp { notify, .. }
            | HealthEvent::QuorumDown { notify, .. } => notify,
        };
        let Some(program) = program else { return };
        match Process::new("sh")
            .arg("-c")
            .arg(program)
            .stdin(Stdio::null())
            .spawn()
        {
            Ok(child) => self.children.push(child),
            Err(source) => {
                let err = HealthError::Notify {
                    program: program.clone(),
                    source,
                };
                tracing::warn!("{err}");
            }
        }
    }
}

/// A runner on its own thread.
#[derive(Debug)]
pub struct RunnerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    status: HealthStatus,
}

impl RunnerHandle {
    /// The `--health` listing as of the runner's last turn.
    pub fn listing(&self) -> String {
        self.status.listing()
    }

    /// The rows as of the runner's last turn.
    pub fn rows(&self) -> Vec<HealthRow> {
        self.status.rows()
    }

    /// Stops the runner and waits for it (at most one probe timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
