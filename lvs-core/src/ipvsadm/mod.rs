//! The ipvsadm command grammar: argv words in, typed commands out.
//!
//! This follows ipvsadm 1.31 (`ipvsadm.c`, parsed with popt) closely enough that the same words
//! give the same command, the same defaults and the same error text:
//!
//! * the first option must be a command (`-A`, `--add-service`, ...); options may follow in any
//!   order, short options may be clustered (`-At 192.0.2.1:80`) and take their argument attached
//!   (`-w3`) or as the next word, long options as `--weight 3` or `--weight=3`;
//! * `-p|--persistent` takes an optional timeout: the next word unless it starts with `-`;
//! * each option may be given once ("multiple 'weight' options specified"), and ipvsadm's
//!   command x option table decides what is legal ("Illegal 'weight' option with the
//!   'add-service' command");
//! * options are applied in the order given, with ipvsadm's order-dependent quirks: `-r` without
//!   a port takes the service port known *at that point*, `-6` must follow `-f`, and a `-t [v6]`
//!   resets the persistence netmask to 128;
//! * defaults: scheduler `wlc` (so `-E` without `-s` switches back to wlc), weight 1, forwarding
//!   `-g` (also for `-e`), persistence timeout 300 s, netmask /32 or /128, tunnel type ipip;
//! * for `-a`/`-e` with `-g` or `-i` on a non-fwmark service the real-server port is forced to the
//!   virtual port (ipvsadm does this, not the kernel).
//!
//! Host names are not resolved (the core does no DNS): addresses are numeric, IPv4 in any form
//! `inet_aton(3)` accepts, IPv6 as `[addr]:port` or a bare address. Ports are numeric or one of a
//! few well-known service names (ipvsadm asks `getservbyname(3)`).
//!
//! [`parse_args`] produces the table commands ([`Command`]) and refuses the others with
//! [`IpvsadmError::Unsupported`]; [`parse_adm_args`] produces every command ([`AdmCommand`]):
//! listings, `-S`/`-R`, `-Z`, `--set`, the sync daemon, `-h`, `-v`. The listing and save output
//! is in [`list_all`] and friends, pure functions of an [`AdmState`].

mod addr;
mod batch;
mod display;
mod error;
mod list;
mod model;
mod more_commands;
mod options;
mod parse;
mod popt;
mod save;
mod sort;

use core::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub use crate::sched::SchedFlags;

pub use batch::{BatchError, apply_batch};
pub use error::IpvsadmError;
pub use list::{
    ListFormat, NumericResolver, Resolver, largenum, list_all, list_conns, list_daemon,
    list_service, list_timeout,
};
pub use model::{AdmConn, AdmCounters, AdmDaemon, AdmDest, AdmFwd, AdmService, AdmState};
pub use more_commands::{AdmCommand, DaemonConfig, ListMode, VERSION_TEXT, restore_lines, usage};
pub use parse::{parse_adm_args, parse_args, parse_line};
pub use save::save;

/// The default scheduler ipvsadm fills in for `-A` and `-E` (`DEF_SCHED`).
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// The default persistence timeout in seconds (`IPVS_SVC_PERSISTENT_TIMEOUT`).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 300;
/// The largest timeout ipvsadm accepts: 31 days (`MAX_TIMEOUT`).
pub const MAX_TIMEOUT: u32 = 86_400 * 31;

/// A virtual service's transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `-t`, `--tcp-service`
    Tcp,
    /// `-u`, `--udp-service`
    Udp,
    /// `--sctp-service`
    Sctp,
}

impl Protocol {
    /// The protocol with this IP protocol number; `None` for protocols IPVS does not serve.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            6 => Some(Self::Tcp),
            17 => Some(Self::Udp),
            132 => Some(Self::Sctp),
            _ => None,
        }
    }

    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Sctp => 132,
        }
    }

    /// The name ipvsadm's listing prints (`TCP`, `UDP`, `SCTP`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    /// IPv4
    Inet,
    /// IPv6
    Inet6,
}

impl AddressFamily {
    /// The family of `addr`.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::Inet,
            IpAddr::V6(_) => Self::Inet6,
        }
    }
}

/// What identifies a virtual service in the kernel's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// `-t|-u|--sctp-service addr[:port]`; a missing port is 0.
    Inet {
        /// The transport protocol.
        protocol: Protocol,
        /// The virtual IP.
        addr: IpAddr,
        /// The virtual port, 0 for "any port" (persistent services only).
        port: u16,
    },
    /// `-f mark [-6]`: matches packets carrying this firewall mark.
    Fwmark {
        /// The mark, > 0.
        mark: u32,
        /// IPv4 unless `-6` was given.
        af: AddressFamily,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub const fn af(&self) -> AddressFamily {
        match self {
            Self::Inet { addr, .. } => AddressFamily::of(addr),
            Self::Fwmark { af, .. } => *af,
        }
    }

    /// The virtual port (0 for fwmark services).
    pub const fn port(&self) -> u16 {
        match self {
            Self::Inet { port, .. } => *port,
            Self::Fwmark { .. } => 0,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// The way ipvsadm names a service on its own command line (`-t 192.0.2.1:80`, `-f 7 -6`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet {
                protocol,
                addr,
                port,
            } => {
                let opt = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                };
                write!(f, "{opt} {}", SocketDisplay(*addr, *port))
            }
            Self::Fwmark {
                mark,
                af: AddressFamily::Inet,
            } => write!(f, "-f {mark}"),
            Self::Fwmark {
                mark,
                af: AddressFamily::Inet6,
            } => write!(f, "-f {mark} -6"),
        }
    }
}

/// Formats an address and port as ipvsadm does: `a.b.c.d:port` or `[v6]:port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketDisplay(pub IpAddr, pub u16);

impl fmt::Display for SocketDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// The persistence granularity (`-M`): which part of the client address a template keys on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Netmask {
    /// An IPv4 mask, any bit pattern (`inet_aton` form); default 255.255.255.255.
    V4(Ipv4Addr),
    /// An IPv6 prefix length 1..=128; default 128.
    V6(u8),
}

impl Netmask {
    /// The default for a family: /32 or /128.
    pub const fn host(af: AddressFamily) -> Self {
        match af {
            AddressFamily::Inet => Self::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Inet6 => Self::V6(128),
        }
    }

    /// `addr` masked: the client network a persistence template is keyed by. A mask of the other
    /// family leaves the address unchanged.
    pub fn apply(self, addr: IpAddr) -> IpAddr {
        match (self, addr) {
            (Self::V4(m), IpAddr::V4(a)) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(m))),
            (Self::V6(len), IpAddr::V6(a)) => {
                let bits = u128::from(a);
                let mask = if len >= 128 {
                    u128::MAX
                } else {
                    !(u128::MAX >> len)
                };
                IpAddr::V6((bits & mask).into())
            }
            _ => addr,
        }
    }
}

/// A service's settings, as `-A` and `-E` carry them. `-E` replaces all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Scheduler name (`-s`, default `wlc`); the kernel also knows `none`.
    pub scheduler: String,
    /// Persistence timeout in seconds when `-p` was given.
    pub persistent: Option<u32>,
    /// Persistence granularity (`-M`).
    pub netmask: Netmask,
    /// One-packet scheduling (`-o`).
    pub one_packet: bool,
    /// Scheduler flags (`-b`): the kernel's three generic bits.
    pub sched_flags: SchedFlags,
    /// Persistence engine (`--pe`), e.g. `sip`.
    pub pe: Option<String>,
}

/// How packets reach a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FwdMethod {
    /// `-m`: NAT (listing name "Masq").
    Masq,
    /// `-i`: IP-in-IP or GUE/GRE tunnel ("Tunnel").
    Tunnel,
    /// `-g`: direct routing ("Route"), the default.
    Route,
}

impl FwdMethod {
    /// The name ipvsadm's listing prints.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Masq => "Masq",
            Self::Tunnel => "Tunnel",
            Self::Route => "Route",
        }
    }
}

/// `--tun-type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// IP-in-IP, the default.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation; needs `--tun-port`.
    Gue,
    /// GRE.
    Gre,
}

impl TunnelType {
    /// The ipvsadm name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ipip => "ipip",
            Self::Gue => "gue",
            Self::Gre => "gre",
        }
    }
}

/// Tunnel checksum mode (`--tun-nocsum|--tun-csum|--tun-remcsum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelCsum {
    /// No outer checksum, the default.
    #[default]
    NoCsum,
    /// Outer checksum.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

/// Tunnel settings of a dest; meaningful for [`FwdMethod::Tunnel`] only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunnelConfig {
    /// Encapsulation.
    pub kind: TunnelType,
    /// GUE destination port, 0 when not set.
    pub port: u16,
    /// Checksum mode.
    pub csum: TunnelCsum,
}

/// A real server's settings, as `-a` and `-e` carry them. `-e` replaces all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestConfig {
    /// Real-server address (`-r`).
    pub addr: IpAddr,
    /// Real-server port: given, else the service port (forced to it for `-g`/`-i`).
    pub port: u16,
    /// Forwarding method, default [`FwdMethod::Route`].
    pub fwd: FwdMethod,
    /// Weight 0..=65535 (`-w`, default 1).
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub l_threshold: u32,
    /// Tunnel settings.
    pub tunnel: TunnelConfig,
}

/// A parsed ipvsadm command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `-A`
    AddService(ServiceKey, ServiceConfig),
    /// `-E`
    EditService(ServiceKey, ServiceConfig),
    /// `-D`
    DeleteService(ServiceKey),
    /// `-C`
    Clear,
    /// `-a`
    AddDest(ServiceKey, DestConfig),
    /// `-e`
    EditDest(ServiceKey, DestConfig),
    /// `-d`: the dest is named by address and port.
    DeleteDest(ServiceKey, IpAddr, u16),
}

/// ipvsadm's `host[:port]` reader (`parse_service`) for tools that take the same address forms:
/// `a.b.c.d[:port]`, `[v6]:port` or a bare IPv6 address; the port may be a well-known service
/// name when `protocol` is given. `None` when ipvsadm would refuse the word.
pub fn parse_host_port(word: &str, protocol: Option<Protocol>) -> Option<(IpAddr, Option<u16>)> {
    addr::parse_service(word, protocol).map(|hp| (hp.addr, hp.port))
}

/// ipvsadm's fwmark reader: a decimal number 1..=4294967295.
pub fn parse_fwmark(word: &str) -> Option<u32> {
    addr::string_to_number(word, 1, u32::MAX.into()).and_then(|m| u32::try_from(m).ok())
}

#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod more_commands_tests;
