//! The control plane: `ip_vs_add_service`, `ip_vs_edit_service`, `ip_vs_del_service`,
//! `ip_vs_flush`, `ip_vs_add_dest`, `ip_vs_edit_dest`, `ip_vs_del_dest`. Every check runs before
//! the first change, so a refused command leaves the table as it was.

use std::net::IpAddr;

use super::{DestInfo, Service, ServiceError, ServiceTable, TrashedDest};
use crate::ipvsadm::{
    AddressFamily, Command, DestConfig, FwdMethod, Netmask, ServiceConfig, ServiceKey, TunnelType,
};
use crate::sched::{
    DestChange, DestId, SchedConfig, SchedDest, SchedError, Scheduler, new_scheduler,
};

impl ServiceTable {
    /// Applies one ipvsadm command with the kernel's semantics. On error nothing changed.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), ServiceError> {
        let r = self.apply_inner(cmd);
        // A refused command changed nothing, but rebuilding is cheap and keeps it obviously right.
        self.reindex();
        r
    }

    fn apply_inner(&mut self, cmd: &Command) -> Result<(), ServiceError> {
        match cmd {
            Command::AddService(key, config) => self.add_service(key, config),
            Command::EditService(key, config) => self.edit_service(key, config),
            Command::DeleteService(key) => {
                let i = self.service_index(key).ok_or(ServiceError::NoSuchService)?;
                self.remove_service(i);
                self.reindex_services();
                Ok(())
            }
            Command::Clear => {
                while !self.services.is_empty() {
                    self.remove_service(0);
                }
                self.reindex_services();
                Ok(())
            }
            Command::AddDest(key, dest) => self.add_dest(key, dest),
            Command::EditDest(key, dest) => self.edit_dest(key, dest),
            Command::DeleteDest(key, addr, port) => self.delete_dest(key, *addr, *port),
        }
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
        self.by_key.insert(*key, self.services.len() as u32);
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

    /// The netlink handler's family check (a dest of the other family must tunnel), then the
    /// checks `ip_vs_add_dest` and `ip_vs_edit_dest` start with.
    fn check_dest_config(key: &ServiceKey, dest: &DestConfig) -> Result<(), ServiceError> {
        if AddressFamily::of(&dest.addr) != key.af() && dest.fwd != FwdMethod::Tunnel {
            return Err(ServiceError::InvalidOperation);
        }
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
        Self::check_dest_config(key, cfg)?;
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
        Self::check_dest_config(key, cfg)?;
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
