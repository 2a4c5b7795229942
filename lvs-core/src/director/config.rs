//! [`DirectorConfig`]: everything the director needs at start that ipvsadm commands do not
//! carry (the director's own addresses, the sysctls, FULLNAT pools, fwmark rules, seeds).

use core::ops::RangeInclusive;
use std::net::IpAddr;

use super::classifier::FwmarkRule;
use crate::conn::Timeouts;
use crate::ipvsadm::ServiceKey;
use crate::sched::SchedConfig;
use crate::wire::MacAddr;

/// The IPVS sysctls the director honours (`/proc/sys/net/ipv4/vs/*`), with the kernel defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctls {
    /// `expire_nodest_conn` (default 0): a packet of a connection whose dest was deleted
    /// expires the connection at once instead of only being dropped, and a packet that may
    /// open a connection (TCP SYN, SCTP INIT, UDP) is then scheduled afresh; a new SYN/INIT
    /// on a connection of a weight-0 dest is rescheduled whatever `conn_reuse_mode` says
    /// (kernel 5.16+), unless a persistence template controls the connection. Deleting a
    /// dest also flushes its connections (kernel 5.9+ `ip_vs_expire_nodest_conn_flush`).
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template` (default 0): a persistence template of a weight-0 dest is
    /// dropped at its next use.
    pub expire_quiescent_template: bool,
    /// `conn_reuse_mode` (default 1): bit 0 reschedules a SYN that reuses the client port of a
    /// TIME_WAIT or CLOSE connection (an INIT on a CLOSED SCTP association); bit 1 also of a
    /// FIN_WAIT connection without replies (DR/TUN). Connections a persistence template
    /// controls are never rescheduled: the SYN moves the old connection on. The kernel's
    /// one-second SYN drop (needed only with netfilter conntrack) is not done.
    pub conn_reuse_mode: u8,
    /// `secure_tcp` 0..3: 1/2 switch to the strict state table under budget pressure, 3 always.
    pub secure_tcp: u8,
    /// `drop_entry` 0..3: each second scan a random 1/32 of the table under pressure and drop
    /// half-open TCP and unanswered SCTP entries, and idle ESTABLISHED/UDP entries with few
    /// packets (`ip_vs_random_dropentry`, rules in [`crate::conn::dropentry`]). While it is
    /// not 0 the director counts each connection's client packets.
    pub drop_entry: u8,
    /// `drop_packet` 0..3: drop 1/rate of new connections under pressure (3: at `am_droprate`).
    pub drop_packet: u8,
    /// `am_droprate` (default 10): the rate of `drop_packet` level 3.
    pub am_droprate: u32,
    /// `amemthresh` transposed to the connection budget: the number of free entries below
    /// which the table counts as under pressure (the kernel compares free pages, default 1024).
    pub amemthresh: usize,
}

impl Default for Sysctls {
    fn default() -> Self {
        Self {
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            conn_reuse_mode: 1,
            secure_tcp: 0,
            drop_entry: 0,
            drop_packet: 0,
            am_droprate: 10,
            amemthresh: 1024,
        }
    }
}

/// A FULLNAT local-address pool for one service (DPVS `ipvsadm --laddr`): the `Masq` dests of
/// that service are forwarded with FULLNAT, the source becoming `laddr:lport` from this pool.
///
/// ipvsadm 1.31 has no FULLNAT forwarding flag, so the pool is what turns it on (see the
/// report to the `adm` branch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullNatPool {
    /// The service.
    pub service: ServiceKey,
    /// Local addresses, used round robin. Each must have the family of the dests.
    pub laddrs: Vec<IpAddr>,
    /// Local ports to allocate from (DPVS default 1025..=65535).
    pub ports: RangeInclusive<u16>,
    /// This director's share of `ports` when N workers each run a director with the same
    /// pool: worker `i` of `n` allocates only ports with `port % n == i`, so a reply steered by
    /// `lport % n` (lvs-net's client steering program) reaches the worker holding the
    /// connection. [`PortShare::ALL`] for a single director.
    pub share: PortShare,
}

/// The residue class of local ports one director of several allocates from
/// ([`FullNatPool::share`]): ports `p` with `p % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortShare {
    /// This director's class, `0..count`.
    pub index: u16,
    /// How many directors share the pool (0 is taken as 1).
    pub count: u16,
}

impl PortShare {
    /// Every port: one director owns the whole pool.
    pub const ALL: Self = Self { index: 0, count: 1 };

    fn step(self) -> u32 {
        u32::from(self.count.max(1))
    }

    /// Whether `port` belongs to this share.
    pub fn contains(self, port: u16) -> bool {
        u32::from(port) % self.step() == u32::from(self.index) % self.step()
    }

    /// The first port of this share in `range`, if any.
    pub fn first_in(self, range: &RangeInclusive<u16>) -> Option<u16> {
        let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
        let c = self.step();
        let first = lo + (u32::from(self.index) % c + c - lo % c) % c;
        (first <= hi).then_some(first as u16)
    }

    /// How many ports of `range` belong to this share.
    pub fn len_in(self, range: &RangeInclusive<u16>) -> usize {
        self.first_in(range).map_or(0, |f| {
            ((u32::from(*range.end()) - u32::from(f)) / self.step()) as usize + 1
        })
    }
}

impl Default for PortShare {
    fn default() -> Self {
        Self::ALL
    }
}

/// Configuration of a [`Director`](super::Director).
#[derive(Clone, Debug)]
pub struct DirectorConfig {
    /// Seed of the connection table's hasher (pick it at random: it keys the hash DoS defense).
    pub hash_seed: u64,
    /// Seed of the director's RNG (drop_entry choices, twos scheduler).
    pub rng_seed: u64,
    /// Capacity budget of the connection table, persistence templates included: the hard
    /// limit of the DoS defense.
    pub conn_budget: usize,
    /// Connection timeouts (`ipvsadm --set` changes them later).
    pub timeouts: Timeouts,
    /// The director's MAC: source of every forwarded and originated frame.
    pub mac: MacAddr,
    /// The MAC of each port the data plane hands frames from (index: the `port` of
    /// [`Director::handle_packet_on`](super::Director::handle_packet_on)): ARP and
    /// neighbour-solicitation answers carry the MAC of the port the request came in on, so
    /// hosts on every link send to a MAC that port receives. A port without an entry uses
    /// `mac`. The data plane may set it once its ports are open
    /// ([`Director::set_port_macs`](super::Director::set_port_macs)).
    pub port_macs: Vec<MacAddr>,
    /// The director's own addresses (DIP, one per family at least): the source of tunnels and
    /// of originated ICMP errors. The first of each family is used.
    pub addrs: Vec<IpAddr>,
    /// VIPs the director answers ARP and neighbour solicitations for. Services' addresses are
    /// not added implicitly: in DR/TUN setups a backup director must stay silent.
    pub vips: Vec<IpAddr>,
    /// Static neighbour entries (real servers' MACs), never overwritten by learning.
    pub neighbours: Vec<(IpAddr, MacAddr)>,
    /// FULLNAT local-address pools.
    pub fullnat: Vec<FullNatPool>,
    /// Firewall-mark rules (first match wins), standing in for netfilter's MARK target.
    pub fwmark_rules: Vec<FwmarkRule>,
    /// Path MTU toward real servers: tunnel MTU and FULLNAT MSS clamping.
    pub path_mtu: u16,
    /// Scheduler table sizes; its seed is replaced by `rng_seed`.
    pub sched: SchedConfig,
    /// The sysctls.
    pub sysctls: Sysctls,
    /// Whether each connection's creation and expiry is reported as an
    /// [`Event::ConnCreated`](super::Event::ConnCreated) /
    /// [`Event::ConnExpired`](super::Event::ConnExpired) (default `true`). A data plane that
    /// drains the events without using them turns this off: building and queueing two
    /// events per connection is about a tenth of a new connection's cost.
    pub conn_events: bool,
    /// Connection count from which [`Director::lookup_batch`](super::Director::lookup_batch)
    /// looks a batch up (default [`PREFETCH_MIN_CONNS`](super::PREFETCH_MIN_CONNS): where the
    /// table outgrows the caches; below it the hints come back empty and each packet is
    /// looked up on its own, which is cheaper there).
    pub batch_lookup_from: usize,
}

impl Default for DirectorConfig {
    fn default() -> Self {
        Self {
            hash_seed: 0,
            rng_seed: 0,
            conn_budget: 1 << 20,
            timeouts: Timeouts::DEFAULT,
            mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            port_macs: Vec::new(),
            addrs: Vec::new(),
            vips: Vec::new(),
            neighbours: Vec::new(),
            fullnat: Vec::new(),
            fwmark_rules: Vec::new(),
            path_mtu: 1500,
            sched: SchedConfig::default(),
            sysctls: Sysctls::default(),
            conn_events: true,
            batch_lookup_from: super::PREFETCH_MIN_CONNS,
        }
    }
}
