//! ipvsadm's option table (`poptOption options_table[]`) and its command x option legality
//! table (`commands_v_options`).

use super::IpvsadmError;

/// The commands, in ipvsadm's `CMD_*` order (the row of the legality table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
    /// `-h`, `-v`: ipvsadm exits before any check.
    HelpOrVersion,
}

impl Cmd {
    /// ipvsadm's `cmdnames[]`.
    pub(super) const fn name(self) -> &'static str {
        match self {
            Self::Add => "add-service",
            Self::Edit => "edit-service",
            Self::Del => "delete-service",
            Self::Flush => "flush",
            Self::List => "list",
            Self::AddDest => "add-server",
            Self::DelDest => "delete-server",
            Self::EditDest => "edit-server",
            Self::Timeout => "set",
            Self::StartDaemon => "start-daemon",
            Self::StopDaemon => "stop-daemon",
            Self::Restore => "restore",
            Self::Save => "save",
            Self::Zero => "zero",
            Self::HelpOrVersion => "help",
        }
    }

    /// This command's row of `commands_v_options`: '+' compulsory, 'x' illegal, '1' exclusive.
    const fn row(self) -> &'static [u8; NUMBER_OF_OPT] {
        match self {
            Self::Add | Self::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
            Self::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Self::List => b" 11xxxxxxxxx11       xxxxxxx xxxxx",
            Self::AddDest | Self::EditDest => b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
            Self::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Self::StartDaemon => b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
            Self::StopDaemon => b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
            Self::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Self::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Self::Flush | Self::Timeout | Self::Restore | Self::HelpOrVersion => {
                b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            }
        }
    }
}

/// Number of option classes in ipvsadm's table.
pub(super) const NUMBER_OF_OPT: usize = 34;

/// ipvsadm's `optnames[]`, indexed by option class (`OPTC_*`).
pub(super) const OPT_NAMES: [&str; NUMBER_OF_OPT] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// Option classes used by name in the parser.
pub(super) mod optc {
    pub(in super::super) const SERVICE: usize = 2;
    pub(in super::super) const SCHEDULER: usize = 3;
    pub(in super::super) const PERSISTENT: usize = 4;
    pub(in super::super) const NETMASK: usize = 5;
    pub(in super::super) const SERVER: usize = 6;
    pub(in super::super) const FORWARD: usize = 7;
    pub(in super::super) const WEIGHT: usize = 8;
    pub(in super::super) const UTHRESHOLD: usize = 9;
    pub(in super::super) const LTHRESHOLD: usize = 10;
    pub(in super::super) const ONEPACKET: usize = 21;
    pub(in super::super) const PE: usize = 22;
    pub(in super::super) const SCHED_FLAGS: usize = 23;
    pub(in super::super) const TUN_TYPE: usize = 29;
    pub(in super::super) const TUN_PORT: usize = 30;
    pub(in super::super) const TUN_NOCSUM: usize = 31;
    pub(in super::super) const TUN_CSUM: usize = 32;
    pub(in super::super) const TUN_REMCSUM: usize = 33;
}

/// Everything popt can return, by the tag ipvsadm switches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tag {
    Command(Cmd),
    /// `--start-daemon` / `--stop-daemon` take their state as argument.
    DaemonCommand(Cmd),
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masq,
    Ipip,
    Gatewaying,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    Syncid,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ArgKind {
    None,
    Required,
    Optional,
}

pub(super) struct OptDef {
    pub(super) long: &'static str,
    pub(super) short: Option<char>,
    pub(super) arg: ArgKind,
    pub(super) tag: Tag,
}

const fn def(long: &'static str, short: Option<char>, arg: ArgKind, tag: Tag) -> OptDef {
    OptDef {
        long,
        short,
        arg,
        tag,
    }
}

/// ipvsadm's popt table, in its order (popt takes the first match).
pub(super) const TABLE: &[OptDef] = {
    use ArgKind::{None as N, Optional as O, Required as R};
    &[
        def("add-service", Some('A'), N, Tag::Command(Cmd::Add)),
        def("edit-service", Some('E'), N, Tag::Command(Cmd::Edit)),
        def("delete-service", Some('D'), N, Tag::Command(Cmd::Del)),
        def("clear", Some('C'), N, Tag::Command(Cmd::Flush)),
        def("list", Some('L'), N, Tag::Command(Cmd::List)),
        def("list", Some('l'), N, Tag::Command(Cmd::List)),
        def("zero", Some('Z'), N, Tag::Command(Cmd::Zero)),
        def("add-server", Some('a'), N, Tag::Command(Cmd::AddDest)),
        def("edit-server", Some('e'), N, Tag::Command(Cmd::EditDest)),
        def("delete-server", Some('d'), N, Tag::Command(Cmd::DelDest)),
        def("set", None, N, Tag::Command(Cmd::Timeout)),
        def("help", Some('h'), N, Tag::Command(Cmd::HelpOrVersion)),
        def("version", Some('v'), N, Tag::Command(Cmd::HelpOrVersion)),
        def("restore", Some('R'), N, Tag::Command(Cmd::Restore)),
        def("save", Some('S'), N, Tag::Command(Cmd::Save)),
        def(
            "start-daemon",
            None,
            R,
            Tag::DaemonCommand(Cmd::StartDaemon),
        ),
        def("stop-daemon", None, R, Tag::DaemonCommand(Cmd::StopDaemon)),
        def("tcp-service", Some('t'), R, Tag::Tcp),
        def("udp-service", Some('u'), R, Tag::Udp),
        def("sctp-service", None, R, Tag::Sctp),
        def("fwmark-service", Some('f'), R, Tag::Fwmark),
        def("scheduler", Some('s'), R, Tag::Scheduler),
        def("persistent", Some('p'), O, Tag::Persistent),
        def("netmask", Some('M'), R, Tag::Netmask),
        def("real-server", Some('r'), R, Tag::RealServer),
        def("masquerading", Some('m'), N, Tag::Masq),
        def("ipip", Some('i'), N, Tag::Ipip),
        def("gatewaying", Some('g'), N, Tag::Gatewaying),
        def("weight", Some('w'), R, Tag::Weight),
        def("u-threshold", Some('x'), R, Tag::UThreshold),
        def("l-threshold", Some('y'), R, Tag::LThreshold),
        def("numeric", Some('n'), N, Tag::Numeric),
        def("connection", Some('c'), N, Tag::Connection),
        def("mcast-interface", None, R, Tag::McastInterface),
        def("syncid", None, R, Tag::Syncid),
        def("timeout", None, N, Tag::Timeout),
        def("daemon", None, N, Tag::Daemon),
        def("stats", None, N, Tag::Stats),
        def("rate", None, N, Tag::Rate),
        def("thresholds", None, N, Tag::Thresholds),
        def("persistent-conn", None, N, Tag::PersistentConn),
        def("nosort", None, N, Tag::NoSort),
        def("sort", None, N, Tag::Sort),
        def("exact", Some('X'), N, Tag::Exact),
        def("ipv6", Some('6'), N, Tag::Ipv6),
        def("ops", Some('o'), N, Tag::Ops),
        def("pe", None, R, Tag::Pe),
        def("sched-flags", Some('b'), R, Tag::SchedFlags),
        def("mcast-group", None, R, Tag::McastGroup),
        def("mcast-port", None, R, Tag::McastPort),
        def("mcast-ttl", None, R, Tag::McastTtl),
        def("sync-maxlen", None, R, Tag::SyncMaxlen),
        def("tun-info", None, N, Tag::TunInfo),
        def("tun-type", None, R, Tag::TunType),
        def("tun-port", None, R, Tag::TunPort),
        def("tun-nocsum", None, N, Tag::TunNocsum),
        def("tun-csum", None, N, Tag::TunCsum),
        def("tun-remcsum", None, N, Tag::TunRemcsum),
    ]
};

/// `generic_opt_check`: walks the option classes in table order, so the first offending class
/// decides the message, as in ipvsadm.
pub(super) fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), IpvsadmError> {
    let row = cmd.row();
    let command = cmd.name();
    let mut first_exclusive: Option<usize> = None;
    for (j, &rule) in row.iter().enumerate() {
        let given = options & (1 << j) != 0;
        match (given, rule) {
            (false, b'+') => {
                return Err(IpvsadmError::MissingOption {
                    option: OPT_NAMES[j],
                    command,
                });
            }
            (true, b'x') => {
                return Err(IpvsadmError::IllegalOption {
                    option: OPT_NAMES[j],
                    command,
                });
            }
            (true, b'1') => match first_exclusive {
                None => first_exclusive = Some(j),
                Some(last) => {
                    return Err(IpvsadmError::ConflictingOptions {
                        option: OPT_NAMES[j],
                        other: OPT_NAMES[last],
                        command,
                    });
                }
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_have_34_columns_and_match_ipvsadm() {
        // A few spot checks against ipvsadm 1.31's commands_v_options.
        assert_eq!(Cmd::Add.row()[optc::SERVICE], b'+');
        assert_eq!(Cmd::Add.row()[optc::ONEPACKET], b' ');
        assert_eq!(Cmd::AddDest.row()[optc::SERVER], b'+');
        assert_eq!(Cmd::AddDest.row()[optc::TUN_REMCSUM], b' ');
        assert_eq!(Cmd::DelDest.row()[optc::WEIGHT], b'x');
        assert_eq!(Cmd::List.row()[12], b'1');
        assert_eq!(Cmd::StartDaemon.row()[27], b' ');
    }
}
