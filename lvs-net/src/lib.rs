//! The OS side of lvs-rs: AF_PACKET and TUN devices, ARP/ND neighbours, health checks and
//! active/backup failover. It drives [`lvs_core`] with real frames and real time.
//!
//! ```text
//!   worker   one thread per fanout member: ring block -> FrameHandler -> sendmmsg batch
//!            straight from the ring, originated frames, ARP/ND for unresolved next hops,
//!            poll until the next frame or deadline; DirectorHandler, TunnelEndpoint
//!   device   AfPacket (TPACKET_V3 RX ring + sendmmsg TX, fanout with client steering),
//!            vnet headers (checksum completion, GSO trains carried through), TUN queues,
//!            host isolation (nft netdev ingress), offload set-up (ethtool)
//!   neigh    ARP/ND cache shared by the workers, request builders
//!   sys      every unsafe block of the data plane (libc calls, the mmap'ed ring)
//!   ctl      the control socket `lvs-router adm` (ipvsadm) talks to (issue 6)
//!   metrics  the Prometheus endpoint (issue 6)
//!   health   keepalived-style probes (TCP, HTTP, send/expect, UDP, ICMP, programs) and the
//!            runner that drives lvs_core::health with a real clock
//!   replay   capture files + ipvsadm-save rules -> lvs_core::replay -> output pcap
//!   pcap     pcap / pcapng reading (Ethernet, Linux cooked, raw IP) and pcap writing
//!   ha       VRRP (keepalived-compatible) and IPVS connection sync sockets, VIP takeover
//! ```
//!
//! The router plugs the director in through [`worker::FrameHandler`]
//! ([`worker::DirectorHandler`]); the rest of lvs-net does not need it, so it is tested with
//! small handlers.
//!
//! # What the data plane needs from the host
//! - root (or CAP_NET_RAW + CAP_NET_ADMIN): AF_PACKET, promiscuous mode, TUN, nft;
//! - the VIPs are **not** local addresses of the director host; the director answers ARP/ND
//!   for them and [`device::isolate::Isolation`] drops VIP traffic at netdev ingress after the
//!   AF_PACKET tap (NAT: also the real servers' replies, as `bypass` sources);
//! - `net.ipv4.ip_forward=0` / `net.ipv6.conf.all.forwarding=0` on the director, so the host
//!   routes nothing the data plane handles;
//! - GRO/LRO off on the balanced interfaces ([`device::disable_offloads`]); TSO/GSO trains
//!   from local senders (veth peers) are carried through whole and segmented by the kernel on
//!   transmit ([`device::vnet`]), so the peers keep their offloads;
//! - programs: `ip` (iproute2), `nft` (nftables), `ethtool` (Debian packages of those names).

pub use lvs_core;

pub mod ctl;
pub mod device;
pub mod ha;
pub mod health;
pub mod metrics;
pub mod neigh;
pub mod pcap;
pub mod replay;
mod sys;
pub mod worker;
