//! A fixed set of probe threads: blocking probes, bounded concurrency, off the packet path.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lvs_core::health::{CheckOutcome, CheckRequest, CheckToken};

use super::HealthError;

/// What runs one probe; [`super::run_probe`] in production, a stub in tests.
pub type Prober = Arc<dyn Fn(&CheckRequest) -> CheckOutcome + Send + Sync>;

/// `threads` workers taking probes from one queue and sending results back.
///
/// The queue is unbounded on paper but bounded in fact: the monitor has at most one probe in
/// flight per checker.
pub struct ProbePool {
    jobs: Option<Sender<CheckRequest>>,
    results: Receiver<(CheckToken, CheckOutcome)>,
    workers: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for ProbePool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProbePool")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl ProbePool {
    /// Starts `threads` (at least one) workers running the real probes.
    pub fn new(threads: usize) -> Result<Self, HealthError> {
        Self::with_prober(threads, Arc::new(super::run_probe))
    }

    /// Starts `threads` workers running `prober`.
    pub fn with_prober(threads: usize, prober: Prober) -> Result<Self, HealthError> {
        let (jobs, job_rx) = mpsc::channel::<CheckRequest>();
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut workers = Vec::new();
        for index in 0..threads.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let result_tx = result_tx.clone();
            let prober = Arc::clone(&prober);
            let worker = std::thread::Builder::new()
                .name(format!("lvs-health-{index}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for a job, never during a probe.
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(req) = job else { return };
                        // A panicking prober must still answer, or its checker would wait forever.
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prober(&req)))
                                .unwrap_or_else(|_| CheckOutcome::Down {
                                    reason: format!(
                                        "{} probe of {} panicked",
                                        req.kind.name(),
                                        req.target
                                    ),
                                });
                        if result_tx.send((req.token, outcome)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|source| HealthError::SpawnWorker { index, source })?;
            workers.push(worker);
        }
        Ok(Self {
            jobs: Some(jobs),
            results,
            workers,
        })
    }

    /// Queues a probe.
    pub fn submit(&self, req: CheckRequest) {
        if let Some(jobs) = &self.jobs {
            // Workers only stop when the pool is dropped, so a send cannot fail before that.
            let _ = jobs.send(req);
        }
    }

    /// A finished probe, if one is ready.
    pub fn try_result(&self) -> Option<(CheckToken, CheckOutcome)> {
        self.results.try_recv().ok()
    }

    /// Waits up to `wait` for a finished probe.
    pub fn wait_result(&self, wait: Duration) -> Option<(CheckToken, CheckOutcome)> {
        match self.results.recv_timeout(wait) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                // Every worker is gone (only a panicking prober does that): wait anyway, so the
                // caller's loop does not spin.
                std::thread::sleep(wait);
                None
            }
        }
    }
}

impl Drop for ProbePool {
    /// Closes the queue and waits for the workers: each finishes within its probe's timeout.
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
