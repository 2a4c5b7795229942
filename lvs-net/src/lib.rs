//! The OS side of lvs-rs: AF_PACKET and TUN devices, ARP/ND neighbours, health checks and
//! active/backup failover. It drives [`lvs_core`] with real frames and real time.
//!
//! ```text
//!   ctl      the control socket `lvs-router adm` (ipvsadm) talks to (issue 6)
//!   metrics  the Prometheus endpoint (issue 6)
//!   health   keepalived-style probes (TCP, HTTP, send/expect, UDP, ICMP, programs) and the
//!            runner that drives lvs_core::health with a real clock
//!   replay   capture files + ipvsadm-save rules -> lvs_core::replay -> output pcap
//!   pcap     pcap / pcapng reading (Ethernet, Linux cooked, raw IP) and pcap writing
//!   ha       VRRP (keepalived-compatible) and IPVS connection sync sockets, VIP takeover
//! ```

pub use lvs_core;

pub mod ctl;
pub mod ha;
pub mod health;
pub mod metrics;
pub mod pcap;
pub mod replay;
