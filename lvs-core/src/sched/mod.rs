//! The 14 kernel IPVS schedulers behind one trait.
//!
//! Each algorithm lives in its own file and mirrors the kernel's `ip_vs_<name>.c` pick for pick,
//! including the parts where the kernel differs from the textbook algorithm: dests are scanned in
//! list order with the NEWEST dest first (the kernel adds at the list head), ties keep the earlier
//! dest, and load comparisons are cross-multiplied integers.
//!
//! # How the service table drives a scheduler
//!
//! ```text
//!   new_scheduler(name, &config)        ip_vs_bind_scheduler: the scheduler is created ...
//!   sched.init_service(&dests)          ... and init_service() sees the current list
//!                                       (empty for `-A`, the existing dests for `-E -s`)
//!   sched.update(&dests, change)        after every dest add (`-a`), edit (`-e`), delete (`-d`)
//!   sched.schedule(&dests, &flow, now)  for every new connection (no persistence template hit)
//!   sched.handle_timeout(now)           when poll_timeout() is due (lblc/lblcr cache expiry)
//! ```
//!
//! The scheduler never owns the dests: the service table does, and passes the same list (in
//! kernel order) to every call. Connection counters and the overload flag live in [`SchedDest`]
//! and follow `ip_vs_bind_dest` / `ip_vs_unbind_dest` (see [`SchedDest::bind_conn`]).
//!
//! # Contract details for the service table
//!
//! - Keep `dests` in kernel order: a new dest goes to index 0 (`list_add_rcu`), a deletion
//!   keeps the others' order. Call [`Scheduler::update`] after every change, before the next
//!   `schedule`; sh/dh/mh tables hold list indices that are only valid until the next change.
//! - Counters (`bind_conn`, `unbind_conn`, `conn_state_changed`) and the overload flag may
//!   change between calls without telling the scheduler, as in the kernel.
//! - A re-added `addr:port` that the kernel would revive from its dest trash should get its old
//!   [`DestId`] back; lblc/lblcr caches then find it again as the kernel does.
//! - [`SchedFlow::cport`] is only hashed with the `sh-port`/`mh-port` flag, and the kernel reads
//!   a port only for TCP, UDP and SCTP: pass 0 for other protocols.
//! - lblc/lblcr: call [`Scheduler::handle_timeout`] when [`Scheduler::poll_timeout`] is due.
//!   The kernel arms that 60 s timer in `init_service`; without a clock there, the first
//!   `schedule` arms it.
//! - twos draws from a [`rand::rngs::StdRng`] seeded with [`SchedConfig::seed`]: same seed,
//!   same picks; the kernel's picks are random and cannot be matched one for one.

mod cache;
mod config;
mod dest;
mod hash;
mod table;

mod dh;
mod fo;
mod lblc;
mod lblcr;
mod lc;
mod mh;
mod nq;
mod ovf;
mod rr;
mod sed;
mod sh;
mod twos;
mod wlc;
mod wrr;

use core::fmt;
use core::net::IpAddr;

use crate::time::Instant;

pub use config::{MH_TABLE_SIZES, SchedConfig, SchedError, SchedFlags};
pub use dest::{ConnKind, DestId, SchedDest};

/// The scheduler's view of the packet that opens a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchedFlow {
    /// Client address (sh, mh hash it).
    pub caddr: IpAddr,
    /// Client port (sh, mh hash it with the `*-port` flag).
    pub cport: u16,
    /// The packet's destination address: the VIP, or for fwmark services whatever address the
    /// packet was sent to (dh, lblc, lblcr hash it).
    pub vaddr: IpAddr,
    /// The packet's destination port.
    pub vport: u16,
}

/// How the service's dest list changed; passed to [`Scheduler::update`] with the new list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DestChange {
    /// A dest was added; it is at index 0 of the new list (kernel `add_dest`).
    Added(DestId),
    /// A dest's weight or thresholds were edited in place (kernel `upd_dest`).
    Edited(DestId),
    /// A dest was deleted (kernel `del_dest`); `index` is where it was in the old list.
    Removed {
        /// The deleted dest.
        id: DestId,
        /// Its index in the list before the removal.
        index: usize,
    },
}

/// What a table rebuild (sh, dh, mh) changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RebuildStats {
    /// Slots in the table.
    pub slots: usize,
    /// Slots whose owner differs from before the rebuild.
    pub moved: usize,
}

/// One IPVS scheduler bound to one service (the kernel's `struct ip_vs_scheduler` ops plus the
/// per-service `sched_data`).
pub trait Scheduler: Send + fmt::Debug {
    /// The ipvsadm name (`rr`, `wlc`, ...).
    fn name(&self) -> &'static str;

    /// Bind to a service (`init_service`). Call once right after [`new_scheduler`] with the
    /// service's current list: empty for a new service (`-A`), the existing dests when `-E -s`
    /// switches an existing service to this scheduler. Calling it again re-initialises the state.
    fn init_service(&mut self, dests: &[SchedDest]) {
        let _ = dests;
    }

    /// Call after the service's dest list changed (`add_dest`, `upd_dest`, `del_dest`), with
    /// the new list. Table rebuilds (sh, dh, mh) happen here, off the per-packet path.
    fn update(&mut self, dests: &[SchedDest], change: DestChange);

    /// Pick a dest for a new connection: an index into `dests`, `None` when no dest is available
    /// (the kernel then logs "no destination available" and drops or bypasses the packet).
    fn schedule(&mut self, dests: &[SchedDest], flow: &SchedFlow, now: Instant) -> Option<usize>;

    /// Call when `ipvsadm -E` changes the service's `-b` flags without changing the scheduler
    /// (the kernel reads `svc->flags` at schedule time).
    fn set_flags(&mut self, flags: SchedFlags) {
        let _ = flags;
    }

    /// Run periodic work due at `now` (lblc/lblcr: the kernel's 60 s expiry timer). Call it when
    /// [`poll_timeout`](Self::poll_timeout) is reached; calling it early is harmless.
    fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// When [`handle_timeout`](Self::handle_timeout) next wants to run; `None` = never.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// What the last table rebuild changed (sh, dh, mh), `None` for schedulers without a table.
    fn last_rebuild(&self) -> Option<RebuildStats> {
        None
    }

    /// The current lookup table, slot by slot, as dest ids (sh, dh, mh); `None` for schedulers
    /// without one. It allocates: for diagnostics, `simulate` and tests, not the packet path.
    fn lookup_table(&self) -> Option<Vec<Option<DestId>>> {
        None
    }

    /// How many destination addresses the lblc/lblcr cache holds; `None` for other schedulers.
    fn cache_len(&self) -> Option<usize> {
        None
    }
}

/// The scheduler names the kernel ships, as ipvsadm's `-s` takes them.
pub const SCHEDULER_NAMES: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "sh", "dh", "lblc", "lblcr", "mh",
];

/// The scheduler ipvsadm uses when `-s` is not given (also on `-E` without `-s`).
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// Create the scheduler called `name` (ipvsadm's `-s`), in the state `init_service` leaves for
/// an empty service.
pub fn new_scheduler(name: &str, config: &SchedConfig) -> Result<Box<dyn Scheduler>, SchedError> {
    config.validate()?;
    let sched: Box<dyn Scheduler> = match name {
        "rr" => Box::new(rr::RoundRobin::default()),
        "wrr" => Box::new(wrr::WeightedRoundRobin::new()),
        "lc" => Box::new(lc::LeastConn),
        "wlc" => Box::new(wlc::WeightedLeastConn),
        "sed" => Box::new(sed::ShortestExpectedDelay),
        "nq" => Box::new(nq::NeverQueue),
        "fo" => Box::new(fo::WeightedFailover),
        "ovf" => Box::new(ovf::WeightedOverflow),
        "twos" => Box::new(twos::TwoChoices::new(config.seed)),
        "sh" => Box::new(sh::SourceHash::new(config.sh_table_bits, config.flags)),
        "dh" => Box::new(dh::DestinationHash::new(config.dh_table_bits)),
        "lblc" => Box::new(lblc::LocalityLeastConn::new(config.lblc_expiration)),
        "lblcr" => Box::new(lblcr::LocalityLeastConnReplicated::new(
            config.lblcr_expiration,
        )),
        "mh" => Box::new(mh::MaglevHash::new(config.mh_table_size, config.flags)),
        _ => return Err(SchedError::UnknownScheduler(name.to_owned())),
    };
    Ok(sched)
}
