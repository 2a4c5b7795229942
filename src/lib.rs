//! lvs-rs: a pure-userspace Linux Virtual Server.
//!
//! This root package only re-exports the workspace crates for the workspace-level examples and
//! integration tests. Embed [`lvs_core`] (sans-IO director logic) and [`lvs_net`] (the OS side)
//! directly in your own code.

pub use lvs_core;
pub use lvs_net;
