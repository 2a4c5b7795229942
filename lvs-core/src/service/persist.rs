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

use std::collections::{BTreeSet, HashMap};
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
    n_control: u32,
    /// `IP_VS_CTPL_S_ASSURED`: a connection under it reached ESTABLISHED (or a UDP one saw a
    /// reply). The `drop_entry` defense spares assured templates.
    assured: bool,
}

/// `expire_later` re-arms with this and makes it the template's timeout.
const EXPIRE_LATER: Duration = Duration::from_secs(60);

/// The live templates, reachable by key and by id, with a deadline index so expiry touches only
/// the templates that are due.
#[derive(Debug, Default)]
pub(super) struct Templates {
    by_id: HashMap<u64, Template>,
    by_key: HashMap<TemplateKey, u64>,
    deadlines: BTreeSet<(Instant, u64)>,
    next: u64,
}

impl Templates {
    pub(super) fn lookup(&self, key: &TemplateKey) -> Option<TemplateId> {
        self.by_key.get(key).map(|&id| TemplateId(id))
    }

    pub(super) fn get(&self, id: TemplateId) -> Option<&Template> {
        self.by_id.get(&id.0)
    }

    /// The key of a template still reachable (not invalidated) and its current timeout.
    pub(super) fn key_and_timeout(&self, id: TemplateId) -> Option<(TemplateKey, Duration)> {
        let t = self.by_id.get(&id.0)?;
        Some((t.key?, t.timeout))
    }

    /// Every template still reachable by key (invalidated ones are left out), for listings:
    /// `(id, key, dest, expiry)`.
    pub(super) fn reachable(
        &self,
    ) -> impl Iterator<Item = (TemplateId, TemplateKey, DestId, Instant)> + '_ {
        self.by_id
            .iter()
            .filter_map(|(&id, t)| Some((TemplateId(id), t.key?, t.dest, t.expires)))
    }

    /// Bytes allocated by the maps and the deadline index (B-tree nodes estimated at their
    /// payload).
    pub(super) fn allocation_size(&self) -> usize {
        self.by_id.capacity() * (size_of::<(u64, Template)>() + 1)
            + self.by_key.capacity() * (size_of::<(TemplateKey, u64)>() + 1)
            + self.deadlines.len() * size_of::<(Instant, u64)>()
    }

    /// Whether template `id` is assured.
    pub(super) fn is_assured(&self, id: TemplateId) -> bool {
        self.by_id.get(&id.0).is_some_and(|t| t.assured)
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
        let expires = now + timeout;
        let t = Template {
            key: Some(key),
            dest,
            timeout,
            expires,
            n_control: 0,
            assured: false,
        };
        self.by_id.insert(id, t);
        self.by_key.insert(key, id);
        self.deadlines.insert((expires, id));
        TemplateId(id)
    }

    /// A use of the template: its timer restarts with its current timeout.
    pub(super) fn touch(&mut self, id: TemplateId, now: Instant) {
        if let Some(t) = self.by_id.get_mut(&id.0) {
            self.deadlines.remove(&(t.expires, id.0));
            t.expires = now + t.timeout;
            self.deadlines.insert((t.expires, id.0));
        }
    }

    /// One more (`delta` = 1) or one fewer (-1) connection under the template's control.
    pub(super) fn control(&mut self, id: TemplateId, delta: i32) {
        if let Some(t) = self.by_id.get_mut(&id.0) {
            t.n_control = t.n_control.saturating_add_signed(delta);
        }
    }

    /// `ip_vs_control_assure_ct`.
    pub(super) fn assure(&mut self, id: TemplateId) {
        if let Some(t) = self.by_id.get_mut(&id.0) {
            t.assured = true;
        }
    }

    /// Removes template `id` now if it controls nothing and was never assured; its dest.
    pub(super) fn remove_if_unassured(&mut self, id: TemplateId) -> Option<DestId> {
        let t = self.by_id.get(&id.0)?;
        if t.n_control > 0 || t.assured {
            return None;
        }
        self.remove(id.0)
    }

    fn remove(&mut self, id: u64) -> Option<DestId> {
        let t = self.by_id.remove(&id)?;
        if let Some(key) = t.key {
            self.by_key.remove(&key);
        }
        self.deadlines.remove(&(t.expires, id));
        Some(t.dest)
    }

    /// `ip_vs_random_dropentry` over the templates: of a 1/32 slice (in the map's order, from
    /// `start`), removes those that control nothing and were never assured, except where
    /// `spare(dest)`; their dests.
    pub(super) fn drop_unassured_slice(
        &mut self,
        start: u64,
        spare: impl Fn(DestId) -> bool,
    ) -> Vec<DestId> {
        let n = self.by_id.len();
        if n == 0 {
            return Vec::new();
        }
        let skip = (start % n as u64) as usize;
        let victims: Vec<u64> = self
            .by_id
            .iter()
            .chain(self.by_id.iter())
            .skip(skip)
            .take(n.div_ceil(32))
            .filter(|(_, t)| t.n_control == 0 && !t.assured && !spare(t.dest))
            .map(|(&id, _)| id)
            .collect();
        victims
            .into_iter()
            .filter_map(|id| self.remove(id))
            .collect()
    }

    /// Make the template unreachable for new connections; it lives on for the ones it controls.
    pub(super) fn invalidate(&mut self, id: TemplateId) {
        if let Some(key) = self.by_id.get_mut(&id.0).and_then(|t| t.key.take()) {
            self.by_key.remove(&key);
        }
    }

    /// Runs every timer due by `now`, in deadline order; returns the dests of the templates
    /// that went.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<DestId> {
        let mut gone = Vec::new();
        while let Some(&(due, id)) = self.deadlines.first() {
            if due > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(t) = self.by_id.get_mut(&id) else {
                continue;
            };
            if t.n_control > 0 {
                // Every firing up to `now` finds the same controlled connections (nothing
                // changes between calls): skip straight past them.
                let period = EXPIRE_LATER.as_nanos();
                let firings = (now - due).as_nanos() / period + 1;
                let next = u128::from(due.as_nanos()).saturating_add(firings * period);
                t.timeout = EXPIRE_LATER;
                t.expires = Instant::from_nanos(u64::try_from(next).unwrap_or(u64::MAX));
                self.deadlines.insert((t.expires, id));
                if t.expires <= now {
                    // Saturated at the end of time: the timer can never fire again.
                    self.deadlines.remove(&(t.expires, id));
                }
                continue;
            }
            if let Some(t) = self.by_id.remove(&id) {
                if let Some(key) = t.key {
                    self.by_key.remove(&key);
                }
                gone.push(t.dest);
            }
        }
        gone
    }

    /// When the next timer is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(due, _)| due)
    }
}

impl super::ServiceTable {
    /// `ip_vs_control_assure_ct`: a connection under template `id` reached ESTABLISHED (TCP,
    /// SCTP) or saw a reply (UDP); the `drop_entry` defense now spares the template.
    pub fn assure_template(&mut self, id: TemplateId) {
        self.templates.assure(id);
    }

    /// Whether template `id` is assured (what a sync master sends as the template's state).
    pub fn template_assured(&self, id: TemplateId) -> bool {
        self.templates.is_assured(id)
    }

    /// Bytes allocated for the persistence templates.
    pub fn template_memory(&self) -> usize {
        self.templates.allocation_size()
    }

    /// A connection under template `id` was removed before its time (the `drop_entry`
    /// defense): as `ip_vs_conn_expire` ("drop CTL or non-assured TPL if not used anymore"),
    /// the template goes too when it controls nothing else and was never assured. Returns
    /// whether it went.
    pub fn drop_unassured_template(&mut self, id: TemplateId) -> bool {
        let Some(dest) = self.templates.remove_if_unassured(id) else {
            return false;
        };
        if let Some((d, _)) = self.dest_by_id_mut(dest) {
            d.unbind_conn(crate::sched::ConnKind::Template);
        }
        self.prune_trash();
        true
    }

    /// One `drop_entry` round over the templates (`ip_vs_random_dropentry`): of a 1/32 slice
    /// from `start` (random), the templates that control no connection and were never
    /// assured go. Templates of one-packet (`-o`) services are spared: the kernel judges them
    /// by their packet count, which is not kept here. Returns how many went.
    pub fn random_drop_templates(&mut self, start: u64) -> usize {
        let ops: std::collections::HashSet<DestId> = self
            .services
            .iter()
            .filter(|s| s.config.one_packet)
            .flat_map(|s| s.dests.iter().map(|d| d.id))
            .collect();
        let gone = self
            .templates
            .drop_unassured_slice(start, |d| ops.contains(&d));
        for &dest in &gone {
            if let Some((d, _)) = self.dest_by_id_mut(dest) {
                d.unbind_conn(crate::sched::ConnKind::Template);
            }
        }
        if !gone.is_empty() {
            self.prune_trash();
        }
        gone.len()
    }
}
