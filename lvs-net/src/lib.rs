//! The OS side of lvs-rs: AF_PACKET and TUN devices, ARP/ND neighbours, health checks and
//! active/backup failover. It drives [`lvs_core`] with real frames and real time.
//!
//! The data plane lands with issue 5, health checks with issue 8. [`ha`]: VRRP and connection
//! sync (issue 9).

pub mod ha;

pub use lvs_core;
