//! Names for listings without `-n`, from `/etc/hosts` and `/etc/services` only.
//!
//! ipvsadm calls `gethostbyaddr(3)` and `getservbyport(3)`, which may go to DNS and hang a
//! listing on an unreachable resolver for seconds per address. This resolver reads the two
//! files once and answers what the `files` NSS source would: the first matching line's
//! canonical name. Addresses without an `/etc/hosts` entry print numerically.

use std::collections::HashMap;
use std::net::IpAddr;

use lvs_core::ipvsadm::{Protocol, Resolver};

/// `/etc/hosts` + `/etc/services` look-ups.
#[derive(Clone, Debug, Default)]
pub struct FileResolver {
    hosts: HashMap<IpAddr, String>,
    services: HashMap<(u16, &'static str), String>,
}

impl FileResolver {
    /// Reads `/etc/hosts` and `/etc/services` (a missing file gives no names).
    pub fn system() -> Self {
        let read = |p| std::fs::read_to_string(p).unwrap_or_default();
        Self::from_text(&read("/etc/hosts"), &read("/etc/services"))
    }

    /// From the two files' contents.
    pub fn from_text(hosts: &str, services: &str) -> Self {
        let mut out = Self::default();
        for line in hosts.lines() {
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            if let (Some(addr), Some(name)) = (words.next(), words.next())
                && let Ok(addr) = addr.parse::<IpAddr>()
            {
                out.hosts.entry(addr).or_insert_with(|| name.to_owned());
            }
        }
        for line in services.lines() {
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let proto = match proto {
                "tcp" => "tcp",
                "udp" => "udp",
                "sctp" => "sctp",
                _ => continue,
            };
            if let Ok(port) = port.parse::<u16>() {
                out.services
                    .entry((port, proto))
                    .or_insert_with(|| name.to_owned());
            }
        }
        out
    }
}

impl Resolver for FileResolver {
    fn host(&self, addr: IpAddr) -> Option<String> {
        self.hosts.get(&addr).cloned()
    }

    fn service(&self, port: u16, protocol: Protocol) -> Option<String> {
        let proto = match protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        };
        self.services.get(&(port, proto)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entry_wins_and_comments_are_ignored() {
        let r = FileResolver::from_text(
            "127.0.0.1 localhost\n# 10.0.0.1 nope\n10.0.0.1\tweb1 web1.example # c\n10.0.0.1 other\n::1 ip6-localhost\n",
            "http 80/tcp www # WorldWideWeb\nhttp 80/udp\ndomain 53/udp\nbad\n",
        );
        assert_eq!(r.host("10.0.0.1".parse().unwrap()).as_deref(), Some("web1"));
        assert_eq!(
            r.host("::1".parse().unwrap()).as_deref(),
            Some("ip6-localhost")
        );
        assert_eq!(r.host("10.0.0.2".parse().unwrap()), None);
        assert_eq!(r.service(80, Protocol::Tcp).as_deref(), Some("http"));
        assert_eq!(r.service(53, Protocol::Udp).as_deref(), Some("domain"));
        assert_eq!(r.service(53, Protocol::Tcp), None);
    }
}
