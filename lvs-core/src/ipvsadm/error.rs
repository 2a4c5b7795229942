//! ipvsadm's refusals, with its own texts.

/// Why ipvsadm refuses a command line. Display texts are ipvsadm's own where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpvsadmError {
    /// The first option is not a command (ipvsadm then only prints its "Try `ipvsadm -h'" hint).
    #[error("no command specified: the first option must be a command such as -A, -a or -C")]
    NoCommand,
    /// A command recognised but not implemented by this crate yet.
    #[error("the '{0}' command is not supported here")]
    Unsupported(&'static str),
    /// popt: an unknown option.
    #[error("{0}: unknown option")]
    UnknownOption(String),
    /// popt: an option needing an argument was last.
    #[error("{0}: missing argument")]
    MissingArgument(String),
    /// popt: `--flag=value` on an option without argument.
    #[error("{0}: option does not take an argument")]
    UnwantedArgument(String),
    /// A second command after the first one.
    #[error("invalid option `{0}'")]
    InvalidOption(String),
    /// An option given twice.
    #[error("multiple '{0}' options specified")]
    MultipleOptions(&'static str),
    /// A word that is neither an option nor an option's argument.
    #[error("unexpected argument {0}")]
    UnexpectedArgument(String),
    /// The command x option table says 'x'.
    #[error("Illegal '{option}' option with the '{command}' command")]
    IllegalOption {
        /// ipvsadm's option name.
        option: &'static str,
        /// ipvsadm's command name.
        command: &'static str,
    },
    /// The command x option table says '+'.
    #[error("You need to supply the '{option}' option for the '{command}' command")]
    MissingOption {
        /// ipvsadm's option name.
        option: &'static str,
        /// ipvsadm's command name.
        command: &'static str,
    },
    /// Two options of an exclusive group.
    #[error("The option '{option}' conflicts with the '{other}' option in the '{command}' command")]
    ConflictingOptions {
        /// The later option.
        option: &'static str,
        /// The earlier option.
        other: &'static str,
        /// ipvsadm's command name.
        command: &'static str,
    },
    /// Bad `-t/-u/--sctp-service` argument.
    #[error("illegal virtual server address[:port] specified")]
    IllegalVirtualAddress,
    /// Bad `-r` argument.
    #[error("illegal real server address[:port] specified")]
    IllegalRealAddress,
    /// Bad `-p` or `--set` value.
    #[error("invalid timeout value `{0}' specified")]
    InvalidTimeout(String),
    /// Bad `-f` value.
    #[error("invalid fwmark value `{0}' specified")]
    InvalidFwmark(String),
    /// Bad IPv4 `-M`.
    #[error("illegal virtual server persistent mask specified")]
    IllegalNetmask,
    /// Bad IPv6 `-M`.
    #[error("illegal ipv6 netmask specified")]
    IllegalIpv6Netmask,
    /// `-6` without an earlier `-f`.
    #[error("-6 used before -f")]
    Ipv6BeforeFwmark,
    /// Bad `-w`.
    #[error("illegal weight specified")]
    IllegalWeight,
    /// Bad `-x`.
    #[error("illegal u_threshold specified")]
    IllegalUThreshold,
    /// Bad `-y`.
    #[error("illegal l_threshold specified")]
    IllegalLThreshold,
    /// Bad `--tun-type`.
    #[error("illegal tunnel type specified")]
    IllegalTunnelType,
    /// Bad `--tun-port`.
    #[error("illegal tunnel port specified")]
    IllegalTunnelPort,
    /// Bad `--syncid`.
    #[error("illegal syncid specified")]
    IllegalSyncid,
    /// Bad `--mcast-port`.
    #[error("illegal mcast-port specified")]
    IllegalMcastPort,
    /// Bad `--mcast-ttl`.
    #[error("illegal mcast-ttl specified")]
    IllegalMcastTtl,
    /// Bad `--sync-maxlen`.
    #[error("illegal sync-maxlen specified")]
    IllegalSyncMaxlen,
    /// Bad IPv4 `--mcast-group`.
    #[error("invalid IPv4 mcast-group `{0}'")]
    InvalidMcastGroup4(String),
    /// Bad IPv6 `--mcast-group`.
    #[error("invalid IPv6 mcast-group `{0}'")]
    InvalidMcastGroup6(String),
    /// `--set` without three values.
    #[error("--set option requires 3 timeout values")]
    SetNeedsThreeValues,
    /// Unknown `-b` flag.
    #[error("invalid scheduler flag `{0}'")]
    InvalidSchedFlag(String),
    /// A `-b` flag of another scheduler.
    #[error("incompatible scheduler flag `{0}'")]
    IncompatibleSchedFlag(String),
    /// `--start-daemon`/`--stop-daemon` with neither `master` nor `backup` (ipvsadm's two
    /// wordings: "start-daemon parameter" and, for stop, "start_daemon").
    #[error("illegal {0} specified")]
    IllegalDaemonState(&'static str),
    /// `-L` options that ipvsadm's list branch refuses together.
    #[error("options conflicts in the list command")]
    ListConflict,
    /// Port 0 without `-p`.
    #[error("Zero port specified for non-persistent service")]
    ZeroPort,
    /// `-o` on a TCP or SCTP service.
    #[error("One-Packet Scheduling is only for UDP virtual services")]
    OnePacketNotUdp,
    /// A dest of the other address family that does not tunnel.
    #[error("Different address family is allowed only for tunneling servers")]
    MixedFamily,
    /// Tunnel options without `-i`.
    #[error("Tunnel options conflict with forward method")]
    TunnelOptionsConflict,
    /// The tunnel type x option table says '+'.
    #[error("You need to supply the '{option}' option for the '{tunnel}' tunnel type")]
    MissingTunnelOption {
        /// ipvsadm's option name.
        option: &'static str,
        /// The tunnel type.
        tunnel: &'static str,
    },
    /// The tunnel type x option table says 'x'.
    #[error("Illegal '{option}' option with the '{tunnel}' tunnel type")]
    IllegalTunnelOption {
        /// ipvsadm's option name.
        option: &'static str,
        /// The tunnel type.
        tunnel: &'static str,
    },
    /// Two exclusive tunnel options.
    #[error(
        "The option '{option}' conflicts with the '{other}' option in the '{tunnel}' tunnel type"
    )]
    ConflictingTunnelOptions {
        /// The later option.
        option: &'static str,
        /// The earlier option.
        other: &'static str,
        /// The tunnel type.
        tunnel: &'static str,
    },
}
