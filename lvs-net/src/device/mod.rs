//! Devices: AF_PACKET sockets with a TPACKET_V3 RX ring and sendmmsg TX ([`AfPacket`]),
//! multi-queue TUN ([`tun`]), and the host set-up around them ([`isolate`]).
//!
//! Why this shape (measured in shared/perf-baseline): a TPACKET_V3 ring read in place plus
//! `sendmmsg` batches of the same memory was the fastest userspace path on the test machine
//! (260-300 k pps against 209 k for recvmmsg/sendmmsg and 226 k with a TX ring). One RX socket
//! per worker joins a PACKET_FANOUT group so the kernel spreads flows over the workers; the
//! group uses `PACKET_FANOUT_FLAG_DEFRAG`, so IP fragments arrive reassembled (the director
//! expects netfilter-style defragmentation before it). TX goes through a second socket per
//! worker without `PACKET_VNET_HDR` and with `PACKET_QDISC_BYPASS`.

pub(crate) mod block;
pub mod isolate;
pub mod steer;
pub mod tun;
pub mod vnet;

use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use lvs_core::wire::MacAddr;

use crate::sys;

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// An OS call on an interface failed; says which one on which interface.
#[derive(Debug, thiserror::Error)]
#[error("{op} on {ifname}: {source}")]
pub struct DeviceError {
    /// The operation (`"AF_PACKET bind"`, `"PACKET_RX_RING"`, ...).
    pub op: &'static str,
    /// The interface (or namespace path).
    pub ifname: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

impl DeviceError {
    pub(crate) fn new(op: &'static str, ifname: &str, source: io::Error) -> Self {
        Self {
            op,
            ifname: ifname.to_owned(),
            source,
        }
    }
}

/// How to open one worker's socket pair on an interface.
#[derive(Clone, Debug)]
pub struct AfPacketConfig {
    /// Interface name.
    pub ifname: String,
    /// Receive frames for other MACs too (DR real servers share the VIP, a bridge port).
    pub promisc: bool,
    /// PACKET_FANOUT group id shared by all workers of this interface (ids are per network
    /// namespace, one per interface). Set it even for a single worker in front of the
    /// director: the group is opened with PACKET_FANOUT_FLAG_DEFRAG, which is what reassembles
    /// IP fragments before the director sees them; without a group they reach the director as
    /// fragments and are dropped (`DropReason::Fragment`).
    pub fanout_group: Option<u16>,
    /// How the fanout group spreads frames over its members.
    pub steering: Steering,
    /// Ring block size in bytes (a power of two, multiple of the page size).
    pub block_size: u32,
    /// Number of ring blocks.
    pub blocks: u32,
    /// How long the kernel holds a partly filled block, in ms (latency at low load).
    ///
    /// Known limit (measured for issue 7): a sparse direction waits for this timer, 1 ms at
    /// the least. A bulk TCP stream through NAT fills blocks on the data side quickly, but its
    /// ACKs (a few per train) sit in a half-empty block until it retires: iperf3 saw an RTT of
    /// 1.4-2.6 ms through the director against 0.2-0.3 ms through kernel DNAT, which caps a
    /// single stream by its window rather than by CPU (the worker was ~40 % busy). Tried and
    /// not kept: TPACKET_V2 rings (per-frame hand-over, no timer; 2 KiB slots for frames up to
    /// 1518 bytes and 68 KiB slots for trains, split by socket length filters) cut that RTT
    /// only to 1.3-1.7 ms and throughput a little (6.0-7.2 against 5.7-6.5 Gbit/s),
    /// with more retransmits (reordering between the two rings) and small reassembled
    /// datagrams lost between the fanout groups: on the shared 2-core test machine the rest is
    /// the worker waiting for a CPU, which a kernel path running in softirq never does.
    pub retire_ms: u32,
    /// Ask for virtio_net_hdr on RX and send with one on TX (see [`vnet`]): GSO super-frames
    /// and partial checksums are carried through instead of refused.
    pub vnet_hdr: bool,
}

impl AfPacketConfig {
    /// Defaults that worked on the baseline machine: 64 blocks of 256 KiB (16 MiB per worker
    /// and interface), 1 ms retire timeout, vnet headers on, no fanout, no promiscuous mode.
    pub fn new(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            promisc: false,
            fanout_group: None,
            steering: Steering::Hash,
            block_size: 1 << 18,
            blocks: 64,
            retire_ms: 1,
            vnet_hdr: true,
        }
    }
}

/// How a fanout group picks the member (worker) for a frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Steering {
    /// The kernel's flow hash (PACKET_FANOUT_HASH): symmetric per 5-tuple, so fine for DR/TUN
    /// and for anything without replies through the director.
    #[default]
    Hash,
    /// Both directions of a NAT/FULLNAT connection to one worker ([`steer`]).
    Client {
        /// The virtual addresses.
        vips: Vec<std::net::IpAddr>,
        /// The FULLNAT local addresses.
        laddrs: Vec<std::net::IpAddr>,
        /// Client endpoint, client address or client network ([`steer::SteerKey`]).
        key: steer::SteerKey,
    },
}

impl Steering {
    /// The worker (fanout member, `members` of them opened in index order) that receives
    /// `pkt`; `None` when that cannot be known in user space: the kernel's flow hash
    /// ([`Steering::Hash`]) is keyed by a random seed of the running kernel, and
    /// [`steer::program_value`] has its own cases.
    pub fn member(&self, pkt: &steer::SteerPacket, members: usize) -> Option<usize> {
        match self {
            _ if members <= 1 => Some(0),
            Self::Hash => None,
            Self::Client { vips, laddrs, key } => steer::program_value(vips, laddrs, *key, pkt)
                .map(|v| steer::fanout_member(v, members)),
        }
    }
}

/// Kernel ring counters from PACKET_STATISTICS (reset by each read, so accumulated here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Frames the kernel offered to the socket.
    pub packets: u64,
    /// Frames dropped because the ring was full.
    pub drops: u64,
    /// Times the ring froze (all blocks owned by user space).
    pub freezes: u64,
}

/// Headroom reserved in front of every received frame (PACKET_RESERVE), so TOA insertion and
/// tunnel encapsulation can grow frames in place (PacketBuf asks for 64 bytes).
pub const HEADROOM: usize = 64;

/// One worker's AF_PACKET sockets on one interface.
#[derive(Debug)]
pub struct AfPacket {
    pub(crate) rx: RxHalf,
    pub(crate) tx: TxHalf,
}

/// The receive side: socket, ring and accumulated ring counters.
#[derive(Debug)]
pub(crate) struct RxHalf {
    fd: OwnedFd,
    pub(crate) ring: sys::RxRing,
    pub(crate) vnet_hdr: bool,
    stats: RingStats,
    ifname: String,
}

/// The transmit side; kept apart from [`RxHalf`] so a worker can send frames that still live
/// in one interface's RX ring out of another interface.
#[derive(Debug)]
pub(crate) struct TxHalf {
    fd: OwnedFd,
    scratch: sys::TxScratch,
    /// The socket has PACKET_VNET_HDR: every frame goes out behind a virtio_net_hdr.
    pub(crate) vnet_hdr: bool,
    pub(crate) ifname: String,
    pub(crate) ifindex: u32,
    pub(crate) mac: MacAddr,
}

impl AfPacket {
    /// Opens the RX socket (ring, vnet header, reserve, fanout, promiscuous mode) and the TX
    /// socket on `cfg.ifname`.
    pub fn open(cfg: &AfPacketConfig) -> Result<Self, DeviceError> {
        let name = cfg.ifname.as_str();
        let e = |op| move |err| DeviceError::new(op, name, err);
        let ifindex = sys::if_index(name).map_err(e("if_nametoindex"))?;
        // Protocol 0 at creation, ETH_P_ALL at bind: a socket created with a protocol starts
        // receiving from every interface before bind narrows it to one.
        let rx = sys::packet_socket(0, true).map_err(e("AF_PACKET socket"))?;
        let fd = rx.as_fd();
        let mac = MacAddr(sys::if_mac(fd, name).map_err(e("SIOCGIFHWADDR"))?);
        sys::set_int_opt(fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(e("PACKET_IGNORE_OUTGOING"))?;
        if cfg.vnet_hdr {
            sys::set_int_opt(fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
                .map_err(e("PACKET_VNET_HDR"))?;
        }
        sys::set_int_opt(fd, libc::SOL_PACKET, libc::PACKET_RESERVE, HEADROOM as i32)
            .map_err(e("PACKET_RESERVE"))?;
        let ring = sys::RxRing::new(fd, cfg.block_size, cfg.blocks, cfg.retire_ms)
            .map_err(e("PACKET_RX_RING"))?;
        sys::bind_ll(fd, ifindex, ETH_P_ALL).map_err(e("AF_PACKET bind"))?;
        if cfg.promisc {
            sys::add_promisc(fd, ifindex).map_err(e("PACKET_MR_PROMISC"))?;
        }
        if let Some(group) = cfg.fanout_group {
            let flags = libc::PACKET_FANOUT_FLAG_DEFRAG;
            match &cfg.steering {
                Steering::Hash => {
                    sys::attach_fanout(fd, group, libc::PACKET_FANOUT_HASH | flags)
                        .map_err(e("PACKET_FANOUT"))?;
                }
                Steering::Client { vips, laddrs, key } => {
                    let too_big =
                        || io::Error::other("steering program exceeds classic BPF limits");
                    let prog = steer::client_program_keyed(vips, laddrs, *key)
                        .ok_or_else(too_big)
                        .map_err(e("PACKET_FANOUT_DATA"))?;
                    sys::attach_fanout(fd, group, libc::PACKET_FANOUT_CBPF | flags)
                        .map_err(e("PACKET_FANOUT"))?;
                    sys::set_fanout_cbpf(fd, &prog).map_err(e("PACKET_FANOUT_DATA"))?;
                }
            }
        }
        // Protocol 0: the TX socket receives nothing, so it needs no ring and costs no copy.
        let tx = sys::packet_socket(0, false).map_err(e("AF_PACKET socket (tx)"))?;
        sys::bind_ll(tx.as_fd(), ifindex, 0).map_err(e("AF_PACKET bind (tx)"))?;
        sys::set_int_opt(tx.as_fd(), libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)
            .map_err(e("PACKET_QDISC_BYPASS"))?;
        if cfg.vnet_hdr {
            sys::set_int_opt(tx.as_fd(), libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
                .map_err(e("PACKET_VNET_HDR (tx)"))?;
        }
        Ok(Self {
            rx: RxHalf {
                fd: rx,
                ring,
                vnet_hdr: cfg.vnet_hdr,
                stats: RingStats::default(),
                ifname: cfg.ifname.clone(),
            },
            tx: TxHalf {
                fd: tx,
                scratch: sys::TxScratch::default(),
                vnet_hdr: cfg.vnet_hdr,
                ifname: cfg.ifname.clone(),
                ifindex,
                mac,
            },
        })
    }

    /// Interface name.
    pub fn ifname(&self) -> &str {
        &self.tx.ifname
    }

    /// Interface index.
    pub fn ifindex(&self) -> u32 {
        self.tx.ifindex
    }

    /// The interface's MAC address (source of every frame sent here).
    pub fn mac(&self) -> MacAddr {
        self.tx.mac
    }

    /// The RX socket, for poll.
    pub fn rx_fd(&self) -> BorrowedFd<'_> {
        self.rx.fd.as_fd()
    }

    /// Sends `base[r]` for every range in sendmmsg batches; returns how many the kernel took.
    pub fn send_ranges(
        &mut self,
        base: &[u8],
        ranges: &[Range<usize>],
    ) -> Result<usize, DeviceError> {
        self.tx.send_ranges(base, ranges)
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), DeviceError> {
        self.tx
            .send_ranges(frame, core::slice::from_ref(&(0..frame.len())))
            .map(drop)
    }

    /// Reads PACKET_STATISTICS and returns the totals since the socket opened.
    pub fn ring_stats(&mut self) -> Result<RingStats, DeviceError> {
        self.rx.ring_stats()
    }
}

impl RxHalf {
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn ring_stats(&mut self) -> Result<RingStats, DeviceError> {
        let (p, d, f) = sys::packet_stats(self.fd.as_fd())
            .map_err(|err| DeviceError::new("PACKET_STATISTICS", &self.ifname, err))?;
        self.stats.packets += u64::from(p);
        self.stats.drops += u64::from(d);
        self.stats.freezes += u64::from(f);
        Ok(self.stats)
    }
}

impl TxHalf {
    /// Sends `base[r]` for each range in sendmmsg batches; returns how many the kernel took.
    pub(crate) fn send_ranges(
        &mut self,
        base: &[u8],
        ranges: &[Range<usize>],
    ) -> Result<usize, DeviceError> {
        self.send_with_vnet(base, ranges, &[])
    }

    /// Sends `base[r]` for each range as is: on a PACKET_VNET_HDR socket every range must
    /// start with the frame's virtio_net_hdr (written into the headroom in front of it).
    pub(crate) fn send_prefixed(
        &mut self,
        base: &[u8],
        ranges: &[Range<usize>],
    ) -> Result<usize, DeviceError> {
        if ranges.is_empty() {
            return Ok(0);
        }
        sys::send_batch(self.fd.as_fd(), &mut self.scratch, base, ranges, false, &[])
            .map_err(|err| DeviceError::new("sendmmsg", &self.ifname, err))
    }

    /// [`send_ranges`](Self::send_ranges) with a virtio_net_hdr per frame (`hdrs[i]` for
    /// `ranges[i]`; missing ones are plain). On a socket without PACKET_VNET_HDR the headers
    /// are ignored, so callers only pass offload headers when [`TxHalf::vnet_hdr`] is set.
    pub(crate) fn send_with_vnet(
        &mut self,
        base: &[u8],
        ranges: &[Range<usize>],
        hdrs: &[[u8; vnet::VNET_HDR_LEN]],
    ) -> Result<usize, DeviceError> {
        if ranges.is_empty() {
            return Ok(0);
        }
        sys::send_batch(
            self.fd.as_fd(),
            &mut self.scratch,
            base,
            ranges,
            self.vnet_hdr,
            hdrs,
        )
        .map_err(|err| DeviceError::new("sendmmsg", &self.ifname, err))
    }
}

/// Moves the calling thread into the network namespace at `path` (e.g.
/// `/var/run/netns/NAME`): for a router started outside its namespace, and for tests.
pub fn enter_netns(path: &Path) -> Result<(), DeviceError> {
    sys::setns_path(path).map_err(|err| DeviceError::new("setns", &path.display().to_string(), err))
}

/// Turns off the receive offloads that make the kernel merge frames for AF_PACKET
/// (`ethtool -K IF gro off lro off`): for data planes that run without virtio headers, which
/// cannot carry super-frames ([`vnet`]). Needs the
/// `ethtool` program (Debian package `ethtool`); LRO is fixed off on most devices, so only
/// the command's exit status for GRO counts.
pub fn disable_offloads(ifname: &str) -> Result<(), DeviceError> {
    let out = std::process::Command::new("ethtool")
        .args(["-K", ifname, "gro", "off", "lro", "off"])
        .output()
        .map_err(|err| DeviceError::new("ethtool -K (spawn)", ifname, err))?;
    // ethtool exits non-zero when one feature is fixed; accept if GRO is off afterwards.
    let show = std::process::Command::new("ethtool")
        .args(["-k", ifname])
        .output()
        .map_err(|err| DeviceError::new("ethtool -k (spawn)", ifname, err))?;
    let text = String::from_utf8_lossy(&show.stdout);
    if text
        .lines()
        .any(|l| l.trim() == "generic-receive-offload: off")
    {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(DeviceError::new(
        "ethtool -K gro off",
        ifname,
        io::Error::other(msg),
    ))
}
