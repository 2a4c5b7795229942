//! The non-table commands: what they parse to, and ipvsadm's refusals with their exit codes.

use super::*;

fn adm(line: &str) -> Result<AdmCommand, IpvsadmError> {
    parse_adm_args(&line.split_whitespace().collect::<Vec<_>>())
}

fn list(line: &str) -> (ListMode, ListFormat) {
    match adm(line).unwrap() {
        AdmCommand::List { mode, format } => (mode, format),
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn list_forms() {
    assert_eq!(list("-L").0, ListMode::All);
    let (mode, f) = list("-Ln --stats --exact --nosort");
    assert_eq!(mode, ListMode::All);
    assert!(f.numeric && f.stats && f.exact && f.nosort && !f.rate);
    assert_eq!(list("-l -c -n").0, ListMode::Conns);
    assert_eq!(list("-L --timeout").0, ListMode::Timeout);
    assert_eq!(list("-L --daemon").0, ListMode::Daemon);
    assert!(list("-L --sort --tun-info").1.tun_info);
    let (mode, f) = list("-L -t 192.0.2.1:80 --thresholds");
    assert!(f.thresholds);
    assert!(matches!(
        mode,
        ListMode::Service(ServiceKey::Inet { port: 80, .. })
    ));
    assert!(matches!(
        list("-L -f 9 -6").0,
        ListMode::Service(ServiceKey::Fwmark {
            mark: 9,
            af: AddressFamily::Inet6
        })
    ));
    // -c with --persistent-conn is legal (pe columns).
    assert!(list("-Lc --persistent-conn").1.persistent_conn);
}

#[test]
fn other_commands() {
    assert_eq!(adm("-S").unwrap(), AdmCommand::Save { numeric: false });
    assert_eq!(adm("-S -n").unwrap(), AdmCommand::Save { numeric: true });
    assert_eq!(adm("-R").unwrap(), AdmCommand::Restore);
    assert_eq!(adm("-Z").unwrap(), AdmCommand::Zero(None));
    assert!(matches!(
        adm("-Z -u 10.0.0.1:53").unwrap(),
        AdmCommand::Zero(Some(_))
    ));
    assert_eq!(
        adm("--set 10 20 30").unwrap(),
        AdmCommand::SetTimeouts(10, 20, 30)
    );
    assert_eq!(adm("-h").unwrap(), AdmCommand::Help);
    assert_eq!(adm("--version").unwrap(), AdmCommand::Version);
    assert_eq!(
        adm("--stop-daemon backup").unwrap(),
        AdmCommand::StopDaemon(false)
    );
    let AdmCommand::StartDaemon(d) = adm(
        "--start-daemon master --syncid 7 --mcast-group 224.0.0.81 --mcast-port 8848 --mcast-ttl 2 --sync-maxlen 1400",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        d,
        DaemonConfig {
            master: true,
            mcast_ifn: "eth0".into(),
            syncid: 7,
            sync_maxlen: 1400,
            mcast_group: Some("224.0.0.81".parse().unwrap()),
            mcast_port: 8848,
            mcast_ttl: 2,
        }
    );
    // The table commands still come through.
    assert!(matches!(
        adm("-C").unwrap(),
        AdmCommand::Table(Command::Clear)
    ));
}

#[test]
fn refusals_with_texts_and_exit_codes() {
    let cases: &[(&str, &str, u8)] = &[
        ("-L -c --stats", "options conflicts in the list command", 2),
        (
            "-L --timeout --persistent-conn",
            "options conflicts in the list command",
            2,
        ),
        (
            "-L -c --timeout",
            "The option 'timeout' conflicts with the 'connection' option in the 'list' command",
            2,
        ),
        (
            "-L -s rr",
            "Illegal 'scheduler' option with the 'list' command",
            2,
        ),
        (
            "-S -c",
            "Illegal 'connection' option with the 'save' command",
            2,
        ),
        (
            "-Z -n",
            "Illegal 'numeric' option with the 'zero' command",
            2,
        ),
        ("--set 1 2", "--set option requires 3 timeout values", 2),
        ("--set 1 2 x", "invalid timeout value `x' specified", 2),
        ("--set 1 2 3 4", "unexpected argument 4", 2),
        (
            "--start-daemon primary",
            "illegal start-daemon parameter specified",
            2,
        ),
        ("--stop-daemon x", "illegal start_daemon specified", 2),
        (
            "--start-daemon master --syncid 256",
            "illegal syncid specified",
            2,
        ),
        (
            "--stop-daemon master --mcast-port 1",
            "Illegal 'mcast-port' option with the 'stop-daemon' command",
            2,
        ),
        (
            "-R -n",
            "Illegal 'numeric' option with the 'restore' command",
            2,
        ),
        ("-L --bogus", "--bogus: unknown option", 255),
        (
            "-n -L",
            "Try `ipvsadm -h' or 'ipvsadm --help' for more information.",
            255,
        ),
    ];
    for (line, text, code) in cases {
        let e = adm(line).expect_err(line);
        assert_eq!(e.stderr_text("ipvsadm"), format!("{text}\n"), "{line}");
        assert_eq!(e.exit_code(), *code, "{line}");
    }
    let e = adm("-A -6 -f 1").unwrap_err();
    assert_eq!(e.stderr_text("ipvsadm"), "-6 used before -f\n\n");
}

#[test]
fn restore_splits_like_config_stream() {
    let lines = restore_lines(
        "ipvsadm -A -t 1.2.3.4:80\n\n  \t\n# saved\n-a\t-t 1.2.3.4:80 ipvsadm -r 5.6.7.8\r\n",
    );
    assert_eq!(
        lines,
        vec![
            vec!["-A", "-t", "1.2.3.4:80"],
            vec!["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8"]
        ]
    );
}

#[test]
fn usage_starts_with_the_version_and_program() {
    let u = usage("ipvsadm");
    assert!(u.starts_with("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  ipvsadm -A|E virtual-service"));
    assert!(u.ends_with("  --mcast-ttl ttl                     Multicast TTL (default=1)\n"));
}
