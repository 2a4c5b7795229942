//! The `run` configuration: the ipvsadm-save rules file plus a small TOML file for what
//! ipvsadm does not carry (interfaces, addresses, workers, timeouts, sysctls, FULLNAT pools).
//!
//! Both are read together and checked before anything is applied, so a reload with a bad file
//! is refused as a whole. `examples/run/router.toml` documents every key.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use lvs_core::conn::Timeouts;
use lvs_core::director::{FullNatPool, PortShare, Sysctls};
use lvs_core::ipvsadm::{Command, FwdMethod, ServiceKey, parse_line};
use lvs_core::replay::parse_rules;
use lvs_core::wire::MacAddr;
use serde::Deserialize;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML file is malformed or has unknown keys.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A rules line ipvsadm would refuse.
    #[error("{path}: {source}")]
    Rules {
        /// The file.
        path: PathBuf,
        /// The line and ipvsadm's complaint.
        source: lvs_core::replay::RulesError,
    },
    /// The rules parse but do not apply (e.g. `Service already exists`).
    #[error("{path}: line {line}: {message}")]
    Apply {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The service table's complaint.
        message: String,
    },
    /// A value in the TOML file is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// Which side of the director an interface faces.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Role {
    /// Clients reach the VIPs here (host traffic to VIPs is dropped by nftables).
    Client,
    /// Real servers live here (NAT replies are kept from the host's forwarding).
    Server,
    /// One-arm: clients and real servers on one link.
    #[default]
    Both,
}

/// One `[[interface]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Interface {
    /// Interface name.
    pub(crate) name: String,
    /// Its side.
    #[serde(default)]
    pub(crate) role: Role,
    /// Source address of ARP requests sent here.
    pub(crate) ipv4: Option<std::net::Ipv4Addr>,
    /// Source address of neighbour solicitations sent here.
    pub(crate) ipv6: Option<std::net::Ipv6Addr>,
}

/// One `[[route]]`: next hops in `to` leave through `interface`, via `via` if set.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteConfig {
    /// `net/prefix`.
    pub(crate) to: String,
    /// Interface name.
    pub(crate) interface: String,
    /// Gateway.
    pub(crate) via: Option<IpAddr>,
}

/// One `[[fullnat]]` local-address pool.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FullNatConfig {
    /// The service as ipvsadm names it: `-t 192.0.2.10:80`.
    pub(crate) service: String,
    /// Local addresses (not host addresses: the director answers ARP for them).
    pub(crate) laddrs: Vec<IpAddr>,
    /// Local port range `first-last` (default DPVS's 1025-65535).
    pub(crate) ports: Option<String>,
}

/// `[timeouts]`: `ipvsadm --set tcp tcpfin udp` in seconds.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeoutsConfig {
    pub(crate) tcp: Option<u32>,
    pub(crate) tcpfin: Option<u32>,
    pub(crate) udp: Option<u32>,
}

/// `[sysctls]`: `/proc/sys/net/ipv4/vs/*` names.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SysctlsConfig {
    pub(crate) expire_nodest_conn: Option<bool>,
    pub(crate) expire_quiescent_template: Option<bool>,
    pub(crate) conn_reuse_mode: Option<u8>,
    pub(crate) secure_tcp: Option<u8>,
    pub(crate) drop_entry: Option<u8>,
    pub(crate) drop_packet: Option<u8>,
    pub(crate) am_droprate: Option<u32>,
    pub(crate) amemthresh: Option<usize>,
}

/// `[health]`: the health checkers (`crate::health`); keepalived's `virtual_server` blocks
/// in lvs_net's TOML form.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthConfig {
    /// Probe threads: the most probes that run at once (default 4).
    pub(crate) threads: Option<usize>,
    /// The checked virtual servers.
    #[serde(default)]
    pub(crate) virtual_server: Vec<lvs_net::health::VirtualServerSection>,
}

/// The TOML file.
// Not Eq: the health section's durations are floats (keepalived takes fractions of seconds).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterConfig {
    /// Balanced interfaces, in port order.
    #[serde(default, rename = "interface")]
    pub(crate) interfaces: Vec<Interface>,
    /// Routes for next hops that are not on the link they came in on.
    #[serde(default, rename = "route")]
    pub(crate) routes: Vec<RouteConfig>,
    /// The director's own addresses (tunnel source, ICMP source); default: the interfaces'.
    #[serde(default)]
    pub(crate) addrs: Vec<IpAddr>,
    /// VIPs answered for ARP/ND and hidden from the host; default: every service address.
    pub(crate) vips: Option<Vec<IpAddr>>,
    /// Worker threads (one fanout member per interface each).
    pub(crate) workers: Option<usize>,
    /// Path MTU toward real servers (tunnel MTU = this - 20 / - 40).
    pub(crate) path_mtu: Option<u16>,
    /// Connection table budget per worker.
    pub(crate) conn_budget: Option<usize>,
    /// Static neighbours `IP = "MAC"`.
    #[serde(default)]
    pub(crate) neighbours: BTreeMap<IpAddr, String>,
    /// Turn off GRO/LRO on the interfaces at start (default true).
    pub(crate) disable_offloads: Option<bool>,
    /// Keep the host kernel off VIP traffic with nftables (default true).
    pub(crate) isolate: Option<bool>,
    /// Serve `lvs-router adm` on this Unix socket path (mode 0600; none when unset).
    pub(crate) control_socket: Option<PathBuf>,
    /// Serve Prometheus metrics on `ADDR:PORT` (`GET /metrics`; none when unset).
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Timeouts.
    #[serde(default)]
    pub(crate) timeouts: TimeoutsConfig,
    /// Sysctls.
    #[serde(default)]
    pub(crate) sysctls: SysctlsConfig,
    /// FULLNAT pools.
    #[serde(default, rename = "fullnat")]
    pub(crate) fullnat: Vec<FullNatConfig>,
    /// Active/backup: the VRRP instance that decides who owns the VIPs (`crate::ha`).
    pub(crate) vrrp: Option<VrrpSection>,
    /// IPVS connection sync (`crate::ha`).
    pub(crate) sync: Option<SyncSection>,
    /// Health checks.
    #[serde(default)]
    pub(crate) health: HealthConfig,
}

/// `[vrrp]`: one VRRP instance (keepalived's `vrrp_instance`). While it is master the workers
/// own every VIP (and FULLNAT local address) and announce them; otherwise they answer for none.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct VrrpSection {
    /// Interface the adverts go out of and come in on.
    pub(crate) interface: String,
    /// Virtual router id, 1..=255.
    pub(crate) vrid: u8,
    /// 1..=255 (255: address owner); default 100.
    pub(crate) priority: Option<u8>,
    /// 2 (RFC 3768, IPv4) or 3 (RFC 5798); default 3.
    pub(crate) version: Option<u8>,
    /// Advertisement interval in milliseconds; default 1000 (v2: whole seconds).
    pub(crate) advert_int_ms: Option<u64>,
    /// Source of the adverts; default the interface's `ipv4` (IPv6: give its link-local).
    pub(crate) src: Option<IpAddr>,
    /// Addresses listed in the adverts; default the director's VIPs of `src`'s family.
    pub(crate) vips: Option<Vec<IpAddr>>,
    /// Unicast peers instead of multicast.
    #[serde(default)]
    pub(crate) peers: Vec<IpAddr>,
    /// Preempt a lower-priority master (default true).
    pub(crate) preempt: Option<bool>,
    /// keepalived `preempt_delay`, milliseconds (default 0).
    pub(crate) preempt_delay_ms: Option<u64>,
    /// v2 simple password (keepalived `auth_type PASS`), up to 8 bytes.
    pub(crate) auth_pass: Option<String>,
    /// Gratuitous ARPs / unsolicited NAs per VIP on becoming master (default 5).
    pub(crate) garp_repeat: Option<u32>,
    /// Delay of the second burst, milliseconds (default 5000; 0: one burst).
    pub(crate) garp_delay_ms: Option<u64>,
    /// Programs run on entering MASTER / BACKUP / FAULT (split on whitespace, not waited for).
    pub(crate) notify_master: Option<String>,
    /// See `notify_master`.
    pub(crate) notify_backup: Option<String>,
    /// See `notify_master`.
    pub(crate) notify_fault: Option<String>,
}

/// Which sync daemon `[sync]` starts without `[vrrp]`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SyncRole {
    /// `ipvsadm --start-daemon master`.
    Master,
    /// `ipvsadm --start-daemon backup`.
    Backup,
}

/// `[sync]`: the IPVS sync daemon settings (`ipvsadm --start-daemon` options). With `[vrrp]`
/// the role follows the VRRP state (master sends, backup and fault receive), as keepalived's
/// `lvs_sync_daemon` does; without it `daemon` names the one started.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncSection {
    /// `--mcast-interface`.
    pub(crate) interface: String,
    /// `--syncid` (default 0: the backup accepts any).
    pub(crate) syncid: Option<u8>,
    /// `--mcast-group` (default 224.0.0.81).
    pub(crate) group: Option<IpAddr>,
    /// `--mcast-port` (default 8848).
    pub(crate) port: Option<u16>,
    /// `--mcast-ttl` (default 1).
    pub(crate) ttl: Option<u8>,
    /// `--sync-maxlen` (default: MTU 1500 less headers).
    pub(crate) maxlen: Option<u16>,
    /// Without `[vrrp]`: the daemon started at start-up (none when unset).
    pub(crate) daemon: Option<SyncRole>,
    /// `sync_threshold` first value (default 3).
    pub(crate) threshold: Option<u32>,
    /// `sync_threshold` second value, the period in packets (default 50).
    pub(crate) period: Option<u32>,
}

/// Both files, parsed and checked.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    /// The TOML settings.
    pub(crate) router: RouterConfig,
    /// The rules, in file order.
    pub(crate) commands: Vec<Command>,
}

impl Loaded {
    /// Reads and checks both files; the rules are applied to a scratch table so a file that
    /// parses but does not apply is refused here, before any worker sees it.
    pub(crate) fn read(rules: &Path, config: &Path) -> Result<Self, ConfigError> {
        let text = read(config)?;
        let router = RouterConfig::parse(&text).map_err(|message| ConfigError::Toml {
            path: config.to_owned(),
            message,
        })?;
        let commands = read_rules(rules)?;
        router.fullnat_pools()?;
        router.neighbour_list()?;
        Ok(Self { router, commands })
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parses an ipvsadm-save file and checks it applies to an empty table.
pub(crate) fn read_rules(path: &Path) -> Result<Vec<Command>, ConfigError> {
    check_rules(path, &read(path)?)
}

/// [`read_rules`] for rules held in memory.
pub(crate) fn read_rules_text(text: &str) -> Result<Vec<Command>, ConfigError> {
    check_rules(Path::new("<rules>"), text)
}

fn check_rules(path: &Path, text: &str) -> Result<Vec<Command>, ConfigError> {
    let rules = parse_rules(text).map_err(|source| ConfigError::Rules {
        path: path.to_owned(),
        source,
    })?;
    let mut scratch = lvs_core::service::ServiceTable::new(Default::default());
    for r in &rules {
        scratch.apply(&r.command).map_err(|e| ConfigError::Apply {
            path: path.to_owned(),
            line: r.line,
            message: e.to_string(),
        })?;
    }
    Ok(rules.into_iter().map(|r| r.command).collect())
}

impl RouterConfig {
    /// Parses the TOML text (unknown keys are errors: a typo must not pass silently).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let cfg: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        if cfg.interfaces.is_empty() {
            return Err("at least one [[interface]] is needed".into());
        }
        if cfg.workers == Some(0) {
            return Err("workers must be at least 1".into());
        }
        if let Some(v) = &cfg.vrrp {
            if !cfg.interfaces.iter().any(|i| i.name == v.interface) {
                return Err(format!(
                    "[vrrp] interface {}: no [[interface]] of that name",
                    v.interface
                ));
            }
            if v.src.is_none()
                && cfg
                    .interfaces
                    .iter()
                    .all(|i| i.name != v.interface || i.ipv4.is_none())
            {
                return Err("[vrrp] needs src (or the interface's ipv4)".into());
            }
        }
        if let Some(s) = &cfg.sync
            && s.daemon.is_some()
            && cfg.vrrp.is_some()
        {
            return Err("[sync] daemon: with [vrrp] the sync role follows the VRRP state".into());
        }
        if cfg.health.threads == Some(0) {
            return Err("health.threads must be at least 1".into());
        }
        cfg.health_checks()?;
        for r in &cfg.routes {
            parse_prefix(&r.to)?;
            if !cfg.interfaces.iter().any(|i| i.name == r.interface) {
                return Err(format!("route {}: no [[interface]] {}", r.to, r.interface));
            }
        }
        Ok(cfg)
    }

    /// The health sections as the core's configuration.
    pub(crate) fn health_checks(
        &self,
    ) -> Result<Vec<lvs_core::health::VirtualServerHealth>, String> {
        self.health
            .virtual_server
            .iter()
            .map(|v| v.to_core().map_err(|e| format!("[health]: {e}")))
            .collect()
    }

    /// The timeouts (unset keys keep the kernel defaults).
    pub(crate) fn timeouts(&self) -> Timeouts {
        let mut t = Timeouts::DEFAULT;
        let c = self.timeouts;
        t.set(
            c.tcp.unwrap_or(0),
            c.tcpfin.unwrap_or(0),
            c.udp.unwrap_or(0),
        );
        t
    }

    /// The sysctls (unset keys keep the kernel defaults).
    pub(crate) fn sysctls(&self) -> Sysctls {
        let d = Sysctls::default();
        let c = self.sysctls;
        Sysctls {
            expire_nodest_conn: c.expire_nodest_conn.unwrap_or(d.expire_nodest_conn),
            expire_quiescent_template: c
                .expire_quiescent_template
                .unwrap_or(d.expire_quiescent_template),
            conn_reuse_mode: c.conn_reuse_mode.unwrap_or(d.conn_reuse_mode),
            secure_tcp: c.secure_tcp.unwrap_or(d.secure_tcp),
            drop_entry: c.drop_entry.unwrap_or(d.drop_entry),
            drop_packet: c.drop_packet.unwrap_or(d.drop_packet),
            am_droprate: c.am_droprate.unwrap_or(d.am_droprate),
            amemthresh: c.amemthresh.unwrap_or(d.amemthresh),
        }
    }

    /// The FULLNAT pools with their services parsed.
    pub(crate) fn fullnat_pools(&self) -> Result<Vec<FullNatPool>, ConfigError> {
        self.fullnat
            .iter()
            .map(|f| {
                let bad = |m: String| ConfigError::Invalid(format!("fullnat {}: {m}", f.service));
                // Reuse ipvsadm's own service grammar: `-D svc` names exactly a service.
                let service = match parse_line(&format!("-D {}", f.service)) {
                    Ok(Command::DeleteService(k)) => k,
                    Ok(_) => return Err(bad("not a service".into())),
                    Err(e) => return Err(bad(e.to_string())),
                };
                let ports = match &f.ports {
                    None => 1025..=65535,
                    Some(p) => {
                        let (a, b) = p.split_once('-').ok_or_else(|| bad(format!("ports {p}")))?;
                        let a: u16 = a.trim().parse().map_err(|_| bad(format!("ports {p}")))?;
                        let b: u16 = b.trim().parse().map_err(|_| bad(format!("ports {p}")))?;
                        if a == 0 || a > b {
                            return Err(bad(format!("ports {p}")));
                        }
                        a..=b
                    }
                };
                if f.laddrs.is_empty() {
                    return Err(bad("laddrs is empty".into()));
                }
                Ok(FullNatPool {
                    service,
                    laddrs: f.laddrs.clone(),
                    ports,
                    // The engine gives each worker its share.
                    share: PortShare::ALL,
                })
            })
            .collect()
    }

    /// The static neighbours.
    pub(crate) fn neighbour_list(&self) -> Result<Vec<(IpAddr, MacAddr)>, ConfigError> {
        self.neighbours
            .iter()
            .map(|(ip, mac)| {
                parse_mac(mac)
                    .map(|m| (*ip, m))
                    .ok_or_else(|| ConfigError::Invalid(format!("neighbour {ip}: bad MAC {mac}")))
            })
            .collect()
    }
}

/// `a:b:c:d:e:f`.
pub(crate) fn parse_mac(s: &str) -> Option<MacAddr> {
    let octets: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    MacAddr::from_bytes(&octets).filter(|_| octets.len() == 6)
}

/// `net/prefix` (a bare address is a host route).
pub(crate) fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s.split_once('/').unwrap_or((s, ""));
    let addr: IpAddr = a.parse().map_err(|_| format!("bad network {s}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if p.is_empty() {
        max
    } else {
        p.parse().map_err(|_| format!("bad prefix {s}"))?
    };
    if prefix > max {
        return Err(format!("bad prefix {s}"));
    }
    Ok((addr, prefix))
}

/// The addresses of the services (the default VIP list) and of the NAT/FULLNAT dests (whose
/// replies the host must not forward a second time).
pub(crate) fn service_addrs(commands: &[Command]) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut vips = Vec::new();
    let mut rips = Vec::new();
    for c in commands {
        match c {
            Command::AddService(ServiceKey::Inet { addr, .. }, _) if !vips.contains(addr) => {
                vips.push(*addr);
            }
            Command::AddDest(_, d) | Command::EditDest(_, d)
                if d.fwd == FwdMethod::Masq && !rips.contains(&d.addr) =>
            {
                rips.push(d.addr);
            }
            _ => {}
        }
    }
    (vips, rips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_and_rules_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/run");
        let l = Loaded::read(&root.join("rules"), &root.join("router.toml")).unwrap();
        assert_eq!(l.router.interfaces.len(), 2);
        assert_eq!(l.router.interfaces[1].role, Role::Server);
        assert_eq!(l.commands.len(), 7);
        assert_eq!(l.router.timeouts().get(), (900, 120, 300));
        let (vips, rips) = service_addrs(&l.commands);
        assert_eq!(vips.len(), 1);
        assert_eq!(rips.len(), 3);
        let health = l.router.health_checks().unwrap();
        assert_eq!(health.len(), 1);
        assert_eq!(health[0].real_servers.len(), 2);
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        let base = "[[interface]]\nname = \"eth0\"\n";
        assert!(RouterConfig::parse(base).is_ok());
        assert!(RouterConfig::parse(&format!("workerz = 2\n{base}")).is_err());
        assert!(RouterConfig::parse(&format!("workers = 0\n{base}")).is_err());
        assert!(RouterConfig::parse("workers = 1\n").is_err());
        let route = format!("{base}[[route]]\nto = \"10.0.0.0/33\"\ninterface = \"eth0\"\n");
        assert!(RouterConfig::parse(&route).is_err());
        let pool = format!(
            "{base}[[fullnat]]\nservice = \"-t 192.0.2.1:80\"\nladdrs = [\"10.0.0.1\"]\nports = \"9-2\"\n"
        );
        assert!(RouterConfig::parse(&pool).unwrap().fullnat_pools().is_err());
        let m = RouterConfig::parse(&format!("metrics_listen = \"127.0.0.1:9642\"\n{base}"));
        assert_eq!(
            m.unwrap().metrics_listen,
            Some("127.0.0.1:9642".parse().unwrap())
        );
        assert!(RouterConfig::parse(&format!("metrics_listen = \"localhost\"\n{base}")).is_err());
        assert!(RouterConfig::parse(&format!("{base}[health]\nthreads = 0\n")).is_err());
        let vs = "[[health.virtual_server]]\nservice = \"-t 192.0.2.1:80\"\n\
                  [[health.virtual_server.real_server]]\nserver = \"-r 10.0.0.1:80\"\n\
                  [[health.virtual_server.real_server.check]]\ntype = \"misc\"\n";
        let err = RouterConfig::parse(&format!("{base}{vs}")).unwrap_err();
        assert!(err.starts_with("[health]: "), "{err}");
        let ok = format!("{base}{vs}program = \"true\"\n");
        assert_eq!(
            RouterConfig::parse(&ok)
                .unwrap()
                .health_checks()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            parse_prefix("2001:db8::/32"),
            Ok(("2001:db8::".parse().unwrap(), 32))
        );
    }

    #[test]
    fn rules_that_do_not_apply_name_their_line() {
        let dir = std::env::temp_dir().join(format!("lvs-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("rules");
        std::fs::write(&p, "-A -t 192.0.2.1:80\n-A -t 192.0.2.1:80\n").unwrap();
        let e = read_rules(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("Service already exists"),
            "{e}"
        );
        std::fs::write(&p, "-A -t 192.0.2.1:80 -s nosuch-sched-x y\n").unwrap();
        assert!(read_rules(&p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
