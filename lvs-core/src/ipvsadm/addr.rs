//! The number, address and port readers ipvsadm uses, with their C library semantics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Protocol;

/// `string_to_number`: `strtol(s, 10)` that must consume the whole word, within `min..=max`.
pub(super) fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits is ERANGE in strtol: refuse like ipvsadm does.
    let v: i64 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    (min..=max).contains(&v).then_some(v)
}

/// `atoi`: leading blanks, a sign, then as many digits as there are; 0 when there are none.
pub(super) fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in rest.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -v } else { v }
}

/// glibc `inet_aton`: one to four parts, each decimal, octal (`0` prefix) or hex (`0x`); the last
/// part fills the remaining bytes (`10.1` is 10.0.0.1, `24` is 0.0.0.24).
pub(super) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    let mut rest = s.as_bytes();
    loop {
        if !rest.first()?.is_ascii_digit() {
            return None;
        }
        let (base, skip) = match rest {
            [b'0', b'x' | b'X', ..] => (16, 2),
            [b'0', ..] => (8, 1),
            _ => (10, 0),
        };
        rest = &rest[skip..];
        let mut val: u64 = 0;
        while let Some(&c) = rest.first() {
            let d = match c {
                b'0'..=b'9' => u64::from(c - b'0'),
                b'a'..=b'f' if base == 16 => u64::from(c - b'a' + 10),
                b'A'..=b'F' if base == 16 => u64::from(c - b'A' + 10),
                _ => break,
            };
            if d >= base {
                return None;
            }
            val = val * base + d;
            if val > u64::from(u32::MAX) {
                return None;
            }
            rest = &rest[1..];
        }
        parts.push(val);
        match rest.first() {
            Some(b'.') if parts.len() < 4 => rest = &rest[1..],
            None => break,
            _ => return None,
        }
    }
    let (last, head) = parts.split_last()?;
    if head.iter().any(|&p| p > 0xff) {
        return None;
    }
    let room = 32 - 8 * head.len() as u32;
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let mut v = *last as u32;
    for (i, p) in head.iter().enumerate() {
        v |= (*p as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(v))
}

/// The few `/etc/services` names ipvsadm users write; ipvsadm asks `getservbyname` with the
/// service's protocol, the core has no resolver.
fn service_to_port(name: &str, protocol: Option<Protocol>) -> Option<u16> {
    protocol?;
    let port = match name {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "http" | "www" => 80,
        "pop3" => 110,
        "ntp" => 123,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "ldap" => 389,
        "https" => 443,
        "submissions" | "smtps" => 465,
        "submission" => 587,
        "ldaps" => 636,
        "imaps" => 993,
        "pop3s" => 995,
        "mysql" => 3306,
        "sip" => 5060,
        "postgresql" => 5432,
        "http-alt" | "webcache" => 8080,
        _ => return None,
    };
    Some(port)
}

/// What `parse_service` found.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct HostPort {
    pub(super) addr: IpAddr,
    pub(super) port: Option<u16>,
}

/// ipvsadm's `parse_service` for `-t/-u/--sctp-service` and `-r`: `[v6]:port`, a bare IPv6
/// address, or an IPv4 address with an optional `:port` after the last colon. Quirks kept:
/// an all-digit word is refused, `[v6]` needs a `:port`, and `[a.b.c.d]:port` reads as the
/// IPv4 address without port.
pub(super) fn parse_service(buf: &str, protocol: Option<Protocol>) -> Option<HostPort> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, mut port_str) = match buf.strip_prefix('[') {
        Some(inner) => {
            let (host, after) = inner.split_once(']')?;
            (host, Some(after.strip_prefix(':')?))
        }
        None => (buf, None),
    };
    let addr = if let Ok(a6) = host.parse::<Ipv6Addr>() {
        IpAddr::V6(a6)
    } else {
        // IPv4: ipvsadm searches the last ':' in what is left after the brackets.
        let (h, p) = match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        if buf.starts_with('[') {
            port_str = None;
        }
        port_str = p.or(port_str);
        IpAddr::V4(inet_aton(h)?)
    };
    let port = match port_str {
        None => None,
        Some(p) => Some(match string_to_number(p, 0, 65535) {
            Some(n) => n as u16,
            None => service_to_port(p, protocol)?,
        }),
    };
    Some(HostPort { addr, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_forms() {
        assert_eq!(inet_aton("192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("24"), Some(Ipv4Addr::new(0, 0, 0, 24)));
        assert_eq!(inet_aton("0xff.0.0.010"), Some(Ipv4Addr::new(255, 0, 0, 8)));
        assert_eq!(inet_aton("1.2.3.256"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("1..2"), None);
        assert_eq!(inet_aton("09"), None);
        assert_eq!(inet_aton("a.b"), None);
        assert_eq!(inet_aton(""), None);
    }

    #[test]
    fn numbers_like_strtol_and_atoi() {
        assert_eq!(string_to_number("+80", 0, 65535), Some(80));
        assert_eq!(string_to_number("-0", 0, 65535), Some(0));
        assert_eq!(string_to_number("65536", 0, 65535), None);
        assert_eq!(string_to_number("8x", 0, 65535), None);
        assert_eq!(string_to_number("", 0, 65535), None);
        assert_eq!(atoi("64abc"), 64);
        assert_eq!(atoi("/64"), 0);
    }

    #[test]
    fn service_words() {
        let v4 = |s| parse_service(s, Some(Protocol::Tcp));
        let hp = |a: &str, p| {
            Some(HostPort {
                addr: a.parse().unwrap(),
                port: p,
            })
        };
        assert_eq!(v4("192.0.2.1:80"), hp("192.0.2.1", Some(80)));
        assert_eq!(v4("192.0.2.1"), hp("192.0.2.1", None));
        assert_eq!(v4("192.0.2.1:http"), hp("192.0.2.1", Some(80)));
        assert_eq!(parse_service("192.0.2.1:http", None), None);
        assert_eq!(v4("[2001:db8::1]:443"), hp("2001:db8::1", Some(443)));
        assert_eq!(v4("2001:db8::1"), hp("2001:db8::1", None));
        assert_eq!(v4("[2001:db8::1]"), None);
        assert_eq!(v4("[192.0.2.1]:80"), hp("192.0.2.1", None));
        assert_eq!(v4("8080"), None);
        assert_eq!(v4("192.0.2.1:"), None);
        assert_eq!(v4("192.0.2.1:nosuch"), None);
        assert_eq!(v4("host.example:80"), None);
    }
}
