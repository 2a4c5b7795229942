//! Safe parsing of one TPACKET_V3 block (`struct tpacket_block_desc` followed by
//! `struct tpacket3_hdr` + `struct sockaddr_ll` + frame, linked by `tp_next_offset`).

use std::ops::Range;

use super::vnet::{VNET_HDR_LEN, VnetHdr};

/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll)`: bytes in front
/// of each frame that hold metadata; the space after them is free headroom.
const META_LEN: usize = 48 + 20;
/// `sll_pkttype` inside the sockaddr_ll that follows the 48-byte tpacket3_hdr.
const PKTTYPE: usize = 48 + 10;
/// `PACKET_OUTGOING`.
const PACKET_OUTGOING: u8 = 4;

/// One frame's place in the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FrameMeta {
    /// Headroom + frame: the slice to wrap in a PacketBuf.
    pub(crate) buf: Range<usize>,
    /// Offset of the frame inside `buf`.
    pub(crate) start: usize,
    /// Captured length.
    pub(crate) len: usize,
    /// Length on the wire (larger than `len` when truncated by the ring).
    pub(crate) wire_len: usize,
    /// The virtio header, when the socket asked for one.
    pub(crate) vnet: Option<VnetHdr>,
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

/// Lists the frames of `block` into `out`; stops at the first inconsistent header (the
/// kernel's data is trusted for layout, but a bad offset must not panic). Outgoing frames
/// (our own transmissions looping back) are skipped.
pub(crate) fn parse_block(block: &[u8], vnet: bool, out: &mut Vec<FrameMeta>) {
    out.clear();
    let (Some(num), Some(first)) = (u32_at(block, 12), u32_at(block, 16)) else {
        return;
    };
    let mut off = first as usize;
    for _ in 0..num {
        let (Some(next), Some(snap), Some(len), Some(mac)) = (
            u32_at(block, off),
            u32_at(block, off + 12),
            u32_at(block, off + 16),
            u16_at(block, off + 24),
        ) else {
            return;
        };
        let mac = off + usize::from(mac);
        let end = mac + snap as usize;
        let meta_end = off + META_LEN + if vnet { VNET_HDR_LEN } else { 0 };
        if end > block.len() || mac < meta_end {
            return;
        }
        let vhdr = if vnet {
            VnetHdr::parse(&block[mac - VNET_HDR_LEN..mac])
        } else {
            None
        };
        if block.get(off + PKTTYPE) != Some(&PACKET_OUTGOING) {
            out.push(FrameMeta {
                buf: off + META_LEN..end,
                start: mac - (off + META_LEN),
                len: snap as usize,
                wire_len: len as usize,
                vnet: vhdr,
            });
        }
        if next == 0 {
            return;
        }
        off += next as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block with two frames laid out as the kernel does with a 64-byte reserve and vnet
    /// headers; the second one is outgoing.
    fn block() -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[12..16].copy_from_slice(&3u32.to_ne_bytes());
        b[16..20].copy_from_slice(&48u32.to_ne_bytes());
        let put = |b: &mut Vec<u8>, off: usize, next: u32, mac: u16, snap: u32, pkttype: u8| {
            b[off..off + 4].copy_from_slice(&next.to_ne_bytes());
            b[off + 12..off + 16].copy_from_slice(&snap.to_ne_bytes());
            b[off + 16..off + 20].copy_from_slice(&(snap + 1).to_ne_bytes());
            b[off + 24..off + 26].copy_from_slice(&mac.to_ne_bytes());
            b[off + PKTTYPE] = pkttype;
        };
        put(&mut b, 48, 256, 170, 60, 0);
        b[48 + 170 - 10] = 1; // vnet flags NEEDS_CSUM
        put(&mut b, 304, 256, 170, 60, PACKET_OUTGOING);
        put(&mut b, 560, 0, 170, 5000, 0); // runs past the block: ignored
        b
    }

    #[test]
    fn frames_headroom_and_vnet() {
        let mut out = Vec::new();
        parse_block(&block(), true, &mut out);
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(f.buf, 48 + META_LEN..48 + 170 + 60);
        assert_eq!(f.start, 170 - META_LEN);
        assert!(f.start >= 64 + VNET_HDR_LEN);
        assert_eq!((f.len, f.wire_len), (60, 61));
        assert_eq!(f.vnet.map(|v| v.flags), Some(1));
        parse_block(&block()[..100], true, &mut out);
        assert!(out.is_empty());
        parse_block(&[], false, &mut out);
        assert!(out.is_empty());
    }
}
