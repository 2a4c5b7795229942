//! Probe dispatch and the socket probes: TCP connect, send/expect, UDP request/reply.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use lvs_core::health::{CheckKind, CheckOutcome, CheckRequest, Expect};

use super::{failure, http, icmp, misc};

/// Replies longer than this are cut: a health reply is small, a runaway server must not grow us.
pub(crate) const MAX_REPLY: usize = 1 << 20;

/// Runs one probe to completion, blocking for at most about `req.timeout`.
pub fn run_probe(req: &CheckRequest) -> CheckOutcome {
    let deadline = Instant::now() + req.timeout;
    let result = match &req.kind {
        CheckKind::Tcp => tcp_connect(req.target, deadline).map(drop),
        CheckKind::Http(h) => http::get(req.target, h, deadline, false),
        CheckKind::Https(h) => http::get(req.target, h, deadline, true),
        CheckKind::SendExpect { send, expect } => send_expect(req.target, send, expect, deadline),
        CheckKind::Udp { payload, expect } => udp(req.target, payload, expect.as_ref(), deadline),
        CheckKind::Icmp => icmp::echo(req.target, deadline),
        CheckKind::Misc { program, dynamic } => return misc::run(program, *dynamic, deadline),
        _ => Err(format!("{}: not supported", req.kind.name())),
    };
    match result {
        Ok(()) => CheckOutcome::Up { weight: None },
        Err(reason) => CheckOutcome::Down { reason },
    }
}

/// Time left before `deadline`, or a "timeout" failure naming the operation.
pub(crate) fn remaining(
    op: &str,
    target: SocketAddr,
    deadline: Instant,
) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(failure(op, target, "timeout"))
    } else {
        Ok(left)
    }
}

/// Connects within the deadline; the stream's reads and writes are bounded by it too.
pub(crate) fn tcp_connect(target: SocketAddr, deadline: Instant) -> Result<TcpStream, String> {
    let left = remaining("connect", target, deadline)?;
    let stream =
        TcpStream::connect_timeout(&target, left).map_err(|e| failure("connect", target, e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| failure("connect", target, e))?;
    Ok(stream)
}

/// Reads until EOF, `done(buf)` or the deadline, keeping at most [`MAX_REPLY`] bytes.
pub(crate) fn read_until(
    stream: &mut (impl Read + ?Sized),
    set_timeout: &mut dyn FnMut(Duration) -> std::io::Result<()>,
    target: SocketAddr,
    deadline: Instant,
    mut done: impl FnMut(&[u8]) -> bool,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&buf) && buf.len() < MAX_REPLY {
        let left = remaining("read", target, deadline)?;
        set_timeout(left).map_err(|e| failure("read", target, e))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            // A TLS peer that closes without close_notify: the reply is complete all the same.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(failure("read", target, "timeout"));
            }
            Err(e) => return Err(failure("read", target, e)),
        }
    }
    Ok(buf)
}

/// Whether `reply` matches; a bad regex is a failure of every probe, reported as such.
pub(crate) fn matches(expect: &Expect, reply: &[u8]) -> Result<bool, String> {
    match expect {
        Expect::Substring(s) => {
            Ok(s.is_empty() || reply.windows(s.len()).any(|w| w == s.as_slice()))
        }
        Expect::Regex(re) => {
            let re = regex::bytes::Regex::new(re).map_err(|e| format!("expect regex: {e}"))?;
            Ok(re.is_match(reply))
        }
    }
}

/// Connects, writes `send`, and reads until the reply matches `expect`, EOF or the deadline.
fn send_expect(
    target: SocketAddr,
    send: &[u8],
    expect: &Expect,
    deadline: Instant,
) -> Result<(), String> {
    let mut stream = tcp_connect(target, deadline)?;
    if !send.is_empty() {
        let left = remaining("write", target, deadline)?;
        stream
            .set_write_timeout(Some(left))
            .and_then(|()| stream.write_all(send))
            .map_err(|e| failure("write", target, e))?;
    }
    let s2 = stream.try_clone().map_err(|e| failure("read", target, e))?;
    let mut set = |d| s2.set_read_timeout(Some(d));
    let mut matched = false;
    let reply = read_until(&mut stream, &mut set, target, deadline, |buf| {
        matched = !buf.is_empty() && matches(expect, buf).unwrap_or(false);
        matched
    });
    match reply {
        Ok(_) if matched => Ok(()),
        Ok(buf) => matches(expect, &buf)?
            .then_some(())
            .ok_or_else(|| failure("expect", target, "reply does not match")),
        Err(e) => Err(e),
    }
}

/// keepalived `UDP_CHECK`: sends `payload` from a connected socket. With `expect` a matching
/// reply is required; without, only an ICMP error (seen as ECONNREFUSED) fails the check.
fn udp(
    target: SocketAddr,
    payload: &[u8],
    expect: Option<&Expect>,
    deadline: Instant,
) -> Result<(), String> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(|e| failure("bind", target, e))?;
    let sock = UdpSocket::bind(local).map_err(|e| failure("bind", target, e))?;
    sock.connect(target)
        .map_err(|e| failure("connect", target, e))?;
    sock.send(payload).map_err(|e| failure("send", target, e))?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let left = match remaining("recv", target, deadline) {
            Ok(left) => left,
            Err(e) if expect.is_some() => return Err(e),
            Err(_) => return Ok(()),
        };
        sock.set_read_timeout(Some(left))
            .map_err(|e| failure("recv", target, e))?;
        match sock.recv(&mut buf) {
            Ok(n) => match expect {
                None => return Ok(()),
                Some(x) if matches(x, &buf[..n])? => return Ok(()),
                Some(_) => return Err(failure("expect", target, "reply does not match")),
            },
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return if expect.is_some() {
                    Err(failure("recv", target, "timeout"))
                } else {
                    Ok(())
                };
            }
            Err(e) => return Err(failure("recv", target, e)),
        }
    }
}
