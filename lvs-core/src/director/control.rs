//! The control plane: [`Director::apply`], [`Director::replace_config`], and the registry
//! that gives services and dests the dense ids connections store.

use std::net::IpAddr;

use super::event::Event;
use super::stats::{Estimator, Stats};
use super::{Director, Registry};
use crate::conn::{ConnId, ForwardMethod};
use crate::ipvsadm::{Command, DestConfig, FwdMethod, ServiceKey, TunnelConfig};
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

    /// Swaps in a whole new configuration atomically: `commands` (an `ipvsadm -S` dump, a
    /// leading `-C` included or not) are applied to a scratch table first; on error nothing
    /// changed. Then the live table is moved to the result by a diff: unchanged services and
    /// dests keep their connections, counters and scheduler state, changed ones are
    /// `-E`/`-e`'d, removed ones deleted (their connections follow `expire_nodest_conn`),
    /// new ones added oldest first, so they end up in the scratch table's order among
    /// themselves, ahead of the dests that stayed.
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
        for t in target.services() {
            let key = *t.key();
            let live = self.services.service(&key);
            match live {
                None => plan.push(Command::AddService(key, t.config().clone())),
                Some(l) if l.config() != t.config() => {
                    plan.push(Command::EditService(key, t.config().clone()));
                }
                Some(_) => {}
            }
            // Oldest first: each -a lands at the head, as it did in the scratch table.
            for (i, d) in t.dests().iter().enumerate().rev() {
                let Some(info) = t.dest_info(i) else { continue };
                let cfg = DestConfig {
                    addr: d.addr,
                    port: d.port,
                    fwd: info.fwd,
                    weight: d.weight.max(0) as u32,
                    u_threshold: d.u_threshold,
                    l_threshold: d.l_threshold,
                    tunnel: info.tunnel,
                };
                let old = live.and_then(|l| {
                    let j = l
                        .dests()
                        .iter()
                        .position(|o| o.addr == d.addr && o.port == d.port)?;
                    Some((l.dests()[j].clone(), *l.dest_info(j)?))
                });
                match old {
                    None => plan.push(Command::AddDest(key, cfg)),
                    Some((o, oi)) => {
                        let same = o.weight == d.weight
                            && o.u_threshold == d.u_threshold
                            && o.l_threshold == d.l_threshold
                            && oi == *info;
                        if !same {
                            plan.push(Command::EditDest(key, cfg));
                        }
                    }
                }
            }
        }
        for c in &plan {
            // Every step is valid: it moves the live table toward a table the same checks
            // accepted. A refusal would leave that one item unchanged, nothing worse.
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
