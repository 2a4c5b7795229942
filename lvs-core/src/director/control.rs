//! The control plane: [`Director::apply`], [`Director::replace_config`], and the registry
//! that gives services and dests the dense ids connections store.

use std::net::IpAddr;

use super::event::Event;
use super::stats::{Estimator, Stats};
use super::{Director, Registry};
use crate::conn::{ConnId, ForwardMethod};
use crate::ipvsadm::{Command, FwdMethod, ServiceKey, TunnelConfig};
use crate::service::{ServiceError, ServiceTable};
use crate::time::Instant;
use crate::wire::MacAddr;

/// Per-service data of the director (the `ServiceTable` holds the rest).
#[derive(Debug)]
pub(super) struct SvcRt {
    pub(super) key: ServiceKey,
    pub(super) live: bool,
    /// Index into the FULLNAT pools.
    pub(super) fullnat: Option<usize>,
    pub(super) stats: Stats,
    pub(super) est: Estimator,
}

/// Per-dest data of the director, indexed by `DestId`.
#[derive(Debug)]
pub(super) struct DestRt {
    pub(super) svc: u32,
    pub(super) addr: IpAddr,
    pub(super) port: u16,
    pub(super) fwd: ForwardMethod,
    pub(super) tunnel: TunnelConfig,
    /// In a service (`IP_VS_DEST_F_AVAILABLE`); false once deleted (trash).
    pub(super) live: bool,
    pub(super) u_threshold: u32,
    /// Current weight (0 = quiesced).
    pub(super) weight: i32,
    /// The real server's MAC from the neighbour cache, refreshed when the cache learns.
    pub(super) mac: Option<MacAddr>,
    pub(super) stats: Stats,
    pub(super) est: Estimator,
}

impl Registry {
    /// Re-reads the service table after a change: services and dests get ids, dests that left
    /// every service are marked unavailable. Returns the dests that went unavailable.
    pub(super) fn sync(
        &mut self,
        table: &ServiceTable,
        fullnat: &[super::FullNatPool],
        neighbours: &super::neighbour::Neighbours,
    ) -> Vec<u32> {
        for s in &mut self.svcs {
            s.live = false;
        }
        let was_live: Vec<bool> = self
            .dests
            .iter()
            .map(|d| d.as_ref().is_some_and(|d| d.live))
            .collect();
        for d in self.dests.iter_mut().flatten() {
            d.live = false;
        }
        self.vips.clear();
        for svc in table.services() {
            let key = *svc.key();
            let sid = match self.by_key.get(&key) {
                Some(&i) => i,
                None => {
                    let i = self.svcs.len() as u32;
                    self.svcs.push(SvcRt {
                        key,
                        live: false,
                        fullnat: None,
                        stats: Stats::default(),
                        est: Estimator::default(),
                    });
                    self.by_key.insert(key, i);
                    i
                }
            };
            let rt = &mut self.svcs[sid as usize];
            if !rt.live && rt.stats != Stats::default() {
                // A re-created service starts with fresh counters, as a new ip_vs_service.
                rt.stats = Stats::default();
                rt.est = Estimator::default();
            }
            rt.live = true;
            rt.fullnat = fullnat.iter().position(|p| p.service == key);
            if let ServiceKey::Inet { addr, .. } = key {
                self.vips.insert(addr);
            }
            for (i, d) in svc.dests().iter().enumerate() {
                let Some(info) = svc.dest_info(i) else {
                    continue;
                };
                let fwd = match info.fwd {
                    FwdMethod::Masq if rt.fullnat.is_some() => ForwardMethod::FullNat,
                    FwdMethod::Masq => ForwardMethod::Nat,
                    FwdMethod::Tunnel => ForwardMethod::Tun,
                    _ => ForwardMethod::Dr,
                };
                let idx = d.id.0 as usize;
                if self.dests.len() <= idx {
                    self.dests.resize_with(idx + 1, || None);
                }
                let slot = &mut self.dests[idx];
                let (stats, est) = slot
                    .as_ref()
                    .map_or_else(Default::default, |o| (o.stats, o.est));
                *slot = Some(DestRt {
                    svc: sid,
                    addr: d.addr,
                    port: d.port,
                    fwd,
                    tunnel: info.tunnel,
                    live: true,
                    u_threshold: d.u_threshold,
                    weight: d.weight,
                    mac: neighbours.get(d.addr),
                    stats,
                    est,
                });
            }
        }
        was_live
            .iter()
            .enumerate()
            .filter(|&(i, &w)| w && !self.dests[i].as_ref().is_some_and(|d| d.live))
            .map(|(i, _)| i as u32)
            .collect()
    }
}

impl Director {
    /// Applies one ipvsadm command at `now` (validated: on error nothing changed).
    ///
    /// Call it from the control thread between packets. A deleted dest's connections stay
    /// (their packets are dropped, `IP_VS_DEST_F_AVAILABLE` cleared) unless
    /// `expire_nodest_conn` is set, which expires them at once.
    pub fn apply(&mut self, cmd: &Command, now: Instant) -> Result<(), ServiceError> {
        self.services.apply(cmd)?;
        self.after_change(now);
        Ok(())
    }

    /// Swaps in a whole new configuration atomically: `commands` (typically `-C`-less `-A`/`-a`
    /// lines of an `ipvsadm -S` dump) are checked on a scratch table first; on error nothing
    /// changed. Then the difference is applied: unchanged services and dests keep their
    /// connections, counters and scheduler state, edited ones are `-E`/`-e`'d, removed dests
    /// follow `expire_nodest_conn`. New dests are added in the order given (each lands at the
    /// head of its service's list, as `-a` does).
    pub fn replace_config(
        &mut self,
        commands: &[Command],
        now: Instant,
    ) -> Result<(), ServiceError> {
        let mut target = ServiceTable::new(self.sched_config.clone());
        for c in commands {
            target.apply(c)?;
        }
        let mut plan = Vec::new();
        // Removals first, so a dest moving between services frees its address.
        for svc in self.services.services() {
            let key = *svc.key();
            match target.service(&key) {
                None => plan.push(Command::DeleteService(key)),
                Some(t) => {
                    for d in svc.dests() {
                        if !t
                            .dests()
                            .iter()
                            .any(|n| n.addr == d.addr && n.port == d.port)
                        {
                            plan.push(Command::DeleteDest(key, d.addr, d.port));
                        }
                    }
                }
            }
        }
        for c in commands {
            match c {
                Command::AddService(key, cfg) => match self.services.service(key) {
                    None => plan.push(c.clone()),
                    Some(s) if s.config() != cfg => {
                        plan.push(Command::EditService(*key, cfg.clone()))
                    }
                    Some(_) => {}
                },
                Command::AddDest(key, cfg) => {
                    let old = self.services.service(key).and_then(|s| {
                        let i = s
                            .dests()
                            .iter()
                            .position(|d| d.addr == cfg.addr && d.port == cfg.port)?;
                        Some((s.dests()[i].clone(), *s.dest_info(i)?))
                    });
                    match old {
                        None => plan.push(c.clone()),
                        Some((d, info)) => {
                            let same = d.weight == cfg.weight as i32
                                && d.u_threshold == cfg.u_threshold
                                && d.l_threshold == cfg.l_threshold
                                && info.fwd == cfg.fwd
                                && info.tunnel == cfg.tunnel;
                            if !same {
                                plan.push(Command::EditDest(*key, *cfg));
                            }
                        }
                    }
                }
                // Edits and deletions in the new config were already folded into `target`;
                // replay them on the live table in order.
                other => plan.push(other.clone()),
            }
        }
        for c in &plan {
            // Every step was valid on the scratch table built from the same commands; a step
            // that still fails (e.g. -E of a service removed above) is harmless to skip.
            let _ = self.services.apply(c);
        }
        self.after_change(now);
        Ok(())
    }

    /// `ipvsadm --set tcp tcpfin udp` (0 leaves a value unchanged).
    pub fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        self.timeouts.set(tcp, tcpfin, udp);
    }

    /// `ipvsadm -Z`: zero every counter and rate.
    pub fn zero_counters(&mut self) {
        self.global = Stats::default();
        self.global_est = Estimator::default();
        for s in &mut self.reg.svcs {
            s.stats = Stats::default();
            s.est = Estimator::default();
        }
        for d in self.reg.dests.iter_mut().flatten() {
            d.stats = Stats::default();
            d.est = Estimator::default();
        }
    }

    fn after_change(&mut self, now: Instant) {
        let gone = self
            .reg
            .sync(&self.services, &self.fullnat, &self.neighbours);
        if self.sysctls.expire_nodest_conn && !gone.is_empty() {
            let victims: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| gone.contains(&c.dest()))
                .map(|(id, _)| id)
                .collect();
            for id in victims {
                self.expire_now(id, now);
            }
        }
        self.push_event(Event::ConfigApplied);
    }
}

/// The ids of a registry.
pub(super) fn new_registry() -> Registry {
    Registry {
        svcs: Vec::new(),
        by_key: super::HashMap::default(),
        dests: Vec::new(),
        vips: super::HashSet::default(),
    }
}
