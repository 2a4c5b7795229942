//! `SSL_GET` against a rustls server on loopback (self-signed certificate, generated once with
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=rs.example`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use lvs_core::health::{CheckKind, CheckOutcome, CheckRequest, CheckToken, HttpCheck, UrlCheck};
use lvs_net::health::run_probe;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CERT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIULZZlhPWinofuKChQ4ImdwPHkZEMwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKcnMuZXhhbXBsZTAgFw0yNjExMjExNDUwNTJaGA8yMTI2MTAy
ODE0NTA1MlowFTETMBEGA1UEAwwKcnMuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABKm9pckciOKOibEZJv4vlbaDNrrQp3g1fNp+Tr6+P0ZVOZt49WRw
9PRIkcm/Xn/GHtTd+yKTYFKTei2AryQRl7WjUzBRMB0GA1UdDgQWBBReV7+Z4H1H
QcEp9ZfcEE84gaxvjzAfBgNVHSMEGDAWgBReV7+Z4H1HQcEp9ZfcEE84gaxvjzAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIHx7nQ6go/BzWSs9jhsg
rIs37NKI4GgkY2qwzVUj0e7nAiEAgmd0Nc5NJ5JVh8OQpTX2zatmriAOT6M05ry9
uV1YBWQ=
-----END CERTIFICATE-----
";

const KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3O5k8HeTar5q4rAX
I76cCd7I9hKgmDdxIAdY0FKwewyhRANCAASpvaXJHIjijomxGSb+L5W2gza60Kd4
NXzafk6+vj9GVTmbePVkcPT0SJHJv15/xh7U3fsik2BSk3otgK8kEZe1
-----END PRIVATE KEY-----
";

/// A TLS server answering `GET /ok` with 200 and anything else with 503.
fn tls_server() -> SocketAddr {
    let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 2048];
                let Ok(n) = tls.read(&mut buf) else { return };
                let req = String::from_utf8_lossy(&buf[..n]);
                let status = if req.starts_with("GET /ok ") {
                    "200 OK"
                } else {
                    "503 Busy"
                };
                let _ = write!(tls, "HTTP/1.0 {status}\r\nContent-Length: 2\r\n\r\nhi");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    addr
}

fn ssl_get(target: SocketAddr, path: &str) -> CheckOutcome {
    run_probe(&CheckRequest {
        token: CheckToken { checker: 0, seq: 1 },
        kind: CheckKind::Https(HttpCheck {
            urls: vec![UrlCheck {
                path: path.into(),
                status: 200..=299,
                digest: None,
            }],
            virtualhost: Some("rs.example".into()),
        }),
        target,
        timeout: Duration::from_secs(5),
    })
}

#[test]
fn ssl_get_status_over_tls() {
    let srv = tls_server();
    assert_eq!(ssl_get(srv, "/ok"), CheckOutcome::Up { weight: None });
    match ssl_get(srv, "/busy") {
        CheckOutcome::Down { reason } => assert!(reason.contains("status 503"), "{reason}"),
        up => panic!("{up:?}"),
    }
}

#[test]
fn ssl_get_to_a_plain_http_server_fails() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        }
    });
    assert!(matches!(ssl_get(addr, "/ok"), CheckOutcome::Down { .. }));
}
