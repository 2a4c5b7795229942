//! Connections: the table, the TCP state machine and the timeouts.
//!
//! ```text
//!   ConnTable (one per worker, single-threaded)
//!     index      LineIndex, one per family, both directions:
//!                  in entry   (proto, caddr, cport, vaddr, vport) + template kind -> slot
//!                  out entry  (proto, daddr, dport, caddr|laddr, cport|lport)     -> slot|OUT
//!                (cache-line chunks of 12 tags + 12 slots, F14-style; keyed folded-multiply
//!                hash for IPv4, seeded foldhash for IPv6; a packet's own tuple hashes the
//!                same way in either direction, so one probe finds it: `lookup_flow`)
//!                (a new connection's out entry waits 16 inserts in `pending`, its line
//!                prefetched meanwhile; lookups see it there)
//!     slabs      one flat Vec<Entry<Ipv4Addr>> / Vec<Entry<Ipv6Addr>> each, reserved for the
//!                budget (address space) so it never moves; ConnId = slot + generation
//!     wheel      1024 one-second slots of (slot, deadline), re-armed lazily
//!   tcp          const state tables (normal, secure_tcp), flag classes, counter changes
//!   sctp         the SCTP state table (chunk events x direction x state)
//!   dropentry    the drop_entry defense's victims (ip_vs_random_dropentry)
//!   timeout      per-state timeouts, `--set`
//! ```
//!
//! # How a caller drives it
//! 0. A packet of unknown direction: [`ConnTable::lookup_flow`] (or [`ConnTable::lookup_v4`])
//!    finds its connection and direction with one hash and one probe; then as below.
//! 1. A client packet: [`ConnTable::lookup_in`] with the packet's key. A hit: call
//!    [`ConnTable::track_tcp`] ([`ConnTable::track_sctp`] for SCTP, [`ConnTable::touch`] with
//!    [`Timeouts::udp`] for UDP) and
//!    apply the returned [`CounterChange`] to the dest. A miss on a schedulable packet:
//!    schedule, then [`ConnTable::insert`] a [`Conn`]; bump the dest counter that
//!    [`ConnRef::dest_counter`] names, then track the first packet.
//! 2. A real-server packet (NAT, FULLNAT): [`ConnTable::lookup_out`], then
//!    `track_tcp(.., Direction::Out, ..)`.
//! 3. Timers: call [`ConnTable::expire`] when [`ConnTable::next_deadline`] has passed; it
//!    hands back the removed connections so the caller can decrement their dest counters.
//!
//! # Design note: N workers
//! One table per worker, no sharing. Measured with `benches/conn.rs` group `workers` (release,
//! two threads, random established lookups + touch, time per operation per thread) on the
//! 2-core build machine while other builds ran (load average 3.5-4.7, so absolute numbers are
//! inflated and noisy):
//!
//! | connections | two private tables | one table in 64 `Mutex` shards |
//! |---|---|---|
//! | 1k (in cache: the synchronisation shows), two runs | 49 ns, 128 ns | 97 ns, 160 ns |
//! | 1M (DRAM misses dominate both), two runs | 1.5 us, 1.0 us | 1.4 us, 0.83 us |
//!
//! A third run at load 17 gave 237 vs 298 ns (1k) and 1.7 vs 2.0 us (1M). Sharing costs
//! 1.25-2x where the table is in cache, i.e. on the hot flows that matter, is lost in the
//! noise of cache misses when it is not, and adds cross-core cache-line traffic on every
//! touch (the deadline write) plus lock hold times under expiry. Private tables also keep
//! each worker's memory on its NUMA node and the core free of atomics. So the table stays
//! single-threaded and `lvs-net` runs one per worker; listings and statistics merge the
//! workers' tables.
//!
//! Per-worker tables need packets of one connection to reach one worker in both directions.
//! Steering key: the client endpoint. A client packet hashes `(caddr, cport)` (its source),
//! a NAT reply hashes the same pair (its destination), so both land on the worker that owns
//! the connection; FULLNAT replies are addressed to `(laddr, lport)`, so each worker allocates
//! local ports from its own residue class (`lport % workers == worker`, as DPVS partitions its
//! local-address pool per lcore) and the reply's destination port names the worker. DR and TUN
//! have no replies through the director. Kernel RSS (Toeplitz over the 5-tuple) cannot do
//! this for NAT because the reply's tuple differs; the dispatcher in `lvs-net` hashes in
//! software (or uses an eBPF fanout program) with these rules.
//! Persistence templates live in the same per-worker tables, so when any service is
//! persistent the steering key is the client address alone (`lvs_net::device::steer::SteerKey`):
//! every connection of a client then meets its template on one worker. (Clients that share a
//! persistence netmask wider than /32 can still land on different workers.)
//!
//! # Performance and memory
//! `benches/conn.rs` prints CPU time per operation (from `/proc/thread-self/schedstat`, so
//! time-slicing on the shared machine does not count; cache and memory contention from the
//! other builds still does, load average 11-17 during these runs; measured before the index
//! held both directions and IPv4 keys hashed with one folded multiply, so these are upper
//! bounds). IPv4 NAT entries, uniformly random keys, best of 5 rounds of 2^20 operations,
//! ranges over runs:
//!
//! | entries | lookup_in + touch | batched x32, per packet | insert + remove |
//! |---|---|---|---|
//! | 1k | 17-26 ns | 26-32 ns | 126 ns |
//! | 1M | 204-258 ns | 127-150 ns | 334-353 ns |
//! | 10M | 344-410 ns | 238-274 ns | 542-626 ns |
//!
//! At 1M+ entries a lookup costs two dependent DRAM misses (index chunk, entry: the
//! `index` module layout; hashbrown's separate control and slot arrays made it three, 15-25%
//! slower at 1M in A/B runs, 4 ns faster at 1k), so uniformly random single lookups cannot
//! approach in-cache speed; [`ConnTable::warm`], [`ConnTable::lookup_in_batch`] and the
//! packet path's [`ConnTable::lookup_v4_batch`] prefetch a batch's lines so its misses
//! overlap.
//! Real traffic is skewed towards hot flows that stay in cache.
//!
//! Memory from capacity arithmetic ([`ConnTable::allocation_size`]) for NAT connections
//! (in and out entries): 94 B per connection at 1M, 91 B at 10M (RSS growth 85-92 B): a
//! 64-byte cache-line entry (IPv6: 128), 5.3 B per index slot at a load of 0.44-0.875 (two
//! slots per NAT connection, one for DR/TUN, in the one index), 8 B per timer-wheel entry.

pub mod dropentry;
mod family;
mod index;
mod key;
mod pending;
pub mod sctp;
mod slab;
mod state;
mod table;
pub mod tcp;
mod timeout;
mod timer;
mod view;

pub use key::{Conn, ConnKey, OutKey};
pub use sctp::{SctpEvent, SctpState};
pub use table::{ConnError, ConnId, ConnTable, FlowHint, V4Tuple};
pub use tcp::{CounterChange, Direction, FlagClass, TcpState};
pub use timeout::Timeouts;
pub use view::{ConnMut, ConnRef};

/// How a connection's packets reach the real server (`IP_VS_CONN_F_FWD_MASK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum ForwardMethod {
    /// NAT (Masq, `-m`): replies come back through the director.
    Nat = 0,
    /// Direct routing (Route, `-g`, the ipvsadm default).
    #[default]
    Dr = 1,
    /// IP tunnelling (Tunnel, `-i`).
    Tun = 2,
    /// FULLNAT (DPVS `-b`): source and destination both rewritten.
    FullNat = 3,
    /// The dest is a local address (Local).
    Local = 4,
}

impl ForwardMethod {
    const fn from_u8(n: u8) -> Self {
        match n {
            0 => Self::Nat,
            2 => Self::Tun,
            3 => Self::FullNat,
            4 => Self::Local,
            _ => Self::Dr,
        }
    }

    /// Whether replies pass the director, so the connection has an out-index entry and sees
    /// OUT packets. The kernel sets `IP_VS_CONN_F_NOOUTPUT` on every other method.
    pub const fn sees_replies(self) -> bool {
        matches!(self, Self::Nat | Self::FullNat)
    }
}

/// Connection flags, a subset of the kernel's `IP_VS_CONN_F_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnFlags(u8);

impl ConnFlags {
    /// A persistence template, not a connection (`IP_VS_CONN_F_TEMPLATE`).
    pub const TEMPLATE: Self = Self(0x01);
    /// Counted in the dest's `inactconns` rather than `activeconns` (`IP_VS_CONN_F_INACTIVE`).
    pub const INACTIVE: Self = Self(0x02);
    /// No OUT packet seen yet: IN packets use the INPUT-ONLY rows (`IP_VS_CONN_F_NOOUTPUT`).
    pub const NO_OUTPUT: Self = Self(0x04);
    /// One-packet scheduling (`-o`, `IP_VS_CONN_F_ONE_PACKET`).
    pub const ONE_PACKET: Self = Self(0x08);
    /// Created from a sync message (`IP_VS_CONN_F_SYNC`).
    pub const SYNC: Self = Self(0x10);
    /// Internal: the slab slot holds a connection.
    const LIVE: Self = Self(0x80);
    const PUBLIC: u8 = 0x1f;

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from raw bits; unknown bits are dropped.
    pub const fn from_bits_truncate(bits: u8) -> Self {
        Self(bits & Self::PUBLIC)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }

    /// The union.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// Which dest counter holds a connection (`ip_vs_bind_dest` / `ip_vs_unbind_dest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DestCounter {
    /// `activeconns`.
    Active,
    /// `inactconns`.
    Inactive,
    /// `persistconns`: templates.
    Persistent,
}

impl DestCounter {
    /// The counter a connection with `flags` is in.
    pub const fn of(flags: ConnFlags) -> Self {
        if flags.contains(ConnFlags::TEMPLATE) {
            Self::Persistent
        } else if flags.contains(ConnFlags::INACTIVE) {
            Self::Inactive
        } else {
            Self::Active
        }
    }
}
