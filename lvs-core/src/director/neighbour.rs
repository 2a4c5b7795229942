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

    #[inline(always)]
    pub(super) fn get(&self, ip: IpAddr) -> Option<MacAddr> {
        if self.map.is_empty() {
            return None;
        }
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

    /// Sets each port's MAC ([`DirectorConfig::port_macs`](super::DirectorConfig::port_macs)):
    /// the data plane calls it once its ports are open.
    pub fn set_port_macs(&mut self, macs: &[MacAddr]) {
        self.port_macs = macs.to_vec();
    }

    /// The MAC of port `port`: its entry in the port list, else the director's MAC.
    pub fn port_mac(&self, port: usize) -> MacAddr {
        self.port_macs.get(port).copied().unwrap_or(self.mac)
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

    /// An ARP frame: learn the sender, answer a request for an owned VIP in place, with the
    /// MAC of the port it came in on.
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
            let mac = self.port_mac(self.in_port);
            if let Ok(n) = originate::arp_reply(out, mac, tpa, sha, spa) {
                return Verdict::Reply {
                    frame: &mut pkt.frame_mut()[..n],
                };
            }
        }
        Verdict::Pass
    }

    /// An ICMPv6 neighbour solicitation or advertisement (the caller checked the type): learn
    /// the sender, answer a solicitation for an owned VIP with the MAC of the port it came in
    /// on (Ethernet source and target link-layer option).
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
        let mac = self.port_mac(self.in_port);
        let Ok(n) = originate::neighbor_advert(&mut buf, mac, target, to_mac, src, target, flags)
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
    use crate::wire::MacAddr;
    use std::net::IpAddr;

    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

    /// Whether the director answers a broadcast ARP request for `target`.
    fn answers(d: &mut Director, target: [u8; 4]) -> bool {
        let mut f = arp_request(target);
        let mut pkt = PacketBuf::new(&mut f, 64, 42).unwrap();
        matches!(
            d.handle_packet(Instant::from_nanos(0), &mut pkt),
            Verdict::Reply { .. }
        )
    }

    const PORT_MACS: [MacAddr; 2] = [
        MacAddr([2, 0, 0, 0, 0, 0x10]),
        MacAddr([2, 0, 0, 0, 0, 0x11]),
    ];
    const DEFAULT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);

    fn two_port_director(vips: &[&str]) -> Director {
        Director::new(DirectorConfig {
            mac: DEFAULT_MAC,
            port_macs: PORT_MACS.to_vec(),
            vips: vips.iter().map(|v| v.parse().unwrap()).collect(),
            ..DirectorConfig::default()
        })
    }

    /// A broadcast ARP request from 203.0.113.2 for `target`, behind 64 bytes of headroom.
    fn arp_request(target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 64 + 42];
        let b = &mut f[64..];
        b[..6].copy_from_slice(&[0xff; 6]);
        b[6..12].copy_from_slice(&CLIENT_MAC);
        b[12..14].copy_from_slice(&[0x08, 0x06]);
        b[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
        b[22..28].copy_from_slice(&CLIENT_MAC);
        b[28..32].copy_from_slice(&[203, 0, 113, 2]);
        b[38..42].copy_from_slice(&target);
        f
    }

    /// The answer `d` writes for `frame` (64 bytes of headroom) received on `port`.
    fn answer(d: &mut Director, port: usize, frame: &mut [u8]) -> Option<Vec<u8>> {
        let len = frame.len() - 64;
        let mut pkt = PacketBuf::new(frame, 64, len).unwrap();
        match d.handle_packet_on(Instant::from_nanos(0), port, &mut pkt) {
            Verdict::Reply { frame } => Some(frame.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn arp_is_answered_with_the_mac_of_the_receiving_port() {
        let mut d = two_port_director(&["192.0.2.10"]);
        for (port, mac) in [(0, PORT_MACS[0]), (1, PORT_MACS[1]), (2, DEFAULT_MAC)] {
            let r = answer(&mut d, port, &mut arp_request([192, 0, 2, 10])).unwrap();
            // Ethernet: to the asker, from the port; ARP reply: sender port MAC + VIP.
            assert_eq!(&r[..6], &CLIENT_MAC, "port {port}");
            assert_eq!(&r[6..12], &mac.0, "port {port}");
            assert_eq!(&r[12..14], &[0x08, 0x06]);
            assert_eq!(&r[14..22], &[0, 1, 0x08, 0, 6, 4, 0, 2]);
            assert_eq!(&r[22..28], &mac.0, "port {port}");
            assert_eq!(&r[28..32], &[192, 0, 2, 10]);
            assert_eq!(&r[32..38], &CLIENT_MAC);
            assert_eq!(&r[38..42], &[203, 0, 113, 2]);
        }
        // Set by the data plane later: the new MACs are used.
        let late = MacAddr([2, 0, 0, 0, 0, 0x77]);
        d.set_port_macs(&[PORT_MACS[0], late]);
        assert_eq!(d.port_mac(1), late);
        let r = answer(&mut d, 1, &mut arp_request([192, 0, 2, 10])).unwrap();
        assert_eq!((&r[6..12], &r[22..28]), (&late.0[..], &late.0[..]));
        // Plain handle_packet is port 0.
        let mut f = arp_request([192, 0, 2, 10]);
        let mut pkt = PacketBuf::new(&mut f, 64, 42).unwrap();
        let Verdict::Reply { frame } = d.handle_packet(Instant::from_nanos(0), &mut pkt) else {
            panic!("no answer");
        };
        assert_eq!(&frame[6..12], &PORT_MACS[0].0);
    }

    /// The ICMPv6 checksum over the pseudo header and `msg` (RFC 1071 sum, not complemented).
    fn icmpv6_sum(src: &[u8], dst: &[u8], msg: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut add = |b: &[u8]| {
            for w in b.chunks(2) {
                sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
        };
        add(src);
        add(dst);
        add(&(msg.len() as u32).to_be_bytes());
        add(&[0, 0, 0, 58]);
        add(msg);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn neighbour_solicitations_are_answered_with_the_mac_of_the_receiving_port() {
        let vip: std::net::Ipv6Addr = "2001:db8::10".parse().unwrap();
        let client: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut d = two_port_director(&["2001:db8::10"]);
        // NS from the client for the VIP to its solicited-node group, with a source
        // link-layer address option: 14 + 40 + 32 bytes, as long as the NA.
        let mut ns = vec![0u8; 64 + 86];
        let b = &mut ns[64..];
        b[..6].copy_from_slice(&[0x33, 0x33, 0xff, 0, 0, 0x10]);
        b[6..12].copy_from_slice(&CLIENT_MAC);
        b[12..14].copy_from_slice(&[0x86, 0xdd]);
        let group: std::net::Ipv6Addr = "ff02::1:ff00:10".parse().unwrap();
        b[14..22].copy_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
        b[22..38].copy_from_slice(&client.octets());
        b[38..54].copy_from_slice(&group.octets());
        b[54] = 135;
        b[62..78].copy_from_slice(&vip.octets());
        b[78..80].copy_from_slice(&[1, 1]);
        b[80..86].copy_from_slice(&CLIENT_MAC);
        let c = !icmpv6_sum(&client.octets(), &group.octets(), &b[54..86]);
        b[56..58].copy_from_slice(&c.to_be_bytes());
        let na = answer(&mut d, 1, &mut ns.clone()).unwrap();
        assert_eq!(na.len(), 86);
        // Ethernet: to the client, from port 1.
        assert_eq!(&na[..6], &CLIENT_MAC);
        assert_eq!(&na[6..12], &PORT_MACS[1].0);
        assert_eq!(&na[12..14], &[0x86, 0xdd]);
        // IPv6: VIP -> client, ICMPv6, hop limit 255, 32 bytes.
        assert_eq!(&na[18..22], &[0, 32, 58, 255]);
        assert_eq!(&na[22..38], &vip.octets());
        assert_eq!(&na[38..54], &client.octets());
        // NA: solicited + override, target the VIP, target link-layer option port 1's MAC.
        let m = &na[54..86];
        assert_eq!((m[0], m[1], m[4]), (136, 0, 0x60));
        assert_eq!(&m[8..24], &vip.octets());
        assert_eq!(&m[24..26], &[2, 1]);
        assert_eq!(&m[26..32], &PORT_MACS[1].0);
        // The checksum verifies: the sum over everything, checksum included, is all ones.
        assert_eq!(icmpv6_sum(&vip.octets(), &client.octets(), m), 0xffff);
        // Port 0 answers with port 0's MAC, option included, checksum verifying.
        let na0 = answer(&mut d, 0, &mut ns.clone()).unwrap();
        assert_eq!(&na0[6..12], &PORT_MACS[0].0);
        assert_eq!(&na0[80..86], &PORT_MACS[0].0);
        assert_eq!(
            icmpv6_sum(&vip.octets(), &client.octets(), &na0[54..86]),
            0xffff
        );
        assert_ne!(na0[56..58], na[56..58]);
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
