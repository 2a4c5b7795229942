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
//!     templates         persistence templates (client network, VIP or fwmark, vport) -> dest
//! ```
//!
//! [`simulate`] drives a table from a script for `lvs-router simulate`.

mod persist;
mod schedule;
pub mod simulate;

use std::net::IpAddr;

use crate::ipvsadm::{
    Command, DestConfig, FwdMethod, Netmask, ServiceConfig, ServiceKey, TunnelConfig, TunnelType,
};
use crate::sched::{
    DestChange, DestId, SchedConfig, SchedDest, SchedError, Scheduler, new_scheduler,
};

pub use persist::TemplateId;
pub use schedule::{NewConn, Scheduled};

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

/// The director's services.
#[derive(Debug)]
pub struct ServiceTable {
    services: Vec<Service>,
    trash: Vec<TrashedDest>,
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
            trash: Vec::new(),
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
        self.services
            .iter()
            .position(|s| s.key == *key)
            .map(|i| &self.services[i])
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

    /// Applies one ipvsadm command with the kernel's semantics. On error nothing changed.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), ServiceError> {
        match cmd {
            Command::AddService(key, config) => self.add_service(key, config),
            Command::EditService(key, config) => self.edit_service(key, config),
            Command::DeleteService(key) => {
                let i = self.service_index(key).ok_or(ServiceError::NoSuchService)?;
                self.remove_service(i);
                Ok(())
            }
            Command::Clear => {
                while !self.services.is_empty() {
                    self.remove_service(0);
                }
                Ok(())
            }
            Command::AddDest(key, dest) => self.add_dest(key, dest),
            Command::EditDest(key, dest) => self.edit_dest(key, dest),
            Command::DeleteDest(key, addr, port) => self.delete_dest(key, *addr, *port),
        }
    }

    fn service_index(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| s.key == *key)
    }

    /// `ip_vs_scheduler_get` + `ip_vs_pe_getbyname` + the IPv6 prefix check of add/edit.
    fn check_service_config(&self, config: &ServiceConfig) -> Result<(), ServiceError> {
        if config.scheduler != "none"
            && !crate::sched::SCHEDULER_NAMES.contains(&config.scheduler.as_str())
        {
            return Err(ServiceError::SchedulerNotFound);
        }
        // The kernel ships one persistence engine.
        if config.pe.as_deref().is_some_and(|pe| pe != "sip") {
            return Err(ServiceError::SchedulerNotFound);
        }
        if let Netmask::V6(len) = config.netmask
            && !(1..=128).contains(&len)
        {
            return Err(ServiceError::InvalidOperation);
        }
        Ok(())
    }

    /// A scheduler bound to `dests` (`ip_vs_bind_scheduler` -> `init_service`).
    fn bind_scheduler(
        &self,
        config: &ServiceConfig,
        dests: &[SchedDest],
    ) -> Result<Option<Box<dyn Scheduler>>, ServiceError> {
        if config.scheduler == "none" {
            return Ok(None);
        }
        let sched_config = SchedConfig {
            flags: config.sched_flags,
            ..self.sched_config.clone()
        };
        let mut sched = new_scheduler(&config.scheduler, &sched_config).map_err(|e| match e {
            SchedError::UnknownScheduler(_) => ServiceError::SchedulerNotFound,
            other => ServiceError::SchedConfig(other),
        })?;
        sched.init_service(dests);
        Ok(Some(sched))
    }

    fn add_service(
        &mut self,
        key: &ServiceKey,
        config: &ServiceConfig,
    ) -> Result<(), ServiceError> {
        if self.service_index(key).is_some() {
            return Err(ServiceError::ServiceExists);
        }
        self.check_service_config(config)?;
        let scheduler = self.bind_scheduler(config, &[])?;
        self.services.push(Service {
            key: *key,
            config: config.clone(),
            scheduler,
            dests: Vec::new(),
            dest_info: Vec::new(),
        });
        Ok(())
    }

    /// `ip_vs_edit_service`: a different scheduler is bound afresh to the existing dests (its
    /// `init_service` sees the current list); the same scheduler keeps its state and only
    /// learns the new flags. Flags, timeout, netmask and pe are replaced.
    fn edit_service(
        &mut self,
        key: &ServiceKey,
        config: &ServiceConfig,
    ) -> Result<(), ServiceError> {
        let i = self.service_index(key).ok_or(ServiceError::NoSuchService)?;
        self.check_service_config(config)?;
        let same = self.services[i].config.scheduler == config.scheduler;
        let new_sched = if same {
            None
        } else {
            Some(self.bind_scheduler(config, &self.services[i].dests)?)
        };
        let svc = &mut self.services[i];
        match new_sched {
            Some(sched) => svc.scheduler = sched,
            None => {
                if let Some(s) = svc.scheduler.as_mut() {
                    s.set_flags(config.sched_flags);
                }
            }
        }
        svc.config = config.clone();
        Ok(())
    }

    fn remove_service(&mut self, i: usize) {
        let svc = self.services.remove(i);
        // __ip_vs_del_service: every dest goes to the trash, the scheduler is not told.
        for dest in svc.dests {
            self.trash_dest(svc.key, dest);
        }
    }

    fn trash_dest(&mut self, service: ServiceKey, dest: SchedDest) {
        // Only dests with connections or templates are still referenced; an idle one would
        // leave the kernel's trash unused.
        if dest.active_conns + dest.inactive_conns + dest.persist_conns > 0 {
            self.trash.push(TrashedDest { service, dest });
        }
    }

    /// The checks `ip_vs_add_dest` and `ip_vs_edit_dest` start with.
    fn check_dest_config(dest: &DestConfig) -> Result<(), ServiceError> {
        if dest.l_threshold > dest.u_threshold {
            return Err(ServiceError::OutOfRange);
        }
        if dest.tunnel.kind == TunnelType::Gue && dest.tunnel.port == 0 {
            return Err(ServiceError::InvalidOperation);
        }
        Ok(())
    }

    fn add_dest(&mut self, key: &ServiceKey, cfg: &DestConfig) -> Result<(), ServiceError> {
        let si = self
            .service_index(key)
            .ok_or(ServiceError::ServiceNotDefined)?;
        Self::check_dest_config(cfg)?;
        if self.services[si].find_dest(cfg.addr, cfg.port).is_some() {
            return Err(ServiceError::DestExists);
        }
        let trashed = self
            .trash
            .iter()
            .position(|t| t.service == *key && t.dest.addr == cfg.addr && t.dest.port == cfg.port);
        let mut dest = match trashed {
            Some(t) => self.trash.remove(t).dest,
            None => {
                if !is_unicast(cfg.addr) {
                    return Err(ServiceError::InvalidOperation);
                }
                let id = DestId(self.next_dest_id);
                self.next_dest_id = self.next_dest_id.wrapping_add(1);
                SchedDest::new(id, cfg.addr, cfg.port, 0)
            }
        };
        // __ip_vs_update_dest(add = 1): last_weight takes the new weight even when it is 0.
        dest.weight = cfg.weight as i32;
        dest.last_weight = cfg.weight as i32;
        dest.set_thresholds(cfg.u_threshold, cfg.l_threshold);
        let id = dest.id;
        let svc = &mut self.services[si];
        svc.dests.insert(0, dest);
        svc.dest_info.insert(
            0,
            DestInfo {
                fwd: cfg.fwd,
                tunnel: cfg.tunnel,
            },
        );
        if let Some(s) = svc.scheduler.as_mut() {
            s.update(&svc.dests, DestChange::Added(id));
        }
        Ok(())
    }

    fn edit_dest(&mut self, key: &ServiceKey, cfg: &DestConfig) -> Result<(), ServiceError> {
        let si = self
            .service_index(key)
            .ok_or(ServiceError::ServiceNotDefined)?;
        Self::check_dest_config(cfg)?;
        let svc = &mut self.services[si];
        let i = svc
            .find_dest(cfg.addr, cfg.port)
            .ok_or(ServiceError::NoSuchDest)?;
        let dest = &mut svc.dests[i];
        dest.set_weight(cfg.weight as i32);
        dest.set_thresholds(cfg.u_threshold, cfg.l_threshold);
        let id = dest.id;
        svc.dest_info[i] = DestInfo {
            fwd: cfg.fwd,
            tunnel: cfg.tunnel,
        };
        if let Some(s) = svc.scheduler.as_mut() {
            s.update(&svc.dests, DestChange::Edited(id));
        }
        Ok(())
    }

    fn delete_dest(
        &mut self,
        key: &ServiceKey,
        addr: IpAddr,
        port: u16,
    ) -> Result<(), ServiceError> {
        let si = self
            .service_index(key)
            .ok_or(ServiceError::ServiceNotDefined)?;
        let svc = &mut self.services[si];
        let index = svc.find_dest(addr, port).ok_or(ServiceError::NoSuchDest)?;
        let dest = svc.dests.remove(index);
        svc.dest_info.remove(index);
        if let Some(s) = svc.scheduler.as_mut() {
            s.update(&svc.dests, DestChange::Removed { id: dest.id, index });
        }
        self.trash_dest(*key, dest);
        Ok(())
    }

    /// The dest with this id, in a service (available) or in the trash.
    fn dest_by_id_mut(&mut self, id: DestId) -> Option<(&mut SchedDest, bool)> {
        for svc in &mut self.services {
            if let Some(d) = svc.dests.iter_mut().find(|d| d.id == id) {
                return Some((d, true));
            }
        }
        self.trash
            .iter_mut()
            .find(|t| t.dest.id == id)
            .map(|t| (&mut t.dest, false))
    }

    fn dest_by_id(&self, id: DestId) -> Option<(&SchedDest, bool)> {
        for svc in &self.services {
            if let Some(d) = svc.dests.iter().find(|d| d.id == id) {
                return Some((d, true));
            }
        }
        self.trash
            .iter()
            .find(|t| t.dest.id == id)
            .map(|t| (&t.dest, false))
    }

    /// Forget trashed dests nothing refers to any more.
    fn prune_trash(&mut self) {
        self.trash
            .retain(|t| t.dest.active_conns + t.dest.inactive_conns + t.dest.persist_conns > 0);
    }
}

/// `inet_addr_type` is `RTN_UNICAST`/`RTN_LOCAL`, or `ipv6_addr_type` unicast and not
/// link-local, as `ip_vs_new_dest` requires. Without a routing table a directed broadcast
/// address cannot be recognised; the rest can.
fn is_unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !(a.octets()[0] == 0 || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => {
            let link_local = a.segments()[0] & 0xffc0 == 0xfe80;
            !(a.is_unspecified() || a.is_multicast() || link_local || a.to_ipv4_mapped().is_some())
        }
    }
}
