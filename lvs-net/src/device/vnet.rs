//! `struct virtio_net_hdr` as AF_PACKET hands it over with `PACKET_VNET_HDR`
//! (include/uapi/linux/virtio_net.h), and what the data plane does with it.
//!
//! Why the sockets ask for it: frames sent by a local stack (a veth peer, a container) with
//! checksum offload on arrive `CHECKSUM_PARTIAL`: the L4 checksum field holds only the
//! pseudo-header sum. Without the header the director cannot tell, rewrites that half-sum
//! incrementally and forwards a frame every receiver drops. With it:
//! - a single partial frame has its sum finished first ([`prepare`] returns
//!   [`VnetAction::Completed`]), so the rewriters see an ordinary frame;
//! - a GSO super-frame (up to 64 KiB of TCP segments, or UDP with `UDP_SEGMENT`, from TSO/GSO
//!   on a local sender or GRO on the receiving NIC) is kept whole and partial
//!   ([`VnetAction::Gso`]): the director rewrites its headers once, the worker refreshes the
//!   pseudo-header sum (`lvs_core::rewrite::partial`) and transmits it with a virtio_net_hdr
//!   on a `PACKET_VNET_HDR` socket, so the kernel (or the NIC) cuts and checksums the
//!   segments on the way out. This is what keeps single-stream TCP near kernel speed: with
//!   offloads off the same path carries about a seventh (shared/perf-baseline).
//!
//! Other GSO types (legacy UFO, SCTP, tunnels) are refused with a counter
//! ([`VnetAction::RefuseGso`]).

use lvs_core::wire::checksum;

/// Size of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (UDP_SEGMENT trains).
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN` is a flag on top of the type.
const GSO_ECN: u8 = 0x80;

/// A parsed virtio_net_hdr. AF_PACKET writes it in host byte order (`vio_le()` on every
/// little-endian host, native order on the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*`.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*`.
    pub gso_type: u8,
    /// Length of the headers to replicate per segment.
    pub hdr_len: u16,
    /// Segment payload size.
    pub gso_size: u16,
    /// Where the checksummed range starts, from the start of the Ethernet frame.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Reads the first [`VNET_HDR_LEN`] bytes; `None` if shorter.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b = b.get(..VNET_HDR_LEN)?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] bytes of `out` (tests, TX with GSO).
    pub fn emit(&self, out: &mut [u8; VNET_HDR_LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
    }
}

impl VnetHdr {
    /// The header of a frame sent as is: no partial checksum, no segmentation.
    pub const PLAIN: Self = Self {
        flags: 0,
        gso_type: GSO_NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Whether this is a GSO super-frame (any type).
    pub fn is_gso(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE
    }

    /// The header as bytes.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        self.emit(&mut b);
        b
    }
}

/// What to do with a received frame given its virtio_net_hdr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VnetAction {
    /// An ordinary frame with a complete checksum.
    Pass,
    /// A CHECKSUM_PARTIAL frame whose checksum was completed in place.
    Completed,
    /// A TCP (v4/v6) or UDP_L4 GSO super-frame with a partial checksum: keep it whole and
    /// partial; transmit it with a GSO header after the rewrite (module doc).
    Gso,
    /// A GSO super-frame of a type the data plane does not carry: refuse it and count it.
    RefuseGso,
    /// `csum_start`/`csum_offset` point outside the frame: drop it.
    BadOffsets,
}

/// Prepares `frame` for the director according to `hdr`: finishes a partial checksum in place,
/// accepts TCP/UDP_L4 GSO trains as they are and refuses other GSO types (module doc).
pub fn prepare(hdr: &VnetHdr, frame: &mut [u8]) -> VnetAction {
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    let offsets_ok = field + 2 <= frame.len() && start <= field;
    if hdr.is_gso() {
        let kind = hdr.gso_type & !GSO_ECN;
        let known = matches!(kind, GSO_TCPV4 | GSO_TCPV6 | GSO_UDP_L4);
        // The kernel marks every GSO frame it hands out NEEDS_CSUM; one without is not ours.
        if !known || hdr.flags & F_NEEDS_CSUM == 0 || hdr.gso_size == 0 {
            return VnetAction::RefuseGso;
        }
        return if offsets_ok {
            VnetAction::Gso
        } else {
            VnetAction::BadOffsets
        };
    }
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return VnetAction::Pass;
    }
    if !offsets_ok {
        return VnetAction::BadOffsets;
    }
    // The field holds the folded pseudo-header sum; summing the range with it in place and
    // complementing gives the full checksum (what skb_checksum_help does).
    let sum = checksum::data(&frame[start..]);
    let mut c = checksum::finish(sum);
    // A UDP checksum of 0 means "none"; the kernel writes 0xffff instead (CSUM_MANGLED_0).
    // TCP never produces 0 here because the sum covers a non-zero header.
    if c == 0 {
        c = 0xffff;
    }
    frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
    VnetAction::Completed
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp_frame() -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([192, 0, 2, 1], [198, 51, 100, 7], 64)
            .udp(4000, 53);
        let mut v = Vec::new();
        b.write(&mut v, b"hello vnet").unwrap();
        v
    }

    #[test]
    fn parse_emit_round_trip() {
        let h = VnetHdr {
            flags: 1,
            gso_type: 4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut b = [0u8; VNET_HDR_LEN];
        h.emit(&mut b);
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert_eq!(VnetHdr::parse(&b[..9]), None);
    }

    #[test]
    fn partial_udp_checksum_is_completed() {
        let good = udp_frame();
        let mut f = good.clone();
        // What a CHECKSUM_PARTIAL sender leaves: the uncomplemented pseudo-header sum.
        let src = [192, 0, 2, 1].into();
        let dst = [198, 51, 100, 7].into();
        let len = (f.len() - 34) as u32;
        let ph = checksum::pseudo_header_v4(&src, &dst, lvs_core::wire::IpProtocol::Udp, len);
        f[40..42].copy_from_slice(&ph.to_be_bytes());
        assert_ne!(f, good);
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 6,
            ..Default::default()
        };
        assert_eq!(prepare(&h, &mut f), VnetAction::Completed);
        assert_eq!(f, good);
    }

    #[test]
    fn gso_and_bad_offsets() {
        let mut f = udp_frame();
        let unchanged = udp_frame();
        let tcp_gso = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4 | GSO_ECN,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 6,
            ..Default::default()
        };
        assert_eq!(prepare(&tcp_gso, &mut f), VnetAction::Gso);
        assert_eq!(f, unchanged, "a GSO frame stays partial");
        let no_csum = VnetHdr {
            flags: 0,
            ..tcp_gso
        };
        assert_eq!(prepare(&no_csum, &mut f), VnetAction::RefuseGso);
        let ufo = VnetHdr {
            gso_type: 3,
            ..tcp_gso
        };
        assert_eq!(prepare(&ufo, &mut f), VnetAction::RefuseGso);
        let gso_bad = VnetHdr {
            csum_start: 60,
            ..tcp_gso
        };
        assert_eq!(prepare(&gso_bad, &mut f), VnetAction::BadOffsets);
        let ecn_only = VnetHdr {
            gso_type: GSO_ECN,
            ..Default::default()
        };
        assert_eq!(prepare(&ecn_only, &mut f), VnetAction::Pass);
        let bad = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 60,
            csum_offset: 6,
            ..Default::default()
        };
        assert_eq!(prepare(&bad, &mut f), VnetAction::BadOffsets);
        assert_eq!(prepare(&VnetHdr::PLAIN, &mut f), VnetAction::Pass);
        assert_eq!(f, unchanged);
        assert_eq!(VnetHdr::parse(&tcp_gso.to_bytes()), Some(tcp_gso));
    }
}
