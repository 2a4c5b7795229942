//! IPv4 packets (RFC 791), options included.
//!
//! Contract: after [`Ipv4Packet::new_checked`] succeeds, no accessor panics: the version is 4,
//! `20 <= header_len <= total_len <= buffer length`. Bytes past `total_len` (Ethernet padding)
//! are ignored by [`Ipv4Packet::payload`].

use core::net::Ipv4Addr;

use super::{IpProtocol, Result, WireError, checksum, read_u16, write_u16};

mod field {
    use core::ops::Range;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: Range<usize> = 12..16;
    pub(super) const DST: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub(super) const HEADER_LEN: usize = 20;

view! {
    /// A view of an IPv4 packet.
    pub struct Ipv4Packet;
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks the invariants of `new_checked`.
    ///
    /// Errors: [`WireError::Truncated`] when the buffer ends before 20 bytes, the IHL or the
    /// total length; [`WireError::BadVersion`]; [`WireError::BadHeaderLen`] for IHL < 5;
    /// [`WireError::BadTotalLen`] for a total length below the header length.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        let total_len = usize::from(self.total_len());
        if buf.len() < header_len || buf.len() < total_len {
            return Err(WireError::Truncated);
        }
        if total_len < header_len {
            return Err(WireError::BadTotalLen);
        }
        Ok(())
    }

    /// The version nibble (4 on a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification bits (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length: header plus payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification (for fragment reassembly).
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x4000 != 0
    }

    /// The more-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x2000 != 0
    }

    /// Fragment offset in bytes (the field times 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x1fff) << 3
    }

    /// Whether this is a fragment (more-fragments set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x3fff != 0
    }

    /// Time to live; named like IPv6's field so code can be generic over both.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Time to live (alias of [`hop_limit`](Self::hop_limit)).
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.hop_limit()
    }

    /// The protocol field, named like IPv6's next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// The protocol field (alias of [`next_header`](Self::next_header)).
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        self.next_header()
    }

    /// Header checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// Options bytes (between the fixed header and the payload).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum verifies (RFC 791 section 3.1).
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Payload: from the header length to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// Payload length (total length minus header length).
    #[inline]
    pub fn payload_len(&self) -> usize {
        usize::from(self.total_len()).saturating_sub(self.header_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the DSCP.
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (dscp << 2);
    }

    /// Sets the ECN bits.
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (ecn & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::TOTAL_LEN, len);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    fn set_flags_frag_bit(&mut self, mask: u16, on: bool) {
        let v = read_u16(self.buffer.as_ref(), field::FLAGS_FRAG);
        let v = if on { v | mask } else { v & !mask };
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }

    /// Sets the don't-fragment flag.
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flags_frag_bit(0x4000, on);
    }

    /// Sets the more-fragments flag.
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flags_frag_bit(0x2000, on);
    }

    /// Sets the fragment offset in bytes (must be a multiple of 8; lower bits are dropped).
    pub fn set_frag_offset(&mut self, offset: u16) {
        let v = read_u16(self.buffer.as_ref(), field::FLAGS_FRAG);
        write_u16(
            self.buffer.as_mut(),
            field::FLAGS_FRAG,
            (v & 0xe000) | (offset >> 3),
        );
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_hop_limit(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the time to live (alias of [`set_hop_limit`](Self::set_hop_limit)).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.set_hop_limit(ttl);
    }

    /// Sets the protocol field.
    #[inline]
    pub fn set_next_header(&mut self, proto: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = proto.into();
    }

    /// Sets the header checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address (the checksum is not touched).
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address (the checksum is not touched).
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(checksum::finish(sum));
    }

    /// Decrements the TTL and updates the checksum incrementally (RFC 1624); returns the new
    /// TTL. A TTL of 0 stays 0 (the caller drops such packets before forwarding).
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let b = self.buffer.as_ref();
        let old = read_u16(b, field::TTL);
        let ttl = b[field::TTL].saturating_sub(1);
        let new = (u16::from(ttl) << 8) | (old & 0x00ff);
        let hc = checksum::update_u16(self.checksum(), old, new);
        self.set_hop_limit(ttl);
        self.set_checksum(hc);
        ttl
    }

    /// Payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// A compact IPv4 header without options, to write fresh headers (tunnel encapsulation,
/// originated ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub next_header: IpProtocol,
    /// Payload length in bytes (the total length is 20 more).
    pub payload_len: usize,
    /// Time to live.
    pub hop_limit: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_frag: bool,
    /// DSCP and ECN byte (the former TOS).
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Reads the fixed header fields of a checked packet (options are not represented).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Self {
        Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            dscp_ecn: (packet.dscp() << 2) | packet.ecn(),
        }
    }

    /// Length of the header this repr emits (20).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header with a valid checksum at the start of `buf`; returns 20.
    ///
    /// Errors: [`WireError::Truncated`] if `buf` is shorter than 20 bytes,
    /// [`WireError::BadTotalLen`] if the total length would exceed 65535.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let total =
            u16::try_from(self.payload_len + HEADER_LEN).map_err(|_| WireError::BadTotalLen)?;
        let header = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        header[field::VER_IHL] = 0x45;
        header[field::DSCP_ECN] = self.dscp_ecn;
        write_u16(header, field::TOTAL_LEN, total);
        write_u16(header, field::IDENT, self.ident);
        write_u16(
            header,
            field::FLAGS_FRAG,
            if self.dont_frag { 0x4000 } else { 0 },
        );
        header[field::TTL] = self.hop_limit;
        header[field::PROTOCOL] = self.next_header.into();
        write_u16(header, field::CHECKSUM, 0);
        header[field::SRC].copy_from_slice(&self.src_addr.octets());
        header[field::DST].copy_from_slice(&self.dst_addr.octets());
        let sum = checksum::finish(checksum::data(header));
        write_u16(header, field::CHECKSUM, sum);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20-byte header (Wikipedia checksum example: 192.168.0.1 > 192.168.0.199, UDP, total 0x73
    /// = 115 bytes, DF, TTL 64, checksum 0xb861) followed by 95 payload bytes and 2 bytes of
    /// padding.
    fn example() -> [u8; 117] {
        let mut p = [0u8; 117];
        p[..20].copy_from_slice(&[
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ]);
        p
    }

    #[test]
    fn deconstruct() {
        let bytes = example();
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 115);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload().len(), 95);
    }

    #[test]
    fn every_prefix_is_err_or_consistent() {
        let bytes = example();
        for len in 0..bytes.len() {
            let r = Ipv4Packet::new_checked(&bytes[..len]);
            if len < 115 {
                assert_eq!(r, Err(WireError::Truncated), "len {len}");
            } else {
                assert_eq!(r.unwrap().payload().len(), 95);
            }
        }
    }

    #[test]
    fn bad_fields() {
        let mut b = example();
        b[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(WireError::BadVersion));
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]),
            Err(WireError::BadHeaderLen)
        );
        b[0] = 0x4f; // 60-byte header, still inside the buffer
        b[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(WireError::BadTotalLen));
        assert_eq!(Ipv4Packet::new_checked(&b[..50]), Err(WireError::Truncated));
    }

    #[test]
    fn options_and_fragments() {
        let mut b = [0u8; 28];
        b[0] = 0x46; // 24-byte header
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[6..8].copy_from_slice(&0x2003u16.to_be_bytes()); // MF, offset 3*8
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload().len(), 4);
        assert!(p.more_frags());
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 24);
    }

    #[test]
    fn emit_and_setters() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            next_header: IpProtocol::Udp,
            payload_len: 95,
            hop_limit: 64,
            ident: 0,
            dont_frag: true,
            dscp_ecn: 0,
        };
        let mut buf = [0u8; 20];
        assert_eq!(repr.emit(&mut buf), Ok(20));
        assert_eq!(&buf[..], &example()[..20]);
        assert_eq!(repr.emit(&mut buf[..19]), Err(WireError::Truncated));

        let mut b = example();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p), repr);
        assert_eq!(p.decrement_hop_limit(), 63);
        assert!(p.verify_checksum());
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_frag_offset(1480);
        p.set_more_frags(true);
        p.set_dont_frag(false);
        p.set_dscp(46);
        p.set_ecn(1);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(
            (p.frag_offset(), p.more_frags(), p.dont_frag()),
            (1480, true, false)
        );
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
    }
}
