//! Services and their dests, as the kernel keeps them (`net/netfilter/ipvs/ip_vs_ctl.c`).
//!
//! [`ServiceTable::apply`] takes an [`ipvsadm::Command`](crate::ipvsadm::Command) and changes the
//! table with the kernel's semantics and error texts; a refused command leaves the table as it
//! was. [`ServiceTable::schedule`] picks the dest for a new connection as `ip_vs_schedule` and
//! `ip_vs_sched_persist` do, persistence templates included; [`ServiceTable::bind_conn`] and
//! [`ServiceTable::unbind_conn`] keep the dest counters and the overload flag.
//!
//! ```text
//!   ServiceTable
//!     services          in creation order; keyed by (protocol, VIP, port) or (fwmark, family)
//!       Service         config (scheduler, -p, -M, -o, -b, --pe) + its scheduler instance
//!         dests         SchedDest in kernel list order: index 0 = newest (added at the head)
//!         dest_info     forwarding method and tunnel settings, same order
//!     trash             deleted dests still referenced by connections (ip_vs_trash_get_dest)
//!     dest_loc          DestId -> (service, list index) or trash slot, rebuilt after every
//!                       command and trash pruning: bind, unbind and counter moves find
//!                       their dest without scanning
//!     templates         persistence templates (client network, VIP or fwmark, vport) -> dest
//! ```
//!
//! [`simulate`] drives a table from a script for `lvs-router simulate`.

mod ctl;
mod persist;
mod schedule;
pub mod simulate;
mod template_sync;

use std::net::IpAddr;

use crate::ipvsadm::{FwdMethod, ServiceConfig, ServiceKey, TunnelConfig};
use crate::sched::{DestId, SchedConfig, SchedDest, SchedError, Scheduler};

/// Up to this many services a lookup scans them (about 1 ns each) instead of hashing the key
/// (about 12 ns).
const SCAN_SERVICES: usize = 8;

/// Service positions by key. A fixed hash seed: keys come from the operator's rules, not
/// from packets, so there is nothing for a sender to collide.
type ServiceIndex = std::collections::HashMap<ServiceKey, u32, foldhash::fast::FixedState>;

pub use persist::TemplateId;
pub use schedule::{NewConn, Scheduled};
pub use template_sync::TemplateSync;

/// Why the kernel refuses a command; Display is what ipvsadm prints (`ipvs_strerror`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// `-A` of an existing service (EEXIST).
    #[error("Service already exists")]
    ServiceExists,
    /// `-E`/`-D` of a missing service (ESRCH).
    #[error("No such service")]
    NoSuchService,
    /// `-a`/`-e`/`-d` on a missing service (ESRCH; ipvsadm words it differently).
    #[error("Service not defined")]
    ServiceNotDefined,
    /// Unknown `-s` or `--pe` (ENOENT).
    #[error("Scheduler or persistence engine not found")]
    SchedulerNotFound,
    /// `-a` of a dest the service already has (EEXIST).
    #[error("Destination already exists")]
    DestExists,
    /// `-e`/`-d` of a dest the service lacks (ENOENT).
    #[error("No such destination")]
    NoSuchDest,
    /// `-y` above `-x` (ERANGE, printed with `strerror`).
    #[error("Numerical result out of range")]
    OutOfRange,
    /// EINVAL: a dest address that is not unicast, a GUE dest without port, an IPv6 prefix
    /// outside 1..=128.
    #[error("Invalid operation.  Possibly wrong module version, address not unicast, ...")]
    InvalidOperation,
    /// The table's scheduler configuration (table sizes) is invalid.
    #[error("scheduler configuration: {0}")]
    SchedConfig(SchedError),
}

/// Forwarding and tunnel settings of a dest (what [`SchedDest`] does not carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestInfo {
    /// `-g`, `-i`, `-m`.
    pub fwd: FwdMethod,
    /// `--tun-*`.
    pub tunnel: TunnelConfig,
}

/// One virtual service.
#[derive(Debug)]
pub struct Service {
    key: ServiceKey,
    config: ServiceConfig,
    /// `None` for the kernel's `none` scheduler: no dest is ever picked.
    scheduler: Option<Box<dyn Scheduler>>,
    dests: Vec<SchedDest>,
    dest_info: Vec<DestInfo>,
}

impl Service {
    /// The service's key.
    pub fn key(&self) -> &ServiceKey {
        &self.key
    }

    /// The service's settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The dests in kernel list order (index 0 = most recently added).
    pub fn dests(&self) -> &[SchedDest] {
        &self.dests
    }

    /// Forwarding settings of the dest at `index` of [`dests`](Self::dests).
    pub fn dest_info(&self, index: usize) -> Option<&DestInfo> {
        self.dest_info.get(index)
    }

    /// The bound scheduler, `None` for `none`.
    pub fn scheduler(&self) -> Option<&dyn Scheduler> {
        self.scheduler.as_deref()
    }

    fn find_dest(&self, addr: IpAddr, port: u16) -> Option<usize> {
        // ip_vs_lookup_dest: family, address and port.
        self.dests
            .iter()
            .position(|d| d.addr == addr && d.port == port)
    }
}

/// A deleted dest kept for the connections that still point at it (the kernel's dest trash):
/// re-adding it to the same service brings back its counters.
#[derive(Debug)]
struct TrashedDest {
    service: ServiceKey,
    dest: SchedDest,
}

/// Where the dest with a given id lives: the per-packet paths (bind, unbind, counter moves,
/// template checks) find it here instead of scanning every service's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DestLoc {
    /// No dest has this id any more.
    Gone,
    /// `services[svc].dests[idx]`.
    Live { svc: u32, idx: u32 },
    /// `trash[idx]`.
    Trash(u32),
}

/// The director's services.
#[derive(Debug)]
pub struct ServiceTable {
    services: Vec<Service>,
    /// Index into `services` by key: a new connection's service lookup costs the same
    /// however many services there are. Kept by the control plane (`ctl`), the only place
    /// that adds or removes services.
    by_key: ServiceIndex,
    trash: Vec<TrashedDest>,
    /// [`DestLoc`] by [`DestId`] (ids are handed out densely from `next_dest_id`); rebuilt by
    /// [`reindex`](Self::reindex) after every change to the lists' shape, which only the
    /// control plane and trash pruning make.
    dest_loc: Vec<DestLoc>,
    templates: persist::Templates,
    next_dest_id: u32,
    sched_config: SchedConfig,
    expire_quiescent_template: bool,
}

impl Default for ServiceTable {
    fn default() -> Self {
        Self::new(SchedConfig::default())
    }
}

impl ServiceTable {
    /// An empty table; `sched_config` gives the table sizes and seed every scheduler is built
    /// with (its `flags` are replaced by each service's `-b`).
    pub fn new(sched_config: SchedConfig) -> Self {
        Self {
            services: Vec::new(),
            by_key: ServiceIndex::default(),
            trash: Vec::new(),
            dest_loc: Vec::new(),
            templates: persist::Templates::default(),
            next_dest_id: 0,
            sched_config,
            expire_quiescent_template: false,
        }
    }

    /// The sysctl `expire_quiescent_template` (default off): when on, a persistence template
    /// whose dest has weight 0 is dropped at its next use instead of pinning the client to it.
    pub fn set_expire_quiescent_template(&mut self, on: bool) {
        self.expire_quiescent_template = on;
    }

    /// The services in creation order.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.iter()
    }

    /// The service with this key.
    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.service_index(key).map(|i| &self.services[i])
    }

    /// A dest's counters and overload flag, for what-if tools (`simulate`'s `assume`). Change
    /// only those: weight and thresholds go through `-e` so the scheduler hears about them.
    pub fn dest_mut(
        &mut self,
        key: &ServiceKey,
        addr: IpAddr,
        port: u16,
    ) -> Result<&mut SchedDest, ServiceError> {
        let svc = self.service_index(key).ok_or(ServiceError::NoSuchService)?;
        let svc = &mut self.services[svc];
        let i = svc.find_dest(addr, port).ok_or(ServiceError::NoSuchDest)?;
        Ok(&mut svc.dests[i])
    }

    /// The position of the service with this key: a scan of a few services (cheaper than
    /// hashing the key), the index beyond (`benches/sched.rs`, `service_lookup`: a hit costs
    /// 12 ns at 1, 1000 or 10000 services, where a scan took 0.9 us at 1000).
    #[inline]
    fn service_index(&self, key: &ServiceKey) -> Option<usize> {
        if self.services.len() <= SCAN_SERVICES {
            return self.services.iter().position(|s| s.key == *key);
        }
        let i = self.by_key.get(key).map(|&i| i as usize);
        debug_assert_eq!(
            i,
            self.services.iter().position(|s| s.key == *key),
            "service index out of date"
        );
        i
    }

    /// Rebuilds [`by_key`](Self::by_key) after services were removed (their positions moved).
    fn reindex_services(&mut self) {
        self.by_key.clear();
        for (i, s) in self.services.iter().enumerate() {
            self.by_key.insert(s.key, i as u32);
        }
    }

    /// Rebuilds [`dest_loc`](Self::dest_loc) from the lists. Call after anything that adds,
    /// removes or moves a dest, service or trash entry.
    fn reindex(&mut self) {
        self.dest_loc.clear();
        let put = |loc: &mut Vec<DestLoc>, id: DestId, at: DestLoc| {
            let i = id.0 as usize;
            if loc.len() <= i {
                loc.resize(i + 1, DestLoc::Gone);
            }
            loc[i] = at;
        };
        for (svc, s) in self.services.iter().enumerate() {
            for (idx, d) in s.dests.iter().enumerate() {
                let at = DestLoc::Live {
                    svc: svc as u32,
                    idx: idx as u32,
                };
                put(&mut self.dest_loc, d.id, at);
            }
        }
        for (idx, t) in self.trash.iter().enumerate() {
            put(&mut self.dest_loc, t.dest.id, DestLoc::Trash(idx as u32));
        }
    }

    /// The dest with this id, in a service (available) or in the trash.
    fn dest_by_id_mut(&mut self, id: DestId) -> Option<(&mut SchedDest, bool)> {
        let (d, live) = match *self.dest_loc.get(id.0 as usize)? {
            DestLoc::Gone => return None,
            DestLoc::Live { svc, idx } => (
                self.services
                    .get_mut(svc as usize)?
                    .dests
                    .get_mut(idx as usize)?,
                true,
            ),
            DestLoc::Trash(idx) => (&mut self.trash.get_mut(idx as usize)?.dest, false),
        };
        debug_assert_eq!(d.id, id, "dest index out of date");
        Some((d, live))
    }

    fn dest_by_id(&self, id: DestId) -> Option<(&SchedDest, bool)> {
        let (d, live) = match *self.dest_loc.get(id.0 as usize)? {
            DestLoc::Gone => return None,
            DestLoc::Live { svc, idx } => (
                self.services.get(svc as usize)?.dests.get(idx as usize)?,
                true,
            ),
            DestLoc::Trash(idx) => (&self.trash.get(idx as usize)?.dest, false),
        };
        debug_assert_eq!(d.id, id, "dest index out of date");
        Some((d, live))
    }

    /// Forget trashed dests nothing refers to any more.
    fn prune_trash(&mut self) {
        if self.trash.is_empty() {
            return;
        }
        let before = self.trash.len();
        self.trash
            .retain(|t| t.dest.active_conns + t.dest.inactive_conns + t.dest.persist_conns > 0);
        if self.trash.len() != before {
            self.reindex();
        }
    }
}
