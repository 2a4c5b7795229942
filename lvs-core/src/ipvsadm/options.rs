//! ipvsadm's option table and a popt-compatible word scanner.
//!
//! The scanner reproduces the popt behaviour ipvsadm users meet: clustered short options, short
//! option arguments attached or in the next word, `--long=value`, an optional argument that is
//! skipped when the next word starts with `-`, `--` ending the options, and words that are not
//! options collected as leftovers.

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
enum ArgKind {
    None,
    Required,
    Optional,
}

struct OptDef {
    long: &'static str,
    short: Option<char>,
    arg: ArgKind,
    tag: Tag,
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
const TABLE: &[OptDef] = {
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

/// One option popt handed out: its tag, its argument, and the word it came from (the text popt
/// names in its errors).
#[derive(Debug)]
pub(super) struct Opt<'a> {
    pub(super) tag: Tag,
    pub(super) arg: Option<&'a str>,
    pub(super) word: &'a str,
}

/// A popt context over borrowed words.
pub(super) struct Scanner<'a> {
    words: &'a [&'a str],
    next: usize,
    /// Rest of a short-option cluster and the word it belongs to.
    cluster: Option<(&'a str, &'a str)>,
    leftovers: Vec<&'a str>,
    rest_leftover: bool,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(words: &'a [&'a str]) -> Self {
        Self {
            words,
            next: 0,
            cluster: None,
            leftovers: Vec::new(),
            rest_leftover: false,
        }
    }

    /// Words that were not options or option arguments.
    pub(super) fn leftovers(&self) -> &[&'a str] {
        &self.leftovers
    }

    /// The next option, `Ok(None)` at the end.
    pub(super) fn next_opt(&mut self) -> Result<Option<Opt<'a>>, IpvsadmError> {
        let (def, word, attached) = loop {
            if let Some((rest, word)) = self.cluster.take() {
                let mut chars = rest.chars();
                let c = chars.next().unwrap_or('\0');
                let def = TABLE
                    .iter()
                    .find(|d| d.short == Some(c))
                    .ok_or_else(|| IpvsadmError::UnknownOption(word.to_owned()))?;
                let rest = chars.as_str();
                if def.arg == ArgKind::None {
                    if rest.starts_with('=') {
                        return Err(IpvsadmError::UnwantedArgument(word.to_owned()));
                    }
                    if !rest.is_empty() {
                        self.cluster = Some((rest, word));
                    }
                    break (def, word, None);
                }
                // An argument-taking short option eats the rest of its cluster, minus one '='.
                let attached = (!rest.is_empty()).then(|| rest.strip_prefix('=').unwrap_or(rest));
                break (def, word, attached);
            }
            let Some(&word) = self.words.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            if self.rest_leftover || !word.starts_with('-') {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.rest_leftover = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                let def = TABLE
                    .iter()
                    .find(|d| d.long == name)
                    .ok_or_else(|| IpvsadmError::UnknownOption(word.to_owned()))?;
                if def.arg == ArgKind::None && value.is_some() {
                    return Err(IpvsadmError::UnwantedArgument(word.to_owned()));
                }
                break (def, word, value);
            }
            // A single dash starts a short-option cluster (also "-" alone: unknown option).
            self.cluster = Some((&word[1..], word));
        };
        let arg = match (def.arg, attached) {
            (ArgKind::None, _) => None,
            (_, Some(a)) => Some(a),
            (kind, None) => match self.words.get(self.next) {
                Some(next) if kind == ArgKind::Optional && next.starts_with('-') => None,
                Some(next) => {
                    self.next += 1;
                    Some(*next)
                }
                None if kind == ArgKind::Optional => None,
                None => return Err(IpvsadmError::MissingArgument(word.to_owned())),
            },
        };
        Ok(Some(Opt {
            tag: def.tag,
            arg,
            word,
        }))
    }
}

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

    fn scan(words: &[&str]) -> Result<Vec<(Tag, Option<String>)>, IpvsadmError> {
        let words: Vec<&str> = words.to_vec();
        let mut s = Scanner::new(&words);
        let mut out = Vec::new();
        while let Some(o) = s.next_opt()? {
            out.push((o.tag, o.arg.map(str::to_owned)));
        }
        Ok(out)
    }

    #[test]
    fn clusters_and_attached_arguments() {
        let got = scan(&["-At", "1.2.3.4:80", "-w3", "--weight=4", "-s", "rr"]).unwrap();
        assert_eq!(
            got,
            vec![
                (Tag::Command(Cmd::Add), None),
                (Tag::Tcp, Some("1.2.3.4:80".into())),
                (Tag::Weight, Some("3".into())),
                (Tag::Weight, Some("4".into())),
                (Tag::Scheduler, Some("rr".into())),
            ]
        );
    }

    #[test]
    fn optional_argument_skips_options() {
        let got = scan(&["-p", "-s", "rr", "-p", "60", "--persistent=7", "-p"]).unwrap();
        assert_eq!(got[0], (Tag::Persistent, None));
        assert_eq!(got[2], (Tag::Persistent, Some("60".into())));
        assert_eq!(got[3], (Tag::Persistent, Some("7".into())));
        assert_eq!(got[4], (Tag::Persistent, None));
    }

    #[test]
    fn popt_errors_name_the_word() {
        assert_eq!(scan(&["-Q"]), Err(IpvsadmError::UnknownOption("-Q".into())));
        assert_eq!(
            scan(&["--bogus"]),
            Err(IpvsadmError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            scan(&["-A", "-t"]),
            Err(IpvsadmError::MissingArgument("-t".into()))
        );
        assert_eq!(
            scan(&["--ops=1"]),
            Err(IpvsadmError::UnwantedArgument("--ops=1".into()))
        );
        assert_eq!(scan(&["-"]), Err(IpvsadmError::UnknownOption("-".into())));
    }

    #[test]
    fn leftovers_and_double_dash() {
        let words = ["x", "-A", "--", "-t"];
        let mut s = Scanner::new(&words);
        assert_eq!(s.next_opt().unwrap().unwrap().tag, Tag::Command(Cmd::Add));
        assert!(s.next_opt().unwrap().is_none());
        assert_eq!(s.leftovers(), ["x", "-t"]);
    }

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
