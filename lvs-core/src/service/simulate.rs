//! The engine of `lvs-router simulate`: a script of ipvsadm commands and flows in, one line of
//! picks per flow out, in virtual time.
//!
//! # Grammar
//!
//! One statement per line; blank lines and `#` comments (also at the end of a line) are ignored.
//! `SVC` is `-t|-u|--sctp-service VIP[:PORT]` or `-f MARK [-6]`; addresses are written as
//! ipvsadm takes them, IPv6 as `[addr]:port`.
//!
//! * any ipvsadm service or server command: `-A -t 192.0.2.1:80 -s wrr`,
//!   `-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 4`, `-e ...`, `-d ...`, `-E ...`, `-D ...`, `-C`
//!   (a leading `ipvsadm` word is allowed);
//! * `assume SVC -r RIP[:PORT] [active=N] [inactive=N] [overloaded=0|1]` sets a dest's counters
//!   or overload flag (no threshold rule runs) for a what-if;
//! * `flow SVC from CADDR:CPORT [to DADDR:DPORT] [count=N] [step=LIST] [then=active|inactive|none]`
//!   opens N (default 1) new connections at the current time. `to` is the packet's destination
//!   (default the service's VIP:PORT; required for `-f`). `step` is a comma list of `caddr`,
//!   `cport`, `vaddr`: each named field grows by k for the k-th flow (k from 0). `then` says how
//!   the new connection is counted on its dest (default `active`); `none` counts nothing. Counted
//!   connections stay open for the rest of the script, so they keep their persistence template
//!   alive. Flows of `-f` services are TCP packets carrying the mark.
//! * `advance SECONDS` moves virtual time forward (decimal fractions allowed).
//!
//! Each `flow` prints `=> ` and the connection's real-server `RIP:PORT` per flow (IPv6 as
//! `[addr]:port`), `none` when nothing took it, separated by single spaces. The port is the
//! connection's: the dest's port, or the packet's port for a dest with port 0 (fwmark dests
//! added without a port) and for port-0 or fwmark services reached on another port.
//!
//! # Semantics
//!
//! A flow is the first packet of a connection and goes through the kernel's path: the service
//! is looked up from the packet (`to`, the mark for `-f`), with the FTP and port-0 fallbacks;
//! the service named in the flow must exist but the packet may land on another one, exactly as
//! in the kernel. Persistent services reuse or create a template; `-o` UDP connections are
//! counted and released at once. A flow from client port 20 is never scheduled (the kernel's
//! FTP-data rule). Timers (template expiry, lblc/lblcr cache expiry) run as time advances.

use std::net::IpAddr;
use std::time::Duration;

use super::{NewConn, ServiceTable};
use crate::ipvsadm::{
    self, AddressFamily, Protocol, ServiceKey, SocketDisplay, parse_fwmark, parse_host_port,
};
use crate::sched::ConnKind;
use crate::time::Instant;

/// A refused line: its 1-based number and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SimError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, ipvsadm's text for ipvsadm and kernel errors.
    pub message: String,
}

/// What a whole script produced: the output lines up to the first error, and that error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimOutput {
    /// One line per `flow`.
    pub lines: Vec<String>,
    /// The first refused line; the script stopped there.
    pub error: Option<SimError>,
}

/// Runs a whole script.
pub fn run(script: &str) -> SimOutput {
    let mut sim = Simulator::new();
    let mut out = SimOutput::default();
    for line in script.lines() {
        match sim.feed(line) {
            Ok(Some(l)) => out.lines.push(l),
            Ok(None) => {}
            Err(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    out
}

/// A service table in virtual time, fed one line at a time.
#[derive(Debug, Default)]
pub struct Simulator {
    table: ServiceTable,
    now: Instant,
    line: usize,
}

/// How a flow's connection is counted afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Count(ConnKind),
    Nothing,
}

impl Simulator {
    /// An empty table at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table being driven.
    pub fn table(&self) -> &ServiceTable {
        &self.table
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Runs the next line of the script; `Some` output line for a `flow`.
    pub fn feed(&mut self, line: &str) -> Result<Option<String>, SimError> {
        self.line += 1;
        let text = line.split_once('#').map_or(line, |(code, _)| code);
        let words: Vec<&str> = text.split_whitespace().collect();
        self.statement(&words).map_err(|message| SimError {
            line: self.line,
            message,
        })
    }

    fn statement(&mut self, words: &[&str]) -> Result<Option<String>, String> {
        let Some(&first) = words.first() else {
            return Ok(None);
        };
        match first {
            "assume" => self.assume(&words[1..]).map(|()| None),
            "flow" => self.flow(&words[1..]).map(Some),
            "advance" => self.advance(&words[1..]).map(|()| None),
            w if w.starts_with('-') || w == "ipvsadm" => {
                let args = if w == "ipvsadm" { &words[1..] } else { words };
                let cmd = ipvsadm::parse_args(args).map_err(|e| e.to_string())?;
                self.table.apply(&cmd).map_err(|e| e.to_string())?;
                Ok(None)
            }
            other => Err(format!("unknown statement `{other}'")),
        }
    }

    fn advance(&mut self, words: &[&str]) -> Result<(), String> {
        let [secs] = words else {
            return Err("usage: advance SECONDS".into());
        };
        let d = parse_seconds(secs).ok_or_else(|| format!("invalid number of seconds `{secs}'"))?;
        self.now = self.now + d;
        self.table.handle_timeout(self.now);
        Ok(())
    }

    fn assume(&mut self, words: &[&str]) -> Result<(), String> {
        let (key, rest) = parse_svc(words)?;
        let [opt, rip, settings @ ..] = rest else {
            return Err(
                "usage: assume SVC -r RIP[:PORT] [active=N] [inactive=N] [overloaded=0|1]".into(),
            );
        };
        if *opt != "-r" {
            return Err(format!("expected -r, found `{opt}'"));
        }
        let (addr, port) = parse_host_port(rip, protocol_of(&key))
            .ok_or_else(|| ipvsadm::IpvsadmError::IllegalRealAddress.to_string())?;
        let (mut active, mut inactive, mut overloaded) = (None, None, None);
        for s in settings {
            match s.split_once('=') {
                Some(("active", n)) => active = Some(parse_count(n)?),
                Some(("inactive", n)) => inactive = Some(parse_count(n)?),
                Some(("overloaded", "0")) => overloaded = Some(false),
                Some(("overloaded", "1")) => overloaded = Some(true),
                _ => return Err(format!("invalid setting `{s}'")),
            }
        }
        let dest = self
            .table
            .dest_mut(&key, addr, port.unwrap_or(key.port()))
            .map_err(|e| e.to_string())?;
        if let Some(n) = active {
            dest.active_conns = n;
        }
        if let Some(n) = inactive {
            dest.inactive_conns = n;
        }
        if let Some(o) = overloaded {
            dest.overloaded = o;
        }
        Ok(())
    }

    fn flow(&mut self, words: &[&str]) -> Result<String, String> {
        let (key, rest) = parse_svc(words)?;
        if self.table.service(&key).is_none() {
            return Err(crate::service::ServiceError::NoSuchService.to_string());
        }
        let protocol = protocol_of(&key);
        let mut rest = rest.iter();
        if rest.next() != Some(&"from") {
            return Err("expected `from CADDR:CPORT'".into());
        }
        let from = rest.next().ok_or("expected `from CADDR:CPORT'")?;
        let (caddr, cport) = parse_endpoint(from, protocol, "client")?;
        let mut to = match key {
            ServiceKey::Inet { addr, port, .. } => Some((addr, port)),
            ServiceKey::Fwmark { .. } => None,
        };
        let (mut count, mut then) = (1u32, Then::Count(ConnKind::Active));
        let (mut step_caddr, mut step_cport, mut step_vaddr) = (false, false, false);
        while let Some(w) = rest.next() {
            match w.split_once('=') {
                None if *w == "to" => {
                    let d = rest.next().ok_or("expected `to DADDR:DPORT'")?;
                    to = Some(parse_endpoint(d, protocol, "destination")?);
                }
                Some(("count", n)) => {
                    count = parse_count(n)?;
                    if count == 0 {
                        return Err("count must be at least 1".into());
                    }
                }
                Some(("step", list)) => {
                    for field in list.split(',') {
                        match field {
                            "caddr" => step_caddr = true,
                            "cport" => step_cport = true,
                            "vaddr" => step_vaddr = true,
                            _ => return Err(format!("invalid step field `{field}'")),
                        }
                    }
                }
                Some(("then", "active")) => then = Then::Count(ConnKind::Active),
                Some(("then", "inactive")) => then = Then::Count(ConnKind::Inactive),
                Some(("then", "none")) => then = Then::Nothing,
                _ => return Err(format!("invalid flow option `{w}'")),
            }
        }
        let (daddr, dport) = to.ok_or("a fwmark flow needs `to DADDR:DPORT'")?;
        if AddressFamily::of(&caddr) != AddressFamily::of(&daddr) {
            return Err("client and destination addresses differ in family".into());
        }
        let fwmark = match key {
            ServiceKey::Fwmark { mark, .. } => mark,
            ServiceKey::Inet { .. } => 0,
        };
        let mut picks = Vec::with_capacity(count.min(1024) as usize);
        for k in 0..count {
            let pkt = NewConn {
                protocol: protocol.unwrap_or(Protocol::Tcp),
                caddr: if step_caddr {
                    add_to_addr(caddr, k)
                } else {
                    caddr
                },
                cport: if step_cport {
                    cport.wrapping_add(k as u16)
                } else {
                    cport
                },
                daddr: if step_vaddr {
                    add_to_addr(daddr, k)
                } else {
                    daddr
                },
                dport,
                fwmark,
            };
            let Some(conn) = self.table.schedule(&pkt, self.now) else {
                picks.push("none".to_owned());
                continue;
            };
            picks.push(SocketDisplay(conn.daddr, conn.dport).to_string());
            if let Then::Count(kind) = then {
                self.table.bind_conn(&conn, kind);
                if conn.one_packet {
                    // -o: the connection is freed right after its only packet.
                    self.table.unbind_conn(&conn, kind, self.now);
                }
            }
        }
        Ok(format!("=> {}", picks.join(" ")))
    }
}

/// `-t|-u|--sctp-service VIP[:PORT]` or `-f MARK [-6]`, and the words after it.
fn parse_svc<'a, 'b>(words: &'a [&'b str]) -> Result<(ServiceKey, &'a [&'b str]), String> {
    let protocol = match words.first() {
        Some(&"-t" | &"--tcp-service") => Protocol::Tcp,
        Some(&"-u" | &"--udp-service") => Protocol::Udp,
        Some(&"--sctp-service") => Protocol::Sctp,
        Some(&"-f" | &"--fwmark-service") => {
            let word = words.get(1).ok_or("expected a fwmark after -f")?;
            let mark = parse_fwmark(word).ok_or_else(|| {
                ipvsadm::IpvsadmError::InvalidFwmark((*word).to_owned()).to_string()
            })?;
            let (af, rest) = match words.get(2) {
                Some(&"-6" | &"--ipv6") => (AddressFamily::Inet6, &words[3..]),
                _ => (AddressFamily::Inet, &words[2..]),
            };
            return Ok((ServiceKey::Fwmark { mark, af }, rest));
        }
        _ => return Err("expected a service: -t|-u|--sctp-service VIP:PORT or -f MARK".into()),
    };
    let word = words.get(1).ok_or("expected the service address")?;
    let (addr, port) = parse_host_port(word, Some(protocol))
        .ok_or_else(|| ipvsadm::IpvsadmError::IllegalVirtualAddress.to_string())?;
    Ok((
        ServiceKey::Inet {
            protocol,
            addr,
            port: port.unwrap_or(0),
        },
        &words[2..],
    ))
}

fn protocol_of(key: &ServiceKey) -> Option<Protocol> {
    match key {
        ServiceKey::Inet { protocol, .. } => Some(*protocol),
        ServiceKey::Fwmark { .. } => Some(Protocol::Tcp),
    }
}

fn parse_endpoint(
    word: &str,
    protocol: Option<Protocol>,
    what: &str,
) -> Result<(IpAddr, u16), String> {
    match parse_host_port(word, protocol) {
        Some((addr, Some(port))) => Ok((addr, port)),
        _ => Err(format!("illegal {what} address:port `{word}'")),
    }
}

fn parse_count(n: &str) -> Result<u32, String> {
    n.parse().map_err(|_| format!("invalid number `{n}'"))
}

/// Whole and fractional seconds, up to nanoseconds.
fn parse_seconds(s: &str) -> Option<Duration> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (s.contains('.') && frac.is_empty())
    {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(Duration::new(secs, nanos))
}

/// `addr + k`, wrapping within the family.
fn add_to_addr(addr: IpAddr, k: u32) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(u32::from(a).wrapping_add(k).into()),
        IpAddr::V6(a) => IpAddr::V6(u128::from(a).wrapping_add(k.into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_seconds("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_seconds("1."), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("x"), None);
    }

    #[test]
    fn address_steps() {
        assert_eq!(
            add_to_addr("10.0.0.255".parse().unwrap(), 1),
            "10.0.1.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            add_to_addr("2001:db8::ffff".parse().unwrap(), 2),
            "2001:db8::1:1".parse::<IpAddr>().unwrap()
        );
    }
}
