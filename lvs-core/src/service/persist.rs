//! Persistence templates (`IP_VS_CONN_F_TEMPLATE` connections in the kernel).
//!
//! A template is keyed like a connection with the client port zeroed: (protocol, client network,
//! VIP or fwmark, vport or 0). Its timer follows `ip_vs_conn_expire`:
//!
//! * every use re-arms it to `now + timeout` (`ip_vs_conn_put` restarts the timer);
//! * when it fires while the template still controls connections, it is re-armed for 60 s and
//!   the template's timeout becomes 60 s from then on (`expire_later`: `cp->timeout = 60*HZ`);
//! * when it fires with no controlled connection, the template goes and its dest's persistent
//!   counter drops.
//!
//! A timer due at `t` has fired for any event at `t` (the kernel's timer runs when jiffies
//! reaches `expires`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use crate::sched::DestId;
use crate::time::Instant;

/// Handle of a persistence template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(u64);

/// A template's "virtual address": the VIP, or the fwmark for fwmark services reached on another
/// port (`<IPPROTO_IP, caddr, 0, fwmark, 0>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum TemplateVaddr {
    Addr(IpAddr),
    Fwmark(u32),
}

/// `ip_vs_ct_in_get`'s match: protocol, masked client address, vaddr, vport (client port 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct TemplateKey {
    /// IP protocol number, 0 (`IPPROTO_IP`) for fwmark templates.
    pub(super) protocol: u8,
    pub(super) caddr: IpAddr,
    pub(super) vaddr: TemplateVaddr,
    pub(super) vport: u16,
}

#[derive(Debug)]
pub(super) struct Template {
    /// `None` once invalidated (`ip_vs_check_template` rehashes it out of reach).
    key: Option<TemplateKey>,
    pub(super) dest: DestId,
    timeout: Duration,
    expires: Instant,
    pub(super) n_control: u32,
}

/// `expire_later` re-arms with this and makes it the template's timeout.
const EXPIRE_LATER: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(super) struct Templates {
    by_id: BTreeMap<u64, Template>,
    by_key: HashMap<TemplateKey, u64>,
    next: u64,
}

impl Templates {
    pub(super) fn lookup(&self, key: &TemplateKey) -> Option<TemplateId> {
        self.by_key.get(key).map(|&id| TemplateId(id))
    }

    pub(super) fn get(&self, id: TemplateId) -> Option<&Template> {
        self.by_id.get(&id.0)
    }

    pub(super) fn get_mut(&mut self, id: TemplateId) -> Option<&mut Template> {
        self.by_id.get_mut(&id.0)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// A new template for `dest`, armed for `timeout` from `now`.
    pub(super) fn insert(
        &mut self,
        key: TemplateKey,
        dest: DestId,
        timeout: Duration,
        now: Instant,
    ) -> TemplateId {
        let id = self.next;
        self.next += 1;
        self.by_id.insert(
            id,
            Template {
                key: Some(key),
                dest,
                timeout,
                expires: now + timeout,
                n_control: 0,
            },
        );
        self.by_key.insert(key, id);
        TemplateId(id)
    }

    /// Make the template unreachable for new connections; it lives on for the ones it controls.
    pub(super) fn invalidate(&mut self, id: TemplateId) {
        if let Some(key) = self.by_id.get_mut(&id.0).and_then(|t| t.key.take()) {
            self.by_key.remove(&key);
        }
    }

    /// Runs every timer due by `now`; returns the dests of the templates that went.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<DestId> {
        let mut gone = Vec::new();
        for (&id, t) in &mut self.by_id {
            while t.expires <= now {
                if t.n_control == 0 {
                    gone.push(id);
                    break;
                }
                t.timeout = EXPIRE_LATER;
                t.expires = t.expires + EXPIRE_LATER;
            }
        }
        gone.iter()
            .filter_map(|id| {
                let t = self.by_id.remove(id)?;
                if let Some(key) = t.key {
                    self.by_key.remove(&key);
                }
                Some(t.dest)
            })
            .collect()
    }

    /// When the next timer is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.by_id.values().map(|t| t.expires).min()
    }
}

impl Template {
    /// A use of the template: its timer restarts with its current timeout.
    pub(super) fn touch(&mut self, now: Instant) {
        self.expires = now + self.timeout;
    }
}
