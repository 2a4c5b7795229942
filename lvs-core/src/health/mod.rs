//! Health checks: the keepalived-style checker state machine, in virtual time.
//!
//! The core decides *when* to probe and *what follows* from a result; `lvs-net` runs the probes.
//!
//! ```text
//!   config (VirtualServerHealth, RealServerHealth, CheckerConfig)
//!        |
//!   HealthMonitor::new(configs, seed, now)
//!        | poll_checks(now) -> CheckRequest     (kind + target + timeout)  --> lvs-net probes
//!        | handle_result(now, token, outcome)   <-- CheckOutcome
//!        | poll_timeout() -> next deadline
//!        v poll_action() -> HealthAction::Apply(ipvsadm Command) | HealthAction::Notify(event)
//! ```
//!
//! The semantics are keepalived 2.2's `check_*.c` epilogs and `ipwrapper.c`:
//!
//! * a checker starts *up* (or *down* with `alpha`); its first probe runs 1 s
//!   (`BOOTSTRAP_DELAY`) plus a random share of `warmup` (default `delay_loop`) after start;
//! * after a probe the next one runs `delay_loop` after the result, except that an *up* checker
//!   whose probe failed retries `retry` times, `delay_before_retry` apart, before it goes down:
//!   it is down after `retry + 1` consecutive failed attempts; a down checker comes back up on
//!   its first success;
//! * a real server is alive while all its checkers are up; a dead one is removed from the service
//!   (`DeleteDest`) or, with `inhibit_on_failure`, kept with weight 0 (`EditDest`);
//! * a virtual server has quorum while the sum of the alive real servers' weights is at least
//!   `quorum - hysteresis` (once lost: until it is back at `quorum + hysteresis`); without quorum
//!   the sorry server is added and the alive real servers are taken out; when quorum returns they
//!   are put back and the sorry server removed;
//! * `misc_dynamic`: a program's exit status 2..=255 is success with weight `status - 2`.
//!
//! The monitor owns the health-managed dests: the router adds the services, the monitor's
//! initial actions add the dests (alive ones with their weight, inhibited dead ones with 0).

mod checker;
mod config;
mod listing;
mod monitor;

use core::time::Duration;
use std::net::SocketAddr;

use crate::ipvsadm::ServiceKey;

pub use config::{
    CheckKind, CheckerConfig, Expect, FailedConnPolicy, HttpCheck, RealServerHealth, SorryServer,
    Timing, UrlCheck, VirtualServerHealth,
};
pub use listing::HealthRow;
pub use monitor::HealthMonitor;

/// keepalived's `BOOTSTRAP_DELAY`: every checker waits this long after start before its warmup.
pub const BOOTSTRAP_DELAY: Duration = Duration::from_secs(1);

/// Names one checker; `seq` tells one probe from the next so late results are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CheckToken {
    /// Index of the checker in the monitor.
    pub checker: u32,
    /// Probe sequence number.
    pub seq: u32,
}

/// A probe the IO layer must run and answer with [`HealthMonitor::handle_result`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    /// Give it back with the result.
    pub token: CheckToken,
    /// What to probe.
    pub kind: CheckKind,
    /// Where: `connect_ip`/`connect_port` or the real server.
    pub target: SocketAddr,
    /// Give up and report a failure after this long (`connect_timeout`).
    pub timeout: Duration,
}

/// A probe's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The server answered as expected; `weight` from `misc_dynamic`.
    Up {
        /// New weight (exit status - 2), if the checker sets one.
        weight: Option<u32>,
    },
    /// It did not; the reason is shown in the listing.
    Down {
        /// E.g. "connection refused", "status 500", "timeout".
        reason: String,
    },
}

/// A state change worth telling the operator or running a program for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// A real server became alive (`notify_up`).
    Up {
        /// Its service.
        service: ServiceKey,
        /// Its address and port.
        dest: SocketAddr,
        /// `notify_up` program.
        notify: Option<String>,
    },
    /// A real server died (`notify_down`).
    Down {
        /// Its service.
        service: ServiceKey,
        /// Its address and port.
        dest: SocketAddr,
        /// `notify_down` program.
        notify: Option<String>,
        /// What to do with its connections.
        conns: FailedConnPolicy,
    },
    /// A virtual server gained quorum (`quorum_up`).
    QuorumUp {
        /// The service.
        service: ServiceKey,
        /// `quorum_up` program.
        notify: Option<String>,
    },
    /// A virtual server lost quorum (`quorum_down`).
    QuorumDown {
        /// The service.
        service: ServiceKey,
        /// `quorum_down` program.
        notify: Option<String>,
    },
}

/// An output of the monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthAction {
    /// Apply this control-plane command to the director.
    Apply(crate::ipvsadm::Command),
    /// Report (and run the program of) this event.
    Notify(HealthEvent),
}
