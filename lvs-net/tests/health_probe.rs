//! Each probe against real servers on loopback (ephemeral ports, bounded waits).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use lvs_core::health::{
    CheckKind, CheckOutcome, CheckRequest, CheckToken, Expect, HttpCheck, UrlCheck,
};
use lvs_net::health::run_probe;

const TOKEN: CheckToken = CheckToken { checker: 0, seq: 1 };

fn probe(kind: CheckKind, target: SocketAddr, timeout_ms: u64) -> CheckOutcome {
    run_probe(&CheckRequest {
        token: TOKEN,
        kind,
        target,
        timeout: Duration::from_millis(timeout_ms),
    })
}

fn is_up(o: &CheckOutcome) -> bool {
    matches!(o, CheckOutcome::Up { .. })
}

/// A port nothing listens on: bound, then closed.
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A TCP server answering each connection with `reply(request)` on its own thread; `None`
/// holds the connection open without answering (a hung server).
fn tcp_server(reply: fn(&[u8]) -> Option<Vec<u8>>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                match reply(&buf[..n]) {
                    Some(r) => {
                        let _ = conn.write_all(&r);
                    }
                    None => std::thread::sleep(Duration::from_secs(3)),
                }
            });
        }
    });
    addr
}

fn http_reply(req: &[u8]) -> Option<Vec<u8>> {
    let req = String::from_utf8_lossy(req);
    let path = req.split_whitespace().nth(1).unwrap_or("/");
    assert!(req.contains("\r\nHost: "), "{req}");
    let (status, body) = match path {
        "/ok" => ("200 OK", "hello"),
        "/vhost" if req.contains("Host: www.example.com\r\n") => ("200 OK", "vhost"),
        "/err" => ("500 Internal Server Error", "oops"),
        "/hang" => return None,
        _ => ("404 Not Found", ""),
    };
    Some(
        format!(
            "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn http(path: &str, digest: Option<&str>, vhost: Option<&str>) -> CheckKind {
    let digest = digest.map(|h| {
        let mut d = [0u8; 16];
        for (i, b) in d.iter_mut().enumerate() {
            *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
        }
        d
    });
    CheckKind::Http(HttpCheck {
        urls: vec![UrlCheck {
            path: path.into(),
            status: 200..=299,
            digest,
        }],
        virtualhost: vhost.map(Into::into),
    })
}

#[test]
fn tcp_listening_vs_closed() {
    let up = tcp_server(|_| Some(Vec::new()));
    assert!(is_up(&probe(CheckKind::Tcp, up, 2000)));
    let down = probe(CheckKind::Tcp, closed_port(), 2000);
    let CheckOutcome::Down { reason } = down else {
        panic!("closed port is up")
    };
    assert!(reason.starts_with("connect 127.0.0.1:"), "{reason}");
}

#[test]
fn http_status_digest_vhost_and_timeout() {
    let srv = tcp_server(http_reply);
    // md5("hello")
    let hello = "5d41402abc4b2a76b9719d911017c592";
    assert!(is_up(&probe(http("/ok", None, None), srv, 2000)));
    assert!(is_up(&probe(http("/ok", Some(hello), None), srv, 2000)));
    assert!(is_up(&probe(
        http("/vhost", None, Some("www.example.com")),
        srv,
        2000
    )));
    for (kind, want) in [
        (http("/err", None, None), "status 500"),
        (http("/missing", None, None), "status 404"),
        (
            http("/ok", Some("00000000000000000000000000000000"), None),
            "digest",
        ),
        (http("/hang", None, None), "timeout"),
    ] {
        match probe(kind, srv, 500) {
            CheckOutcome::Down { reason } => {
                assert!(reason.contains(want), "{reason} lacks {want}")
            }
            up => panic!("expected down ({want}), got {up:?}"),
        }
    }
    assert!(!is_up(&probe(http("/ok", None, None), closed_port(), 2000)));
}

#[test]
fn send_expect_substring_and_regex() {
    let srv = tcp_server(|req| {
        Some(if req == b"PING\r\n" {
            b"+PONG\r\n".to_vec()
        } else {
            b"-ERR\r\n".to_vec()
        })
    });
    let kind = |send: &str, expect| CheckKind::SendExpect {
        send: send.as_bytes().to_vec(),
        expect,
    };
    assert!(is_up(&probe(
        kind("PING\r\n", Expect::Substring(b"+PONG".to_vec())),
        srv,
        2000
    )));
    assert!(is_up(&probe(
        kind("PING\r\n", Expect::Regex(r"^\+PO.G".into())),
        srv,
        2000
    )));
    assert!(!is_up(&probe(
        kind("HELLO\r\n", Expect::Substring(b"+PONG".to_vec())),
        srv,
        2000
    )));
    // A server that never answers: down at the timeout.
    let hung = tcp_server(|_| None);
    assert!(!is_up(&probe(
        kind("PING\r\n", Expect::Substring(b"+PONG".to_vec())),
        hung,
        300
    )));
}

#[test]
fn udp_reply_vs_none() {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(&buf[..n], from);
        }
    });
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let kind = |expect: Option<&str>| CheckKind::Udp {
        payload: b"ping".to_vec(),
        expect: expect.map(|e| Expect::Substring(e.as_bytes().to_vec())),
    };
    assert!(is_up(&probe(kind(Some("ping")), echo_addr, 2000)));
    assert!(
        !is_up(&probe(kind(Some("pong")), echo_addr, 2000)),
        "reply does not match"
    );
    assert!(
        !is_up(&probe(kind(Some("ping")), silent_addr, 300)),
        "no reply"
    );
    // Without an expected reply only an ICMP port unreachable fails (keepalived UDP_CHECK).
    assert!(is_up(&probe(kind(None), silent_addr, 300)));
    assert!(!is_up(&probe(kind(None), closed, 2000)));
    drop(silent);
}

#[test]
fn icmp_echo_to_loopback() {
    let target: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let outcome = probe(CheckKind::Icmp, target, 2000);
    assert!(
        is_up(&outcome),
        "{outcome:?} (needs ping_group_range or CAP_NET_RAW)"
    );
}

#[test]
fn misc_exit_codes() {
    let misc = |program: &str, dynamic| CheckKind::Misc {
        program: program.into(),
        dynamic,
    };
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    assert_eq!(
        probe(misc("exit 0", false), any, 2000),
        CheckOutcome::Up { weight: None }
    );
    assert!(!is_up(&probe(misc("exit 1", true), any, 2000)));
    assert_eq!(
        probe(misc("exit 3", true), any, 2000),
        CheckOutcome::Up { weight: Some(1) }
    );
    assert_eq!(
        probe(misc("exit 255", true), any, 2000),
        CheckOutcome::Up { weight: Some(253) }
    );
    assert!(
        !is_up(&probe(misc("exit 3", false), any, 2000)),
        "without misc_dynamic 3 is a failure"
    );
    match probe(misc("sleep 5", false), any, 200) {
        CheckOutcome::Down { reason } => assert!(reason.contains("timeout"), "{reason}"),
        up => panic!("{up:?}"),
    }
}

#[test]
fn ipv6_loopback_tcp_and_icmp() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let addr = l.local_addr().unwrap();
    assert!(is_up(&probe(CheckKind::Tcp, addr, 2000)));
    drop(l);
    assert!(!is_up(&probe(CheckKind::Tcp, addr, 2000)));
    let outcome = probe(CheckKind::Icmp, "[::1]:0".parse().unwrap(), 2000);
    assert!(is_up(&outcome), "{outcome:?}");
}
