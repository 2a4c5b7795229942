//! IPv6 packets (RFC 8200) and the walk over their extension headers.
//!
//! Contract: after [`Ipv6Packet::new_checked`] succeeds, no accessor panics: the version is 6
//! and the buffer holds the 40-byte header plus `payload_len` bytes (more is padding, ignored).
//! [`Ipv6Packet::upper_layer`] bounds-checks every extension header itself and returns an error
//! instead of reading past the payload. Jumbograms (payload length 0 with a hop-by-hop jumbo
//! option, RFC 2675) are not supported: their payload reads as empty.

use core::net::Ipv6Addr;

use super::{IpProtocol, Result, WireError, read_u16, read_u32, write_u16};

mod field {
    use core::ops::Range;
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: Range<usize> = 8..24;
    pub(super) const DST: Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub(super) const HEADER_LEN: usize = 40;

/// The most extension headers [`Ipv6Packet::upper_layer`] walks before giving up with
/// [`WireError::TooManyExtHeaders`]. Real traffic carries 0-3; the bound keeps crafted chains
/// from costing unbounded time per packet.
pub const MAX_EXT_HEADERS: usize = 8;

/// What the IPv6 fragment header says (RFC 8200 section 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// Fragment offset in bytes (the field times 8).
    pub offset: u16,
    /// The M flag: more fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

/// Where the upper-layer header starts, after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6UpperLayer {
    /// The upper-layer protocol (or the last header walked: ESP, no-next-header, or what
    /// follows the fragment header of a non-first fragment).
    pub next_header: IpProtocol,
    /// Offset of that header from the start of the IPv6 header (40 without extensions).
    pub offset: usize,
    /// The fragment header, if one was seen. With `offset != 0` the bytes at
    /// [`offset`](Self::offset) are the middle of the upper-layer data, not a header.
    pub fragment: Option<Ipv6Fragment>,
}

view! {
    /// A view of an IPv6 packet.
    pub struct Ipv6Packet;
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks the invariants of `new_checked`: [`WireError::Truncated`] when the buffer ends
    /// before the header or the payload length, [`WireError::BadVersion`].
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::BadVersion);
        }
        if len < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The version nibble (6 on a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    /// Header length: always 40 (extension headers belong to the payload).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// Explicit congestion notification bits (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// The 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Total length: 40 plus the payload length.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next header: the first extension header or the upper-layer protocol.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::NEXT_HEADER].into()
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Ipv6Addr::from(a)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Ipv6Addr::from(a)
    }

    /// Payload: the `payload_len` bytes after the fixed header (extension headers included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// Walks the extension headers (hop-by-hop, routing, fragment, destination options, AH) to
    /// the upper-layer header (RFC 8200 section 4.1).
    ///
    /// The walk stops at the first header that is not one of those, and after the fragment
    /// header of a non-first fragment (what follows is data). Errors:
    /// [`WireError::Truncated`] when an extension header runs past the payload,
    /// [`WireError::TooManyExtHeaders`] beyond [`MAX_EXT_HEADERS`].
    pub fn upper_layer(&self) -> Result<Ipv6UpperLayer> {
        let buf = self.buffer.as_ref();
        let end = self.total_len().min(buf.len());
        walk_ext_headers(buf, self.next_header(), HEADER_LEN, end)
    }
}

/// The extension-header walk over `buf[offset..end]`, starting at next header `next`; shared
/// with the flow extractor (which works on a whole frame).
#[inline(never)]
pub(crate) fn walk_ext_headers(
    buf: &[u8],
    mut next: IpProtocol,
    mut offset: usize,
    end: usize,
) -> Result<Ipv6UpperLayer> {
    let mut fragment = None;
    // The length byte of the extension header at `at`, if it lies within the packet.
    let len_byte = |at: usize| {
        buf.get(at + 1)
            .filter(|_| at + 2 <= end)
            .map(|&b| usize::from(b))
            .ok_or(WireError::Truncated)
    };
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match next {
            // Hdr Ext Len counts 8-octet units beyond the first (RFC 8200 section 4.3).
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                (len_byte(offset)? + 1) * 8
            }
            // AH's Payload Len counts 4-octet units minus 2 (RFC 4302 section 2.2).
            IpProtocol::Ah => (len_byte(offset)? + 2) * 4,
            IpProtocol::Ipv6Frag => {
                if offset + 8 > end || buf.len() < offset + 8 {
                    return Err(WireError::Truncated);
                }
                let off_flags = read_u16(buf, offset + 2);
                let frag = Ipv6Fragment {
                    offset: off_flags & 0xfff8,
                    more_frags: off_flags & 1 != 0,
                    ident: read_u32(buf, offset + 4),
                };
                fragment = Some(frag);
                next = buf[offset].into();
                offset += 8;
                if frag.offset != 0 {
                    break;
                }
                continue;
            }
            _ => {
                return Ok(Ipv6UpperLayer {
                    next_header: next,
                    offset,
                    fragment,
                });
            }
        };
        if offset + len > end {
            return Err(WireError::Truncated);
        }
        next = buf[offset].into();
        offset += len;
    }
    if fragment.is_some_and(|f| f.offset != 0) {
        return Ok(Ipv6UpperLayer {
            next_header: next,
            offset,
            fragment,
        });
    }
    Err(WireError::TooManyExtHeaders)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[0];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let b = self.buffer.as_mut();
        b[0] = (b[0] & 0xf0) | (tc >> 4);
        b[1] = (b[1] & 0x0f) | (tc << 4);
    }

    /// Sets the 20-bit flow label.
    pub fn set_flow_label(&mut self, label: u32) {
        let b = self.buffer.as_mut();
        b[1] = (b[1] & 0xf0) | ((label >> 16) as u8 & 0x0f);
        write_u16(b, 2, label as u16);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, len);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, proto: IpProtocol) {
        self.buffer.as_mut()[field::NEXT_HEADER] = proto.into();
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Decrements the hop limit (no checksum in IPv6, RFC 8200 section 3); returns the new
    /// value. 0 stays 0 (the caller drops such packets before forwarding).
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let hop_limit = self.hop_limit().saturating_sub(1);
        self.set_hop_limit(hop_limit);
        hop_limit
    }

    /// Sets the source address (IPv6 has no header checksum; L4 checksums are the caller's).
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }

    /// Payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A compact IPv6 header without extension headers, to write fresh headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// 20-bit flow label.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads the fixed header of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Self {
        Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        }
    }

    /// Length of the header this repr emits (40).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte header at the start of `buf`; returns 40.
    ///
    /// Errors: [`WireError::Truncated`] if `buf` is shorter than 40 bytes,
    /// [`WireError::BadTotalLen`] if the payload length exceeds 65535.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let payload_len = u16::try_from(self.payload_len).map_err(|_| WireError::BadTotalLen)?;
        let header = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        let first =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xfffff);
        header[..4].copy_from_slice(&first.to_be_bytes());
        write_u16(header, field::PAYLOAD_LEN, payload_len);
        header[field::NEXT_HEADER] = self.next_header.into();
        header[field::HOP_LIMIT] = self.hop_limit;
        header[field::SRC].copy_from_slice(&self.src_addr.octets());
        header[field::DST].copy_from_slice(&self.dst_addr.octets());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    /// 2001:db8::1 > 2001:db8::2, hop-by-hop (8 bytes, PadN) -> fragment (offset 0, M,
    /// ident 0x12345678) -> UDP header (8 bytes), traffic class 0xb8, flow label 0x12345.
    fn chained() -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..4].copy_from_slice(&[0x6b, 0x81, 0x23, 0x45]);
        b[4..6].copy_from_slice(&24u16.to_be_bytes());
        b[6] = 0; // hop-by-hop
        b[7] = 64;
        b[8..24].copy_from_slice(&addr("2001:db8::1").octets());
        b[24..40].copy_from_slice(&addr("2001:db8::2").octets());
        b[40..48].copy_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
        b[48..56].copy_from_slice(&[17, 0, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]);
        b[56..64].copy_from_slice(&[0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0, 0]);
        b
    }

    #[test]
    fn deconstruct() {
        let b = chained();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 24);
        assert_eq!(p.next_header(), IpProtocol::HopByHop);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), addr("2001:db8::1"));
        assert_eq!(p.dst_addr(), addr("2001:db8::2"));
        let upper = p.upper_layer().unwrap();
        assert_eq!(upper.next_header, IpProtocol::Udp);
        assert_eq!(upper.offset, 56);
        assert_eq!(
            upper.fragment,
            Some(Ipv6Fragment {
                offset: 0,
                more_frags: true,
                ident: 0x1234_5678
            })
        );
    }

    #[test]
    fn non_first_fragment_stops_the_walk() {
        let mut b = chained();
        b[50..52].copy_from_slice(&0x00b8u16.to_be_bytes()); // offset 23*8 = 184, M = 0
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let upper = p.upper_layer().unwrap();
        assert_eq!(upper.next_header, IpProtocol::Udp);
        assert_eq!(upper.offset, 56);
        assert_eq!(
            upper.fragment,
            Some(Ipv6Fragment {
                offset: 184,
                more_frags: false,
                ident: 0x1234_5678
            })
        );
    }

    #[test]
    fn every_prefix_and_short_payload() {
        let b = chained();
        for len in 0..64 {
            assert_eq!(
                Ipv6Packet::new_checked(&b[..len]),
                Err(WireError::Truncated)
            );
        }
        // A payload length that cuts the extension headers short.
        for plen in 0..16u16 {
            let mut c = chained();
            c[4..6].copy_from_slice(&plen.to_be_bytes());
            let p = Ipv6Packet::new_checked(&c[..]).unwrap();
            assert_eq!(p.upper_layer(), Err(WireError::Truncated), "plen {plen}");
        }
        let mut c = chained();
        c[0] = 0x4b;
        assert_eq!(Ipv6Packet::new_checked(&c[..]), Err(WireError::BadVersion));
    }

    #[test]
    fn long_chain_is_bounded() {
        let mut b = [0u8; 40 + 8 * 12];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&(8u16 * 12).to_be_bytes());
        b[6] = 60;
        for i in 0..12 {
            b[40 + 8 * i] = 60; // destination options pointing at destination options
        }
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::TooManyExtHeaders));
    }

    #[test]
    fn emit_roundtrip() {
        let b = chained();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let repr = Ipv6Repr::parse(&p);
        let mut out = [0u8; 40];
        assert_eq!(repr.emit(&mut out), Ok(40));
        assert_eq!(&out[..], &b[..40]);
        assert_eq!(repr.emit(&mut out[..39]), Err(WireError::Truncated));
        let mut m = b;
        let mut p = Ipv6Packet::new_checked(&mut m[..]).unwrap();
        p.set_traffic_class(0x01);
        p.set_flow_label(0xfffff);
        p.set_hop_limit(1);
        assert_eq!(p.decrement_hop_limit(), 0);
        assert_eq!(p.decrement_hop_limit(), 0);
        assert_eq!(
            (
                p.traffic_class(),
                p.flow_label(),
                p.hop_limit(),
                p.version()
            ),
            (1, 0xfffff, 0, 6)
        );
    }
}
