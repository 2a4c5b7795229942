//! The common frame in one glance: untagged Ethernet, IPv4 without options, not a fragment,
//! TCP or UDP. It yields exactly the [`FrameInfo`] [`flow::extract`] would (a unit property
//! test compares both on random frames) without the general walk, and is built in place: the
//! general extractor's result is large enough that moving it costs `memcpy` calls per packet.
//! Anything else returns `None` and takes [`flow::extract`].

use core::net::{IpAddr, Ipv4Addr};

use crate::wire::flow::{FlowKey, Fragment, FrameInfo};
use crate::wire::{IpProtocol, IpVersion};

/// A placeholder key for fixed-size arrays of keys.
pub(super) const NO_FLOW: FlowKey = FlowKey {
    proto: IpProtocol::Tcp,
    src_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    src_port: 0,
    dst_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    dst_port: 0,
};

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// [`flow::extract`](crate::wire::flow::extract) for the common frame, `None` otherwise.
#[inline(always)]
pub(super) fn extract_v4(frame: &[u8]) -> Option<FrameInfo> {
    if frame.len() < 14 + 20 + 8 || be16(frame, 12) != 0x0800 || frame[14] != 0x45 {
        return None;
    }
    let total = usize::from(be16(frame, 16));
    let end = 14 + total;
    // Fragment bits (MF or an offset) and too-short packets take the general path.
    if be16(frame, 20) & 0x3fff != 0 || total < 28 || frame.len() < end {
        return None;
    }
    let l4 = &frame[34..end];
    let proto = match frame[23] {
        6 => {
            let hl = usize::from(l4.get(12)? >> 4) * 4;
            if l4.len() < 20 || hl < 20 || l4.len() < hl {
                return None;
            }
            IpProtocol::Tcp
        }
        17 => {
            let ul = usize::from(be16(l4, 4));
            if ul < 8 || l4.len() < ul {
                return None;
            }
            IpProtocol::Udp
        }
        _ => return None,
    };
    Some(FrameInfo {
        vlan_id: None,
        l3_offset: 14,
        l4_offset: 34,
        l4_end: end,
        ip_version: IpVersion::Ipv4,
        hop_limit: frame[22],
        flow: FlowKey {
            proto,
            src_addr: IpAddr::V4(Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29])),
            src_port: be16(l4, 0),
            dst_addr: IpAddr::V4(Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33])),
            dst_port: be16(l4, 2),
        },
        fragment: Fragment::None,
        icmp: None,
    })
}

#[inline(always)]
fn v4_at(frame: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from_bits(u32::from_be_bytes([
        frame[at],
        frame[at + 1],
        frame[at + 2],
        frame[at + 3],
    ])))
}

/// The flow key of a frame [`extract_v4`] accepted, read from the bytes: copying the
/// addresses out of the `FrameInfo` just written would load 16 bytes over smaller stores, a
/// store-forwarding stall on every packet.
#[inline(always)]
pub(super) fn flow_key(frame: &[u8], proto: IpProtocol) -> FlowKey {
    FlowKey {
        proto,
        src_addr: v4_at(frame, 26),
        src_port: be16(frame, 34),
        dst_addr: v4_at(frame, 30),
        dst_port: be16(frame, 36),
    }
}

/// The flow key of an IPv4 TCP or UDP frame without options, for the batch warm-up: a hint,
/// so only the bytes it reads are checked, not the lengths of the packet.
#[inline(always)]
pub(super) fn peek_flow(frame: &[u8]) -> Option<FlowKey> {
    if frame.len() < 38 || be16(frame, 12) != 0x0800 || frame[14] != 0x45 {
        return None;
    }
    let proto = match frame[23] {
        6 => IpProtocol::Tcp,
        17 => IpProtocol::Udp,
        _ => return None,
    };
    Some(flow_key(frame, proto))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::flow;

    /// A valid TCP or UDP frame to mutate.
    fn base(tcp: bool) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20 + 4];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14..34].copy_from_slice(&[
            0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 192, 0, 2, 10,
        ]);
        f[34..38].copy_from_slice(&[0x04, 0xd2, 0x00, 0x50]);
        if tcp {
            f[46] = 0x50;
        } else {
            f[23] = 17;
            f[38..40].copy_from_slice(&24u16.to_be_bytes());
        }
        f
    }

    proptest! {
        #[test]
        fn agrees_with_flow_extract(
            tcp in any::<bool>(),
            edits in proptest::collection::vec((0usize..58, any::<u8>()), 0..4),
            cut in 0usize..60,
        ) {
            let mut f = base(tcp);
            for (at, v) in edits {
                f[at] = v;
            }
            f.truncate(cut.max(1).min(f.len()));
            if let Some(fast) = extract_v4(&f) {
                prop_assert_eq!(Ok(fast), flow::extract(&f));
                prop_assert_eq!(flow_key(&f, fast.flow.proto), fast.flow);
                prop_assert_eq!(peek_flow(&f), Some(fast.flow));
            }
        }
    }

    #[test]
    fn common_frames_take_the_fast_path() {
        for tcp in [true, false] {
            let f = base(tcp);
            assert_eq!(extract_v4(&f), flow::extract(&f).ok());
        }
    }
}
