//! Neighbour resolution: ARP (RFC 826) for IPv4, neighbour discovery (RFC 4861) for IPv6.
//!
//! [`NeighbourCache`] is pure (time is an argument) and shared by the workers of one director
//! behind a mutex ([`SharedNeighbours`]): with PACKET_FANOUT an ARP reply lands on whichever
//! worker the kernel's hash picks, not on the worker that asked. The lock is taken only on a
//! director cache miss and when ARP/ND frames arrive, never per forwarded frame.
//!
//! Ageing follows the kernel's defaults loosely: an entry is fresh for
//! [`REACHABLE_TIME`] (base_reachable_time 30 s), then used as is while a new request is sent
//! (the kernel's STALE/PROBE); a resolution is retried [`MAX_PROBES`] times one
//! [`RETRANS_TIME`] apart (mcast_solicit 3, retrans_time 1 s) and then fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

/// How long a confirmed entry is used without asking again.
pub const REACHABLE_TIME: Duration = Duration::from_secs(30);
/// Time between requests for an unresolved address.
pub const RETRANS_TIME: Duration = Duration::from_secs(1);
/// Requests sent before a resolution fails.
pub const MAX_PROBES: u8 = 3;
/// Entries not used or confirmed for this long are removed (gc_stale_time 60 s).
pub const GC_TIME: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: Option<MacAddr>,
    confirmed: Instant,
    /// When the next request is due (`None`: no request outstanding).
    next_probe: Option<Instant>,
    probes: u8,
}

/// What [`NeighbourCache::lookup`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Use this MAC.
    Hit(MacAddr),
    /// Use this MAC, and send a request now to refresh it.
    Refresh(MacAddr),
    /// Unknown: queue the frame; `request` says whether to send a request now.
    Miss {
        /// Send a request now.
        request: bool,
    },
    /// Resolution failed (no answer to [`MAX_PROBES`] requests): drop.
    Failed,
}

/// IP -> MAC cache with ageing and retry (module doc).
#[derive(Debug, Default)]
pub struct NeighbourCache {
    entries: HashMap<IpAddr, Entry>,
}

impl NeighbourCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `ip` is at `mac` (an ARP packet or NA from it, or static config).
    pub fn learn(&mut self, now: Instant, ip: IpAddr, mac: MacAddr) {
        self.entries.insert(
            ip,
            Entry {
                mac: Some(mac),
                confirmed: now,
                next_probe: None,
                probes: 0,
            },
        );
    }

    /// Looks `ip` up for a frame to send at `now` and arms a request when one is due.
    pub fn lookup(&mut self, now: Instant, ip: IpAddr) -> Lookup {
        let e = self.entries.entry(ip).or_insert(Entry {
            mac: None,
            confirmed: now,
            next_probe: None,
            probes: 0,
        });
        match e.mac {
            Some(mac) if now - e.confirmed < REACHABLE_TIME => Lookup::Hit(mac),
            Some(mac) => {
                if e.next_probe.is_none() {
                    e.next_probe = Some(now + RETRANS_TIME);
                    e.probes = 1;
                    return Lookup::Refresh(mac);
                }
                Lookup::Hit(mac)
            }
            None if e.probes >= MAX_PROBES && e.next_probe.is_none() => Lookup::Failed,
            None if e.next_probe.is_none() => {
                e.next_probe = Some(now + RETRANS_TIME);
                e.probes = 1;
                Lookup::Miss { request: true }
            }
            None => Lookup::Miss { request: false },
        }
    }

    /// The MAC of `ip` if known, without side effects.
    pub fn get(&self, ip: IpAddr) -> Option<MacAddr> {
        self.entries.get(&ip).and_then(|e| e.mac)
    }

    /// Advances timers: returns the addresses to send a request for now, marks resolutions
    /// that ran out of probes as failed, and forgets entries idle for [`GC_TIME`].
    pub fn poll_requests(&mut self, now: Instant, out: &mut Vec<IpAddr>) {
        self.entries.retain(|ip, e| {
            if let Some(due) = e.next_probe
                && now >= due
            {
                if e.probes >= MAX_PROBES {
                    e.next_probe = None;
                    if e.mac.is_none() {
                        // Keep the failed entry until GC so lookups fail fast, as
                        // NUD_FAILED does; a stale MAC stays usable.
                        e.confirmed = now;
                    }
                } else {
                    e.probes += 1;
                    e.next_probe = Some(now + RETRANS_TIME);
                    out.push(*ip);
                }
            }
            e.next_probe.is_some() || now - e.confirmed < GC_TIME
        });
    }

    /// The earliest instant [`poll_requests`](Self::poll_requests) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.next_probe).min()
    }

    /// Number of entries (resolved or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The cache as shared by the workers of one director.
pub type SharedNeighbours = Arc<Mutex<NeighbourCache>>;

/// Writes an Ethernet ARP request (who-has `target` tell `sender_ip`) into `out`; returns its
/// length (42).
pub fn arp_request(
    out: &mut [u8],
    our_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Option<usize> {
    let f = out.get_mut(..42)?;
    f[..6].copy_from_slice(&MacAddr::BROADCAST.0);
    f[6..12].copy_from_slice(&our_mac.0);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1 (request).
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&our_mac.0);
    f[28..32].copy_from_slice(&sender_ip.octets());
    f[32..38].fill(0);
    f[38..42].copy_from_slice(&target.octets());
    Some(42)
}

/// The solicited-node multicast address of `target` (RFC 4291 2.7.1).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// Writes a neighbour solicitation for `target` from `src` into `out` (RFC 4861 4.3: to the
/// solicited-node group, hop limit 255, source link-layer address option); returns its length.
pub fn neighbour_solicitation(
    out: &mut [u8],
    our_mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> Option<usize> {
    const LEN: usize = 14 + 40 + 32;
    let f = out.get_mut(..LEN)?;
    let dst = solicited_node(target);
    let d = dst.octets();
    f[..6].copy_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    f[6..12].copy_from_slice(&our_mac.0);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut f[14..54];
    ip[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = 58;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&d);
    let m = &mut f[54..];
    m[..8].copy_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    m[8..24].copy_from_slice(&target.octets());
    m[24] = 1; // source link-layer address option, 1 unit of 8 bytes
    m[25] = 1;
    m[26..32].copy_from_slice(&our_mac.0);
    use lvs_core::wire::{IpProtocol, checksum};
    let ph = checksum::pseudo_header_v6(&src, &dst, IpProtocol::Icmpv6, 32);
    let c = checksum::finish(checksum::combine(&[ph, checksum::data(m)]));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    Some(LEN)
}

/// The (IP, MAC) binding an ARP packet or a neighbour solicitation/advertisement teaches, if
/// `frame` is one (untagged Ethernet only).
pub fn learn_from(frame: &[u8]) -> Option<(IpAddr, MacAddr)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    match ethertype {
        0x0806 => {
            let a = frame.get(14..42)?;
            if a[..6] != [0, 1, 8, 0, 6, 4] {
                return None;
            }
            let ip = Ipv4Addr::new(a[14], a[15], a[16], a[17]);
            // A probe (RFC 5227) has sender IP 0.0.0.0 and teaches nothing.
            (!ip.is_unspecified()).then(|| {
                (
                    IpAddr::V4(ip),
                    MacAddr::from_bytes(&a[8..14]).unwrap_or(MacAddr::ZERO),
                )
            })
        }
        0x86dd => {
            let ip = frame.get(14..54)?;
            let m = frame.get(54..)?;
            if ip[6] != 58 || m.len() < 24 {
                return None;
            }
            // NS: the sender is the IP source, its MAC in option 1; NA: the target, option 2.
            let (addr, opt_type) = match m[0] {
                135 => (<[u8; 16]>::try_from(&ip[8..24]).ok()?, 1),
                136 => (<[u8; 16]>::try_from(&m[8..24]).ok()?, 2),
                _ => return None,
            };
            let addr = Ipv6Addr::from(addr);
            let mut opts = &m[24..];
            while opts.len() >= 8 {
                let len = usize::from(opts[1]) * 8;
                if len == 0 || len > opts.len() {
                    return None;
                }
                if opts[0] == opt_type && !addr.is_unspecified() {
                    return Some((IpAddr::V6(addr), MacAddr::from_bytes(&opts[2..8])?));
                }
                opts = &opts[len..];
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "neigh_tests.rs"]
mod tests;
