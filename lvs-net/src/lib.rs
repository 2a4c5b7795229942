//! The OS side of lvs-rs: AF_PACKET and TUN devices, ARP/ND neighbours, health checks and
//! active/backup failover. It drives [`lvs_core`] with real frames and real time.
//!
//! The data plane lands with issue 5, health checks with issue 8, VRRP and sync with issue 9.
//! Management (issue 6): [`ctl`] is the control socket `lvs-router adm` (ipvsadm) talks to,
//! [`metrics`] the Prometheus endpoint.

pub use lvs_core;

pub mod ctl;
pub mod metrics;
