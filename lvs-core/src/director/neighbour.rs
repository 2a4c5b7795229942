//! The neighbour cache and the director's own ARP / neighbour-discovery answers.
//!
//! Design: the core keeps a small IP -> MAC cache, filled from static config entries and from
//! the ARP and NS/NA frames the data plane hands to `handle_packet` (the sender's binding of
//! every ARP frame, the link-layer option of every NS/NA). A forwarded frame gets its
//! destination MAC from the cache when the next hop is known; otherwise
//! [`NextHop::mac`](super::NextHop::mac) is `None` and `lvs-net` resolves the miss (its own
//! ARP/ND, or the kernel's neighbour table) and may feed the answer back with
//! [`Director::learn_neighbour`](super::Director::learn_neighbour). The core never sends ARP
//! requests itself: retries and timers belong with the sockets.

use std::net::{IpAddr, Ipv6Addr};

use super::{Director, Verdict};
use crate::rewrite::PacketBuf;
use crate::rewrite::originate::{self, NaFlags};
use crate::time::Instant;
use crate::wire::{ArpOperation, ArpPacket, MacAddr};

/// At most this many learned entries; beyond it learning stops (a flood of forged ARP must
/// not grow memory).
const MAX_LEARNED: usize = 65_536;

/// IP -> MAC bindings.
#[derive(Debug, Default)]
pub(super) struct Neighbours {
    map: super::HashMap<IpAddr, (MacAddr, bool)>,
}

impl Neighbours {
    pub(super) fn add_static(&mut self, ip: IpAddr, mac: MacAddr) {
        self.map.insert(ip, (mac, true));
    }

    /// Learns a binding; static entries win. Returns whether the cache changed.
    pub(super) fn learn(&mut self, ip: IpAddr, mac: MacAddr) -> bool {
        if mac.is_broadcast() || mac.0[0] & 1 != 0 || mac.0 == [0; 6] {
            return false;
        }
        let room = self.map.len() < MAX_LEARNED;
        match self.map.get_mut(&ip) {
            Some((_, true)) => false,
            Some((m, false)) => {
                let changed = *m != mac;
                *m = mac;
                changed
            }
            None if room => {
                self.map.insert(ip, (mac, false));
                true
            }
            None => false,
        }
    }

    #[inline]
    pub(super) fn get(&self, ip: IpAddr) -> Option<MacAddr> {
        self.map.get(&ip).map(|(m, _)| *m)
    }
}

impl Director {
    /// Tells the director that `ip` is at `mac`. Call it when `lvs-net` resolved a next hop a
    /// verdict left without MAC ([`NextHop::mac`](super::NextHop::mac) `None`), so later
    /// frames to it leave with the MAC already written. Static entries from the config are
    /// not overwritten; learned ones are capped in number.
    pub fn learn_neighbour(&mut self, ip: IpAddr, mac: MacAddr) {
        if self.neighbours.learn(ip, mac) {
            for d in self.reg.dests.iter_mut().flatten() {
                if d.addr == ip {
                    d.mac = Some(mac);
                }
            }
        }
    }

    /// The VIPs this director answers ARP and neighbour solicitations for (initially
    /// [`DirectorConfig::vips`](super::DirectorConfig::vips)).
    pub fn owned_vips(&self) -> &[IpAddr] {
        &self.vips
    }

    /// Replaces the set of owned VIPs: a VRRP master owns them all, a backup none, so that
    /// only the master answers ARP/ND for them (connections and services are not touched:
    /// traffic that still reaches a backup is balanced as before). Duplicates are dropped.
    pub fn set_owned_vips(&mut self, vips: &[IpAddr]) {
        self.vips.clear();
        for v in vips {
            if !self.vips.contains(v) {
                self.vips.push(*v);
            }
        }
    }

    /// Queues a gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for every
    /// owned VIP, for [`poll_transmit`](Self::poll_transmit). Call it when this director takes
    /// over the VIPs (VRRP master transition); keepalived sends 5 rounds.
    pub fn announce_vips(&mut self) {
        let mut buf = [0u8; 128];
        for i in 0..self.vips.len() {
            let n = match self.vips[i] {
                IpAddr::V4(a) => originate::gratuitous_arp(&mut buf, self.mac, a),
                IpAddr::V6(a) => originate::unsolicited_na(&mut buf, self.mac, a, a),
            };
            if let Ok(n) = n {
                self.queue_tx(&buf[..n]);
            }
        }
    }

    /// An ARP frame: learn the sender, answer a request for an owned VIP in place.
    pub(super) fn handle_arp<'a>(&mut self, pkt: &'a mut PacketBuf<'_>) -> Verdict<'a> {
        let frame = pkt.frame();
        // Tagged ARP is left to the host: the reply writers emit untagged frames.
        if frame.len() < 14 || frame[12..14] != [0x08, 0x06] {
            return Verdict::Pass;
        }
        let Ok(arp) = ArpPacket::new_checked(&frame[14..]) else {
            return Verdict::Pass;
        };
        let (op, sha, spa, tpa) = (
            arp.operation(),
            arp.src_hardware_addr(),
            arp.src_protocol_addr(),
            arp.dst_protocol_addr(),
        );
        if !spa.is_unspecified() {
            self.learn_neighbour(IpAddr::V4(spa), sha);
        }
        if op == ArpOperation::Request && self.vips.contains(&IpAddr::V4(tpa)) && spa != tpa {
            let out = pkt.frame_mut();
            if let Ok(n) = originate::arp_reply(out, self.mac, tpa, sha, spa) {
                return Verdict::Reply {
                    frame: &mut pkt.frame_mut()[..n],
                };
            }
        }
        Verdict::Pass
    }

    /// An ICMPv6 neighbour solicitation or advertisement (the caller checked the type): learn
    /// the sender, answer a solicitation for an owned VIP.
    pub(super) fn handle_nd<'a>(
        &mut self,
        _now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        l3: usize,
        l4: usize,
    ) -> Verdict<'a> {
        let frame = pkt.frame();
        let Some(icmp) = frame.get(l4..) else {
            return Verdict::Pass;
        };
        let Ok(p) = crate::wire::Icmpv6Packet::new_checked(icmp) else {
            return Verdict::Pass;
        };
        let msg = u8::from(p.msg_type());
        let (Some(target), lladdr) = (p.target_addr(), p.link_layer_addr()) else {
            return Verdict::Pass;
        };
        let mut a = [0u8; 16];
        a.copy_from_slice(&frame[l3 + 8..l3 + 24]);
        let src = Ipv6Addr::from(a);
        let eth_src = MacAddr::from_bytes(&frame[6..12]).unwrap_or(MacAddr([0; 6]));
        if msg == 136 {
            if let Some(mac) = lladdr {
                self.learn_neighbour(IpAddr::V6(target), mac);
            }
            return Verdict::Pass;
        }
        if msg != 135 {
            return Verdict::Pass;
        }
        if !src.is_unspecified()
            && let Some(mac) = lladdr
        {
            self.learn_neighbour(IpAddr::V6(src), mac);
        }
        if !self.vips.contains(&IpAddr::V6(target)) || src.is_unspecified() {
            // RFC 4861 7.2.4: a DAD probe (unspecified source) is answered to all-nodes; the
            // director does not defend VIPs against DAD, the host stack does.
            return Verdict::Pass;
        }
        let to_mac = lladdr.unwrap_or(eth_src);
        let flags = NaFlags {
            router: false,
            solicited: true,
            override_entry: true,
        };
        let mut buf = [0u8; 86];
        let Ok(n) =
            originate::neighbor_advert(&mut buf, self.mac, target, to_mac, src, target, flags)
        else {
            return Verdict::Pass;
        };
        if pkt.len() >= n {
            let out = &mut pkt.frame_mut()[..n];
            out.copy_from_slice(&buf[..n]);
            return Verdict::Reply { frame: out };
        }
        // The solicitation was shorter than the answer (no source link-layer option).
        // Answer through poll_transmit and still let the host see the solicitation.
        self.queue_tx(&buf[..n]);
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Director, DirectorConfig, Verdict};
    use crate::rewrite::PacketBuf;
    use crate::time::Instant;
    use std::net::IpAddr;

    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

    /// Whether the director answers a broadcast ARP request for `target`.
    fn answers(d: &mut Director, target: [u8; 4]) -> bool {
        let mut f = vec![0u8; 64 + 42];
        let b = &mut f[64..];
        b[..6].copy_from_slice(&[0xff; 6]);
        b[6..12].copy_from_slice(&CLIENT_MAC);
        b[12..14].copy_from_slice(&[0x08, 0x06]);
        b[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
        b[22..28].copy_from_slice(&CLIENT_MAC);
        b[28..32].copy_from_slice(&[203, 0, 113, 2]);
        b[38..42].copy_from_slice(&target);
        let mut pkt = PacketBuf::new(&mut f, 64, 42).unwrap();
        matches!(
            d.handle_packet(Instant::from_nanos(0), &mut pkt),
            Verdict::Reply { .. }
        )
    }

    #[test]
    fn only_owned_vips_are_answered_and_ownership_moves() {
        let vip: IpAddr = "192.0.2.10".parse().unwrap();
        let gw: IpAddr = "172.16.0.1".parse().unwrap();
        let mut d = Director::new(DirectorConfig {
            vips: vec![vip],
            ..DirectorConfig::default()
        });
        assert_eq!(d.owned_vips(), &[vip]);
        assert!(answers(&mut d, [192, 0, 2, 10]));
        assert!(!answers(&mut d, [172, 16, 0, 1]));
        // VRRP backup: silent for everything.
        d.set_owned_vips(&[]);
        assert!(d.owned_vips().is_empty());
        assert!(!answers(&mut d, [192, 0, 2, 10]));
        // Master again, with the gateway address too (duplicates folded).
        d.set_owned_vips(&[vip, gw, vip]);
        assert_eq!(d.owned_vips(), &[vip, gw]);
        assert!(answers(&mut d, [192, 0, 2, 10]));
        assert!(answers(&mut d, [172, 16, 0, 1]));
    }
}
