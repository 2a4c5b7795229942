//! `process_options` of ipvsadm: options applied in order, then the table checks, then the
//! command-specific checks, in ipvsadm's order so the first error is ipvsadm's first error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::addr::{atoi, inet_aton, parse_service, string_to_number};
use super::more_commands::{AdmCommand, DaemonConfig, ListMode};
use super::options::{Cmd, OPT_NAMES, Tag, generic_opt_check, optc};
use super::popt::Scanner;
use super::{
    AddressFamily, Command, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER, DestConfig, FwdMethod,
    IpvsadmError, ListFormat, MAX_TIMEOUT, Netmask, Protocol, SchedFlags, ServiceConfig,
    ServiceKey, TunnelConfig, TunnelCsum, TunnelType,
};

/// Parses one ipvsadm command line given as words, without the program name:
/// `parse_args(&["-A", "-t", "192.0.2.1:80", "-s", "rr"])`.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Command, IpvsadmError> {
    match parse_adm_args(args)? {
        AdmCommand::Table(cmd) => Ok(cmd),
        other => Err(IpvsadmError::Unsupported(adm_name(&other))),
    }
}

/// Parses any ipvsadm command line (words without the program name), including the listing,
/// save/restore, zero, `--set`, daemon, help and version commands.
pub fn parse_adm_args<S: AsRef<str>>(args: &[S]) -> Result<AdmCommand, IpvsadmError> {
    let words: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    Entry::default().process(&words)
}

fn adm_name(cmd: &AdmCommand) -> &'static str {
    match cmd {
        AdmCommand::List { .. } => Cmd::List.name(),
        AdmCommand::Save { .. } => Cmd::Save.name(),
        AdmCommand::Restore => Cmd::Restore.name(),
        AdmCommand::Zero(_) => Cmd::Zero.name(),
        AdmCommand::SetTimeouts(..) => Cmd::Timeout.name(),
        AdmCommand::StartDaemon(_) => Cmd::StartDaemon.name(),
        AdmCommand::StopDaemon(_) => Cmd::StopDaemon.name(),
        _ => Cmd::HelpOrVersion.name(),
    }
}

/// Parses one line, split on whitespace (ipvsadm-restore lines have no quoting). A leading
/// `ipvsadm` word is skipped so pasted shell commands work too.
pub fn parse_line(line: &str) -> Result<Command, IpvsadmError> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    if words.first() == Some(&"ipvsadm") {
        words.remove(0);
    }
    parse_args(&words)
}

/// ipvsadm's `struct ipvs_command_entry`, the fields this parser needs, with its defaults.
struct Entry {
    protocol: Option<Protocol>,
    af: AddressFamily,
    addr: IpAddr,
    port: u16,
    fwmark: u32,
    sched: Option<String>,
    persistent: Option<u32>,
    one_packet: bool,
    /// v4 mask bits or v6 prefix length, as ipvsadm keeps it in one field.
    netmask: u32,
    pe: Option<String>,
    sched_flags_arg: Option<String>,
    dest_af: AddressFamily,
    dest_addr: IpAddr,
    dest_port: u16,
    fwd: FwdMethod,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    tunnel: TunnelConfig,
    options: u64,
    timeouts: [u32; 3],
    daemon: DaemonConfig,
}

impl Default for Entry {
    fn default() -> Self {
        Self {
            protocol: None,
            af: AddressFamily::Inet,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            fwmark: 0,
            sched: None,
            persistent: None,
            one_packet: false,
            netmask: u32::MAX,
            pe: None,
            sched_flags_arg: None,
            dest_af: AddressFamily::Inet,
            dest_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dest_port: 0,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: TunnelConfig::default(),
            options: 0,
            timeouts: [0; 3],
            daemon: DaemonConfig::default(),
        }
    }
}

impl Entry {
    fn set_option(&mut self, optc: usize) -> Result<(), IpvsadmError> {
        let bit = 1u64 << optc;
        if self.options & bit != 0 {
            return Err(IpvsadmError::MultipleOptions(OPT_NAMES[optc]));
        }
        self.options |= bit;
        Ok(())
    }

    fn has(&self, optc: usize) -> bool {
        self.options & (1 << optc) != 0
    }

    fn process(mut self, words: &[&str]) -> Result<AdmCommand, IpvsadmError> {
        let mut scanner = Scanner::new(words);
        let cmd = match scanner.next_opt() {
            Ok(Some(opt)) => match opt.tag {
                Tag::Command(Cmd::HelpOrVersion) => {
                    // ipvsadm exits at once, before looking at anything else.
                    return Ok(
                        if opt.word.starts_with("-v") || opt.word.starts_with("--v") {
                            AdmCommand::Version
                        } else {
                            AdmCommand::Help
                        },
                    );
                }
                Tag::Command(cmd) => cmd,
                Tag::DaemonCommand(cmd) => {
                    self.daemon.master = match opt.arg {
                        Some("master") => true,
                        Some("backup") => false,
                        _ if cmd == Cmd::StartDaemon => {
                            return Err(IpvsadmError::IllegalDaemonState("start-daemon parameter"));
                        }
                        _ => return Err(IpvsadmError::IllegalDaemonState("start_daemon")),
                    };
                    cmd
                }
                _ => return Err(IpvsadmError::NoCommand),
            },
            // ipvsadm prints its "Try `ipvsadm -h'" hint for anything else.
            Ok(None) | Err(_) => return Err(IpvsadmError::NoCommand),
        };
        while let Some(opt) = scanner.next_opt()? {
            self.apply(opt.tag, opt.arg, opt.word)?;
        }
        let mut leftovers = scanner.leftovers().iter();
        if cmd == Cmd::Timeout {
            // ipvsadm takes all three words before checking any.
            let words: Vec<&str> = leftovers.by_ref().take(3).copied().collect();
            if words.len() < 3 {
                return Err(IpvsadmError::SetNeedsThreeValues);
            }
            for (slot, v) in self.timeouts.iter_mut().zip(words) {
                *slot = string_to_number(v, 0, MAX_TIMEOUT.into())
                    .ok_or_else(|| IpvsadmError::InvalidTimeout(v.to_owned()))?
                    as u32;
            }
        }
        if let Some(extra) = leftovers.next() {
            return Err(IpvsadmError::UnexpectedArgument((*extra).to_owned()));
        }
        let sched_flags = self.sched_flags()?;
        generic_opt_check(cmd, self.options)?;
        let table = match cmd {
            Cmd::Add | Cmd::Edit => self.service_command(cmd, sched_flags)?,
            Cmd::Del => Command::DeleteService(self.key()),
            Cmd::Flush => Command::Clear,
            Cmd::AddDest | Cmd::EditDest => self.dest_command(cmd)?,
            Cmd::DelDest => Command::DeleteDest(self.key(), self.dest_addr, self.dest_port),
            Cmd::List => return self.list_command(),
            Cmd::Save => {
                return Ok(AdmCommand::Save {
                    numeric: self.has(0),
                });
            }
            Cmd::Restore => return Ok(AdmCommand::Restore),
            Cmd::Zero => {
                return Ok(AdmCommand::Zero(
                    self.has(optc::SERVICE).then(|| self.key()),
                ));
            }
            Cmd::Timeout => {
                let [tcp, fin, udp] = self.timeouts;
                return Ok(AdmCommand::SetTimeouts(tcp, fin, udp));
            }
            Cmd::StartDaemon => {
                let mut daemon = self.daemon;
                if daemon.mcast_ifn.is_empty() {
                    daemon.mcast_ifn = "eth0".into();
                }
                return Ok(AdmCommand::StartDaemon(daemon));
            }
            Cmd::StopDaemon => return Ok(AdmCommand::StopDaemon(self.daemon.master)),
            Cmd::HelpOrVersion => return Ok(AdmCommand::Help),
        };
        Ok(AdmCommand::Table(table))
    }

    /// CMD_LIST: the extra conflict check, then which listing (`-c` > service > `--timeout` >
    /// `--daemon` > all).
    fn list_command(&self) -> Result<AdmCommand, IpvsadmError> {
        let (conn, timeout, daemon) = (self.has(1), self.has(12), self.has(13));
        let (stats, rate, thresholds, pconn) =
            (self.has(14), self.has(15), self.has(16), self.has(17));
        if ((conn || timeout || daemon) && (stats || rate || thresholds))
            || ((timeout || daemon) && pconn)
        {
            return Err(IpvsadmError::ListConflict);
        }
        let format = ListFormat {
            numeric: self.has(0),
            rule: false,
            stats,
            rate,
            thresholds,
            persistent_conn: pconn,
            nosort: self.has(18),
            exact: self.has(20),
            tun_info: self.has(28),
        };
        let mode = if conn {
            ListMode::Conns
        } else if self.has(optc::SERVICE) {
            ListMode::Service(self.key())
        } else if timeout {
            ListMode::Timeout
        } else if daemon {
            ListMode::Daemon
        } else {
            ListMode::All
        };
        Ok(AdmCommand::List { mode, format })
    }

    /// One option, as ipvsadm's `parse_options` loop handles it.
    fn apply(&mut self, tag: Tag, arg: Option<&str>, word: &str) -> Result<(), IpvsadmError> {
        let value = arg.unwrap_or("");
        match tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp => {
                self.set_option(optc::SERVICE)?;
                let protocol = match tag {
                    Tag::Tcp => Protocol::Tcp,
                    Tag::Udp => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                self.protocol = Some(protocol);
                let hp = parse_service(value, Some(protocol))
                    .ok_or(IpvsadmError::IllegalVirtualAddress)?;
                self.addr = hp.addr;
                self.af = AddressFamily::of(&hp.addr);
                if self.af == AddressFamily::Inet6 {
                    self.netmask = 128;
                }
                if let Some(p) = hp.port {
                    self.port = p;
                }
            }
            Tag::Fwmark => {
                self.set_option(optc::SERVICE)?;
                // ipvsadm sets "sane values" for the unused protocol and family.
                self.af = AddressFamily::Inet;
                self.protocol = Some(Protocol::Tcp);
                self.fwmark = match string_to_number(value, 1, u32::MAX.into()) {
                    Some(m) => m as u32,
                    None => return Err(IpvsadmError::InvalidFwmark(value.to_owned())),
                };
            }
            Tag::Scheduler => {
                self.set_option(optc::SCHEDULER)?;
                // IP_VS_SCHEDNAME_MAXLEN - 1
                self.sched = Some(value.chars().take(15).collect());
            }
            Tag::Persistent => {
                self.set_option(optc::PERSISTENT)?;
                self.persistent = Some(match arg {
                    None => DEFAULT_PERSISTENT_TIMEOUT,
                    Some(t) => string_to_number(t, 1, MAX_TIMEOUT.into())
                        .ok_or_else(|| IpvsadmError::InvalidTimeout(t.to_owned()))?
                        as u32,
                });
            }
            Tag::Netmask => {
                self.set_option(optc::NETMASK)?;
                if self.af == AddressFamily::Inet6 {
                    let len = atoi(value);
                    if !(1..=128).contains(&len) {
                        return Err(IpvsadmError::IllegalIpv6Netmask);
                    }
                    self.netmask = len as u32;
                } else {
                    let mask = inet_aton(value).ok_or(IpvsadmError::IllegalNetmask)?;
                    self.netmask = u32::from(mask);
                }
            }
            Tag::RealServer => {
                self.set_option(optc::SERVER)?;
                let hp =
                    parse_service(value, self.protocol).ok_or(IpvsadmError::IllegalRealAddress)?;
                self.dest_af = AddressFamily::of(&hp.addr);
                self.dest_addr = hp.addr;
                // "copy vport to dport if not specified": the vport known so far.
                self.dest_port = hp.port.unwrap_or(self.port);
            }
            Tag::Ipip | Tag::Gatewaying | Tag::Masq => {
                self.set_option(optc::FORWARD)?;
                self.fwd = match tag {
                    Tag::Ipip => FwdMethod::Tunnel,
                    Tag::Gatewaying => FwdMethod::Route,
                    _ => FwdMethod::Masq,
                };
            }
            Tag::Weight => {
                self.set_option(optc::WEIGHT)?;
                self.weight =
                    string_to_number(value, 0, 65535).ok_or(IpvsadmError::IllegalWeight)? as u32;
            }
            Tag::UThreshold => {
                self.set_option(optc::UTHRESHOLD)?;
                self.u_threshold = string_to_number(value, 0, i32::MAX.into())
                    .ok_or(IpvsadmError::IllegalUThreshold)?
                    as u32;
            }
            Tag::LThreshold => {
                self.set_option(optc::LTHRESHOLD)?;
                self.l_threshold = string_to_number(value, 0, i32::MAX.into())
                    .ok_or(IpvsadmError::IllegalLThreshold)?
                    as u32;
            }
            Tag::Ipv6 => {
                // Not a table option: only needs an earlier -f.
                if self.fwmark == 0 {
                    return Err(IpvsadmError::Ipv6BeforeFwmark);
                }
                self.af = AddressFamily::Inet6;
                self.netmask = 128;
            }
            Tag::Ops => {
                self.set_option(optc::ONEPACKET)?;
                self.one_packet = true;
            }
            Tag::Pe => {
                self.set_option(optc::PE)?;
                // strncpy(pe_name, optarg, IP_VS_PENAME_MAXLEN)
                self.pe = Some(value.chars().take(16).collect());
            }
            Tag::SchedFlags => {
                self.set_option(optc::SCHED_FLAGS)?;
                self.sched_flags_arg = Some(value.chars().take(127).collect());
            }
            Tag::TunType => {
                self.set_option(optc::TUN_TYPE)?;
                self.tunnel.kind = match value {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    _ => return Err(IpvsadmError::IllegalTunnelType),
                };
            }
            Tag::TunPort => {
                self.set_option(optc::TUN_PORT)?;
                self.tunnel.port = string_to_number(value, 1, 65535)
                    .ok_or(IpvsadmError::IllegalTunnelPort)?
                    as u16;
            }
            Tag::TunNocsum => {
                self.set_option(optc::TUN_NOCSUM)?;
                self.tunnel.csum = TunnelCsum::NoCsum;
            }
            Tag::TunCsum => {
                self.set_option(optc::TUN_CSUM)?;
                self.tunnel.csum = TunnelCsum::Csum;
            }
            Tag::TunRemcsum => {
                self.set_option(optc::TUN_REMCSUM)?;
                self.tunnel.csum = TunnelCsum::RemCsum;
            }
            Tag::Sort => {}
            Tag::Numeric => self.set_option(0)?,
            Tag::Connection => self.set_option(1)?,
            Tag::McastInterface => {
                self.set_option(11)?;
                // IP_VS_IFNAME_MAXLEN - 1
                self.daemon.mcast_ifn = value.chars().take(15).collect();
            }
            Tag::Timeout => self.set_option(12)?,
            Tag::Daemon => self.set_option(13)?,
            Tag::Stats => self.set_option(14)?,
            Tag::Rate => self.set_option(15)?,
            Tag::Thresholds => self.set_option(16)?,
            Tag::PersistentConn => self.set_option(17)?,
            Tag::NoSort => self.set_option(18)?,
            Tag::Syncid => {
                self.set_option(19)?;
                self.daemon.syncid =
                    string_to_number(value, 0, 255).ok_or(IpvsadmError::IllegalSyncid)? as u8;
            }
            Tag::Exact => self.set_option(20)?,
            Tag::McastGroup => {
                self.set_option(24)?;
                if value.contains(':') {
                    match value.parse::<Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => self.daemon.mcast_group = Some(a.into()),
                        _ => return Err(IpvsadmError::InvalidMcastGroup6(value.to_owned())),
                    }
                } else {
                    match value.parse::<Ipv4Addr>() {
                        Ok(a) if a.is_multicast() => self.daemon.mcast_group = Some(a.into()),
                        _ => return Err(IpvsadmError::InvalidMcastGroup4(value.to_owned())),
                    }
                }
            }
            Tag::McastPort => {
                self.set_option(25)?;
                self.daemon.mcast_port =
                    string_to_number(value, 1, 65535).ok_or(IpvsadmError::IllegalMcastPort)? as u16;
            }
            Tag::McastTtl => {
                self.set_option(26)?;
                self.daemon.mcast_ttl =
                    string_to_number(value, 1, 255).ok_or(IpvsadmError::IllegalMcastTtl)? as u8;
            }
            Tag::SyncMaxlen => {
                self.set_option(27)?;
                self.daemon.sync_maxlen = string_to_number(value, 1, 65535 - 20 - 8)
                    .ok_or(IpvsadmError::IllegalSyncMaxlen)?
                    as u16;
            }
            Tag::TunInfo => self.set_option(28)?,
            // A second command: ipvsadm's option loop has no case for it.
            Tag::Command(_) | Tag::DaemonCommand(_) => {
                return Err(IpvsadmError::InvalidOption(word.to_owned()));
            }
        }
        Ok(())
    }

    /// `parse_sched_flags`, run after all options so `-b` may come before `-s`.
    fn sched_flags(&self) -> Result<SchedFlags, IpvsadmError> {
        let mut bits = SchedFlags::EMPTY;
        let Some(arg) = self.sched_flags_arg.as_deref().filter(|a| !a.is_empty()) else {
            return Ok(bits);
        };
        let sched = self
            .sched
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SCHEDULER);
        for flag in arg.split(',').filter(|f| !f.is_empty()) {
            let (bit, owner) = match flag {
                "flag-1" => (SchedFlags::FLAG_1, None),
                "flag-2" => (SchedFlags::FLAG_2, None),
                "flag-3" => (SchedFlags::FLAG_3, None),
                "sh-fallback" => (SchedFlags::SH_FALLBACK, Some("sh")),
                "sh-port" => (SchedFlags::SH_PORT, Some("sh")),
                "mh-fallback" => (SchedFlags::MH_FALLBACK, Some("mh")),
                "mh-port" => (SchedFlags::MH_PORT, Some("mh")),
                _ => return Err(IpvsadmError::InvalidSchedFlag(flag.to_owned())),
            };
            if owner.is_some_and(|o| o != sched) {
                return Err(IpvsadmError::IncompatibleSchedFlag(flag.to_owned()));
            }
            bits = bits.union(bit);
        }
        Ok(bits)
    }

    fn key(&self) -> ServiceKey {
        if self.fwmark != 0 {
            ServiceKey::Fwmark {
                mark: self.fwmark,
                af: self.af,
            }
        } else {
            ServiceKey::Inet {
                protocol: self.protocol.unwrap_or(Protocol::Tcp),
                addr: self.addr,
                port: self.port,
            }
        }
    }

    fn service_command(self, cmd: Cmd, sched_flags: SchedFlags) -> Result<Command, IpvsadmError> {
        if self.fwmark == 0 && self.port == 0 && self.persistent.is_none() {
            return Err(IpvsadmError::ZeroPort);
        }
        if self.one_packet && self.fwmark == 0 && self.protocol != Some(Protocol::Udp) {
            return Err(IpvsadmError::OnePacketNotUdp);
        }
        let netmask = match self.af {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(self.netmask)),
            AddressFamily::Inet6 => Netmask::V6(self.netmask.min(128) as u8),
        };
        let key = self.key();
        let config = ServiceConfig {
            scheduler: self
                .sched
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SCHEDULER.into()),
            persistent: self.persistent,
            netmask,
            one_packet: self.one_packet,
            sched_flags,
            pe: self.pe.filter(|p| !p.is_empty()),
        };
        Ok(match cmd {
            Cmd::Add => Command::AddService(key, config),
            _ => Command::EditService(key, config),
        })
    }

    fn dest_command(mut self, cmd: Cmd) -> Result<Command, IpvsadmError> {
        // ipvsadm, not the kernel, forces DR and tunnel dests onto the virtual port.
        if self.fwmark == 0 && matches!(self.fwd, FwdMethod::Tunnel | FwdMethod::Route) {
            self.dest_port = self.port;
        }
        if self.dest_af != self.af && self.fwd != FwdMethod::Tunnel {
            return Err(IpvsadmError::MixedFamily);
        }
        let tun_opts = [
            optc::TUN_TYPE,
            optc::TUN_PORT,
            optc::TUN_NOCSUM,
            optc::TUN_CSUM,
            optc::TUN_REMCSUM,
        ];
        if tun_opts.iter().any(|&o| self.has(o)) && self.fwd != FwdMethod::Tunnel {
            return Err(IpvsadmError::TunnelOptionsConflict);
        }
        self.tunnel_opt_check()?;
        let dest = DestConfig {
            addr: self.dest_addr,
            port: self.dest_port,
            fwd: self.fwd,
            weight: self.weight,
            u_threshold: self.u_threshold,
            l_threshold: self.l_threshold,
            tunnel: self.tunnel,
        };
        let key = self.key();
        Ok(match cmd {
            Cmd::AddDest => Command::AddDest(key, dest),
            _ => Command::EditDest(key, dest),
        })
    }

    /// `tunnel_opt_check` with `tunnel_types_v_options`: gue needs --tun-port and takes one
    /// checksum option, gre takes --tun-nocsum or --tun-csum, ipip none.
    fn tunnel_opt_check(&self) -> Result<(), IpvsadmError> {
        let kind = self.tunnel.kind;
        let row: &[u8; 4] = match kind {
            TunnelType::Ipip => b"xxxx",
            TunnelType::Gue => b"+111",
            TunnelType::Gre => b"x11x",
        };
        let opts = [
            optc::TUN_PORT,
            optc::TUN_NOCSUM,
            optc::TUN_CSUM,
            optc::TUN_REMCSUM,
        ];
        let tunnel = kind.name();
        let mut first: Option<usize> = None;
        for (&rule, &o) in row.iter().zip(&opts) {
            match (self.has(o), rule) {
                (false, b'+') => {
                    return Err(IpvsadmError::MissingTunnelOption {
                        option: OPT_NAMES[o],
                        tunnel,
                    });
                }
                (true, b'x') => {
                    return Err(IpvsadmError::IllegalTunnelOption {
                        option: OPT_NAMES[o],
                        tunnel,
                    });
                }
                (true, b'1') => match first {
                    None => first = Some(o),
                    Some(last) => {
                        return Err(IpvsadmError::ConflictingTunnelOptions {
                            option: OPT_NAMES[o],
                            other: OPT_NAMES[last],
                            tunnel,
                        });
                    }
                },
                _ => {}
            }
        }
        Ok(())
    }
}
