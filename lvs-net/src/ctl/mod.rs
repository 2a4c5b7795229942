//! The control socket: how `lvs-router adm` (the ipvsadm of lvs-rs) talks to a running router.
//!
//! ```text
//!   lvs-router adm -A -t ...          client (lvs-router/src/adm.rs)
//!     parse with lvs_core::ipvsadm    errors and exit codes as ipvsadm, no router needed
//!     client::call(path, Request)     unix stream, u32 BE length + JSON, version 1
//!   router control thread
//!     ControlServer::serve(target)    SO_PEERCRED: root or the router's own uid only
//!       Apply{commands}               re-parsed, then ControlTarget::apply (all or nothing)
//!       Get{conns}                    ControlTarget::state -> AdmState, formatted by the client
//! ```
//!
//! The client formats listings itself (names are resolved where ipvsadm resolves them: on the
//! caller's side), so the server only ships data: [`AdmState`] in JSON.

mod client;
pub mod names;
mod proto;
mod server;

pub use client::{CtlClientError, call};
pub use proto::{CtlFailure, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody};
pub use server::{
    ControlServer, ControlTarget, DEFAULT_SOCKET, DirectorTarget, WorkersTarget, respond,
};

pub use lvs_core::ipvsadm::AdmState;

#[cfg(test)]
mod tests;
