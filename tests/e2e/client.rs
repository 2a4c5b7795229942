//! Client-side helpers run on threads inside the client namespace (kernel sockets).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// `GET path` over HTTP/1.0; the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Vec<u8>> {
    http_get_within(addr, path, T).map(|(_, body)| body)
}

/// `GET path` over HTTP/1.0 with connect and every read bounded by `limit`: the status line
/// and the body.
pub fn http_get_within(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, limit)?;
    s.set_read_timeout(Some(limit))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no HTTP header end: {:?}",
                String::from_utf8_lossy(&all)
            ))
        })?;
    let body = all.split_off(at + 4);
    let head = String::from_utf8_lossy(&all);
    Ok((head.lines().next().unwrap_or_default().to_owned(), body))
}

/// `n` sequential requests for `/id`; how many each server answered, plus failures.
pub fn distribution(addr: SocketAddr, n: usize) -> (BTreeMap<String, usize>, usize) {
    let mut by = BTreeMap::new();
    let mut failed = 0;
    for _ in 0..n {
        match http_get(addr, "/id") {
            Ok(b) => {
                *by.entry(String::from_utf8_lossy(&b).into_owned())
                    .or_default() += 1
            }
            Err(_) => failed += 1,
        }
    }
    (by, failed)
}

/// Sends `data` to the digest port and returns the answer `NAME SHA256`.
pub fn upload(addr: SocketAddr, data: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, T)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(data)?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_owned())
}

/// One UDP request/response through `addr`.
pub fn udp_ask(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let s = UdpSocket::bind(bind)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.connect(addr)?;
    s.send(msg)?;
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf)?;
    Ok(buf[..n].to_vec())
}

/// SHA-256 of `data` through `sha256sum` (an independent implementation).
pub fn sha256(data: &[u8]) -> String {
    let mut c = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A long-lived connection to the hold port (9002): its first line is `NAME PEER-IP`.
pub struct Held {
    pub stream: TcpStream,
    pub server: String,
    pub peer: String,
}

impl Held {
    /// Connects and reads the greeting.
    pub fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let mut stream = TcpStream::connect_timeout(&addr, T)?;
        stream.set_read_timeout(Some(T))?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while b[0] != b'\n' {
            if stream.read(&mut b)? == 0 {
                return Err(std::io::Error::other("closed before the greeting"));
            }
            line.push(b[0]);
        }
        let text = String::from_utf8_lossy(&line).trim().to_owned();
        let (server, peer) = text.split_once(' ').unwrap_or((&text, ""));
        Ok(Self {
            server: server.to_owned(),
            peer: peer.to_owned(),
            stream,
        })
    }

    /// Sends `msg` and expects it echoed: the connection still works end to end.
    pub fn ping(&mut self, msg: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(msg)?;
        let mut back = vec![0u8; msg.len()];
        self.stream.read_exact(&mut back)?;
        if back == msg {
            Ok(())
        } else {
            Err(std::io::Error::other("echo differs"))
        }
    }
}
