//! The frames a new master sends so that hosts and switches move a VIP to it at once:
//! gratuitous ARP for IPv4 (RFC 5798 section 6.4.1 step (ii); RFC 5227 section 3 form, as
//! keepalived sends it) and unsolicited neighbor advertisements for IPv6 (RFC 4861 section
//! 7.2.6, override flag set, to all-nodes).

use core::net::{IpAddr, Ipv6Addr};

use crate::wire::{
    ArpRepr, EtherType, EthernetRepr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Repr, MacAddr,
    NeighborFlags, WireError,
};

/// All-nodes multicast, the destination of unsolicited NAs.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Its Ethernet mapping (RFC 2464 section 7: 33:33 + the low 32 bits).
const ALL_NODES_MAC: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);

/// Writes the announcement frame for `vip` into `buf` and returns its length. `src` is the
/// interface's IPv6 source (link-local) for NAs; ignored for ARP.
pub(super) fn emit(
    buf: &mut [u8],
    mac: MacAddr,
    vip: &IpAddr,
    src: &IpAddr,
) -> Result<usize, WireError> {
    match vip {
        IpAddr::V4(addr) => {
            let eth = EthernetRepr {
                src_addr: mac,
                dst_addr: MacAddr::BROADCAST,
                ethertype: EtherType::Arp,
                vlan_id: None,
            };
            let at = eth.emit(buf)?;
            let n = ArpRepr::gratuitous(mac, *addr).emit(buf.get_mut(at..).unwrap_or_default())?;
            Ok(at + n)
        }
        IpAddr::V6(target) => {
            let eth = EthernetRepr {
                src_addr: mac,
                dst_addr: ALL_NODES_MAC,
                ethertype: EtherType::Ipv6,
                vlan_id: None,
            };
            let na = Icmpv6Repr::NeighborAdvert {
                flags: NeighborFlags::OVERRIDE,
                target_addr: *target,
                lladdr: mac,
            };
            let src6 = match src {
                IpAddr::V6(s) => *s,
                IpAddr::V4(_) => *target,
            };
            let ip = Ipv6Repr {
                src_addr: src6,
                dst_addr: ALL_NODES,
                next_header: IpProtocol::Icmpv6,
                payload_len: na.buffer_len(),
                // RFC 4861 section 7.1.2: NAs are only accepted with hop limit 255.
                hop_limit: 255,
                traffic_class: 0,
                flow_label: 0,
            };
            let mut at = eth.emit(buf)?;
            at += ip.emit(buf.get_mut(at..).unwrap_or_default())?;
            let end = at + na.buffer_len();
            let icmp = buf.get_mut(at..end).ok_or(WireError::Truncated)?;
            na.emit(icmp)?;
            Icmpv6Packet::new_unchecked(icmp)
                .fill_checksum(&IpAddr::V6(src6), &IpAddr::V6(ALL_NODES));
            Ok(end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ArpPacket, EthernetFrame, Ipv6Packet};

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn garp_frame() {
        let mut buf = [0u8; 64];
        let vip: IpAddr = "192.0.2.100".parse().unwrap();
        let n = emit(&mut buf, MAC, &vip, &vip).unwrap();
        assert_eq!(n, 42);
        let eth = EthernetFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!(eth.dst_addr(), MacAddr::BROADCAST);
        let arp = ArpPacket::new_checked(eth.payload()).unwrap();
        assert!(arp.is_gratuitous());
        assert_eq!(arp.src_hardware_addr(), MAC);
        assert!(emit(&mut buf[..41], MAC, &vip, &vip).is_err());
    }

    #[test]
    fn unsolicited_na_frame() {
        let mut buf = [0u8; 128];
        let vip: IpAddr = "2001:db8::100".parse().unwrap();
        let src: IpAddr = "fe80::1".parse().unwrap();
        let n = emit(&mut buf, MAC, &vip, &src).unwrap();
        assert_eq!(n, 14 + 40 + 32);
        let eth = EthernetFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!(eth.dst_addr(), ALL_NODES_MAC);
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.hop_limit(), 255);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(&src, &IpAddr::V6(ALL_NODES)));
        assert_eq!(icmp.target_addr(), Some("2001:db8::100".parse().unwrap()));
        assert_eq!(icmp.link_layer_addr(), Some(MAC));
        assert!(emit(&mut buf[..85], MAC, &vip, &src).is_err());
    }
}
