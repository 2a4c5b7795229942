//! The TOML sections: every checker type, keepalived defaults, and the errors.

use core::time::Duration;

use lvs_core::health::{CheckKind, Expect, FailedConnPolicy, Timing};
use lvs_core::ipvsadm::FwdMethod;
use lvs_net::health::{HealthConfigError, HealthFile, RealServerSection};

const FILE: &str = r#"
[[virtual_server]]
service = "-t 192.0.2.1:80"
delay_loop = 6
quorum = 3
hysteresis = 1
alpha = true
sorry_server = "-r 10.0.0.99:80 -m"
sorry_server_inhibit = true
quorum_down = "/usr/local/bin/page"

[[virtual_server.real_server]]
server = "-r 10.0.0.1:8080 -m -w 2"
inhibit_on_failure = true
notify_up = "logger up"
on_failure = "expire"

[[virtual_server.real_server.check]]
type = "http"
connect_timeout = 3
nb_get_retry = 2
url = [{ path = "/health", status = [200, 204], digest = "5d41402abc4b2a76b9719d911017c592" }]
virtualhost = "www.example.com"

[[virtual_server.real_server.check]]
type = "tcp"
connect_port = 9000
delay_before_retry = 0.5
warmup = 0

[[virtual_server.real_server]]
server = "-r 10.0.0.2:8080 -m"

[[virtual_server.real_server.check]]
type = "send_expect"
send = "PING\r\n"
expect_regex = "^\\+PONG"

[[virtual_server.real_server.check]]
type = "udp"
send = "hi"

[[virtual_server.real_server.check]]
type = "icmp"

[[virtual_server.real_server.check]]
type = "misc"
misc_path = "/usr/lib/check 10.0.0.2"
misc_dynamic = true
"#;

#[test]
fn every_checker_type_parses_with_keepalived_defaults() {
    let file: HealthFile = toml::from_str(FILE).unwrap();
    let vss = file.to_core().unwrap();
    let vs = &vss[0];
    assert_eq!(vs.service.to_string(), "-t 192.0.2.1:80");
    assert_eq!((vs.quorum, vs.hysteresis, vs.alpha), (3, 1, true));
    let sorry = vs.sorry_server.unwrap();
    assert!(sorry.inhibit);
    assert_eq!(sorry.dest.addr.to_string(), "10.0.0.99");
    assert_eq!(vs.quorum_down.as_deref(), Some("/usr/local/bin/page"));

    let rs = &vs.real_servers[0];
    assert_eq!(
        (rs.dest.port, rs.dest.weight, rs.dest.fwd),
        (8080, 2, FwdMethod::Masq)
    );
    assert!(rs.inhibit_on_failure);
    assert_eq!(rs.on_failure, FailedConnPolicy::ExpireNow);
    let http = &rs.checkers[0];
    let CheckKind::Http(h) = &http.kind else {
        panic!("{:?}", http.kind)
    };
    assert_eq!(h.urls[0].status, 200..=204);
    assert_eq!(h.urls[0].digest.unwrap()[0], 0x5d);
    assert_eq!(h.virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(
        http.timing,
        Timing {
            delay_loop: Duration::from_secs(6),
            connect_timeout: Duration::from_secs(3),
            retry: 2,
            delay_before_retry: Duration::from_secs(3),
            warmup: None,
        },
        "HTTP waits 3 s before a retry; delay_loop comes from the virtual server"
    );
    let tcp = &rs.checkers[1];
    assert_eq!(tcp.connect_port, Some(9000));
    assert_eq!(tcp.timing.delay_before_retry, Duration::from_millis(500));
    assert_eq!(tcp.timing.warmup, Some(Duration::ZERO));
    assert_eq!(tcp.timing.retry, 1);
    assert_eq!(tcp.timing.connect_timeout, Duration::from_secs(5));

    let rs = &vs.real_servers[1];
    assert_eq!(rs.on_failure, FailedConnPolicy::KeepUntilEnd);
    assert_eq!(
        rs.checkers[0].kind,
        CheckKind::SendExpect {
            send: b"PING\r\n".to_vec(),
            expect: Expect::Regex("^\\+PONG".into())
        }
    );
    assert_eq!(
        rs.checkers[1].kind,
        CheckKind::Udp {
            payload: b"hi".to_vec(),
            expect: None
        }
    );
    assert_eq!(rs.checkers[2].kind, CheckKind::Icmp);
    assert_eq!(
        rs.checkers[3].kind,
        CheckKind::Misc {
            program: "/usr/lib/check 10.0.0.2".into(),
            dynamic: true
        }
    );
}

#[test]
fn errors_name_the_section() {
    let bad = |s: &str| {
        toml::from_str::<HealthFile>(s)
            .unwrap()
            .to_core()
            .unwrap_err()
    };
    assert_eq!(
        bad("[[virtual_server]]\nservice = \"-t nowhere\"\n"),
        HealthConfigError::Service("-t nowhere".into())
    );
    let e = bad(
        "[[virtual_server]]\nservice = \"-t 192.0.2.1:80\"\n[[virtual_server.real_server]]\nserver = \"-r 10.0.0.1\"\n[[virtual_server.real_server.check]]\ntype = \"misc\"\n",
    );
    assert!(
        e.to_string().contains("misc check: `program` is required"),
        "{e}"
    );
    let e = bad(
        "[[virtual_server]]\nservice = \"-t 192.0.2.1:80\"\n[[virtual_server.real_server]]\nserver = \"-r 10.0.0.1\"\n[[virtual_server.real_server.check]]\ntype = \"http\"\nurl = [{ path = \"/\", digest = \"xyz\" }]\n",
    );
    assert!(e.to_string().contains("digest"), "{e}");
    let e = bad(
        "[[virtual_server]]\nservice = \"-t 192.0.2.1:80\"\n[[virtual_server.real_server]]\nserver = \"-r 10.0.0.1\"\n[[virtual_server.real_server.check]]\ntype = \"tcp\"\nconnect_timeout = -1\n",
    );
    assert!(e.to_string().contains("connect_timeout"), "{e}");
    // Unknown keys are refused by serde, so typos do not silently fall back to defaults.
    assert!(
        toml::from_str::<HealthFile>(
            "[[virtual_server]]\nservice = \"-t 192.0.2.1:80\"\nquorom = 2\n"
        )
        .is_err()
    );
}

#[test]
fn a_real_server_section_embeds_in_another_config() {
    // The router's own real-server entry carries the dest; the section only the health part.
    let section: RealServerSection =
        toml::from_str("inhibit_on_failure = true\n[[check]]\ntype = \"tcp\"\n").unwrap();
    let dest = match lvs_core::ipvsadm::parse_line("-a -t 192.0.2.1:80 -r 10.0.0.5 -w 4").unwrap() {
        lvs_core::ipvsadm::Command::AddDest(_, d) => d,
        other => panic!("{other:?}"),
    };
    let rs = section.to_core(dest, Some(2.0)).unwrap();
    assert_eq!(rs.dest.weight, 4);
    assert_eq!(rs.checkers[0].timing.delay_loop, Duration::from_secs(2));
}
