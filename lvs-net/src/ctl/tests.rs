//! Round trips over a real socket: each request kind, a refused batch, a foreign version.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use lvs_core::director::{Director, DirectorConfig};
use lvs_core::ipvsadm::{NumericResolver, save};
use lvs_core::time::Instant;

use super::*;

fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lvs-ctl-{}-{name}.sock", std::process::id()))
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn apply(lines: &[&str]) -> RequestBody {
    RequestBody::Apply {
        commands: lines.iter().map(|l| words(l)).collect(),
    }
}

/// Serves `requests.len()` clients on a fresh socket and returns the responses.
fn exchange(name: &str, requests: Vec<Request>) -> (Vec<Response>, Director) {
    let path = socket_path(name);
    let server = ControlServer::bind(&path).unwrap();
    let director = Mutex::new(Director::new(DirectorConfig::default()));
    let n = requests.len();
    let responses = std::thread::scope(|s| {
        let client = s.spawn(|| {
            requests
                .iter()
                .map(|r| call(&path, r, Duration::from_secs(5)).unwrap())
                .collect::<Vec<_>>()
        });
        let target = DirectorTarget {
            director: &director,
            now: || Instant::from_secs(1),
        };
        for _ in 0..n {
            server.serve_one(&target).unwrap();
        }
        client.join().unwrap()
    });
    drop(server);
    assert!(!path.exists(), "the socket file is removed on drop");
    (responses, director.into_inner().unwrap())
}

fn req(body: RequestBody) -> Request {
    Request {
        version: PROTOCOL_VERSION,
        body,
    }
}

#[test]
fn each_request_round_trips_and_a_refused_batch_changes_nothing() {
    let (rs, director) = exchange(
        "roundtrip",
        vec![
            req(apply(&[
                "-A -t 192.0.2.1:80 -s rr",
                "-a -t 192.0.2.1:80 -r 10.0.0.1 -m",
            ])),
            // The second command fails: the first must not stay applied.
            req(apply(&[
                "-D -t 192.0.2.1:80",
                "-d -t 192.0.2.1:80 -r 10.0.0.1",
            ])),
            req(apply(&["-A -t 192.0.2.2:80", "-A -t 192.0.2.2:0"])),
            req(apply(&["--set 60 30 20", "-Z"])),
            req(RequestBody::Get { conns: true }),
            req(RequestBody::StopDaemon(true)),
            Request {
                version: 2,
                body: RequestBody::Get { conns: false },
            },
        ],
    );
    assert_eq!(rs[0].result, Ok(ResponseBody::Applied));
    let err = rs[1].result.clone().unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.index, err.exit_code),
        ("Service not defined", Some(1), 255)
    );
    let err = rs[2].result.clone().unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.index, err.exit_code),
        ("Zero port specified for non-persistent service", Some(1), 2)
    );
    assert_eq!(rs[3].result, Ok(ResponseBody::Applied));
    let Ok(ResponseBody::State(state)) = &rs[4].result else {
        panic!("{:?}", rs[4]);
    };
    assert_eq!(
        save(state, true, &NumericResolver),
        "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1\n"
    );
    assert_eq!(state.timeouts, (60, 30, 20));
    assert!(state.conns.is_empty());
    assert_eq!(
        rs[5].result.clone().unwrap_err().message,
        "No daemon is running"
    );
    assert!(
        rs[6]
            .result
            .clone()
            .unwrap_err()
            .message
            .contains("version 2")
    );
    assert_eq!(director.services().services().count(), 1);
}

#[test]
fn bind_refuses_a_live_socket_and_replaces_a_stale_one() {
    let path = socket_path("stale");
    let first = ControlServer::bind(&path).unwrap();
    let e = ControlServer::bind(&path).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    drop(first);
    // A socket file left behind by a dead router: the file stays, no one listens.
    let listener = std::os::unix::net::UnixListener::bind(socket_path("stale2")).unwrap();
    drop(listener);
    let again = ControlServer::bind(&socket_path("stale2")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(again.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn workers_get_every_batch_and_listings_add_up() {
    let directors: Vec<Mutex<Director>> = (0..3)
        .map(|_| Mutex::new(Director::new(DirectorConfig::default())))
        .collect();
    let target = WorkersTarget {
        directors: &directors,
        now: || Instant::ZERO,
    };
    let ok = respond(
        req(apply(&[
            "-A -u 192.0.2.1:53",
            "-a -u 192.0.2.1:53 -r 10.0.0.1",
        ])),
        &target,
    );
    assert_eq!(ok.result, Ok(ResponseBody::Applied));
    let bad = respond(req(apply(&["-C", "-D -u 192.0.2.1:53"])), &target);
    assert_eq!(bad.result.unwrap_err().index, Some(1));
    for d in &directors {
        assert_eq!(d.lock().unwrap().services().services().count(), 1);
    }
    let state = target.state(false);
    assert_eq!(state.table_size, 3 * (1 << 20));
    assert_eq!(state.services[0].dests.len(), 1);
}

/// A target with health checks: answers `Health` with its listing.
struct WithHealth;

impl ControlTarget for WithHealth {
    fn apply(
        &self,
        _: &[lvs_core::ipvsadm::AdmCommand],
    ) -> Result<(), lvs_core::ipvsadm::BatchError> {
        Ok(())
    }

    fn state(&self, _: bool) -> AdmState {
        AdmState::default()
    }

    fn health(&self) -> Result<String, String> {
        Ok("listing\n".into())
    }
}

#[test]
fn health_listing_is_the_targets_or_refused_without_checkers() {
    let (rs, _) = exchange("health", vec![req(RequestBody::Health)]);
    let err = rs[0].result.clone().unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.exit_code),
        ("no health checks are configured", 1)
    );
    assert_eq!(
        respond(req(RequestBody::Health), &WithHealth).result,
        Ok(ResponseBody::Health("listing\n".into()))
    );
}
