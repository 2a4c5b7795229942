//! keepalived `HTTP_GET` / `SSL_GET`: a minimal HTTP/1.0 client (status line, headers, body
//! digest) over a std `TcpStream`, or over rustls for `SSL_GET`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use lvs_core::health::{HttpCheck, UrlCheck};
use md5::{Digest, Md5};
use rustls::StreamOwned;

use super::probe::{read_until, remaining, tcp_connect};
use super::{failure, tls};

/// Fetches every URL of `check` in order; the first failing one fails the check.
pub(crate) fn get(
    target: SocketAddr,
    check: &HttpCheck,
    deadline: Instant,
    tls: bool,
) -> Result<(), String> {
    let host = check.virtualhost.clone().unwrap_or_else(|| {
        lvs_core::ipvsadm::SocketDisplay(target.ip(), target.port()).to_string()
    });
    for url in &check.urls {
        let vhost = check.virtualhost.as_deref();
        fetch(target, &host, url, deadline, tls.then_some(vhost))?;
    }
    Ok(())
}

/// The request keepalived sends (`REQUEST_TEMPLATE`): HTTP/1.0, so the server closes after the
/// body and no chunked encoding comes back.
fn request(path: &str, host: &str) -> String {
    format!(
        "GET {path} HTTP/1.0\r\nUser-Agent: lvs-rs-health\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
}

/// One GET; `tls` carries the SNI name for `SSL_GET`.
fn fetch(
    target: SocketAddr,
    host: &str,
    url: &UrlCheck,
    deadline: Instant,
    tls: Option<Option<&str>>,
) -> Result<(), String> {
    let tcp = tcp_connect(target, deadline)?;
    // A clone shares the socket: it sets the timeouts while the stream (maybe inside TLS) is
    // borrowed for reading.
    let timeouts = tcp.try_clone().map_err(|e| failure("connect", target, e))?;
    let mut set = |d| {
        timeouts
            .set_read_timeout(Some(d))
            .and_then(|()| timeouts.set_write_timeout(Some(d)))
    };
    let mut stream: Box<dyn ReadWrite> = match tls {
        None => Box::new(tcp),
        Some(sni) => Box::new(StreamOwned::new(tls::client(target, sni)?, tcp)),
    };
    let left = remaining("write", target, deadline)?;
    set(left)
        .and_then(|()| stream.write_all(request(&url.path, host).as_bytes()))
        .and_then(|()| stream.flush())
        .map_err(|e| failure("write", target, e))?;
    let need_body = url.digest.is_some();
    let reply = read_until(&mut stream, &mut set, target, deadline, |buf| {
        complete(buf, need_body)
    })?;
    check_reply(&reply, url).map_err(|e| failure("GET", target, format!("{} {e}", url.path)))
}

/// A plain or TLS stream.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Whether enough has arrived: the headers, and the whole body when it is digested and its
/// length is known (otherwise EOF ends it).
fn complete(buf: &[u8], need_body: bool) -> bool {
    let Some(end) = header_end(buf) else {
        return false;
    };
    if !need_body {
        return true;
    }
    content_length(&buf[..end]).is_some_and(|len| buf.len() - end >= len)
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Checks the status code against the accepted range and the body against the digest.
pub(crate) fn check_reply(reply: &[u8], url: &UrlCheck) -> Result<(), String> {
    let end = header_end(reply).ok_or("incomplete reply headers")?;
    let line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let status: u16 = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => {
            code.parse().map_err(|_| "bad status line")?
        }
        _ => return Err("bad status line".into()),
    };
    if !url.status.contains(&status) {
        return Err(format!("status {status}"));
    }
    if let Some(want) = url.digest {
        let mut body = &reply[end..];
        if let Some(len) = content_length(&reply[..end]) {
            body = &body[..len.min(body.len())];
        }
        let got: [u8; 16] = Md5::digest(body).into();
        if got != want {
            return Err(format!("digest {} != {}", hex(&got), hex(&want)));
        }
    }
    Ok(())
}

/// Lower-case hex, as keepalived's `genhash` prints digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(status: core::ops::RangeInclusive<u16>, digest: Option<[u8; 16]>) -> UrlCheck {
        UrlCheck {
            path: "/".into(),
            status,
            digest,
        }
    }

    #[test]
    fn status_and_digest() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloTRAILING";
        assert_eq!(check_reply(ok, &url(200..=299, None)), Ok(()));
        assert!(check_reply(b"HTTP/1.1 500 Oops\r\n\r\n", &url(200..=299, None)).is_err());
        let md5_hello: [u8; 16] = Md5::digest(b"hello").into();
        assert_eq!(hex(&md5_hello), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(check_reply(ok, &url(200..=200, Some(md5_hello))), Ok(()));
        assert!(check_reply(ok, &url(200..=200, Some([0; 16]))).is_err());
        assert!(check_reply(b"garbage\r\n\r\n", &url(200..=299, None)).is_err());
        assert!(!complete(
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhel",
            true
        ));
        assert!(complete(
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhel",
            false
        ));
    }
}
