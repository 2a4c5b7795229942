//! ICMP for IPv6 (RFC 4443) and the neighbor discovery messages the router needs (RFC 4861).
//!
//! Contract: after [`Icmpv6Packet::new_checked`] succeeds, no accessor panics: the buffer holds
//! the 8-byte header. Accessors of longer, type-specific fields (the NDP target address, the
//! link-layer option) return `Option` and check the length themselves. The view's buffer must
//! be exactly the ICMPv6 message: the checksum (mandatory, with the IPv6 pseudo-header) covers
//! all of it.

use core::net::{IpAddr, Ipv6Addr};

use super::{IpProtocol, MacAddr, Result, WireError, checksum, read_u16, read_u32, write_u16};

enum_with_unknown! {
    /// ICMPv6 message type (RFC 4443 section 2.1, RFC 4861 section 4).
    pub enum Icmpv6Type(u8) {
        /// Destination unreachable.
        DstUnreachable = 1,
        /// Packet too big (the IPv6 path-MTU signal, RFC 8201).
        PacketTooBig = 2,
        /// Time exceeded.
        TimeExceeded = 3,
        /// Parameter problem.
        ParamProblem = 4,
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Router solicitation.
        RouterSolicit = 133,
        /// Router advertisement.
        RouterAdvert = 134,
        /// Neighbor solicitation.
        NeighborSolicit = 135,
        /// Neighbor advertisement.
        NeighborAdvert = 136,
        /// Redirect.
        Redirect = 137,
    }
}

impl Icmpv6Type {
    /// Whether the message is an error quoting the offending packet (types below 128,
    /// RFC 4443 section 2.1).
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }

    /// Whether LVS treats the message as related to a connection (kernel `ip_vs_in_icmp_v6`:
    /// destination unreachable, packet too big, time exceeded, parameter problem).
    pub fn is_lvs_related(self) -> bool {
        matches!(
            self,
            Self::DstUnreachable | Self::PacketTooBig | Self::TimeExceeded | Self::ParamProblem
        )
    }

    /// Whether the message carries an echo identifier and sequence number.
    pub fn is_echo(self) -> bool {
        matches!(self, Self::EchoRequest | Self::EchoReply)
    }
}

/// The flags of a neighbor advertisement (RFC 4861 section 4.4), first byte after the
/// checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighborFlags(pub u8);

impl NeighborFlags {
    /// Router flag.
    pub const ROUTER: Self = Self(0x80);
    /// Solicited flag: a reply to a solicitation.
    pub const SOLICITED: Self = Self(0x40);
    /// Override flag: replace a cached link-layer address.
    pub const OVERRIDE: Self = Self(0x20);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for NeighborFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

mod field {
    use core::ops::Range;
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const ECHO_IDENT: usize = 4;
    pub(super) const ECHO_SEQ: usize = 6;
    pub(super) const NDP_FLAGS: usize = 4;
    pub(super) const NDP_TARGET: Range<usize> = 8..24;
    pub(super) const NDP_OPTIONS: usize = 24;
}

/// Length of the ICMPv6 header.
pub(super) const HEADER_LEN: usize = 8;

/// NDP option types carrying a link-layer address (RFC 4861 section 4.6.1).
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;

view! {
    /// A view of an ICMPv6 message.
    pub struct Icmpv6Packet;
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Checks the invariants of `new_checked` ([`WireError::Truncated`] below 8 bytes).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv6Type {
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

    /// MTU of a packet-too-big message (RFC 4443 section 3.2).
    #[inline]
    pub fn mtu(&self) -> u32 {
        self.rest_of_header()
    }

    /// Pointer of a parameter-problem message (RFC 4443 section 3.4).
    #[inline]
    pub fn pointer(&self) -> u32 {
        self.rest_of_header()
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// Neighbor advertisement flags.
    #[inline]
    pub fn neighbor_flags(&self) -> NeighborFlags {
        NeighborFlags(self.buffer.as_ref()[field::NDP_FLAGS] & 0xe0)
    }

    /// Target address of a neighbor solicitation or advertisement; `None` when the message is
    /// shorter than 24 bytes.
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        let bytes: [u8; 16] = self
            .buffer
            .as_ref()
            .get(field::NDP_TARGET)?
            .try_into()
            .ok()?;
        Some(Ipv6Addr::from(bytes))
    }

    /// The link-layer address option of an NS (source, type 1) or NA (target, type 2): the
    /// first well-formed option of either type. `None` if absent or malformed.
    pub fn link_layer_addr(&self) -> Option<MacAddr> {
        let mut opts = self.buffer.as_ref().get(field::NDP_OPTIONS..)?;
        // Each option: type, length in 8-octet units (0 is invalid, RFC 4861 section 4.6).
        while opts.len() >= 8 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                return None;
            }
            if matches!(opts[0], OPT_SOURCE_LL | OPT_TARGET_LL) {
                return MacAddr::from_bytes(&opts[2..]);
            }
            opts = &opts[len..];
        }
        None
    }

    /// Header length (8).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The bytes after the 8-byte header (the quoted packet of an error).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum verifies against the IPv6 pseudo-header of `src` and `dst`
    /// (RFC 4443 section 2.3).
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::upper_layer(src, dst, IpProtocol::Icmpv6, self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: Icmpv6Type) {
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

    /// Sets the 4 type-specific bytes (MTU, pointer, echo ident and sequence, NA flags).
    pub fn set_rest_of_header(&mut self, value: u32) {
        self.buffer.as_mut()[field::REST..HEADER_LEN].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Payload, mutable (the quoted packet of an error).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum with the pseudo-header of `src` and `dst`.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        let old = self.checksum();
        let packet = self.buffer.as_ref();
        let sum = checksum::upper_layer_checksum(src, dst, IpProtocol::Icmpv6, packet, old);
        self.set_checksum(sum);
    }
}

/// ICMPv6 messages the router originates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr {
    /// A message with an 8-byte header: errors (packet too big, time exceeded, ...) and echo.
    /// The quoted packet or echo data is written by the caller after the header.
    Header {
        /// Message type.
        msg_type: Icmpv6Type,
        /// Message code.
        msg_code: u8,
        /// The 4 type-specific bytes.
        rest_of_header: u32,
    },
    /// A neighbor advertisement with a target link-layer address option (32 bytes,
    /// RFC 4861 section 4.4): the answer to NS for a VIP, or unsolicited after a failover.
    NeighborAdvert {
        /// Router / solicited / override flags.
        flags: NeighborFlags,
        /// The address being advertised.
        target_addr: Ipv6Addr,
        /// Its link-layer address.
        lladdr: MacAddr,
    },
}

impl Icmpv6Repr {
    /// Packet too big with the path MTU (RFC 4443 section 3.2).
    pub const fn packet_too_big(mtu: u32) -> Self {
        Self::Header {
            msg_type: Icmpv6Type::PacketTooBig,
            msg_code: 0,
            rest_of_header: mtu,
        }
    }

    /// Hop limit exceeded in transit (RFC 4443 section 3.3, code 0).
    pub const fn hop_limit_exceeded() -> Self {
        Self::Header {
            msg_type: Icmpv6Type::TimeExceeded,
            msg_code: 0,
            rest_of_header: 0,
        }
    }

    /// Bytes this repr writes: 8 for a header, 32 for a neighbor advertisement.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Self::Header { .. } => HEADER_LEN,
            Self::NeighborAdvert { .. } => 32,
        }
    }

    /// Writes the message at the start of `buf` with a zero checksum; returns its length.
    /// Write any payload after it, then call [`Icmpv6Packet::fill_checksum`] on the whole
    /// message. [`WireError::Truncated`] if `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(WireError::Truncated)?;
        match *self {
            Self::Header {
                msg_type,
                msg_code,
                rest_of_header,
            } => {
                out[field::TYPE] = msg_type.into();
                out[field::CODE] = msg_code;
                out[field::REST..HEADER_LEN].copy_from_slice(&rest_of_header.to_be_bytes());
            }
            Self::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                out[field::TYPE] = Icmpv6Type::NeighborAdvert.into();
                out[field::CODE] = 0;
                out[field::REST..HEADER_LEN].copy_from_slice(&[flags.0 & 0xe0, 0, 0, 0]);
                out[field::NDP_TARGET].copy_from_slice(&target_addr.octets());
                out[24] = OPT_TARGET_LL;
                out[25] = 1;
                out[26..32].copy_from_slice(&lladdr.0);
            }
        }
        write_u16(out, field::CHECKSUM, 0);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    #[test]
    fn neighbor_advert_roundtrip() {
        let repr = Icmpv6Repr::NeighborAdvert {
            flags: NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE,
            target_addr: addr("2001:db8::10"),
            lladdr: MacAddr([2, 0, 0, 0, 0, 1]),
        };
        let mut b = [0u8; 32];
        assert_eq!(repr.emit(&mut b), Ok(32));
        // Hand-written expected bytes (RFC 4861 section 4.4 layout).
        let mut expected = [0u8; 32];
        expected[0] = 136;
        expected[4] = 0x60;
        expected[8..24].copy_from_slice(&addr("2001:db8::10").octets());
        expected[24..32].copy_from_slice(&[2, 1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(b, expected);
        let src = IpAddr::V6(addr("2001:db8::10"));
        let dst = IpAddr::V6(addr("ff02::1"));
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&src, &dst);
        assert!(p.verify_checksum(&src, &dst));
        assert_eq!(p.msg_type(), Icmpv6Type::NeighborAdvert);
        assert!(p.neighbor_flags().contains(NeighborFlags::SOLICITED));
        assert!(!p.neighbor_flags().contains(NeighborFlags::ROUTER));
        assert_eq!(p.target_addr(), Some(addr("2001:db8::10")));
        assert_eq!(p.link_layer_addr(), Some(MacAddr([2, 0, 0, 0, 0, 1])));
        assert_eq!(repr.emit(&mut [0u8; 31]), Err(WireError::Truncated));
    }

    #[test]
    fn short_and_malformed() {
        let b = [1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for len in 0..8 {
            assert_eq!(
                Icmpv6Packet::new_checked(&b[..len]),
                Err(WireError::Truncated)
            );
        }
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.target_addr(), None);
        assert_eq!(p.link_layer_addr(), None);
        assert!(p.msg_type().is_error() && p.msg_type().is_lvs_related());
        // An NDP option with length 0 must not loop forever.
        let mut ns = [0u8; 32];
        ns[0] = 135;
        ns[24] = 1;
        assert_eq!(
            Icmpv6Packet::new_checked(&ns[..])
                .unwrap()
                .link_layer_addr(),
            None
        );
    }

    #[test]
    fn packet_too_big() {
        let mut b = [0u8; 8];
        assert_eq!(Icmpv6Repr::packet_too_big(1460).emit(&mut b), Ok(8));
        assert_eq!(b, [2, 0, 0, 0, 0, 0, 0x05, 0xb4]);
        assert_eq!(Icmpv6Packet::new_checked(&b[..]).unwrap().mtu(), 1460);
    }
}
