//! The OS side of lvs-rs: AF_PACKET and TUN devices, ARP/ND neighbours, health checks and
//! active/backup failover. It drives [`lvs_core`] with real frames and real time.
//!
//! ```text
//!   worker      one thread per fanout member: ring batch -> FrameHandler -> sendmmsg batch,
//!               originated frames, neighbour resolution, poll until the next deadline
//!   device      AfPacket (TPACKET_V3 RX ring + sendmmsg TX), TUN queues, vnet headers,
//!               host isolation (nft netdev ingress), offload set-up
//!   neigh       ARP/ND cache shared by the workers, request builders
//!   sys         every unsafe block (libc calls, the mmap'ed ring)
//!   replay      capture files + ipvsadm-save rules -> lvs_core::replay -> output pcap
//!   pcap        pcap / pcapng reading (Ethernet, Linux cooked, raw IP) and pcap writing
//! ```
//!
//! The router plugs the director in through [`worker::FrameHandler`]; lvs-net itself does not
//! depend on it, so it is tested with small handlers.

pub mod device;
pub mod neigh;
mod sys;
pub mod worker;

pub use lvs_core;

pub mod pcap;
pub mod replay;
