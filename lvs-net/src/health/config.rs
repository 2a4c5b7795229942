//! The TOML health-check sections, deserialised with serde and turned into the core's types.
//!
//! A real server's section is meant to sit inside the router's own real-server entry; the
//! standalone [`HealthFile`] names services and dests with ipvsadm's words:
//!
//! ```toml
//! [[virtual_server]]
//! service = "-t 192.0.2.1:80"
//! quorum = 2
//! sorry_server = "-r 10.0.0.99:80 -m"
//! delay_loop = 6
//!
//! [[virtual_server.real_server]]
//! server = "-r 10.0.0.1:80 -m -w 2"
//! inhibit_on_failure = true
//! notify_down = "/usr/local/bin/alert down 10.0.0.1"
//!
//! [[virtual_server.real_server.check]]
//! type = "http"
//! connect_timeout = 3
//! url = [{ path = "/health", status = [200, 299], digest = "5d41402abc4b2a76b9719d911017c592" }]
//! ```
//!
//! Durations are seconds (fractions allowed, as in keepalived).

use core::time::Duration;
use std::net::IpAddr;

use lvs_core::health::{
    CheckKind, CheckerConfig, Expect, FailedConnPolicy, HttpCheck, RealServerHealth, SorryServer,
    Timing, UrlCheck, VirtualServerHealth,
};
use lvs_core::ipvsadm::{Command, DestConfig, ServiceKey, parse_line};
use serde::Deserialize;

/// A config error, naming the section it is in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthConfigError {
    /// `service` is not an ipvsadm service (`-t addr:port`, `-u ...`, `-f mark`).
    #[error("virtual_server `{0}`: not an ipvsadm service")]
    Service(String),
    /// `server`/`sorry_server` is not an ipvsadm real server (`-r addr:port [-m|-g|-i] [-w n]`).
    #[error("virtual_server `{service}`: real server `{server}`: {reason}")]
    Server {
        /// The service.
        service: String,
        /// The words given.
        server: String,
        /// ipvsadm's complaint.
        reason: String,
    },
    /// A checker lacks a field its type needs, or has a bad value.
    #[error("real server `{server}`: {kind} check: {reason}")]
    Check {
        /// The real server.
        server: String,
        /// The check type.
        kind: String,
        /// What is wrong.
        reason: String,
    },
}

/// A whole health-check file: the virtual servers.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    /// The `[[virtual_server]]` tables.
    #[serde(default)]
    pub virtual_server: Vec<VirtualServerSection>,
}

/// `[[virtual_server]]`: keepalived's `virtual_server` block, health fields only.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VirtualServerSection {
    /// ipvsadm words: `-t 192.0.2.1:80`.
    pub service: String,
    /// Default `delay_loop` of its checkers (keepalived sets it per virtual server).
    pub delay_loop: Option<f64>,
    /// `quorum` (default 1).
    pub quorum: Option<u32>,
    /// `hysteresis` (default 0).
    pub hysteresis: Option<u32>,
    /// `alpha`.
    #[serde(default)]
    pub alpha: bool,
    /// `sorry_server`, ipvsadm words: `-r 10.0.0.99:80 -m`.
    pub sorry_server: Option<String>,
    /// `sorry_server_inhibit`.
    #[serde(default)]
    pub sorry_server_inhibit: bool,
    /// `quorum_up` program.
    pub quorum_up: Option<String>,
    /// `quorum_down` program.
    pub quorum_down: Option<String>,
    /// The `[[virtual_server.real_server]]` tables.
    #[serde(default)]
    pub real_server: Vec<RealServerSection>,
}

/// `[[virtual_server.real_server]]`: the health part of a real server.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RealServerSection {
    /// ipvsadm words: `-r 10.0.0.1:80 -m -w 2`; a router embedding this section may leave it
    /// out and pass its own dest to [`RealServerSection::to_core`].
    pub server: Option<String>,
    /// `inhibit_on_failure`.
    #[serde(default)]
    pub inhibit_on_failure: bool,
    /// `notify_up` program.
    pub notify_up: Option<String>,
    /// `notify_down` program.
    pub notify_down: Option<String>,
    /// Connections of a failed server: `keep` (default) or `expire`.
    #[serde(default)]
    pub on_failure: ConnPolicySection,
    /// The checkers.
    #[serde(default)]
    pub check: Vec<CheckSection>,
}

/// What to do with a failed server's connections.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConnPolicySection {
    /// Keep them until they end.
    #[default]
    Keep,
    /// Expire them at once.
    Expire,
}

/// The checker types.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckType {
    /// `TCP_CHECK`
    Tcp,
    /// `HTTP_GET`
    Http,
    /// `SSL_GET`
    Https,
    /// send/expect over TCP
    SendExpect,
    /// `UDP_CHECK`
    Udp,
    /// `PING_CHECK`
    Icmp,
    /// `MISC_CHECK`
    Misc,
}

/// `[[...check]]`: one checker; which fields apply depends on `type`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// The checker type.
    #[serde(rename = "type")]
    pub kind: CheckType,
    /// Seconds between probes.
    pub delay_loop: Option<f64>,
    /// Seconds one probe may take.
    pub connect_timeout: Option<f64>,
    /// Retries before down (`retry`; keepalived's older `nb_get_retry` is accepted too).
    #[serde(alias = "nb_get_retry")]
    pub retry: Option<u32>,
    /// Seconds between a failure and its retry.
    pub delay_before_retry: Option<f64>,
    /// Upper bound of the random first delay.
    pub warmup: Option<f64>,
    /// Probe this address instead.
    pub connect_ip: Option<IpAddr>,
    /// Probe this port instead.
    pub connect_port: Option<u16>,
    /// HTTP(S) URLs.
    #[serde(default)]
    pub url: Vec<UrlSection>,
    /// HTTP(S) `Host:`.
    pub virtualhost: Option<String>,
    /// send/expect and UDP: what to send.
    pub send: Option<String>,
    /// send/expect and UDP: a substring the reply must contain.
    pub expect: Option<String>,
    /// send/expect and UDP: a regex the reply must match.
    pub expect_regex: Option<String>,
    /// MISC: the program (`misc_path`).
    #[serde(alias = "misc_path")]
    pub program: Option<String>,
    /// MISC: `misc_dynamic`.
    #[serde(default, alias = "misc_dynamic")]
    pub dynamic: bool,
}

/// One URL of an HTTP(S) check.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UrlSection {
    /// The path.
    pub path: String,
    /// Accepted status codes `[low, high]` (default `[200, 299]`).
    pub status: Option<[u16; 2]>,
    /// Expected MD5 of the body, 32 hex digits.
    pub digest: Option<String>,
}

mod convert;
