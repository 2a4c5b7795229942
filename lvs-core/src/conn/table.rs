//! The connection table.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::family::Tables;
use super::key::{Conn, ConnKey, Entry, Family, KIND_CONN, KIND_TEMPLATE, KeyHasher, Meta, OutKey};
use super::tcp::{self, CounterChange, Direction};
use super::timer::{Action, Wheel};
use super::{ConnFlags, ConnMut, ConnRef, TcpState, Timeouts};
use crate::time::Instant;
use crate::wire::IpProtocol;
use crate::wire::flow::FlowKey;

/// A handle to a connection: a slot and the slot's generation, so a handle kept past the
/// connection's removal is detected (every accessor returns `None` for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Slot, with the address family in the top bit.
    pub(super) slot: u32,
    pub(super) generation: u32,
}

const V6: u32 = 1 << 31;

/// What a batch lookup ([`ConnTable::lookup_v4_batch`]) found for one packet, to be confirmed
/// by [`ConnTable::resolve_v4`] when the packet is handled: the lookup's hashing and index
/// probe run for a whole batch at once, where their latencies overlap, and the per-packet
/// step only re-checks the entry. The default hint is "not looked up".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHint {
    /// The IPv4 slot found, with [`HINT_OUT`] for a reply; [`HINT_NONE`] for no hint.
    slot: u32,
    generation: u32,
    /// [`ConnTable::inserts`] at the lookup (low bits: a batch is far shorter than a wrap).
    inserts: u32,
}

/// An IPv4 TCP/UDP packet's `(protocol, source, source port, destination, destination
/// port)`, as the packet path reads it (no address enums).
pub type V4Tuple = (IpProtocol, Ipv4Addr, u16, Ipv4Addr, u16);

/// [`FlowHint::slot`]'s reply flag (IPv4 slots are below 2^31).
const HINT_OUT: u32 = 1 << 31;
/// [`FlowHint::slot`] of the empty hint: no slot is this large.
const HINT_NONE: u32 = u32::MAX;

impl Default for FlowHint {
    fn default() -> Self {
        Self {
            slot: HINT_NONE,
            generation: 0,
            inserts: 0,
        }
    }
}

/// Why an insert failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The capacity budget is used up: the DoS defense's hard limit. Drop the packet.
    #[error("connection table full ({budget} entries)")]
    Full {
        /// The configured budget.
        budget: usize,
    },
    /// A connection (or template) with the same in key exists.
    #[error("connection already exists")]
    Exists,
    /// The addresses are not all of one family (mixed-family tunnels are not supported).
    #[error("connection addresses of different families")]
    FamilyMismatch,
    /// The controlling template handle is stale.
    #[error("no such template")]
    NoSuchTemplate,
}

/// Keys warmed together: the most misses worth having in flight at once.
const WARM_BATCH: usize = 32;

/// The family of a warmed key (`None`: mixed families, never in the table).
#[derive(Clone, Copy)]
enum Fam {
    V4,
    V6,
    None,
}

/// Rounds a deadline up to whole seconds so nothing expires early.
#[inline]
fn deadline(now: Instant, timeout_secs: u32) -> u32 {
    let secs = now.as_nanos().div_ceil(1_000_000_000) + u64::from(timeout_secs);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Stores a new deadline; `true` when it moved before the queued one, so the wheel needs an
/// entry at it.
#[inline]
fn rearm(meta: &mut Meta, expires: u32) -> bool {
    meta.expires = expires;
    if expires < meta.queued {
        meta.queued = expires;
        true
    } else {
        false
    }
}

/// The packet path's lookup result for IPv4 entry `e` at `slot`, found in direction `dir`.
#[inline(always)]
fn v4_found(slot: u32, e: &Entry<Ipv4Addr>, dir: Direction) -> (ConnId, Direction, ConnRef<'_>) {
    let id = ConnId {
        slot,
        generation: e.meta.generation,
    };
    (id, dir, ConnRef::v4(e))
}

/// The connection table of one worker (module doc of [`super`]).
pub struct ConnTable {
    hasher: KeyHasher,
    v4: Tables<Ipv4Addr>,
    v6: Tables<Ipv6Addr>,
    wheel: Wheel,
    budget: usize,
    /// Entries inserted so far (wrapping): a [`FlowHint`] for a reply is only trusted while
    /// no entry came in after it (a new connection could own the tuple as its in key, which
    /// wins).
    inserts: u32,
}

macro_rules! dispatch {
    ($self:expr, $tag:expr, |$t:ident, $slot:ident| $body:expr) => {{
        let $slot = $tag & !V6;
        if $tag & V6 == 0 {
            let $t = &$self.v4;
            $body
        } else {
            let $t = &$self.v6;
            $body
        }
    }};
    (mut $self:expr, $tag:expr, |$t:ident, $slot:ident| $body:expr) => {{
        let $slot = $tag & !V6;
        if $tag & V6 == 0 {
            let $t = &mut $self.v4;
            $body
        } else {
            let $t = &mut $self.v6;
            $body
        }
    }};
}

impl ConnTable {
    /// An empty table. `seed` keys the hash (pass a random value: the core has no randomness
    /// source); `budget` caps the number of entries (connections and templates).
    pub fn new(seed: u64, budget: usize) -> Self {
        let mut t = Self {
            hasher: KeyHasher::new(seed),
            v4: Tables::new(),
            v6: Tables::new(),
            wheel: Wheel::new(),
            budget,
            inserts: 0,
        };
        t.set_budget(budget);
        t
    }

    /// Number of entries (connections and templates).
    pub fn len(&self) -> usize {
        self.v4.slab.len() + self.v6.slab.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity budget.
    pub const fn budget(&self) -> usize {
        self.budget
    }

    /// Changes the budget; existing entries stay even above it.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        // Each family's entries stay in place up to the whole budget (address space only).
        self.v4.slab.plan(budget);
        self.v6.slab.plan(budget);
    }

    /// Bytes the table holds (the slabs' written entries, both indexes, the wheel). A slab's
    /// reserved but never written address space is not counted: no memory backs it.
    pub fn allocation_size(&self) -> usize {
        self.v4.allocation_size() + self.v6.allocation_size() + self.wheel.allocation_size()
    }

    /// Inserts a connection or, with [`ConnFlags::TEMPLATE`], a template, expiring
    /// `timeout_secs` from `now` (the kernel gives a new connection 3 s,
    /// [`Timeouts::NEW_CONN_SECS`], until its first packet is tracked).
    ///
    /// Flags as `ip_vs_bind_dest` leaves them: `NO_OUTPUT` for methods without replies, and a
    /// non-template connection not created by sync starts `INACTIVE` (the dest's `conn_flags`
    /// carry `IP_VS_CONN_F_INACTIVE`). A `control` template gets its controlled count bumped
    /// (`ip_vs_control_add`). NAT and FULLNAT connections get an out-index entry; several
    /// connections may share an out key (the first inserted is found).
    pub fn insert(
        &mut self,
        conn: &Conn,
        now: Instant,
        timeout_secs: u32,
    ) -> Result<ConnId, ConnError> {
        if self.len() >= self.budget {
            return Err(ConnError::Full {
                budget: self.budget,
            });
        }
        if let Some(control) = conn.control
            && self.get(control).is_none()
        {
            return Err(ConnError::NoSuchTemplate);
        }
        let mut flags = conn.flags;
        if !conn.fwd.sees_replies() {
            flags.insert(ConnFlags::NO_OUTPUT);
        }
        if !flags.contains(ConnFlags::TEMPLATE) && !flags.contains(ConnFlags::SYNC) {
            flags.insert(ConnFlags::INACTIVE);
        }
        flags.insert(ConnFlags::LIVE);
        let expires = deadline(now, timeout_secs);
        let (control_slot, control_gen) = conn
            .control
            .map_or((u32::MAX, 0), |c| (c.slot, c.generation));
        let meta = Meta {
            cport: conn.cport,
            vport: conn.vport,
            dport: conn.dport,
            lport: conn.lport,
            expires,
            queued: expires,
            svc: conn.svc,
            dest: conn.dest,
            control_slot,
            control_gen,
            n_control: 0,
            generation: 0,
            proto: u8::from(conn.proto),
            fwd: conn.fwd as u8,
            state: conn.state,
            flags,
            in_pkts: 0,
        };
        let h = &self.hasher;
        let (tag, generation) = match (conn.caddr, conn.vaddr, conn.daddr) {
            (IpAddr::V4(c), IpAddr::V4(v), IpAddr::V4(d)) => {
                let l = Ipv4Addr::from_ip(conn.laddr).unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.v4.insert(
                    h,
                    Entry {
                        caddr: c,
                        vaddr: v,
                        daddr: d,
                        laddr: l,
                        meta,
                    },
                )?
            }
            (IpAddr::V6(c), IpAddr::V6(v), IpAddr::V6(d)) => {
                let l = Ipv6Addr::from_ip(conn.laddr).unwrap_or(Ipv6Addr::UNSPECIFIED);
                let (slot, generation) = self.v6.insert(
                    h,
                    Entry {
                        caddr: c,
                        vaddr: v,
                        daddr: d,
                        laddr: l,
                        meta,
                    },
                )?;
                (V6 | slot, generation)
            }
            _ => return Err(ConnError::FamilyMismatch),
        };
        if let Some(control) = conn.control
            && let Some(t) = self.meta_mut(control)
        {
            t.n_control += 1;
        }
        self.wheel.schedule(tag, expires);
        self.inserts = self.inserts.wrapping_add(1);
        Ok(ConnId {
            slot: tag,
            generation,
        })
    }

    /// The connection a client packet belongs to (templates never match).
    #[inline]
    pub fn lookup_in(&self, key: &ConnKey) -> Option<ConnId> {
        self.lookup_kind(key, KIND_CONN)
    }

    /// [`lookup_in`](Self::lookup_in) for a batch of packets: `out[i]` for `keys[i]` (the
    /// shorter of the two lengths is used), after [`warm`](Self::warm)ing their lines.
    pub fn lookup_in_batch(&self, keys: &[ConnKey], out: &mut [Option<ConnId>]) {
        for chunk in keys.chunks(WARM_BATCH) {
            let mut hashes = [(0, Fam::None); WARM_BATCH];
            for (slot, key) in hashes.iter_mut().zip(chunk) {
                *slot = self.packet_hash(key.proto, key.caddr, key.cport, key.vaddr, key.vport);
            }
            self.warm_hashes(&hashes[..chunk.len()]);
        }
        for (key, out) in keys.iter().zip(out) {
            *out = self.lookup_in(key);
        }
    }

    /// Loads the cache lines the lookups of these packets will read (index line, candidate
    /// entries), for packets about to be looked up with [`lookup_flow`](Self::lookup_flow).
    ///
    /// At millions of entries a lookup is two dependent cache misses (index line, entry).
    /// One at a time they serialise; here every packet's index line is loaded first, then
    /// every candidate entry, so the misses of a batch overlap. Both passes issue prefetch
    /// instructions (through `safe_arch`: the core forbids `unsafe`), which retire at once,
    /// so a whole batch of misses is in flight, not just what the reorder buffer holds.
    pub fn warm(&self, flows: &[FlowKey]) {
        for chunk in flows.chunks(WARM_BATCH) {
            let mut hashes = [(0, Fam::None); WARM_BATCH];
            for (slot, f) in hashes.iter_mut().zip(chunk) {
                *slot = self.packet_hash(f.proto, f.src_addr, f.src_port, f.dst_addr, f.dst_port);
            }
            self.warm_hashes(&hashes[..chunk.len()]);
        }
    }

    #[inline]
    fn packet_hash(
        &self,
        proto: IpProtocol,
        src: IpAddr,
        sp: u16,
        dst: IpAddr,
        dp: u16,
    ) -> (u64, Fam) {
        let h = &self.hasher;
        let p = u8::from(proto);
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                (Ipv4Addr::hash(h, KIND_CONN, p, s, sp, d, dp), Fam::V4)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                (Ipv6Addr::hash(h, KIND_CONN, p, s, sp, d, dp), Fam::V6)
            }
            _ => (0, Fam::None),
        }
    }

    fn warm_hashes(&self, hashes: &[(u64, Fam)]) {
        for &(hash, fam) in hashes {
            match fam {
                Fam::V4 => self.v4.warm_index(hash),
                Fam::V6 => self.v6.warm_index(hash),
                Fam::None => {}
            }
        }
        for &(hash, fam) in hashes {
            match fam {
                Fam::V4 => self.v4.warm_entries(hash),
                Fam::V6 => self.v6.warm_entries(hash),
                Fam::None => {}
            }
        }
    }

    /// The connection a packet belongs to, from the packet's own tuple: a client packet's in
    /// key ([`Direction::In`]) or a real-server reply's out key ([`Direction::Out`]), found
    /// with one hash and one index probe. When a tuple is both (a client that is also a real
    /// server), the in match wins, as [`lookup_in`](Self::lookup_in) before
    /// [`lookup_out`](Self::lookup_out) would have it.
    #[inline]
    pub fn lookup_flow(&self, flow: &FlowKey) -> Option<(ConnId, Direction)> {
        self.lookup_flow_ref(flow).map(|(id, dir, _)| (id, dir))
    }

    /// [`lookup_flow_ref`](Self::lookup_flow_ref) for an IPv4 packet `src:sp -> dst:dp`
    /// (the packet path's entry: no address enums).
    #[inline(always)]
    pub fn lookup_v4(
        &self,
        proto: IpProtocol,
        src: Ipv4Addr,
        sp: u16,
        dst: Ipv4Addr,
        dp: u16,
    ) -> Option<(ConnId, Direction, ConnRef<'_>)> {
        let p = u8::from(proto);
        let hash = Ipv4Addr::hash(&self.hasher, KIND_CONN, p, src, sp, dst, dp);
        let (slot, out) = self.v4.find_packet(hash, p, src, sp, dst, dp)?;
        let dir = if out { Direction::Out } else { Direction::In };
        Some(v4_found(slot, self.v4.slab.get(slot)?, dir))
    }

    /// [`lookup_v4`](Self::lookup_v4) for a batch of IPv4 packets `(proto, src, sport, dst,
    /// dport)`, `None` for a frame that is not one: `hints[i]` for `packets[i]` (the shorter
    /// length is used). Every packet's index line is prefetched first, then every candidate
    /// entry ([`warm`](Self::warm)'s two passes), then the probes run, so the lookups' DRAM
    /// misses and dependency chains overlap. Purely a lookup: nothing changes.
    pub fn lookup_v4_batch(&self, packets: &[Option<V4Tuple>], hints: &mut [FlowHint]) {
        for (chunk, hints) in packets.chunks(WARM_BATCH).zip(hints.chunks_mut(WARM_BATCH)) {
            let mut hashes = [(0, Fam::None); WARM_BATCH];
            for (slot, packet) in hashes.iter_mut().zip(chunk) {
                if let &Some((p, s, sp, d, dp)) = packet {
                    let hash = Ipv4Addr::hash(&self.hasher, KIND_CONN, u8::from(p), s, sp, d, dp);
                    *slot = (hash, Fam::V4);
                }
            }
            self.warm_hashes(&hashes[..chunk.len()]);
            for ((hint, &(hash, _)), packet) in hints.iter_mut().zip(&hashes).zip(chunk) {
                let Some((p, s, sp, d, dp)) = *packet else {
                    *hint = FlowHint::default();
                    continue;
                };
                *hint = self
                    .v4
                    .find_packet(hash, u8::from(p), s, sp, d, dp)
                    .and_then(|(slot, out)| {
                        Some(FlowHint {
                            slot: if out { slot | HINT_OUT } else { slot },
                            generation: self.v4.slab.get(slot)?.meta.generation,
                            inserts: self.inserts,
                        })
                    })
                    .unwrap_or_default();
            }
        }
    }

    /// What [`lookup_v4`](Self::lookup_v4) returns now for this packet, from `hint` (the
    /// batch lookup of the same packet) when it still holds: the entry is live, the same
    /// generation, its key still the packet's, and for a reply no entry inserted since.
    /// `None` when the hint cannot say (no hint, a miss, or something changed): then call
    /// [`lookup_v4`](Self::lookup_v4).
    #[inline]
    pub fn resolve_v4(
        &self,
        hint: FlowHint,
        proto: IpProtocol,
        src: Ipv4Addr,
        sp: u16,
        dst: Ipv4Addr,
        dp: u16,
    ) -> Option<(ConnId, Direction, ConnRef<'_>)> {
        if hint.slot == HINT_NONE {
            return None;
        }
        let slot = hint.slot & !HINT_OUT;
        let e = self.v4.slab.get(slot)?;
        if !e.is_live() || e.meta.generation != hint.generation {
            return None;
        }
        let p = u8::from(proto);
        let dir = if hint.slot & HINT_OUT != 0 {
            if hint.inserts != self.inserts || !e.matches_out(p, src, sp, dst, dp) {
                return None;
            }
            Direction::Out
        } else {
            if !e.matches_in(KIND_CONN, p, src, sp, dst, dp) {
                return None;
            }
            Direction::In
        };
        Some(v4_found(slot, e, dir))
    }

    /// [`lookup_flow`](Self::lookup_flow) with a view of the connection found (the packet
    /// path reads it at once: no second trip through the handle).
    #[inline]
    pub fn lookup_flow_ref(&self, flow: &FlowKey) -> Option<(ConnId, Direction, ConnRef<'_>)> {
        let (hash, fam) = self.packet_hash(
            flow.proto,
            flow.src_addr,
            flow.src_port,
            flow.dst_addr,
            flow.dst_port,
        );
        let p = u8::from(flow.proto);
        let dir = |out| if out { Direction::Out } else { Direction::In };
        match (fam, flow.src_addr, flow.dst_addr) {
            (Fam::V4, IpAddr::V4(s), IpAddr::V4(d)) => {
                let (slot, out) =
                    self.v4
                        .find_packet(hash, p, s, flow.src_port, d, flow.dst_port)?;
                let e = self.v4.slab.get(slot)?;
                let id = ConnId {
                    slot,
                    generation: e.meta.generation,
                };
                Some((id, dir(out), ConnRef::v4(e)))
            }
            (Fam::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
                let (slot, out) =
                    self.v6
                        .find_packet(hash, p, s, flow.src_port, d, flow.dst_port)?;
                let e = self.v6.slab.get(slot)?;
                let id = ConnId {
                    slot: V6 | slot,
                    generation: e.meta.generation,
                };
                Some((id, dir(out), ConnRef::v6(e)))
            }
            _ => None,
        }
    }

    /// The persistence template with this key (`ip_vs_ct_in_get`).
    #[inline]
    pub fn lookup_template(&self, key: &ConnKey) -> Option<ConnId> {
        self.lookup_kind(key, KIND_TEMPLATE)
    }

    #[inline]
    fn lookup_kind(&self, key: &ConnKey, kind: u8) -> Option<ConnId> {
        let h = &self.hasher;
        let p = u8::from(key.proto);
        match (key.caddr, key.vaddr) {
            (IpAddr::V4(c), IpAddr::V4(v)) => {
                self.v4_id(self.v4.find_in(h, kind, p, c, key.cport, v, key.vport)?)
            }
            (IpAddr::V6(c), IpAddr::V6(v)) => {
                self.v6_id(self.v6.find_in(h, kind, p, c, key.cport, v, key.vport)?)
            }
            _ => None,
        }
    }

    /// The NAT or FULLNAT connection a real-server reply belongs to.
    #[inline]
    pub fn lookup_out(&self, key: &OutKey) -> Option<ConnId> {
        let h = &self.hasher;
        let p = u8::from(key.proto);
        match (key.daddr, key.addr) {
            (IpAddr::V4(d), IpAddr::V4(b)) => {
                self.v4_id(self.v4.find_out(h, p, d, key.dport, b, key.port)?)
            }
            (IpAddr::V6(d), IpAddr::V6(b)) => {
                self.v6_id(self.v6.find_out(h, p, d, key.dport, b, key.port)?)
            }
            _ => None,
        }
    }

    /// The id of live IPv4 slot `slot`.
    #[inline]
    fn v4_id(&self, slot: u32) -> Option<ConnId> {
        let generation = self.v4.slab.get(slot)?.meta.generation;
        Some(ConnId { slot, generation })
    }

    /// The id of live IPv6 slot `slot`.
    #[inline]
    fn v6_id(&self, slot: u32) -> Option<ConnId> {
        let generation = self.v6.slab.get(slot)?.meta.generation;
        Some(ConnId {
            slot: V6 | slot,
            generation,
        })
    }

    /// A read view of a live connection.
    #[inline]
    pub fn get(&self, id: ConnId) -> Option<ConnRef<'_>> {
        if id.slot & V6 == 0 {
            let e = self.v4.slab.get(id.slot)?;
            (e.is_live() && e.meta.generation == id.generation).then(|| ConnRef::v4(e))
        } else {
            let e = self.v6.slab.get(id.slot & !V6)?;
            (e.is_live() && e.meta.generation == id.generation).then(|| ConnRef::v6(e))
        }
    }

    #[inline(always)]
    pub(super) fn meta_mut(&mut self, id: ConnId) -> Option<&mut Meta> {
        let meta = dispatch!(mut self, id.slot, |t, s| &mut t.slab.get_mut(s)?.meta);
        (meta.flags.contains(ConnFlags::LIVE) && meta.generation == id.generation).then_some(meta)
    }

    /// Sets the deadline to `timeout_secs` from `now`. Per packet this only stores the
    /// deadline; the timer wheel is touched only when the deadline moves earlier. `false` for
    /// a stale handle.
    #[inline]
    pub fn touch(&mut self, id: ConnId, now: Instant, timeout_secs: u32) -> bool {
        let expires = deadline(now, timeout_secs);
        let Some(meta) = self.meta_mut(id) else {
            return false;
        };
        if rearm(meta, expires) {
            self.wheel.schedule(id.slot, expires);
        }
        true
    }

    /// Tracks one TCP segment (`set_tcp_state`): picks the next state from the normal or
    /// `secure_tcp` table, applies the INPUT-ONLY rule, re-arms the timeout of the new state
    /// and returns how the dest counters move (`None` for a stale handle).
    #[inline(always)]
    pub fn track_tcp(
        &mut self,
        id: ConnId,
        now: Instant,
        direction: Direction,
        tcp_flags: u8,
        secure_tcp: bool,
        timeouts: &Timeouts,
    ) -> Option<CounterChange> {
        let meta = self.meta_mut(id)?;
        let state = TcpState::from_u8(meta.state).unwrap_or_default();
        let t = tcp::track(
            tcp::state_table(secure_tcp),
            state,
            &mut meta.flags,
            direction,
            tcp_flags,
        );
        meta.state = t.state as u8;
        let expires = deadline(now, timeouts.tcp(t.state));
        if rearm(meta, expires) {
            self.wheel.schedule(id.slot, expires);
        }
        Some(t.counters)
    }

    /// A mutable view of a live connection.
    pub fn get_mut(&mut self, id: ConnId) -> Option<ConnMut<'_>> {
        if id.slot & V6 == 0 {
            let e = self.v4.slab.get_mut(id.slot)?;
            (e.is_live() && e.meta.generation == id.generation).then(|| ConnMut::v4(e))
        } else {
            let e = self.v6.slab.get_mut(id.slot & !V6)?;
            (e.is_live() && e.meta.generation == id.generation).then(|| ConnMut::v6(e))
        }
    }

    /// Makes a connection expire at the next [`expire`](Self::expire) at or after `now`
    /// (`ip_vs_conn_expire_now`, e.g. `expire_nodest_conn`). A template that still controls
    /// connections is re-armed then, as on any expiry.
    pub fn expire_now(&mut self, id: ConnId, now: Instant) -> bool {
        self.touch(id, now, 0)
    }

    /// Reserves index room for `v4` more IPv4 and `v6` more IPv6 connections, so that
    /// growth (a rehash of every entry) happens here rather than on a new connection.
    pub fn reserve(&mut self, v4: usize, v6: usize) {
        let h = &self.hasher;
        self.v4.reserve(h, v4);
        self.v6.reserve(h, v6);
    }

    /// Removes an entry now, unlinking it from its template (`ip_vs_control_del`).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        self.get(id)?;
        let h = &self.hasher;
        let conn = dispatch!(mut self, id.slot, |t, s| t.remove(h, s).map(|e| e.conn()))?;
        if let Some(control) = conn.control
            && let Some(t) = self.meta_mut(control)
        {
            t.n_control = t.n_control.saturating_sub(1);
        }
        Some(conn)
    }

    /// One round of the `drop_entry` defense (`ip_vs_random_dropentry`, run each second while
    /// the defense is on): scans a 1/32 slice of each family's slots, starting at `start` (a
    /// random value from the caller), and removes the half-open TCP connections in it
    /// (SYN_RECV, SYNACK) that control nothing, pushing them onto `out`. Returns how many.
    ///
    /// Only the half-open part of the rules: the whole of them (idle ESTABLISHED and UDP
    /// entries with 1 to 8 client packets, unanswered SCTP INITs) is
    /// [`ConnTable::random_drop_entry`], which the director uses.
    pub fn drop_half_open(&mut self, start: u64, out: &mut Vec<(ConnId, Conn)>) -> usize {
        self.remove_in_slice(
            start,
            |c| {
                matches!(c.tcp_state(), Some(TcpState::SynRecv | TcpState::SynAck))
                    && c.n_control() == 0
            },
            out,
        )
    }

    /// One round of a random slice scan (the `drop_entry` defense, [`super::dropentry`]):
    /// visits a 1/32 slice of each family's slots from `start` (a random value from the
    /// caller) and removes the live entries `pick` chooses, pushing them onto `out`. Returns
    /// how many.
    pub fn remove_in_slice(
        &mut self,
        start: u64,
        mut pick: impl FnMut(ConnRef<'_>) -> bool,
        out: &mut Vec<(ConnId, Conn)>,
    ) -> usize {
        let before = out.len();
        for family in [0, V6] {
            let used = if family == 0 {
                self.v4.slab.used()
            } else {
                self.v6.slab.used()
            };
            if used == 0 {
                continue;
            }
            let first = (start % u64::from(used)) as u32;
            for k in 0..used.div_ceil(32) {
                let tag = family | ((first + k) % used);
                let id = ConnId {
                    slot: tag,
                    generation: dispatch!(self, tag, |t, s| t
                        .slab
                        .get(s)
                        .map_or(0, |e| e.meta.generation)),
                };
                if let Some(c) = self.get(id)
                    && pick(c)
                    && let Some(conn) = self.remove(id)
                {
                    out.push((id, conn));
                }
            }
        }
        out.len() - before
    }

    /// Every live entry, for listings (`ipvsadm -Lc`); order unspecified.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, ConnRef<'_>)> {
        let v4 = self.v4.slab.iter().map(|(s, e)| {
            (
                ConnId {
                    slot: s,
                    generation: e.meta.generation,
                },
                ConnRef::v4(e),
            )
        });
        let v6 = self.v6.slab.iter().map(|(s, e)| {
            (
                ConnId {
                    slot: V6 | s,
                    generation: e.meta.generation,
                },
                ConnRef::v6(e),
            )
        });
        v4.chain(v6)
    }

    /// A time at or before the next expiry (the wheel's next non-empty second), `None` when
    /// the table is empty. Calling [`expire`](Self::expire) then may expire nothing: the
    /// entries found may have been re-armed by traffic.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        self.wheel.next_tick().map(Instant::from_secs)
    }

    /// Expires every entry whose deadline is at or before `now`, pushing each with its old
    /// handle onto `out` (the caller decrements the dest counter its flags name), and
    /// returns [`next_deadline`](Self::next_deadline).
    ///
    /// As `ip_vs_conn_expire`: an entry that still controls connections (a template with
    /// connections) is not removed but re-armed for 60 s
    /// ([`Timeouts::CONTROL_REARM_SECS`]); an expiring connection decrements its template's
    /// count.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<(ConnId, Conn)>) -> Option<Instant> {
        let now_secs = now.as_secs();
        let mut wheel = core::mem::replace(&mut self.wheel, Wheel::empty());
        wheel.advance(now_secs, |tag, queued_at, due| {
            self.on_due(tag, queued_at, due, now_secs, out)
        });
        self.wheel = wheel;
        self.next_deadline()
    }

    fn on_due(
        &mut self,
        tag: u32,
        queued_at: u32,
        due: bool,
        now_secs: u64,
        out: &mut Vec<(ConnId, Conn)>,
    ) -> Action {
        let Some(meta) = dispatch!(mut self, tag, |t, s| t.slab.get_mut(s).map(|e| &mut e.meta))
        else {
            return Action::Drop;
        };
        if !meta.flags.contains(ConnFlags::LIVE) || meta.queued != queued_at {
            return Action::Drop;
        }
        if !due {
            return Action::Keep;
        }
        if u64::from(meta.expires) > now_secs {
            meta.queued = meta.expires;
            return Action::Rearm(meta.expires);
        }
        if meta.n_control > 0 {
            let later = u32::try_from(now_secs + u64::from(Timeouts::CONTROL_REARM_SECS))
                .unwrap_or(u32::MAX);
            meta.expires = later;
            meta.queued = later;
            return Action::Rearm(later);
        }
        let id = ConnId {
            slot: tag,
            generation: meta.generation,
        };
        if let Some(conn) = self.remove(id) {
            out.push((id, conn));
        }
        Action::Drop
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::conn::ForwardMethod;

    /// Addresses and ports from a tiny space, so in keys of some connections are out keys of
    /// others (a client that is also a real server), both families.
    fn addr(k: u8, v6: bool) -> IpAddr {
        if v6 {
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(k)).into()
        } else {
            Ipv4Addr::new(10, 0, 0, k).into()
        }
    }

    #[derive(Clone, Debug)]
    struct Spec {
        c: u8,
        cp: u16,
        v: u8,
        vp: u16,
        d: u8,
        dp: u16,
        fwd: ForwardMethod,
        template: bool,
        v6: bool,
        udp: bool,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let small = || 0u8..3;
        let port = || prop::sample::select(vec![80u16, 1000, 8080]);
        (
            (small(), port(), small(), port(), small(), port()),
            prop::sample::select(vec![
                ForwardMethod::Nat,
                ForwardMethod::FullNat,
                ForwardMethod::Dr,
                ForwardMethod::Tun,
            ]),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
        )
            .prop_map(|((c, cp, v, vp, d, dp), fwd, template, v6, udp)| Spec {
                c,
                cp,
                v,
                vp,
                d,
                dp,
                fwd,
                template,
                v6,
                udp,
            })
    }

    fn conn(s: &Spec) -> Conn {
        Conn {
            proto: if s.udp {
                IpProtocol::Udp
            } else {
                IpProtocol::Tcp
            },
            fwd: s.fwd,
            caddr: addr(s.c, s.v6),
            cport: s.cp,
            vaddr: addr(s.v, s.v6),
            vport: s.vp,
            daddr: addr(s.d, s.v6),
            dport: s.dp,
            laddr: addr(s.v, s.v6),
            lport: s.cp ^ 1,
            state: 0,
            flags: if s.template {
                ConnFlags::TEMPLATE
            } else {
                ConnFlags::empty()
            },
            svc: 0,
            dest: 0,
            control: None,
            expires: Instant::ZERO,
        }
    }

    proptest! {
        /// One probe for both directions answers as the in lookup, then the out lookup,
        /// would: for every tuple of the space, after random inserts and removals.
        #[test]
        fn lookup_flow_is_lookup_in_then_lookup_out(
            ops in proptest::collection::vec((spec(), any::<bool>()), 1..40),
        ) {
            let mut t = ConnTable::new(3, usize::MAX);
            let mut ids = Vec::new();
            for (s, remove) in &ops {
                if *remove && !ids.is_empty() {
                    let id: ConnId = ids.swap_remove(usize::from(s.c) % ids.len());
                    prop_assert!(t.remove(id).is_some());
                } else if let Ok(id) = t.insert(&conn(s), Instant::ZERO, 60) {
                    ids.push(id);
                }
            }
            for v6 in [false, true] {
                for udp in [false, true] {
                    let proto = if udp { IpProtocol::Udp } else { IpProtocol::Tcp };
                    for (a, ap, b, bp) in tuples() {
                        let (src, dst) = (addr(a, v6), addr(b, v6));
                        let flow = FlowKey { proto, src_addr: src, src_port: ap, dst_addr: dst, dst_port: bp };
                        let by_in = t.lookup_in(&ConnKey { proto, caddr: src, cport: ap, vaddr: dst, vport: bp });
                        let by_out = t.lookup_out(&OutKey { proto, daddr: src, dport: ap, addr: dst, port: bp });
                        let want = by_in
                            .map(|id| (id, Direction::In))
                            .or(by_out.map(|id| (id, Direction::Out)));
                        prop_assert_eq!(t.lookup_flow(&flow), want);
                        if let (IpAddr::V4(s4), IpAddr::V4(d4)) = (src, dst) {
                            let v4 = t.lookup_v4(proto, s4, ap, d4, bp).map(|(id, dir, c)| {
                                assert_eq!(t.get(id).map(|r| r.to_conn()), Some(c.to_conn()));
                                (id, dir)
                            });
                            prop_assert_eq!(v4, want);
                        }
                    }
                }
            }
            // Removing the rest leaves no index entry behind, placed or pending.
            for id in ids {
                prop_assert!(t.remove(id).is_some());
            }
            prop_assert_eq!(t.v4.index_entries() + t.v6.index_entries(), 0);
        }
    }

    /// A reply's hint is not trusted once a connection came in whose in key is the reply's
    /// tuple (a client that is also a real server): the in match wins, as in `lookup_v4`.
    #[test]
    fn a_new_in_key_overrides_a_hinted_reply() {
        let spec = |c, cp, v, vp, d, dp, fwd| Spec {
            c,
            cp,
            v,
            vp,
            d,
            dp,
            fwd,
            template: false,
            v6: false,
            udp: false,
        };
        let mut t = ConnTable::new(5, usize::MAX);
        let add = |t: &mut ConnTable, s: Spec| t.insert(&conn(&s), Instant::ZERO, 60).unwrap();
        let a = add(&mut t, spec(0, 1000, 1, 80, 2, 8080, ForwardMethod::Nat));
        let v4 = |k| Ipv4Addr::new(10, 0, 0, k);
        let reply = [Some((IpProtocol::Tcp, v4(2), 8080, v4(0), 1000))];
        let mut hint = [FlowHint::default()];
        t.lookup_v4_batch(&reply, &mut hint);
        let (p, s, sp, d, dp) = reply[0].unwrap();
        let got = t
            .resolve_v4(hint[0], p, s, sp, d, dp)
            .map(|(id, dir, _)| (id, dir));
        assert_eq!(got, Some((a, Direction::Out)));
        let b = add(&mut t, spec(2, 8080, 0, 1000, 1, 80, ForwardMethod::Dr));
        assert!(t.resolve_v4(hint[0], p, s, sp, d, dp).is_none());
        let fresh = t.lookup_v4(p, s, sp, d, dp).map(|(id, dir, _)| (id, dir));
        assert_eq!(fresh, Some((b, Direction::In)));
    }

    proptest! {
        /// A batch lookup's hints, checked after any later inserts and removals, answer as
        /// a fresh lookup would (or decline): a hint never names the wrong connection, even
        /// when a new connection's in key takes over a hinted reply's tuple.
        #[test]
        fn hints_resolve_as_a_fresh_lookup(
            before in proptest::collection::vec((spec(), any::<bool>()), 1..30),
            after in proptest::collection::vec((spec(), any::<bool>()), 0..10),
        ) {
            let mut t = ConnTable::new(5, usize::MAX);
            let mut ids = Vec::new();
            let mut apply = |t: &mut ConnTable, ops: &[(Spec, bool)]| {
                for (s, remove) in ops {
                    if *remove && !ids.is_empty() {
                        let id: ConnId = ids.swap_remove(usize::from(s.c) % ids.len());
                        assert!(t.remove(id).is_some());
                    } else if let Ok(id) = t.insert(&conn(s), Instant::ZERO, 60) {
                        ids.push(id);
                    }
                }
            };
            apply(&mut t, &before);
            let packets: Vec<_> = [IpProtocol::Tcp, IpProtocol::Udp]
                .into_iter()
                .flat_map(|p| tuples().map(move |(a, ap, b, bp)| (p, a, ap, b, bp)))
                .filter_map(|(p, a, ap, b, bp)| match (addr(a, false), addr(b, false)) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => Some((p, s, ap, d, bp)),
                    _ => None,
                })
                .collect();
            let mut hints = vec![FlowHint::default(); packets.len()];
            let keys: Vec<_> = packets.iter().copied().map(Some).collect();
            t.lookup_v4_batch(&keys, &mut hints);
            for (&(p, s, sp, d, dp), &h) in packets.iter().zip(&hints) {
                let fresh = t.lookup_v4(p, s, sp, d, dp).map(|(id, dir, _)| (id, dir));
                prop_assert_eq!(h != FlowHint::default(), fresh.is_some());
                let hinted = t.resolve_v4(h, p, s, sp, d, dp).map(|(id, dir, _)| (id, dir));
                prop_assert_eq!(hinted, fresh);
            }
            apply(&mut t, &after);
            for (&(p, s, sp, d, dp), &h) in packets.iter().zip(&hints) {
                let fresh = t.lookup_v4(p, s, sp, d, dp).map(|(id, dir, _)| (id, dir));
                if let Some(hinted) = t.resolve_v4(h, p, s, sp, d, dp) {
                    prop_assert_eq!(Some((hinted.0, hinted.1)), fresh);
                }
            }
        }
    }

    /// Every (address, port, address, port) of the test space.
    fn tuples() -> impl Iterator<Item = (u8, u16, u8, u16)> {
        let ports = [80u16, 1000, 1001, 8080];
        (0u8..3).flat_map(move |a| {
            ports.into_iter().flat_map(move |ap| {
                (0u8..3).flat_map(move |b| ports.into_iter().map(move |bp| (a, ap, b, bp)))
            })
        })
    }
}
