//! Locality-based least-connection with replication (`ip_vs_lblcr.c`).

use core::time::Duration;

use super::cache::{LocalityTable, is_overloaded};
use super::wlc::weighted_least;
use super::{DestChange, DestId, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// The server set of one destination address (`struct ip_vs_dest_set`). Members are kept
/// newest first (`list_add_rcu`); a member whose dest was deleted stays until it is erased.
#[derive(Debug)]
pub(crate) struct DestSet {
    members: Vec<DestId>,
    lastmod: Instant,
}

/// lblcr: like lblc, but each destination address has a set of dests: the least loaded member
/// serves; when it is busy a wlc pick joins the set, and a set unchanged for the expiry time
/// sheds its most loaded member.
#[derive(Debug)]
pub(crate) struct LocalityLeastConnReplicated {
    expiration: Duration,
    table: LocalityTable<DestSet>,
}

impl LocalityLeastConnReplicated {
    pub(crate) fn new(expiration: Duration) -> Self {
        Self {
            expiration,
            table: LocalityTable::new(expiration),
        }
    }
}

/// `ip_vs_dest_set_min`: the first member in the list with weight > 0 that is not overloaded
/// seeds the scan, then a later member that is not overloaded replaces it when `loh * w_d >
/// doh * w_least` (i64 cross-multiplication, ties keep the earlier member). Deleted members
/// never qualify (the kernel tests `IP_VS_DEST_F_AVAILABLE`).
fn set_min(mut it: impl Iterator<Item = usize>, dests: &[SchedDest]) -> Option<usize> {
    let mut least = it.by_ref().find(|&i| dests[i].is_available())?;
    let mut loh = i64::from(dests[least].overhead());
    for i in it {
        let d = &dests[i];
        if d.overloaded {
            continue;
        }
        let doh = i64::from(d.overhead());
        if loh * i64::from(d.weight) > doh * i64::from(dests[least].weight) {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max`: the first member with weight > 0 seeds the scan, then a later member
/// with weight > 0 replaces it when `moh * w_d < doh * w_most` (more load per weight; ties keep
/// the earlier). The overload flag does not matter here.
fn set_max(mut it: impl Iterator<Item = usize>, dests: &[SchedDest]) -> Option<usize> {
    let mut most = it.by_ref().find(|&i| dests[i].weight > 0)?;
    let mut moh = i64::from(dests[most].overhead());
    for i in it {
        let d = &dests[i];
        let doh = i64::from(d.overhead());
        if moh * i64::from(d.weight) < doh * i64::from(dests[most].weight) && d.weight > 0 {
            most = i;
            moh = doh;
        }
    }
    Some(most)
}

impl Scheduler for LocalityLeastConnReplicated {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    /// `ip_vs_lblcr_init_svc`: an empty cache; the timer is armed by the first `schedule`.
    fn init_service(&mut self, dests: &[SchedDest]) {
        self.table = LocalityTable::new(self.expiration);
        self.table.reindex(dests);
    }

    /// No dest hooks in the kernel: sets keep deleted members (they are never picked).
    fn update(&mut self, dests: &[SchedDest], _change: DestChange) {
        self.table.reindex(dests);
    }

    /// `ip_vs_lblcr_schedule`. On a hit: refresh last use, take the set's least loaded member,
    /// and when the set has more than one member and was last modified more than `expiration`
    /// ago, erase its most loaded member (this happens after the pick, so the erased member may
    /// still serve this connection). Use the pick unless there is none or it `is_overloaded`;
    /// then add the wlc pick to the set (if not already in it) and use that. On a miss: a new
    /// entry whose set is the wlc pick.
    ///
    /// Deleted members count in the set size as in the kernel, but `set_max` cannot see their
    /// load (the kernel reads the trashed dest's live counters) and passes over them.
    fn schedule(&mut self, dests: &[SchedDest], flow: &SchedFlow, now: Instant) -> Option<usize> {
        self.table.arm(now);
        let expiration = self.expiration;
        let Some((en, index)) = self.table.lookup(flow.vaddr) else {
            let pick = weighted_least(dests, SchedDest::overhead)?;
            let set = DestSet {
                members: vec![dests[pick].id],
                lastmod: now,
            };
            self.table.insert(flow.vaddr, now, set);
            return Some(pick);
        };
        en.lastuse = now;
        let set = &mut en.data;
        // Deleted members drop out here: neither scan can pick them (see above).
        let members = || set.members.iter().filter_map(|id| index.get(id).copied());
        let min = set_min(members(), dests);
        // `time_after(now, lastmod + expiration)`: strictly later.
        if set.members.len() > 1
            && now > set.lastmod + expiration
            && let Some(m) = set_max(members(), dests).map(|i| dests[i].id)
            && let Some(pos) = set.members.iter().position(|&id| id == m)
        {
            set.members.remove(pos);
            set.lastmod = now;
        }
        if let Some(i) = min
            && !is_overloaded(dests, i)
        {
            return Some(i);
        }
        let pick = weighted_least(dests, SchedDest::overhead)?;
        let id = dests[pick].id;
        // `ip_vs_dest_set_insert(.., check = true)`: only a new member modifies the set.
        if !set.members.contains(&id) {
            set.members.insert(0, id);
            set.lastmod = now;
        }
        Some(pick)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    fn cache_len(&self) -> Option<usize> {
        Some(self.table.len())
    }
}
