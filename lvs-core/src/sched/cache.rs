//! The per-destination-address cache shared by lblc and lblcr, with the kernel's expiry timer.

use core::net::IpAddr;
use core::time::Duration;
use std::collections::HashMap;

use super::hash::{fold_addr, hash_32};
use super::{DestId, SchedDest};
use crate::time::Instant;

/// `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS`.
const TAB_BITS: u32 = 10;
const TAB_SIZE: usize = 1 << TAB_BITS;
/// `CHECK_EXPIRE_INTERVAL`: the garbage-collection timer period.
const CHECK_EXPIRE_INTERVAL: Duration = Duration::from_secs(60);
/// `ENTRY_TIMEOUT`: idle time after which an entry may go when the table is over `max_size`.
const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// `COUNT_FOR_FULL_EXPIRATION`: a full expiry pass every 30 quiet timer ticks.
const COUNT_FOR_FULL_EXPIRATION: u32 = 30;
/// `tbl->max_size = TAB_SIZE * 16`.
const MAX_SIZE: usize = TAB_SIZE * 16;

/// One cached destination address.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) addr: IpAddr,
    pub(super) lastuse: Instant,
    pub(super) data: T,
}

/// The hash table of `struct ip_vs_lblc_table`: 1024 chained buckets keyed by
/// `hash_32(fold(daddr), 10)`, plus the timer state of `ip_vs_lblc_check_expire`.
///
/// The buckets are kept as the kernel keeps them because the size-driven garbage collection
/// walks whole buckets from a rover and stops after the bucket that met its goal: which entries
/// survive depends on the bucket layout (not on the order inside a bucket).
#[derive(Debug)]
pub(super) struct LocalityTable<T> {
    buckets: Vec<Vec<Entry<T>>>,
    entries: usize,
    rover: usize,
    counter: u32,
    next_check: Option<Instant>,
    expiration: Duration,
    /// DestId -> index in the current list; a cached dest missing here was deleted (the
    /// kernel's "not `IP_VS_DEST_F_AVAILABLE`", a dest in the trash).
    index: HashMap<DestId, usize>,
}

fn bucket_of(addr: IpAddr) -> usize {
    hash_32(fold_addr(addr), TAB_BITS) as usize
}

impl<T> LocalityTable<T> {
    pub(super) fn new(expiration: Duration) -> Self {
        Self {
            buckets: (0..TAB_SIZE).map(|_| Vec::new()).collect(),
            entries: 0,
            rover: 0,
            counter: 1,
            next_check: None,
            expiration,
            index: HashMap::new(),
        }
    }

    /// Remember where each dest is in the new list.
    pub(super) fn reindex(&mut self, dests: &[SchedDest]) {
        self.index.clear();
        self.index
            .extend(dests.iter().enumerate().map(|(i, d)| (d.id, i)));
    }

    /// The index of a cached dest, `None` when it left the list.
    pub(super) fn index_of(&self, id: DestId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    pub(super) fn len(&self) -> usize {
        self.entries
    }

    /// `ip_vs_lblc_get`.
    pub(super) fn get_mut(&mut self, addr: IpAddr) -> Option<&mut Entry<T>> {
        self.buckets[bucket_of(addr)]
            .iter_mut()
            .find(|e| e.addr == addr)
    }

    /// `ip_vs_lblc_get` together with the id -> index map, borrowed side by side.
    pub(super) fn lookup(
        &mut self,
        addr: IpAddr,
    ) -> Option<(&mut Entry<T>, &HashMap<DestId, usize>)> {
        let en = self.buckets[bucket_of(addr)]
            .iter_mut()
            .find(|e| e.addr == addr)?;
        Some((en, &self.index))
    }

    /// `ip_vs_lblc_hash`: a new entry (the caller checked there is none for `addr`).
    pub(super) fn insert(&mut self, addr: IpAddr, now: Instant, data: T) {
        self.buckets[bucket_of(addr)].push(Entry {
            addr,
            lastuse: now,
            data,
        });
        self.entries += 1;
    }

    /// Arm the periodic timer. The kernel arms it in `init_service`, which has no clock here;
    /// the first `schedule` arms it instead (the cache is empty until then, so this only shifts
    /// the phase of the 60 s ticks).
    pub(super) fn arm(&mut self, now: Instant) {
        if self.next_check.is_none() {
            self.next_check = Some(now + CHECK_EXPIRE_INTERVAL);
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next_check
    }

    /// `ip_vs_lblc_check_expire` when due: a full pass dropping entries idle for `expiration`
    /// every 30th quiet tick, otherwise, only while the table holds more than `max_size`
    /// entries, drop entries idle for 6 minutes bucket by bucket from the rover until 4/3 of
    /// the excess (at most `max_size / 2`) went. The timer then re-arms 60 s after `now`.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        match self.next_check {
            Some(due) if now >= due => {}
            _ => return,
        }
        self.next_check = Some(now + CHECK_EXPIRE_INTERVAL);
        if self.counter.is_multiple_of(COUNT_FOR_FULL_EXPIRATION) {
            let expiration = self.expiration;
            let mut j = self.rover;
            for _ in 0..TAB_SIZE {
                j = (j + 1) % TAB_SIZE;
                self.expire_bucket(j, now, expiration);
            }
            self.rover = j;
            self.counter = 1;
            return;
        }
        if self.entries <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        // In i64 like the kernel's `int goal`, which the loop drives below zero.
        let mut goal = ((self.entries - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2) as i64;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) % TAB_SIZE;
            goal -= self.expire_bucket(j, now, ENTRY_TIMEOUT) as i64;
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
    }

    /// Drop the entries of bucket `j` unused for `timeout` (kept while `now < lastuse +
    /// timeout`, the kernel's `time_before`); returns how many went.
    fn expire_bucket(&mut self, j: usize, now: Instant, timeout: Duration) -> usize {
        let bucket = &mut self.buckets[j];
        let before = bucket.len();
        bucket.retain(|e| now < e.lastuse + timeout);
        let gone = before - bucket.len();
        self.entries -= gone;
        gone
    }
}

/// lblc/lblcr's `is_overloaded`: the dest has more active connections than its weight while
/// some dest of the service (any, even quiesced or overloaded, itself included) has fewer than
/// half its weight. Compared in i64 (`2 * active` of a u32 cannot wrap there).
pub(super) fn is_overloaded(dests: &[SchedDest], i: usize) -> bool {
    let d = &dests[i];
    i64::from(d.active_conns) > i64::from(d.weight)
        && dests
            .iter()
            .any(|m| i64::from(m.active_conns) * 2 < i64::from(m.weight))
}
