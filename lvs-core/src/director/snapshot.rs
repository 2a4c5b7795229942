//! Read-only views for `ipvsadm -L` (services, dests, `--stats`, `--rate`, `-c`) and metrics.

use core::time::Duration;
use std::net::IpAddr;

use super::stats::{Rates, Stats};
use super::{Director, DropCounters};
use crate::conn::{ConnFlags, ForwardMethod, SctpState, TcpState};
use crate::ipvsadm::{ServiceConfig, ServiceKey};
use crate::time::Instant;
use crate::wire::IpProtocol;

/// One dest as `ipvsadm -L` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestSnapshot {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Forwarding method (FULLNAT for `Masq` dests of a service with a local-address pool).
    pub fwd: ForwardMethod,
    /// Weight.
    pub weight: i32,
    /// `ActiveConn`.
    pub active_conns: u32,
    /// `InActConn`.
    pub inactive_conns: u32,
    /// `--persistent-conn`: templates pointing at it.
    pub persist_conns: u32,
    /// `-x`.
    pub u_threshold: u32,
    /// `-y`.
    pub l_threshold: u32,
    /// The overload flag.
    pub overloaded: bool,
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
}

/// One service with its dests in kernel list order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSnapshot {
    /// Key.
    pub key: ServiceKey,
    /// Settings.
    pub config: ServiceConfig,
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
    /// Dests, newest first.
    pub dests: Vec<DestSnapshot>,
}

/// Everything `ipvsadm -L` and the metrics endpoint read, at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectorSnapshot {
    /// Services in creation order.
    pub services: Vec<ServiceSnapshot>,
    /// Counters over all services.
    pub stats: Stats,
    /// Rates over all services.
    pub rates: Rates,
    /// Connections in the table.
    pub conns: usize,
    /// The table's budget.
    pub conn_budget: usize,
    /// Persistence templates.
    pub templates: usize,
    /// Drops by reason.
    pub drops: DropCounters,
}

/// One `ipvsadm -Lc` row: a connection ([`Director::conns`]) or a persistence template
/// ([`Director::templates`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// Protocol (0, [`IpProtocol::HopByHop`], for a fwmark template: the kernel's `IPPROTO_IP`).
    pub proto: IpProtocol,
    /// TCP state (`None` for other protocols and templates).
    pub state: Option<TcpState>,
    /// SCTP state (`None` for other protocols and templates).
    pub sctp_state: Option<SctpState>,
    /// The state column of `ipvsadm -Lc` (`ip_vs_state_name`): the TCP or SCTP state name,
    /// `UDP`, or `NONE` / `ASSURED` for a template.
    pub state_name: &'static str,
    /// A persistence template rather than a connection.
    pub template: bool,
    /// Client.
    pub client: (IpAddr, u16),
    /// Virtual.
    pub virt: (IpAddr, u16),
    /// Real server.
    pub dest: (IpAddr, u16),
    /// FULLNAT local side (unspecified otherwise).
    pub local: (IpAddr, u16),
    /// Forwarding method (templates: the default, [`ForwardMethod::Dr`]; `-Lc` does not show
    /// it).
    pub fwd: ForwardMethod,
    /// Time left until expiry (whole seconds: the table's resolution).
    pub expires_in: Duration,
    /// Still in the INPUT-ONLY rows (DR/TUN with no reply seen).
    pub input_only: bool,
}

impl Director {
    /// A consistent copy of the services, dests, counters and rates.
    ///
    /// Call it from the control thread whenever a listing or a scrape needs it; it allocates.
    pub fn snapshot(&self) -> DirectorSnapshot {
        let services = self
            .services
            .services()
            .map(|svc| {
                let key = *svc.key();
                let rt = self
                    .reg
                    .by_key
                    .get(&key)
                    .and_then(|&i| self.reg.svcs.get(i as usize));
                let dests = svc
                    .dests()
                    .iter()
                    .map(|d| {
                        let drt = self.reg.dests.get(d.id.0 as usize).and_then(Option::as_ref);
                        DestSnapshot {
                            addr: d.addr,
                            port: d.port,
                            fwd: drt.map_or(ForwardMethod::Dr, |r| r.fwd),
                            weight: d.weight,
                            active_conns: d.active_conns,
                            inactive_conns: d.inactive_conns,
                            persist_conns: d.persist_conns,
                            u_threshold: d.u_threshold,
                            l_threshold: d.l_threshold,
                            overloaded: d.overloaded,
                            stats: drt.map(|r| r.stats).unwrap_or_default(),
                            rates: drt.map(|r| r.est.rates()).unwrap_or_default(),
                        }
                    })
                    .collect();
                ServiceSnapshot {
                    key,
                    config: svc.config().clone(),
                    stats: rt.map(|r| r.stats).unwrap_or_default(),
                    rates: rt.map(|r| r.est.rates()).unwrap_or_default(),
                    dests,
                }
            })
            .collect();
        DirectorSnapshot {
            services,
            stats: self.global,
            rates: self.global_est.rates(),
            conns: self.conns.len(),
            conn_budget: self.conns.budget(),
            templates: self.services.template_count(),
            drops: self.drops.clone(),
        }
    }

    /// The connections, for `ipvsadm -Lc` (order unspecified), with their time left at `now`;
    /// the persistence templates are [`templates`](Self::templates).
    pub fn conns(&self, now: Instant) -> impl Iterator<Item = ConnSnapshot> + '_ {
        self.conns.iter().map(move |(_, c)| ConnSnapshot {
            proto: c.proto(),
            state: if c.proto() == IpProtocol::Tcp {
                c.tcp_state()
            } else {
                None
            },
            sctp_state: c.sctp_state(),
            state_name: c.state_name(),
            template: false,
            client: (c.caddr(), c.cport()),
            virt: (c.vaddr(), c.vport()),
            dest: (c.daddr(), c.dport()),
            local: (c.laddr(), c.lport()),
            fwd: c.fwd(),
            expires_in: c.expires().saturating_duration_since(now),
            input_only: c.flags().contains(ConnFlags::NO_OUTPUT),
        })
    }

    /// The persistence templates, for `ipvsadm -Lc` (order unspecified), as the kernel lists
    /// its template entries: state `NONE`, or `ASSURED` once a connection under it was
    /// established (`ip_vs_ctpl_state_name_table`), client port 0, the client network as the source,
    /// and [`ServiceTable::templates`](crate::service::ServiceTable::templates)' forms of the
    /// virtual and real sides (a fwmark template has protocol 0 and the mark as its address).
    pub fn templates(&self, now: Instant) -> impl Iterator<Item = ConnSnapshot> + '_ {
        self.services
            .templates()
            .into_iter()
            .map(move |(t, expires, assured)| ConnSnapshot {
                proto: IpProtocol::from(t.protocol),
                state: None,
                sctp_state: None,
                state_name: if assured { "ASSURED" } else { "NONE" },
                template: true,
                client: (t.caddr, 0),
                virt: (t.vaddr, t.vport),
                dest: (t.daddr, t.dport),
                local: (super::packet::unspecified(t.daddr), 0),
                // The kernel's template carries its dest's method; ipvsadm does not show it.
                fwd: ForwardMethod::default(),
                // Templates keep nanosecond deadlines; ipvsadm shows whole seconds rounded
                // up as the kernel's jiffies arithmetic does.
                expires_in: Duration::from_secs(
                    expires
                        .saturating_duration_since(now)
                        .as_nanos()
                        .div_ceil(1_000_000_000) as u64,
                ),
                input_only: false,
            })
    }
}
