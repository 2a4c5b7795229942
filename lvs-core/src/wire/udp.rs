//! UDP datagrams (RFC 768).
//!
//! Contract: after [`UdpPacket::new_checked`] succeeds, no accessor panics: the buffer holds
//! the 8-byte header and `8 <= length field <= buffer length`. Bytes past the length field are
//! ignored by the payload and the checksum.
//!
//! Checksum rules: over IPv4 a zero checksum means "not computed" and verifies; a computed
//! zero is sent as `0xffff` (RFC 768). Over IPv6 the checksum is mandatory (RFC 8200 section
//! 8.1): zero never verifies.

use core::net::IpAddr;

use super::{IpProtocol, Result, WireError, checksum, read_u16, write_u16};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub(super) const HEADER_LEN: usize = 8;

view! {
    /// A view of a UDP datagram.
    pub struct UdpPacket;
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Checks the invariants of `new_checked`: [`WireError::Truncated`] when the buffer ends
    /// before 8 bytes or the length field, [`WireError::BadUdpLen`] for a length below 8.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            return Err(WireError::BadUdpLen);
        }
        if len < field_len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the payload is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Header length (8).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Payload length according to the length field.
    #[inline]
    pub fn payload_len(&self) -> usize {
        usize::from(self.len()).saturating_sub(HEADER_LEN)
    }

    /// Checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum verifies against the pseudo-header (module doc for zero).
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return matches!((src, dst), (IpAddr::V4(_), IpAddr::V4(_)));
        }
        let packet = &self.buffer.as_ref()[..usize::from(self.len())];
        checksum::upper_layer(src, dst, IpProtocol::Udp, packet) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (the checksum is not touched).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (the checksum is not touched).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Computes the checksum over the pseudo-header and the datagram (up to the length field);
    /// a computed zero is written as `0xffff` (RFC 768).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        let old = self.checksum();
        let packet = &self.buffer.as_ref()[..usize::from(self.len())];
        let sum = checksum::upper_layer_checksum(src, dst, IpProtocol::Udp, packet, old);
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }

    /// Payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A compact UDP header, to write fresh headers (GUE tunnels, sync messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Length of the header this repr emits (8).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 8-byte header with a zero checksum at the start of `buf`; returns 8. Write
    /// the payload after it, then call [`UdpPacket::fill_checksum`] (mandatory over IPv6).
    ///
    /// Errors: [`WireError::Truncated`] if `buf` is shorter than 8 bytes,
    /// [`WireError::BadUdpLen`] if the length would exceed 65535.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = u16::try_from(self.payload_len + HEADER_LEN).map_err(|_| WireError::BadUdpLen)?;
        let header = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        write_u16(header, field::SRC_PORT, self.src_port);
        write_u16(header, field::DST_PORT, self.dst_port);
        write_u16(header, field::LENGTH, len);
        write_u16(header, field::CHECKSUM, 0);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const DNS: [u8; 12] = [
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0xab, 0xcd, 0xee, 0xee,
    ];

    #[test]
    fn deconstruct() {
        let u = UdpPacket::new_checked(&DNS[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (40000, 53, 10));
        assert_eq!(u.payload(), &[0xab, 0xcd]);
        assert_eq!(u.payload_len(), 2);
        for len in 0..10 {
            assert_eq!(
                UdpPacket::new_checked(&DNS[..len]),
                Err(WireError::Truncated)
            );
        }
        let mut bad = DNS;
        bad[5] = 7;
        assert_eq!(UdpPacket::new_checked(&bad[..]), Err(WireError::BadUdpLen));
    }

    #[test]
    fn zero_checksum_rules() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let u = UdpPacket::new_checked(&DNS[..]).unwrap();
        assert!(u.verify_checksum(&v4, &v4));
        assert!(!u.verify_checksum(&v6, &v6));
    }

    #[test]
    fn computed_zero_becomes_ffff() {
        // Pick a payload word that makes the sum 0xffff, so the checksum computes to 0.
        let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let mut b = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00];
        let partial = checksum::combine(&[
            checksum::pseudo_header(&src, &dst, IpProtocol::Udp, 10),
            checksum::data(&b),
        ]);
        b[8..10].copy_from_slice(&(!partial).to_be_bytes());
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.fill_checksum(&src, &dst);
        assert_eq!(u.checksum(), 0xffff);
        assert!(u.verify_checksum(&src, &dst));
    }

    #[test]
    fn emit() {
        let mut b = [0u8; 10];
        let repr = UdpRepr {
            src_port: 40000,
            dst_port: 53,
            payload_len: 2,
        };
        assert_eq!(repr.emit(&mut b), Ok(8));
        assert_eq!(&b[..8], &DNS[..8]);
        assert_eq!(repr.emit(&mut b[..7]), Err(WireError::Truncated));
    }
}
