//! Link-layer headers of other capture link types, turned into Ethernet headers.

use lvs_core::wire::MacAddr;
use pcap_file::DataLink;

use super::LinkMacs;

/// Whether records of `link` can be converted.
pub(super) fn supported(link: DataLink) -> bool {
    matches!(
        link,
        DataLink::ETHERNET
            | DataLink::LINUX_SLL
            | DataLink::LINUX_SLL2
            | DataLink::RAW
            | DataLink::IPV4
            | DataLink::IPV6
    )
}

/// Why a record could not be converted: too short for its link-layer header.
pub(super) struct Short;

/// Linux `PACKET_OUTGOING`: the capturing host sent this packet.
const PACKET_OUTGOING: u16 = 4;
/// Linux `PACKET_BROADCAST`.
const PACKET_BROADCAST: u16 = 1;

/// Converts one record to an Ethernet frame; `Ok(None)` for a packet to skip.
pub(super) fn to_ethernet(
    link: DataLink,
    data: &[u8],
    macs: LinkMacs,
) -> Result<Option<Vec<u8>>, Short> {
    // (packet type, link address length, link address, protocol, payload) of a cooked header.
    let cooked = match link {
        DataLink::ETHERNET => return Ok(Some(data.to_vec())),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => {
            let ethertype: u16 = match data.first().map(|b| b >> 4) {
                Some(4) => 0x0800,
                Some(6) => 0x86dd,
                _ => return Err(Short),
            };
            return Ok(Some(ethernet(macs.local, macs.peer, ethertype, data)));
        }
        // Linux cooked v1: type(2) arphrd(2) addr_len(2) addr(8) protocol(2), 16 bytes.
        DataLink::LINUX_SLL if data.len() >= 16 => (
            be16(data, 0),
            be16(data, 4),
            &data[6..14],
            be16(data, 14),
            &data[16..],
        ),
        // v2: protocol(2) reserved(2) ifindex(4) arphrd(2) type(1) addr_len(1) addr(8), 20 bytes.
        DataLink::LINUX_SLL2 if data.len() >= 20 => (
            u16::from(data[10]),
            u16::from(data[11]),
            &data[12..20],
            be16(data, 0),
            &data[20..],
        ),
        DataLink::LINUX_SLL | DataLink::LINUX_SLL2 => return Err(Short),
        // Refused when the header was read.
        _ => return Err(Short),
    };
    let (packet_type, addr_len, addr, protocol, payload) = cooked;
    if packet_type == PACKET_OUTGOING {
        return Ok(None);
    }
    let src = if addr_len == 6 {
        MacAddr::from_bytes(&addr[..6]).unwrap_or(macs.peer)
    } else {
        macs.peer
    };
    let dst = if packet_type == PACKET_BROADCAST {
        MacAddr::BROADCAST
    } else {
        macs.local
    };
    Ok(Some(ethernet(dst, src, protocol, payload)))
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst.octets());
    frame.extend_from_slice(&src.octets());
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}
