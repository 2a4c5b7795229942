//! The whole ipvsadm 1.31 command set: [`AdmCommand`] wraps the table commands ([`Command`])
//! and adds the listing, save/restore, zero, timeout and sync-daemon commands, with ipvsadm's
//! exit codes and stderr texts ([`IpvsadmError::exit_code`], [`IpvsadmError::stderr_text`]).

use serde::{Deserialize, Serialize};

use super::list::ListFormat;
use super::{Command, IpvsadmError, ServiceKey};

/// What `-L` shows (`process_options`' CMD_LIST branch, in its order of precedence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMode {
    /// `-c`: the connection table.
    Conns,
    /// `-L svc`: one service.
    Service(ServiceKey),
    /// `--timeout`.
    Timeout,
    /// `--daemon`.
    Daemon,
    /// Every service.
    All,
}

/// `--start-daemon` settings; zero and empty mean "not given" as in `ipvs_daemon_t`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonConfig {
    /// `master` or `backup`.
    pub master: bool,
    /// `--mcast-interface` (ipvsadm fills in `eth0`).
    pub mcast_ifn: String,
    /// `--syncid` (0..=255).
    pub syncid: u8,
    /// `--sync-maxlen`.
    pub sync_maxlen: u16,
    /// `--mcast-group`.
    pub mcast_group: Option<std::net::IpAddr>,
    /// `--mcast-port`.
    pub mcast_port: u16,
    /// `--mcast-ttl`.
    pub mcast_ttl: u8,
}

/// A parsed ipvsadm command line, any command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdmCommand {
    /// `-A -E -D -C -a -e -d`.
    Table(Command),
    /// `-L|-l`.
    List {
        /// What to list.
        mode: ListMode,
        /// How.
        format: ListFormat,
    },
    /// `-S [-n]`.
    Save {
        /// `-n`.
        numeric: bool,
    },
    /// `-R`: read commands from stdin.
    Restore,
    /// `-Z [svc]`.
    Zero(Option<ServiceKey>),
    /// `--set tcp tcpfin udp` (0 leaves a value unchanged).
    SetTimeouts(u32, u32, u32),
    /// `--start-daemon master|backup ...`.
    StartDaemon(DaemonConfig),
    /// `--stop-daemon master|backup`: `true` for master.
    StopDaemon(bool),
    /// `-h`.
    Help,
    /// `-v`.
    Version,
}

/// ipvsadm's version line (`version()`), with the kernel side it would report.
pub const VERSION_TEXT: &str = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n";

impl IpvsadmError {
    /// The exit status ipvsadm ends with: 2 for `fail()`, 255 for popt errors and the
    /// "Try `ipvsadm -h'" hint (`exit(-1)` / `return -1`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoCommand
            | Self::UnknownOption(_)
            | Self::MissingArgument(_)
            | Self::UnwantedArgument(_)
            | Self::Unsupported(_) => 255,
            _ => 2,
        }
    }

    /// What ipvsadm writes to stderr for this error, newline included.
    pub fn stderr_text(&self, program: &str) -> String {
        match self {
            Self::NoCommand => {
                format!("Try `{program} -h' or '{program} --help' for more information.\n")
            }
            // ipvsadm's message carries its own newline before fail() adds one.
            Self::Ipv6BeforeFwmark => format!("{self}\n\n"),
            _ => format!("{self}\n"),
        }
    }
}

/// `usage_exit`: the `-h` text.
pub fn usage(program: &str) -> String {
    let p = program;
    let mut s = String::from(VERSION_TEXT);
    s.push_str("Usage:\n");
    for line in [
        "-A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]",
        "-D virtual-service",
        "-C",
        "-R",
        "-S [-n]",
        "-a|e virtual-service -r server-address [options]",
        "-d virtual-service -r server-address",
        "-L|l [virtual-service] [options]",
        "-Z [virtual-service]",
        "--set tcp tcpfin udp",
        "--start-daemon {master|backup} [daemon-options]",
        "--stop-daemon {master|backup}",
        "-h",
    ] {
        s.push_str(&format!("  {p} {line}\n"));
    }
    s.push('\n');
    s.push_str(USAGE_BODY);
    s
}

const USAGE_BODY: &str = "Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
";

/// ipvsadm-restore's line splitter (`config_stream_read`): words split on blanks, every
/// `ipvsadm` word dropped, lines without words skipped. A line starting with `#` is skipped
/// too (an extension: ipvsadm would refuse it).
pub fn restore_lines(input: &str) -> Vec<Vec<String>> {
    input
        .lines()
        .map(|l| {
            l.split([' ', '\t', '\r'])
                .filter(|w| !w.is_empty() && *w != "ipvsadm")
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty() && !w[0].starts_with('#'))
        .collect()
}
