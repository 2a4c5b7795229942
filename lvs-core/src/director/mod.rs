//! The director: the whole of IPVS as one sans-IO state machine (issue 4).
//!
//! ```text
//!   handle_packet(now, PacketBuf) -> Verdict        data plane, per frame
//!     wire::flow::extract -> FlowKey + offsets
//!     ConnTable::lookup_in / lookup_out             established flows: no allocation
//!       tcp state table (IN / OUT / INPUT-ONLY), re-arm, dest active/inactive counters
//!     miss: classifier (fwmark) -> ServiceTable::schedule (templates) -> ConnTable::insert
//!     rewrite::{nat, fullnat(+TOA, MSS), dr, tunnel} + TTL, related ICMP via the quote
//!   handle_timeout(now) / poll_timeout()            conn + template expiry, schedulers,
//!                                                   estimator (2 s), defense (1 s)
//!   poll_transmit(now, buf)                         ICMP errors, ARP/NA answers, GARP
//!   poll_event()                                    conn created/expired, overload, config
//!   apply(cmd, now) / replace_config(cmds, now)     control plane
//!   snapshot() / conns(now)                         ipvsadm -L, --stats, --rate, -Lc
//! ```
//!
//! # Design notes
//!
//! **Templates live in one place**: the service table ([`crate::service`]) owns persistence
//! templates, because `ServiceTable::schedule` is where `ip_vs_sched_persist` checks and
//! creates them. The connection table's template support is not used. A connection created
//! under a template remembers its `TemplateId` in a side map (only persistent services pay
//! for it) so expiry hands the template its `n_control` back.
//!
//! **Next hops and MACs**: the core keeps a small IP -> MAC neighbour cache, filled from the
//! static entries of [`DirectorConfig::neighbours`] and from the ARP and NS/NA frames the data
//! plane hands to `handle_packet` (learned entries never replace static ones, and their number
//! is capped). A forwarded frame gets the destination MAC from the cache when its next hop is
//! known; otherwise [`NextHop::mac`] is `None` and `lvs-net` resolves the miss (its own ARP/ND
//! or the kernel's neighbour table), writes the MAC, and may feed it back with
//! [`Director::learn_neighbour`]. The core never sends ARP requests: retries and their timers
//! belong with the sockets. It does answer ARP and NS for [`DirectorConfig::vips`] and sends
//! gratuitous ARP / unsolicited NA on [`Director::announce_vips`].
//!
//! **Originated packets** (ICMP time-exceeded and fragmentation-needed, the port unreachable
//! of `ip_vs_leave` when a service has no usable dest, ND answers that do not fit over the
//! request, gratuitous ARP) are queued and leave through [`Director::poll_transmit`]; the
//! queue is bounded, and port unreachables also take a token from the kernel's global ICMP
//! budget (1000/s, burst 50).
//!
//! **N workers**: one `Director` per worker thread, no shared state on the packet path. The
//! data plane steers both directions of a connection to the same worker by the client
//! endpoint, FULLNAT local ports are split per worker (see [`crate::conn`]'s note). The
//! control plane applies each command to every worker; counters are summed across workers
//! by the snapshot reader.
//!
//! **Performance** (`benches/director.rs`; figures in the README's Benchmarks section): an
//! established packet is parse + lookup + state + rewrite + TTL + counters + MACs. IPv4
//! TCP/UDP packets of NAT, DR and local connections take the `fastpath` module's fixed-offset
//! path (one hash and one index probe for either direction, the entry read once), and so
//! does a new NAT/DR connection's first packet once scheduled. A data plane hands frames in
//! batches: [`Director::lookup_batch`] runs the batch's lookups together (their dependency
//! chains overlap, and beyond cache sizes their DRAM misses too, by prefetching) and
//! [`Director::handle_packet_hinted`] re-checks each result instead of looking up again. A
//! new connection's cost is mostly the service table (scheduling, dest counters) and the
//! connection table (insert, index, expiry).
//!
//! **SCTP** associations are tracked with the kernel's SCTP state table
//! ([`crate::conn::sctp`]): the first chunk of each packet (an ABORT bundled after a COOKIE
//! ECHO/ACK wins) moves the state, which picks the timeout and the active/inactive counter;
//! an INIT on a CLOSED association is scheduled afresh (`conn_reuse_mode`).
//!
//! **The budget** ([`DirectorConfig::conn_budget`]) counts connections and persistence
//! templates alike (each is an `ip_vs_conn` in the kernel): a new connection that would need
//! more is dropped ([`DropReason::TableFull`]), and the DoS defense measures its pressure on
//! the sum.

mod classifier;
mod config;
mod control;
mod defense;
mod event;
mod fastpath;
mod icmp;
mod neighbour;
mod new_conn;
mod packet;
mod snapshot;
mod stats;
mod sync;
mod verdict;
mod xmit;

use std::collections::VecDeque;
use std::net::IpAddr;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use classifier::{FwmarkRule, Prefix};
pub use config::{DirectorConfig, FullNatPool, PortShare, Sysctls};
pub use event::{ConnSummary, Event};
pub use snapshot::{ConnSnapshot, DestSnapshot, DirectorSnapshot, ServiceSnapshot};
pub use stats::{ESTIMATOR_INTERVAL, Rates, Stats};
pub use sync::{SyncCounters, SyncImport};
pub use verdict::{DropCounters, DropReason, NextHop, Verdict};

use crate::conn::{Conn, ConnId, ConnTable, FlowHint, Timeouts};
use crate::ipvsadm::ServiceKey;
use crate::rewrite::PacketBuf;
use crate::sched::SchedConfig;
use crate::service::{ServiceTable, TemplateId};
use crate::time::Instant;
use crate::wire::MacAddr;
use control::{DestRt, SvcRt};
use defense::Defense;
use neighbour::Neighbours;
use stats::Estimator;

/// The maps of the director hash with foldhash: their keys are not attacker-chosen in bulk
/// (services, dests, the connections of persistent or FULLNAT services), and SipHash costs more
/// than the rest of a new connection's bookkeeping.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// The most frames [`Director::lookup_batch`] looks at.
pub const PREFETCH_BATCH: usize = 32;

/// Connection count from which [`Director::lookup_batch`] looks batches up, by default
/// ([`DirectorConfig::batch_lookup_from`]): about where the table stops fitting a 2-4 MiB
/// last-level cache share. Below it every lookup hits anyway and the batch pass only adds
/// work (measured: 44 ns per established packet alone against 48-51 ns through the batch
/// at 1k connections).
pub const PREFETCH_MIN_CONNS: usize = 1 << 15;

/// Originated frames waiting for `poll_transmit`; more are dropped.
const TX_QUEUE_CAP: usize = 256;
/// The defense timer (`defense_work` runs every second).
const DEFENSE_INTERVAL: core::time::Duration = core::time::Duration::from_secs(1);

/// Dense ids for services and dests.
#[derive(Debug)]
struct Registry {
    svcs: Vec<SvcRt>,
    by_key: HashMap<ServiceKey, u32>,
    /// Indexed by `DestId`.
    dests: Vec<Option<DestRt>>,
    /// Addresses of the live inet services (fragments to them are dropped, not passed).
    vips: HashSet<IpAddr>,
}

/// FULLNAT local address allocation state of one pool.
#[derive(Debug)]
struct PoolCursor {
    next_addr: usize,
    next_port: u16,
}

/// The director (module doc).
pub struct Director {
    mac: MacAddr,
    /// Each port's MAC ([`DirectorConfig::port_macs`]).
    port_macs: Vec<MacAddr>,
    /// The port of the frame being handled ([`Director::handle_packet_on`]).
    in_port: usize,
    addrs: Vec<IpAddr>,
    vips: Vec<IpAddr>,
    path_mtu: u16,
    sysctls: Sysctls,
    /// [`DirectorConfig::conn_events`].
    conn_events: bool,
    /// [`DirectorConfig::batch_lookup_from`].
    batch_lookup_from: usize,
    timeouts: Timeouts,
    sched_config: SchedConfig,
    services: ServiceTable,
    conns: ConnTable,
    reg: Registry,
    fullnat: Vec<FullNatPool>,
    cursors: Vec<PoolCursor>,
    fwmark_rules: Vec<FwmarkRule>,
    /// Template of each connection created under one (module doc).
    templates_of: HashMap<ConnId, TemplateId>,
    /// FULLNAT TCP connections whose first data segment has not carried TOA yet.
    toa_pending: HashSet<ConnId>,
    neighbours: Neighbours,
    global: Stats,
    global_est: Estimator,
    next_estimate: Option<Instant>,
    next_defense: Option<Instant>,
    defense: Defense,
    drops: DropCounters,
    icmp_limit: icmp::IcmpLimit,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    events_lost: u64,
    expired: Vec<(ConnId, Conn)>,
    rng: StdRng,
    ip_ident: u16,
    /// Sync master state, only while syncing (`sync` module doc).
    sync: Option<Box<sync::SyncMaster>>,
    sync_counters: SyncCounters,
}

impl core::fmt::Debug for Director {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Director")
            .field("conns", &self.conns.len())
            .field("services", &self.reg.svcs.len())
            .finish_non_exhaustive()
    }
}

impl Director {
    /// A director with no services.
    pub fn new(config: DirectorConfig) -> Self {
        let sched_config = SchedConfig {
            seed: config.rng_seed,
            ..config.sched.clone()
        };
        let mut services = ServiceTable::new(sched_config.clone());
        services.set_expire_quiescent_template(config.sysctls.expire_quiescent_template);
        let mut neighbours = Neighbours::default();
        for &(ip, mac) in &config.neighbours {
            neighbours.add_static(ip, mac);
        }
        let cursors = config
            .fullnat
            .iter()
            .map(|p| PoolCursor {
                next_addr: 0,
                next_port: p.share.first_in(&p.ports).unwrap_or(*p.ports.start()),
            })
            .collect();
        Self {
            mac: config.mac,
            port_macs: config.port_macs,
            in_port: 0,
            addrs: config.addrs,
            vips: config.vips,
            path_mtu: config.path_mtu,
            sysctls: config.sysctls,
            conn_events: config.conn_events,
            batch_lookup_from: config.batch_lookup_from,
            timeouts: config.timeouts,
            sched_config,
            services,
            conns: ConnTable::new(config.hash_seed, config.conn_budget),
            reg: control::new_registry(),
            fullnat: config.fullnat,
            cursors,
            fwmark_rules: config.fwmark_rules,
            templates_of: HashMap::default(),
            toa_pending: HashSet::default(),
            neighbours,
            global: Stats::default(),
            global_est: Estimator::default(),
            next_estimate: None,
            next_defense: None,
            defense: Defense::default(),
            drops: DropCounters::default(),
            icmp_limit: icmp::IcmpLimit::new(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            events_lost: 0,
            expired: Vec::new(),
            rng: StdRng::seed_from_u64(config.rng_seed),
            ip_ident: 0,
            sync: None,
            sync_counters: SyncCounters::default(),
        }
    }

    /// Processes one received frame at `now`.
    ///
    /// Call it for every frame the data plane receives on a balanced interface. `pkt` is the
    /// frame inside the caller's buffer; reserve 64 bytes of headroom (or tailroom) so TOA
    /// insertion and tunnel encapsulation can grow it in place. The verdict borrows the
    /// buffer: act on it (send, reply, drop, pass to the host) before the next call. After a
    /// call, [`poll_transmit`](Self::poll_transmit) may have frames to send and
    /// [`poll_timeout`](Self::poll_timeout) may have moved earlier.
    pub fn handle_packet<'a>(&mut self, now: Instant, pkt: &'a mut PacketBuf<'_>) -> Verdict<'a> {
        self.handle_packet_on(now, 0, pkt)
    }

    /// [`handle_packet`](Self::handle_packet) for a frame received on port `port` (an index
    /// into [`DirectorConfig::port_macs`]): ARP and neighbour-discovery answers carry that
    /// port's MAC. [`handle_packet`](Self::handle_packet) is port 0.
    #[inline]
    pub fn handle_packet_on<'a>(
        &mut self,
        now: Instant,
        port: usize,
        pkt: &'a mut PacketBuf<'_>,
    ) -> Verdict<'a> {
        self.handle_packet_hinted(now, port, pkt, FlowHint::default())
    }

    /// [`handle_packet_on`](Self::handle_packet_on) for a frame whose connection
    /// [`lookup_batch`](Self::lookup_batch) looked up with the others of its batch. The
    /// result is the same as without the hint (a hint that no longer holds is ignored).
    #[inline(never)]
    pub fn handle_packet_hinted<'a>(
        &mut self,
        now: Instant,
        port: usize,
        pkt: &'a mut PacketBuf<'_>,
        hint: FlowHint,
    ) -> Verdict<'a> {
        self.in_port = port;
        let v = self.packet(now, pkt, hint);
        if let Verdict::Drop(reason) = v {
            self.drops.count(reason);
        }
        v
    }

    /// Looks up the connections of a batch of received frames (up to [`PREFETCH_BATCH`];
    /// more are ignored) before they are handled one by one with
    /// [`handle_packet_hinted`](Self::handle_packet_hinted): `hints[i]` for `frames[i]`.
    ///
    /// From [`DirectorConfig::batch_lookup_from`] connections on (by default
    /// [`PREFETCH_MIN_CONNS`]; below, every lookup hits the caches and the hints would only
    /// add work, so they come back empty) every index line and candidate entry is
    /// prefetched, then the lookups run together, so their DRAM misses and dependency chains
    /// overlap. Purely a lookup: no state changes. Frames other than IPv4 TCP/UDP get the
    /// empty hint.
    pub fn lookup_batch(&self, frames: &[&[u8]], hints: &mut [FlowHint]) {
        for h in hints.iter_mut() {
            *h = FlowHint::default();
        }
        if self.conn_count() < self.batch_lookup_from {
            return;
        }
        let n = frames.len().min(hints.len()).min(PREFETCH_BATCH);
        let mut keys = [None; PREFETCH_BATCH];
        for (key, frame) in keys.iter_mut().zip(&frames[..n]) {
            *key = fastpath::peek_v4(frame);
        }
        self.conns.lookup_v4_batch(&keys[..n], &mut hints[..n]);
    }

    /// Whether a GSO super-frame (many TCP/UDP segments behind one set of headers, which the
    /// data plane transmits for the kernel to segment) can go through
    /// [`handle_packet`](Self::handle_packet) whole. NAT, FULLNAT and DR rewrite headers the
    /// segments share, so the train is fine; TUN is not: the tunnel MTU check would refuse the
    /// train (and send the client a needless "fragmentation needed"), and an encapsulated
    /// train cannot be described to the kernel's segmentation. So `false` when the frame
    /// belongs to a TUN connection (the caller then segments it first). Frames of no
    /// connection in the client-to-VIP direction (replies, unknown flows) are accepted: a
    /// train is never the first packet of a connection. Purely a lookup, no state changes.
    pub fn gso_whole(&self, frame: &[u8]) -> bool {
        let Ok(info) = crate::wire::flow::extract(frame) else {
            return true;
        };
        self.conns
            .lookup_flow(&info.flow)
            .filter(|&(_, dir)| dir == crate::conn::Direction::In)
            .and_then(|(id, _)| self.conns.get(id))
            .is_none_or(|c| c.fwd() != crate::conn::ForwardMethod::Tun)
    }

    /// Runs every timer due at `now`: connection and template expiry, scheduler timers, the
    /// 2-second rate estimator and the 1-second DoS defense.
    ///
    /// Call it when the instant returned by [`poll_timeout`](Self::poll_timeout) has passed
    /// (calling it earlier or more often is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let est = *self
            .next_estimate
            .get_or_insert(now + stats::ESTIMATOR_INTERVAL);
        // The defense runs at once on the first call: a level-3 sysctl is in force from the start.
        let def = *self.next_defense.get_or_insert(now);
        let mut expired = core::mem::take(&mut self.expired);
        expired.clear();
        self.conns.expire(now, &mut expired);
        for (id, conn) in &expired {
            self.unbind(*id, conn, now);
        }
        self.expired = expired;
        self.services.handle_timeout(now);
        if now >= est {
            self.estimate();
            // Skip ticks missed while nobody called (the kernel's timer would have run them;
            // a catch-up burst would only smear the average).
            self.next_estimate = Some(est.next_tick_after(stats::ESTIMATOR_INTERVAL, now));
        }
        if now >= def {
            self.defense_tick(now);
            self.next_defense = Some(def.next_tick_after(DEFENSE_INTERVAL, now));
        }
    }

    /// The earliest instant [`handle_timeout`](Self::handle_timeout) has work: connection or
    /// template expiry, a scheduler timer, the estimator or the defense tick.
    /// Before the first `handle_timeout` it is [`Instant::ZERO`]: the periodic timers start
    /// at that first call.
    ///
    /// Call it after every `handle_*` and arm the data plane's timer with it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.next_defense.is_none() {
            return Some(Instant::ZERO);
        }
        [
            self.conns.next_deadline(),
            self.services.poll_timeout(),
            self.next_estimate,
            self.next_defense,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Writes the next frame the director originates (ICMP errors, ARP/ND answers that could
    /// not be written in place, gratuitous ARP) into `buf` and returns its length.
    ///
    /// Call it after every `handle_*` until it returns `None`. A frame larger than `buf` is
    /// discarded (give at least 1514 bytes).
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        while let Some(f) = self.tx.pop_front() {
            if let Some(out) = buf.get_mut(..f.len()) {
                out.copy_from_slice(&f);
                return Some(f.len());
            }
        }
        None
    }

    /// The next state change, oldest first. Call it after `handle_*` and `apply` until `None`;
    /// unread events beyond 4096 are dropped ([`events_lost`](Self::events_lost)).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Events dropped because the queue was full.
    pub fn events_lost(&self) -> u64 {
        self.events_lost
    }

    /// Per-reason drop counters.
    pub fn drop_counters(&self) -> &DropCounters {
        &self.drops
    }

    /// Number of connections in the table (templates live in the service table; the budget
    /// counts both).
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Bytes allocated by the connection table, the per-connection side maps and the
    /// persistence templates.
    pub fn conn_memory(&self) -> usize {
        self.conns.allocation_size()
            + self.services.template_memory()
            + self.templates_of.capacity() * (size_of::<(ConnId, TemplateId)>() + 1)
            + self.toa_pending.capacity() * (size_of::<ConnId>() + 1)
    }

    /// The services table, read-only (for listings and tests).
    pub fn services(&self) -> &ServiceTable {
        &self.services
    }

    /// The current timeouts (`ipvsadm -L --timeout`).
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The sysctls as they are now (the defense moves 1 <-> 2 by itself).
    pub fn sysctls(&self) -> &Sysctls {
        &self.sysctls
    }

    /// Changes the sysctls (takes effect at the next packet / defense tick).
    pub fn set_sysctls(&mut self, sysctls: Sysctls) {
        self.services
            .set_expire_quiescent_template(sysctls.expire_quiescent_template);
        self.sysctls = sysctls;
    }

    /// A connection's created or expired event, when they are wanted
    /// ([`DirectorConfig::conn_events`]).
    fn conn_event(&mut self, kind: fn(event::ConnSummary) -> Event, conn: &Conn) {
        if self.conn_events {
            self.push_event(kind(packet::summary(conn)));
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= event::EVENT_QUEUE_CAP {
            self.events.pop_front();
            self.events_lost += 1;
        }
        self.events.push_back(e);
    }

    fn queue_tx(&mut self, frame: &[u8]) {
        if self.tx.len() < TX_QUEUE_CAP {
            self.tx.push_back(frame.to_vec());
        }
    }

    fn estimate(&mut self) {
        self.global_est.tick(&self.global);
        for s in &mut self.reg.svcs {
            s.est.tick(&s.stats);
        }
        for d in self.reg.dests.iter_mut().flatten() {
            d.est.tick(&d.stats);
        }
    }

    fn defense_tick(&mut self, now: Instant) {
        let free = self.table_free();
        if self.defense.update(&mut self.sysctls, free) {
            self.push_event(Event::DefenseChanged {
                pressure: self.defense.pressure,
                secure_tcp: self.defense.secure_tcp,
                drop_entry: self.defense.drop_entry,
                drop_rate: self.defense.drop_rate,
            });
        }
        if self.defense.drop_entry {
            self.random_drop_entry(now);
        }
    }
}
