//! The monitor's configuration: checkers, real servers, virtual servers, keepalived defaults.

use core::time::Duration;
use std::net::IpAddr;

use crate::ipvsadm::{DestConfig, ServiceKey};

/// A checker's timing, in keepalived's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Time between a result and the next probe (`delay_loop`, default 60 s).
    pub delay_loop: Duration,
    /// How long one probe may take (`connect_timeout`, default 5 s).
    pub connect_timeout: Duration,
    /// Retries after a failed probe before an up checker goes down (`retry`/`nb_get_retry`,
    /// default 1): down after `retry + 1` consecutive failures.
    pub retry: u32,
    /// Time between a failure and the retry (`delay_before_retry`, default 1 s, 3 s for HTTP).
    pub delay_before_retry: Duration,
    /// Upper bound of the random delay before the first probe (`warmup`); `None` means
    /// `delay_loop`, as in keepalived.
    pub warmup: Option<Duration>,
}

impl Timing {
    /// keepalived's defaults for a checker kind.
    pub fn keepalived(kind: &CheckKind) -> Self {
        let http = matches!(kind, CheckKind::Http(_) | CheckKind::Https(_));
        Self {
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            retry: 1,
            delay_before_retry: Duration::from_secs(if http { 3 } else { 1 }),
            warmup: None,
        }
    }
}

/// How a reply is matched (send/expect, UDP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The reply contains these bytes.
    Substring(Vec<u8>),
    /// The reply (as lossy UTF-8) matches this regular expression (compiled by `lvs-net`).
    Regex(String),
}

/// One URL of an HTTP(S) check; all URLs of a checker must pass (keepalived `url { }` blocks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlCheck {
    /// Request path, e.g. `/health`.
    pub path: String,
    /// Accepted status codes (keepalived `status_code`, default 200..=299).
    pub status: core::ops::RangeInclusive<u16>,
    /// MD5 of the body (keepalived `digest`), if it must match.
    pub digest: Option<[u8; 16]>,
}

/// An HTTP or HTTPS GET check (keepalived `HTTP_GET` / `SSL_GET`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// The URLs to fetch, in order.
    pub urls: Vec<UrlCheck>,
    /// `Host:` header (keepalived `virtualhost`); the target address when `None`.
    pub virtualhost: Option<String>,
}

/// What a checker probes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckKind {
    /// TCP connect (keepalived `TCP_CHECK`).
    Tcp,
    /// HTTP GET (`HTTP_GET`).
    Http(HttpCheck),
    /// HTTPS GET (`SSL_GET`).
    Https(HttpCheck),
    /// Send a string over TCP, match the reply (ldirectord `negotiate`, Piranha send/expect).
    SendExpect {
        /// Bytes written after connecting; nothing when empty.
        send: Vec<u8>,
        /// What the reply must match.
        expect: Expect,
    },
    /// UDP request/reply (`UDP_CHECK`).
    Udp {
        /// Datagram payload.
        payload: Vec<u8>,
        /// When set a reply must arrive and match; otherwise only an ICMP error fails.
        expect: Option<Expect>,
    },
    /// ICMP echo (`PING_CHECK`).
    Icmp,
    /// External program run by `sh -c` (`MISC_CHECK`): exit 0 up, 1 down.
    Misc {
        /// The command line.
        program: String,
        /// `misc_dynamic`: exit 2..=255 is up with weight `exit - 2`.
        dynamic: bool,
    },
}

impl CheckKind {
    /// keepalived's block name, used in listings.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Tcp => "TCP_CHECK",
            Self::Http(_) => "HTTP_GET",
            Self::Https(_) => "SSL_GET",
            Self::SendExpect { .. } => "SEND_EXPECT",
            Self::Udp { .. } => "UDP_CHECK",
            Self::Icmp => "PING_CHECK",
            Self::Misc { .. } => "MISC_CHECK",
        }
    }
}

/// One checker of a real server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckerConfig {
    /// What to probe.
    pub kind: CheckKind,
    /// When.
    pub timing: Timing,
    /// Probe this address instead of the real server's (`connect_ip`).
    pub connect_ip: Option<IpAddr>,
    /// Probe this port instead of the real server's (`connect_port`).
    pub connect_port: Option<u16>,
}

impl CheckerConfig {
    /// A checker with keepalived's default timing for its kind.
    pub fn new(kind: CheckKind) -> Self {
        Self {
            timing: Timing::keepalived(&kind),
            kind,
            connect_ip: None,
            connect_port: None,
        }
    }
}

/// What happens to a failed real server's existing connections, like the kernel's
/// `expire_nodest_conn`; the director reads it from
/// [`HealthEvent::Down`](super::HealthEvent::Down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailedConnPolicy {
    /// Keep them until they end or time out (the kernel default, `expire_nodest_conn=0`).
    #[default]
    KeepUntilEnd,
    /// Expire them at once, so that clients reconnect to a live server.
    ExpireNow,
}

/// A health-checked real server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServerHealth {
    /// The dest as it is added when alive; `weight` is the configured weight.
    pub dest: DestConfig,
    /// Its checkers; alive while all are up (none: always alive).
    pub checkers: Vec<CheckerConfig>,
    /// Set weight 0 instead of removing the dest when it fails (`inhibit_on_failure`).
    pub inhibit_on_failure: bool,
    /// Program run when it comes up (`notify_up`).
    pub notify_up: Option<String>,
    /// Program run when it goes down (`notify_down`).
    pub notify_down: Option<String>,
    /// What the director does with its connections when it goes down.
    pub on_failure: FailedConnPolicy,
}

impl RealServerHealth {
    /// A real server with these checkers and keepalived's defaults otherwise.
    pub fn new(dest: DestConfig, checkers: Vec<CheckerConfig>) -> Self {
        Self {
            dest,
            checkers,
            inhibit_on_failure: false,
            notify_up: None,
            notify_down: None,
            on_failure: FailedConnPolicy::default(),
        }
    }
}

/// The sorry server used while a virtual server lacks quorum (`sorry_server`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SorryServer {
    /// The dest added while quorum is lost.
    pub dest: DestConfig,
    /// Keep it with weight 0 instead of removing it (`sorry_server_inhibit`).
    pub inhibit: bool,
}

/// Health settings of one virtual server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualServerHealth {
    /// The service, added by the router before the monitor starts.
    pub service: ServiceKey,
    /// Minimum total weight of alive real servers (`quorum`, default 1).
    pub quorum: u32,
    /// Flap damping around the quorum (`hysteresis`, default 0).
    pub hysteresis: u32,
    /// Start every checker as down (`alpha`).
    pub alpha: bool,
    /// Used while quorum is lost.
    pub sorry_server: Option<SorryServer>,
    /// Program run when quorum is gained (`quorum_up`).
    pub quorum_up: Option<String>,
    /// Program run when quorum is lost (`quorum_down`).
    pub quorum_down: Option<String>,
    /// The real servers.
    pub real_servers: Vec<RealServerHealth>,
}

impl VirtualServerHealth {
    /// A virtual server with keepalived's defaults.
    pub fn new(service: ServiceKey, real_servers: Vec<RealServerHealth>) -> Self {
        Self {
            service,
            quorum: 1,
            hysteresis: 0,
            alpha: false,
            sorry_server: None,
            quorum_up: None,
            quorum_down: None,
            real_servers,
        }
    }
}
