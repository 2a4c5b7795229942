//! The demo's application: a tiny HTTP/1.0 responder per real server (a thread inside its
//! namespace, kernel TCP) and the client's request loop. Not packet logic: plain sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the responder on `addr` inside the namespace at `netns`: every request gets
/// `200 OK` with body `name`. Stops when `stop` is set.
pub(crate) fn serve(
    netns: PathBuf,
    addr: SocketAddr,
    name: String,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let bound = lvs_net::device::enter_netns(&netns)
            .map_err(std::io::Error::other)
            .and_then(|()| TcpListener::bind(addr))
            .and_then(|l| l.set_nonblocking(true).map(|()| l));
        let listener = match bound {
            Ok(l) => {
                let _ = tx.send(Ok(()));
                l
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let body = format!("{name}\n");
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    let _ = answer(s, &body);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    rx.recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("responder died")))?;
    Ok(t)
}

fn answer(mut s: TcpStream, body: &str) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    write!(
        s,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One `GET /` to `addr`; the body (the answering server's name).
pub(crate) fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: demo\r\n\r\n")?;
    let mut all = String::new();
    s.read_to_string(&mut all)?;
    let (head, body) = all
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header"))?;
    if !head.starts_with("HTTP/1.0 200") {
        return Err(std::io::Error::other(format!("status {head}")));
    }
    Ok(body.trim().to_owned())
}
