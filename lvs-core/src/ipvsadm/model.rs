//! What `ipvsadm -L` and `-S` read, as plain data: the kernel's `ip_vs_service_entry` and
//! `ip_vs_dest_entry` plus the `/proc/net/ip_vs_conn` rows, the timeouts and the sync daemons.
//!
//! The listing functions take this model, not the director, so they are pure and testable, and
//! the same model travels over the control socket and prints as `--json`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{
    AddressFamily, FwdMethod, Netmask, Protocol, ServiceConfig, ServiceKey, TunnelCsum, TunnelType,
};
use crate::director::{Director, Rates, Stats};
use crate::sched::SchedFlags;
use crate::time::Instant;

/// Counters or rates in the kernel's `ip_vs_stats64` order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmCounters {
    /// Connections (rate: per second).
    pub conns: u64,
    /// Packets in.
    pub inpkts: u64,
    /// Packets out.
    pub outpkts: u64,
    /// Bytes in.
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
}

impl From<Stats> for AdmCounters {
    fn from(s: Stats) -> Self {
        Self {
            conns: s.conns,
            inpkts: s.inpkts,
            outpkts: s.outpkts,
            inbytes: s.inbytes,
            outbytes: s.outbytes,
        }
    }
}

impl From<Rates> for AdmCounters {
    fn from(r: Rates) -> Self {
        Self {
            conns: r.cps,
            inpkts: r.inpps,
            outpkts: r.outpps,
            inbytes: r.inbps,
            outbytes: r.outbps,
        }
    }
}

/// The forwarding method as the kernel reports it (`IP_VS_CONN_F_FWD_MASK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdmFwd {
    /// `Masq` (`-m`).
    Masq,
    /// `Local`.
    Local,
    /// `Tunnel` (`-i`).
    Tunnel,
    /// `Route` (`-g`).
    Route,
}

impl AdmFwd {
    /// The listing name (`fwd_name`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Masq => "Masq",
            Self::Local => "Local",
            Self::Tunnel => "Tunnel",
            Self::Route => "Route",
        }
    }

    /// The `-S` switch (`fwd_switch`: Local saves as `-g`).
    pub const fn switch(self) -> &'static str {
        match self {
            Self::Masq => "-m",
            Self::Tunnel => "-i",
            Self::Local | Self::Route => "-g",
        }
    }
}

/// One real server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmDest {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Forwarding method.
    pub fwd: AdmFwd,
    /// `--tun-type`: 0 ipip, 1 gue, 2 gre.
    pub tun_type: u8,
    /// `--tun-port`, 0 when unset.
    pub tun_port: u16,
    /// Tunnel checksum flags: 0 nocsum, 1 csum, 2 remcsum.
    pub tun_flags: u8,
    /// Weight.
    pub weight: i32,
    /// `-x`.
    pub u_threshold: u32,
    /// `-y`.
    pub l_threshold: u32,
    /// `ActiveConn`.
    pub active_conns: u32,
    /// `InActConn`.
    pub inactive_conns: u32,
    /// `PersistConn`: templates pointing at it.
    pub persist_conns: u32,
    /// Counters.
    pub stats: AdmCounters,
    /// Rates.
    pub rates: AdmCounters,
}

/// One virtual service with its real servers in kernel list order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmService {
    /// Firewall mark, 0 for address services.
    pub fwmark: u32,
    /// `true` for IPv6.
    pub ipv6: bool,
    /// IP protocol number (0 for fwmark services, as the netlink dump leaves it).
    pub protocol: u8,
    /// Virtual address (unspecified for fwmark services).
    pub addr: IpAddr,
    /// Virtual port.
    pub port: u16,
    /// Scheduler name.
    pub scheduler: String,
    /// `IP_VS_SVC_F_SCHED1..3` bits.
    pub sched_flags: u32,
    /// Persistence timeout when persistent.
    pub persistent: Option<u32>,
    /// The IPv4 mask as a number (`255.255.255.255` = `u32::MAX`) or the IPv6 prefix length.
    pub netmask: u32,
    /// Persistence engine.
    pub pe: Option<String>,
    /// One-packet scheduling.
    pub one_packet: bool,
    /// Counters.
    pub stats: AdmCounters,
    /// Rates.
    pub rates: AdmCounters,
    /// Real servers.
    pub dests: Vec<AdmDest>,
}

impl AdmService {
    /// The service's key, as ipvsadm's parser makes it.
    pub fn key(&self) -> ServiceKey {
        if self.fwmark != 0 {
            ServiceKey::Fwmark {
                mark: self.fwmark,
                af: if self.ipv6 {
                    AddressFamily::Inet6
                } else {
                    AddressFamily::Inet
                },
            }
        } else {
            ServiceKey::Inet {
                protocol: self.proto().unwrap_or(Protocol::Tcp),
                addr: self.addr,
                port: self.port,
            }
        }
    }

    /// The transport protocol of an address service.
    pub fn proto(&self) -> Option<Protocol> {
        match self.protocol {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The model of a service from its key and settings (counters zero, no dests).
    pub fn new(key: &ServiceKey, config: &ServiceConfig) -> Self {
        let (fwmark, protocol, addr, port) = match *key {
            ServiceKey::Inet {
                protocol,
                addr,
                port,
            } => (0, protocol.number(), addr, port),
            ServiceKey::Fwmark { mark, af } => (
                mark,
                0,
                match af {
                    AddressFamily::Inet => IpAddr::from([0u8; 4]),
                    AddressFamily::Inet6 => IpAddr::from([0u8; 16]),
                },
                0,
            ),
        };
        Self {
            fwmark,
            ipv6: key.af() == AddressFamily::Inet6,
            protocol,
            addr,
            port,
            scheduler: config.scheduler.clone(),
            sched_flags: config.sched_flags.bits(),
            persistent: config.persistent,
            netmask: match config.netmask {
                Netmask::V4(m) => u32::from(m),
                Netmask::V6(len) => u32::from(len),
            },
            pe: config.pe.clone(),
            one_packet: config.one_packet,
            stats: AdmCounters::default(),
            rates: AdmCounters::default(),
            dests: Vec::new(),
        }
    }

    /// The flags as [`SchedFlags`].
    pub fn flags(&self) -> SchedFlags {
        SchedFlags::from_bits_truncate(self.sched_flags)
    }
}

/// One `--daemon` row (`ipvs_daemon_t`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmDaemon {
    /// `true` for master, `false` for backup.
    pub master: bool,
    /// `--mcast-interface`.
    pub mcast_ifn: String,
    /// `--syncid`.
    pub syncid: u8,
    /// `--sync-maxlen`, 0 when unset.
    pub sync_maxlen: u16,
    /// `--mcast-group`.
    pub mcast_group: Option<IpAddr>,
    /// `--mcast-port`, 0 when unset.
    pub mcast_port: u16,
    /// `--mcast-ttl`, 0 when unset.
    pub mcast_ttl: u8,
}

/// One `/proc/net/ip_vs_conn` row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmConn {
    /// IP protocol number.
    pub protocol: u8,
    /// Client.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// State name (`ESTABLISHED`, `UDP`, ...).
    pub state: String,
    /// Seconds until expiry.
    pub expires: u64,
}

impl AdmConn {
    /// The rows of `ipvsadm -Lc` for one director's connection table as of `now` (table
    /// order; with several workers, concatenate each worker's).
    pub fn of_director(director: &Director, now: Instant) -> Vec<Self> {
        director
            .conns(now)
            .chain(director.templates(now))
            .map(|c| Self {
                protocol: u8::from(c.proto),
                caddr: c.client.0,
                cport: c.client.1,
                vaddr: c.virt.0,
                vport: c.virt.1,
                daddr: c.dest.0,
                dport: c.dest.1,
                state: c.state_name.to_owned(),
                expires: c.expires_in.as_secs(),
            })
            .collect()
    }
}

/// Everything a listing or a save reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmState {
    /// Connection table size for the `(size=N)` header.
    pub table_size: u64,
    /// Services in kernel order.
    pub services: Vec<AdmService>,
    /// `(tcp, tcpfin, udp)` timeouts.
    pub timeouts: (u32, u32, u32),
    /// Sync daemons (at most a master and a backup).
    pub daemons: Vec<AdmDaemon>,
    /// Connections, filled only when asked for (`-c`).
    pub conns: Vec<AdmConn>,
}

impl AdmState {
    /// The model of a director's state. `conns_at` also lists the connections as of that instant.
    /// The table size is the director's connection budget (the kernel shows its hash size).
    pub fn from_director(director: &Director, conns_at: Option<Instant>) -> Self {
        let snap = director.snapshot();
        let services = snap
            .services
            .iter()
            .map(|s| {
                let mut svc = AdmService::new(&s.key, &s.config);
                svc.stats = s.stats.into();
                svc.rates = s.rates.into();
                let table = director.services().service(&s.key);
                svc.dests = s
                    .dests
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let info = table.and_then(|t| t.dest_info(i));
                        let fwd = match info.map(|i| i.fwd) {
                            Some(FwdMethod::Masq) => AdmFwd::Masq,
                            Some(FwdMethod::Tunnel) => AdmFwd::Tunnel,
                            _ => AdmFwd::Route,
                        };
                        let tunnel = info.map(|i| i.tunnel).unwrap_or_default();
                        AdmDest {
                            addr: d.addr,
                            port: d.port,
                            fwd,
                            tun_type: match tunnel.kind {
                                TunnelType::Ipip => 0,
                                TunnelType::Gue => 1,
                                TunnelType::Gre => 2,
                            },
                            tun_port: tunnel.port,
                            tun_flags: match tunnel.csum {
                                TunnelCsum::NoCsum => 0,
                                TunnelCsum::Csum => 1,
                                TunnelCsum::RemCsum => 2,
                            },
                            weight: d.weight,
                            u_threshold: d.u_threshold,
                            l_threshold: d.l_threshold,
                            active_conns: d.active_conns,
                            inactive_conns: d.inactive_conns,
                            persist_conns: d.persist_conns,
                            stats: d.stats.into(),
                            rates: d.rates.into(),
                        }
                    })
                    .collect();
                svc
            })
            .collect();
        let conns = conns_at.map_or_else(Vec::new, |now| AdmConn::of_director(director, now));
        Self {
            table_size: snap.conn_budget as u64,
            services,
            timeouts: director.timeouts().get(),
            daemons: Vec::new(),
            conns,
        }
    }

    /// The service with this key.
    pub fn service(&self, key: &ServiceKey) -> Option<&AdmService> {
        self.services.iter().find(|s| s.key() == *key)
    }

    /// Folds in the state of another worker's director with the same configuration (one
    /// director per worker, module doc of `director`): counters, rates and connection counts
    /// add up, connection rows are appended, the table sizes add up. Services or dests only
    /// `other` has (a configuration change racing the read) are left out.
    pub fn merge(&mut self, other: &Self) {
        self.table_size += other.table_size;
        for svc in &mut self.services {
            let Some(o) = other.service(&svc.key()) else {
                continue;
            };
            svc.stats.add(&o.stats);
            svc.rates.add(&o.rates);
            for d in &mut svc.dests {
                let Some(od) = o
                    .dests
                    .iter()
                    .find(|x| x.addr == d.addr && x.port == d.port)
                else {
                    continue;
                };
                d.active_conns += od.active_conns;
                d.inactive_conns += od.inactive_conns;
                d.persist_conns += od.persist_conns;
                d.stats.add(&od.stats);
                d.rates.add(&od.rates);
            }
        }
        self.conns.extend(other.conns.iter().cloned());
    }
}

impl AdmCounters {
    fn add(&mut self, o: &Self) {
        self.conns = self.conns.wrapping_add(o.conns);
        self.inpkts = self.inpkts.wrapping_add(o.inpkts);
        self.outpkts = self.outpkts.wrapping_add(o.outpkts);
        self.inbytes = self.inbytes.wrapping_add(o.inbytes);
        self.outbytes = self.outbytes.wrapping_add(o.outbytes);
    }
}
