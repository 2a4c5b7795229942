//! The sans-IO core of lvs-rs.
//!
//! Everything here is a pure function of its inputs: no sockets, no threads, no clock. Time is
//! always an argument ([`time::Instant`]), randomness comes from a seed, and packets are byte
//! buffers owned by the caller. That makes every piece unit-testable, fuzzable and replayable in
//! virtual time.
//!
//! ```text
//!   lvs-router (binary: CLI, config, wiring)
//!        |
//!   lvs-net (OS: AF_PACKET, TUN, neighbours, health checks, HA)
//!        |
//!   lvs-core
//!     director  the sans-IO director: packets in, verdicts out, timers, stats, defense
//!     health    keepalived-style checker state machine, quorum, sorry server
//!     vrrp      VRRP v2/v3 adverts and the active/backup state machine (keepalived peer)
//!     sync      IPVS connection sync protocol v1 codec, encoder batching, syncid filter
//!     ipvsadm   ipvsadm command grammar -> typed commands
//!     service   services and dests in kernel order, persistence, `simulate`
//!     sched     the 14 kernel IPVS schedulers behind one trait
//!     conn      connection table, TCP state tables, timeouts, expiry
//!     replay    capture frames merged in time and driven through the director
//!     rewrite   in-place NAT / FULLNAT / DR / TUN rewriters, ICMP, originated packets
//!     wire      typed views over byte buffers, checksums, flow keys
//!     time      virtual time
//! ```
#![forbid(unsafe_code)]

pub mod conn;
pub mod director;
pub mod health;
mod hint;
pub mod ipvsadm;
pub mod replay;
pub mod rewrite;
pub mod sched;
pub mod service;
pub mod sync;
pub mod time;
pub mod vrrp;
pub mod wire;
