//! Picking the dest for a new connection: `ip_vs_service_find`, `ip_vs_schedule`,
//! `ip_vs_sched_persist`, and the counters of `ip_vs_bind_dest` / `ip_vs_unbind_dest`.

use std::net::IpAddr;
use std::time::Duration;

use super::persist::{TemplateKey, TemplateVaddr};
use super::{ServiceTable, TemplateId};
use crate::ipvsadm::{Protocol, ServiceKey};
use crate::sched::{ConnKind, DestId, SchedDest, SchedFlow};
use crate::time::Instant;

/// The kernel's `FTPPORT`: persistent FTP services share one template for control and data.
pub(super) const FTP_PORT: u16 = 21;
/// `FTPDATA`: the kernel never schedules a connection from this client port.
const FTP_DATA_PORT: u16 = 20;
/// `sysctl_ip_prot_sock`: ports below it need privileges, so they are not FTP data ports.
const PROT_SOCK: u16 = 1024;

/// The first packet of a connection, as the director sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewConn {
    /// Transport protocol.
    pub protocol: Protocol,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// The packet's destination address (a VIP).
    pub daddr: IpAddr,
    /// The packet's destination port.
    pub dport: u16,
    /// The packet's firewall mark, 0 for none.
    pub fwmark: u32,
}

/// Where a new connection goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheduled {
    /// The service that took the packet.
    pub service: ServiceKey,
    /// The chosen dest.
    pub dest: DestId,
    /// The connection's real-server address.
    pub daddr: IpAddr,
    /// The connection's real-server port: the dest's port, or the packet's port when the dest
    /// has port 0 or the service was reached on another port (port-0 and fwmark services).
    pub dport: u16,
    /// The persistence template that controls the connection.
    pub template: Option<TemplateId>,
    /// One-packet scheduling (`-o`, UDP): the connection ends right after its packet.
    pub one_packet: bool,
}

impl ServiceTable {
    /// `ip_vs_service_find`: the fwmark service for a marked packet, else the exact
    /// (protocol, VIP, port) service, else for TCP to port 20 or an unprivileged port a port-21
    /// (FTP) service on that VIP, else a port-0 service on that VIP.
    pub fn find_service(&self, pkt: &NewConn) -> Option<&ServiceKey> {
        self.find_service_index(pkt).map(|i| &self.services[i].key)
    }

    pub(super) fn find_service_index(&self, pkt: &NewConn) -> Option<usize> {
        let inet = |port| ServiceKey::Inet {
            protocol: pkt.protocol,
            addr: pkt.daddr,
            port,
        };
        if pkt.fwmark != 0 {
            let af = crate::ipvsadm::AddressFamily::of(&pkt.daddr);
            let key = ServiceKey::Fwmark {
                mark: pkt.fwmark,
                af,
            };
            if let Some(i) = self.service_index(&key) {
                return Some(i);
            }
        }
        self.service_index(&inet(pkt.dport))
            .or_else(|| {
                let ftp_data = pkt.dport == FTP_DATA_PORT || pkt.dport >= PROT_SOCK;
                (pkt.protocol == Protocol::Tcp && ftp_data)
                    .then(|| self.service_index(&inet(FTP_PORT)))
                    .flatten()
            })
            .or_else(|| self.service_index(&inet(0)))
    }

    /// Picks the dest for a new connection at `now`, creating or reusing a persistence
    /// template; `None` when no service takes the packet or no dest is available. The caller
    /// then creates the connection and counts it with [`bind_conn`](Self::bind_conn).
    pub fn schedule(&mut self, pkt: &NewConn, now: Instant) -> Option<Scheduled> {
        // Only what this decision depends on: templates and this service's scheduler (the
        // others' timers wait for `handle_timeout`, so a new connection costs the same
        // however many services there are).
        self.expire_templates(now);
        let si = self.find_service_index(pkt)?;
        self.run_scheduler_timers(si, now);
        // "Never schedule Active FTPDATA connections from real server."
        if pkt.cport == FTP_DATA_PORT {
            return None;
        }
        let flow = SchedFlow {
            caddr: pkt.caddr,
            cport: pkt.cport,
            vaddr: pkt.daddr,
            vport: pkt.dport,
        };
        let svc = &self.services[si];
        let key = svc.key;
        let one_packet = svc.config.one_packet && pkt.protocol == Protocol::Udp;
        if svc.config.persistent.is_some() {
            let (dest, template) = self.schedule_persist(si, pkt, &flow, now)?;
            let (d, _) = self.dest_by_id(dest)?;
            // ip_vs_sched_persist: the dest port only when the packet hit the service port.
            let dport = if pkt.dport != key.port() || d.port == 0 {
                pkt.dport
            } else {
                d.port
            };
            return Some(Scheduled {
                service: key,
                dest,
                daddr: d.addr,
                dport,
                template,
                one_packet,
            });
        }
        let fwmark = matches!(key, ServiceKey::Fwmark { .. });
        // A port-0 service is only reached this way when it is not persistent.
        if !fwmark && pkt.dport != key.port() {
            return None;
        }
        let svc = &mut self.services[si];
        let idx = svc.scheduler.as_mut()?.schedule(&svc.dests, &flow, now)?;
        let d = svc.dests.get(idx)?;
        Some(Scheduled {
            service: key,
            dest: d.id,
            daddr: d.addr,
            dport: if d.port == 0 { pkt.dport } else { d.port },
            template: None,
            one_packet,
        })
    }

    /// `ip_vs_sched_persist`: reuse the client network's template while its dest is available,
    /// else ask the scheduler and create a template.
    fn schedule_persist(
        &mut self,
        si: usize,
        pkt: &NewConn,
        flow: &SchedFlow,
        now: Instant,
    ) -> Option<(DestId, Option<TemplateId>)> {
        let svc = &self.services[si];
        // The SIP engine keys templates by Call-ID from the payload; a flow has none, and the
        // kernel drops a packet whose Call-ID cannot be read.
        if svc.config.pe.is_some() {
            return None;
        }
        let timeout = Duration::from_secs(svc.config.persistent.unwrap_or(0).into());
        let caddr = svc.config.netmask.apply(pkt.caddr);
        let svc_port = svc.key.port();
        let key = if pkt.dport == svc_port {
            // FTP control and data share the <caddr, 0, vaddr, 0> template.
            let vport = if svc_port == FTP_PORT { 0 } else { pkt.dport };
            TemplateKey {
                protocol: pkt.protocol.number(),
                caddr,
                vaddr: TemplateVaddr::Addr(pkt.daddr),
                vport,
            }
        } else if let ServiceKey::Fwmark { mark, .. } = svc.key {
            TemplateKey {
                protocol: 0,
                caddr,
                vaddr: TemplateVaddr::Fwmark(mark),
                vport: 0,
            }
        } else {
            TemplateKey {
                protocol: pkt.protocol.number(),
                caddr,
                vaddr: TemplateVaddr::Addr(pkt.daddr),
                vport: 0,
            }
        };
        if let Some(tid) = self.templates.lookup(&key) {
            let dest = self.templates.get(tid)?.dest;
            // ip_vs_check_template: the dest must still be in a service, and with
            // expire_quiescent_template not be quiesced.
            let valid = match self.dest_by_id(dest) {
                Some((d, true)) => !(self.expire_quiescent_template && d.weight == 0),
                _ => false,
            };
            if valid {
                self.templates.touch(tid, now);
                return Some((dest, Some(tid)));
            }
            self.templates.invalidate(tid);
        }
        let svc = &mut self.services[si];
        let idx = svc.scheduler.as_mut()?.schedule(&svc.dests, flow, now)?;
        let d = svc.dests.get_mut(idx)?;
        d.bind_conn(ConnKind::Template);
        let id = d.id;
        let tid = self.templates.insert(key, id, timeout, now);
        Some((id, Some(tid)))
    }

    /// Counts a new connection on its dest (`ip_vs_bind_dest`: active or inactive counter,
    /// overload flag at the upper threshold) and under its template.
    pub fn bind_conn(&mut self, conn: &Scheduled, kind: ConnKind) {
        if let Some((d, _)) = self.dest_by_id_mut(conn.dest) {
            d.bind_conn(kind);
        }
        if let Some(t) = conn.template {
            self.templates.control(t, 1);
        }
    }

    /// The dest with this id while it is in a service (not in the trash), found without
    /// scanning.
    pub fn live_dest(&self, id: DestId) -> Option<&SchedDest> {
        self.dest_by_id(id).and_then(|(d, live)| live.then_some(d))
    }

    /// A connection of dest `dest` moved between an active and an inactive state (the
    /// protocol's `set_state`): moves it between the dest's counters as
    /// [`SchedDest::conn_state_changed`](crate::sched::SchedDest::conn_state_changed) does,
    /// for a dest in a service or in the trash alike (the kernel moves `cp->dest`'s counters
    /// wherever it is). Finds the dest by id, without scanning; `false` when no dest has it.
    pub fn conn_state_changed(&mut self, dest: DestId, now_active: bool) -> bool {
        match self.dest_by_id_mut(dest) {
            Some((d, _)) => {
                d.conn_state_changed(now_active);
                true
            }
            None => false,
        }
    }

    /// A connection ended at `now` (`ip_vs_unbind_dest`, `ip_vs_control_del`).
    pub fn unbind_conn(&mut self, conn: &Scheduled, kind: ConnKind, now: Instant) {
        self.expire_templates(now);
        if let Some((d, _)) = self.dest_by_id_mut(conn.dest) {
            d.unbind_conn(kind);
        }
        if let Some(t) = conn.template {
            self.templates.control(t, -1);
        }
        self.prune_trash();
    }

    /// Runs the timers due by `now`: template expiry and the schedulers' periodic work.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_templates(now);
        for si in 0..self.services.len() {
            self.run_scheduler_timers(si, now);
        }
    }

    /// The template expiry of [`handle_timeout`](Self::handle_timeout): due before a
    /// scheduling decision or a counter change, so neither sees a template that has expired.
    fn expire_templates(&mut self, now: Instant) {
        for dest in self.templates.expire(now) {
            if let Some((d, _)) = self.dest_by_id_mut(dest) {
                d.unbind_conn(ConnKind::Template);
            }
        }
        self.prune_trash();
    }

    /// Service `si`'s scheduler timers due by `now` (lblc/lblcr garbage collection).
    fn run_scheduler_timers(&mut self, si: usize, now: Instant) {
        let Some(s) = self.services.get_mut(si).and_then(|s| s.scheduler.as_mut()) else {
            return;
        };
        while let Some(due) = s.poll_timeout().filter(|&t| t <= now) {
            s.handle_timeout(due);
            if s.poll_timeout() == Some(due) {
                break;
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let scheds = self
            .services
            .iter()
            .filter_map(|s| s.scheduler.as_ref()?.poll_timeout());
        scheds.chain(self.templates.next_deadline()).min()
    }

    /// Live persistence templates (including invalidated ones still controlling connections).
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// The dest a template pins its clients to.
    pub fn template_dest(&self, id: TemplateId) -> Option<DestId> {
        self.templates.get(id).map(|t| t.dest)
    }
}
