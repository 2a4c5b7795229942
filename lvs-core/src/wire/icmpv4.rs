//! ICMP for IPv4 (RFC 792).
//!
//! Contract: after [`Icmpv4Packet::new_checked`] succeeds, no accessor panics: the buffer holds
//! the 8-byte header (type, code, checksum, 4 bytes that depend on the type). The view's buffer
//! must be exactly the ICMP message (the IP payload): the checksum covers all of it.

use super::{Result, WireError, checksum, read_u16, read_u32, write_u16};

enum_with_unknown! {
    /// ICMPv4 message type (RFC 792, IANA "ICMP Type Numbers").
    pub enum Icmpv4Type(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Source quench (deprecated by RFC 6633, still "related" for LVS).
        SourceQuench = 4,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Router advertisement (RFC 1256).
        RouterAdvert = 9,
        /// Router solicitation (RFC 1256).
        RouterSolicit = 10,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
        /// Timestamp request.
        Timestamp = 13,
        /// Timestamp reply.
        TimestampReply = 14,
    }
}

impl Icmpv4Type {
    /// Whether the message is an error that quotes the offending packet (RFC 1122 section
    /// 3.2.2: unreachable, source quench, redirect, time exceeded, parameter problem).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::DstUnreachable
                | Self::SourceQuench
                | Self::Redirect
                | Self::TimeExceeded
                | Self::ParamProblem
        )
    }

    /// Whether LVS treats the message as related to a connection (kernel `ip_vs_in_icmp`:
    /// destination unreachable, source quench and time exceeded only).
    pub fn is_lvs_related(self) -> bool {
        matches!(
            self,
            Self::DstUnreachable | Self::SourceQuench | Self::TimeExceeded
        )
    }

    /// Whether the message carries an echo identifier and sequence number.
    pub fn is_echo(self) -> bool {
        matches!(self, Self::EchoRequest | Self::EchoReply)
    }
}

/// Codes of destination-unreachable messages the router sends or names (RFC 792, RFC 1812).
pub mod dst_unreachable {
    /// Network unreachable.
    pub const NET_UNREACHABLE: u8 = 0;
    /// Host unreachable.
    pub const HOST_UNREACHABLE: u8 = 1;
    /// Protocol unreachable.
    pub const PROTO_UNREACHABLE: u8 = 2;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Fragmentation needed and DF set; the next-hop MTU is in bytes 6-7 (RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const ECHO_IDENT: usize = 4;
    pub(super) const ECHO_SEQ: usize = 6;
    pub(super) const MTU: usize = 6;
}

/// Length of the ICMP header (type, code, checksum, rest of header).
pub(super) const HEADER_LEN: usize = 8;

view! {
    /// A view of an ICMPv4 message.
    pub struct Icmpv4Packet;
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Checks the invariants of `new_checked` ([`WireError::Truncated`] below 8 bytes).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv4Type {
        self.buffer.as_ref()[field::TYPE].into()
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The 4 type-specific bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REST)
    }

    /// Echo identifier (meaningful for echo request/reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// Next-hop MTU of a fragmentation-needed message (RFC 1191 section 4).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::MTU)
    }

    /// Header length (8).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The bytes after the 8-byte header: echo data, or the quoted packet of an error.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: Icmpv4Type) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the echo identifier (checksum not touched).
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQ, value);
    }

    /// Sets the next-hop MTU of a fragmentation-needed message.
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::MTU, value);
    }

    /// Payload, mutable (the quoted packet of an error).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum));
    }
}

/// A compact ICMPv4 header, for messages the router originates (fragmentation needed, time
/// exceeded, echo reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv4Repr {
    /// Message type.
    pub msg_type: Icmpv4Type,
    /// Message code.
    pub msg_code: u8,
    /// The 4 type-specific bytes (echo ident and sequence, unused + next-hop MTU, ...).
    pub rest_of_header: u32,
}

impl Icmpv4Repr {
    /// Destination unreachable, fragmentation needed, with the next-hop MTU (RFC 1191).
    pub const fn frag_needed(mtu: u16) -> Self {
        Self {
            msg_type: Icmpv4Type::DstUnreachable,
            msg_code: dst_unreachable::FRAG_NEEDED,
            rest_of_header: mtu as u32,
        }
    }

    /// Time exceeded in transit (code 0).
    pub const fn ttl_exceeded() -> Self {
        Self {
            msg_type: Icmpv4Type::TimeExceeded,
            msg_code: 0,
            rest_of_header: 0,
        }
    }

    /// Writes the 8-byte header at the start of `buf` and the checksum over the whole of `buf`
    /// (so write the payload first, or call [`Icmpv4Packet::fill_checksum`] again after).
    /// Returns 8; [`WireError::Truncated`] if `buf` is shorter.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let header = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        header[field::TYPE] = self.msg_type.into();
        header[field::CODE] = self.msg_code;
        header[field::REST..HEADER_LEN].copy_from_slice(&self.rest_of_header.to_be_bytes());
        Icmpv4Packet::new_unchecked(buf).fill_checksum();
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echo request ident 0x1234 seq 1, payload "abcd"; checksum worked by hand:
    /// 0800 + 1234 + 0001 + 6162 + 6364 = 0xdefb, complement 0x2104.
    const ECHO: [u8; 12] = [
        8, 0, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn deconstruct_echo() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Type::EchoRequest);
        assert_eq!(p.msg_code(), 0);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum());
        for len in 0..8 {
            assert_eq!(
                Icmpv4Packet::new_checked(&ECHO[..len]),
                Err(WireError::Truncated)
            );
        }
    }

    #[test]
    fn emit_frag_needed() {
        let mut b = [0u8; 12];
        b[8..].copy_from_slice(&[0x45, 0, 0, 0x54]);
        assert_eq!(Icmpv4Repr::frag_needed(1480).emit(&mut b), Ok(8));
        assert_eq!(&b[..2], &[3, 4]);
        assert_eq!(&b[4..8], &[0, 0, 0x05, 0xc8]);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1480);
        assert!(p.verify_checksum());
        assert!(p.msg_type().is_lvs_related());
        assert!(!Icmpv4Type::ParamProblem.is_lvs_related());
        assert!(Icmpv4Type::ParamProblem.is_error());
    }
}
