//! Persistence templates in and out of the sync protocol: what a master sends for a template
//! (`ip_vs_sync_conn` on `cp->control`) and how a backup creates or refreshes one
//! (`ip_vs_proc_conn` with `IP_VS_CONN_F_TEMPLATE`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::persist::{TemplateKey, TemplateVaddr};
use super::schedule::FTP_PORT;
use super::{NewConn, ServiceError, ServiceTable, TemplateId};
use crate::ipvsadm::{AddressFamily, Protocol, ServiceKey};
use crate::sched::ConnKind;
use crate::time::Instant;

/// A persistence template as the sync protocol carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateSync {
    /// IP protocol number, 0 (`IPPROTO_IP`) for a fwmark template.
    pub protocol: u8,
    /// The client network (the client address under the service's `-M` netmask).
    pub caddr: IpAddr,
    /// The VIP; for a fwmark template the kernel's encoding, the mark as the first 4 bytes.
    pub vaddr: IpAddr,
    /// The virtual port, 0 for a template covering every port (FTP, port-0 services).
    pub vport: u16,
    /// The service's firewall mark, 0 for an inet service.
    pub fwmark: u32,
    /// The real server.
    pub daddr: IpAddr,
    /// The real server port.
    pub dport: u16,
    /// The template's timeout in seconds (0 on import: the service's `-p` timeout).
    pub timeout: u32,
}

impl ServiceTable {
    /// Template `id` as a master syncs it; `None` once it expired or was invalidated.
    pub fn template_sync(&self, id: TemplateId) -> Option<TemplateSync> {
        let (key, timeout) = self.templates.key_and_timeout(id)?;
        let dest = self.templates.get(id)?.dest;
        let (d, _) = self.dest_by_id(dest)?;
        let (vaddr, fwmark) = match key.vaddr {
            TemplateVaddr::Addr(a) => (a, 0),
            TemplateVaddr::Fwmark(m) => (fwmark_addr(m, key.caddr), m),
        };
        // A fwmark service's templates reached on its own port carry the mark too (cp->fwmark).
        let fwmark = if fwmark == 0 {
            self.services
                .iter()
                .find(|s| s.dests.iter().any(|x| x.id == dest))
                .and_then(|s| match s.key {
                    ServiceKey::Fwmark { mark, .. } => Some(mark),
                    ServiceKey::Inet { .. } => None,
                })
                .unwrap_or(0)
        } else {
            fwmark
        };
        Some(TemplateSync {
            protocol: key.protocol,
            caddr: key.caddr,
            vaddr,
            vport: key.vport,
            fwmark,
            daddr: d.addr,
            dport: d.port,
            timeout: u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX),
        })
    }

    /// Every template still reachable by key, as the kernel lists its template entries in
    /// `/proc/net/ip_vs_conn` (`ipvsadm -Lc`), with its expiry; order unspecified.
    ///
    /// The forms follow `ip_vs_sched_persist`: client port 0; for a template of the service's
    /// own port the real server's port, otherwise (FTP, port-0 and fwmark templates) virtual
    /// and real ports 0; a fwmark template has protocol 0 and the mark as its virtual address.
    /// Invalidated templates (`ip_vs_check_template` moves them out of reach) are not listed.
    ///
    /// Each comes with its expiry and whether it is assured (`IP_VS_CTPL_S_ASSURED`).
    pub fn templates(&self) -> Vec<(TemplateSync, Instant, bool)> {
        let mut dests = std::collections::HashMap::new();
        for svc in &self.services {
            let mark = match svc.key {
                ServiceKey::Fwmark { mark, .. } => mark,
                ServiceKey::Inet { .. } => 0,
            };
            for d in &svc.dests {
                dests.insert(d.id, (d.addr, d.port, mark));
            }
        }
        self.templates
            .reachable()
            .filter_map(|(id, key, dest, expires)| {
                let &(daddr, port, svc_mark) = dests.get(&dest)?;
                let (vaddr, fwmark) = match key.vaddr {
                    TemplateVaddr::Addr(a) => (a, svc_mark),
                    TemplateVaddr::Fwmark(m) => (fwmark_addr(m, key.caddr), m),
                };
                let t = TemplateSync {
                    protocol: key.protocol,
                    caddr: key.caddr,
                    vaddr,
                    vport: key.vport,
                    fwmark,
                    daddr,
                    dport: if key.vport != 0 { port } else { 0 },
                    timeout: 0,
                };
                Some((t, expires, self.templates.is_assured(id)))
            })
            .collect()
    }

    /// Creates, refreshes or re-points a template received from a sync master at `now`.
    ///
    /// The service is the one the kernel's `ip_vs_find_dest` finds: the fwmark service, else
    /// the (protocol, VIP, port) one with the FTP and port-0 fallbacks; the dest is
    /// `daddr:dport` in it. An existing template to the same dest has its timer restarted; one
    /// to another dest is invalidated (it lives on for the connections it controls) and
    /// replaced.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NoSuchService`] or [`ServiceError::NoSuchDest`] when nothing matches.
    pub fn import_template(&mut self, t: &TemplateSync, now: Instant) -> Result<(), ServiceError> {
        let si = self
            .template_service(t)
            .ok_or(ServiceError::NoSuchService)?;
        let svc = &self.services[si];
        let di = svc
            .dests
            .iter()
            .position(|d| d.addr == t.daddr && d.port == t.dport)
            .ok_or(ServiceError::NoSuchDest)?;
        let dest = svc.dests[di].id;
        let timeout = if t.timeout != 0 {
            t.timeout
        } else {
            svc.config.persistent.unwrap_or(0)
        };
        let key = synced_key(t);
        if let Some(old) = self.templates.lookup(&key) {
            if self.templates.get(old).is_some_and(|o| o.dest == dest) {
                self.templates.touch(old, now);
                return Ok(());
            }
            self.templates.invalidate(old);
        }
        self.services[si].dests[di].bind_conn(ConnKind::Template);
        self.templates
            .insert(key, dest, Duration::from_secs(timeout.into()), now);
        Ok(())
    }

    /// Marks the template a sync entry names as assured (the master sent
    /// `IP_VS_CTPL_S_ASSURED` in its state); nothing if there is none.
    pub fn assure_synced_template(&mut self, t: &TemplateSync) {
        if let Some(id) = self.templates.lookup(&synced_key(t)) {
            self.templates.assure(id);
        }
    }

    fn template_service(&self, t: &TemplateSync) -> Option<usize> {
        if t.protocol == 0 {
            let key = ServiceKey::Fwmark {
                mark: t.fwmark,
                af: AddressFamily::of(&t.caddr),
            };
            return self.service_index(&key);
        }
        let protocol = Protocol::from_number(t.protocol)?;
        let nc = NewConn {
            protocol,
            caddr: t.caddr,
            cport: 0,
            daddr: t.vaddr,
            dport: t.vport,
            fwmark: t.fwmark,
        };
        self.find_service_index(&nc).or_else(|| {
            // FTP templates have port 0 and belong to the port-21 service.
            let ftp = NewConn {
                dport: FTP_PORT,
                ..nc
            };
            (t.vport == 0 && protocol == Protocol::Tcp)
                .then(|| self.find_service_index(&ftp))
                .flatten()
        })
    }
}

/// The template key of a sync entry.
fn synced_key(t: &TemplateSync) -> TemplateKey {
    TemplateKey {
        protocol: t.protocol,
        caddr: t.caddr,
        vaddr: if t.protocol == 0 {
            TemplateVaddr::Fwmark(t.fwmark)
        } else {
            TemplateVaddr::Addr(t.vaddr)
        },
        vport: t.vport,
    }
}

/// The kernel's `union nf_inet_addr fwmark = { .ip = htonl(svc->fwmark) }` in the family of
/// `like`.
fn fwmark_addr(mark: u32, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(mark)),
        IpAddr::V6(_) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&mark.to_be_bytes());
            IpAddr::V6(Ipv6Addr::from(b))
        }
    }
}
