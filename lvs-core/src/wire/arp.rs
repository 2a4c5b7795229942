//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! Contract: after [`ArpPacket::new_checked`] succeeds, no accessor panics: the buffer holds 28
//! bytes and the packet is Ethernet/IPv4 (hardware type 1, protocol 0x0800, address lengths 6
//! and 4); other ARP flavours are [`WireError::UnsupportedArp`].

use core::net::Ipv4Addr;

use super::{EtherType, MacAddr, Result, WireError, read_u16, write_u16};

enum_with_unknown! {
    /// ARP operation code (RFC 826, RFC 5227 for the gratuitous forms).
    pub enum ArpOperation(u16) {
        /// Who has the target protocol address?
        Request = 1,
        /// The sender protocol address is at the sender hardware address.
        Reply = 2,
    }
}

mod field {
    use core::ops::Range;
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: Range<usize> = 8..14;
    pub(super) const SPA: Range<usize> = 14..18;
    pub(super) const THA: Range<usize> = 18..24;
    pub(super) const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub(super) const PACKET_LEN: usize = 28;

/// Hardware type Ethernet.
const HTYPE_ETHERNET: u16 = 1;

view! {
    /// A view of an Ethernet/IPv4 ARP packet.
    pub struct ArpPacket;
}

fn ipv4(bytes: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
}

fn mac(bytes: &[u8]) -> MacAddr {
    MacAddr([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]])
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Checks the invariants of `new_checked`: the length and the Ethernet/IPv4 hardware and
    /// protocol types (module contract).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        if read_u16(b, field::HTYPE) != HTYPE_ETHERNET
            || read_u16(b, field::PTYPE) != u16::from(EtherType::Ipv4)
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(WireError::UnsupportedArp);
        }
        Ok(())
    }

    /// Operation.
    #[inline]
    pub fn operation(&self) -> ArpOperation {
        read_u16(self.buffer.as_ref(), field::OPER).into()
    }

    /// Sender hardware address.
    #[inline]
    pub fn src_hardware_addr(&self) -> MacAddr {
        mac(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    #[inline]
    pub fn src_protocol_addr(&self) -> Ipv4Addr {
        ipv4(&self.buffer.as_ref()[field::SPA])
    }

    /// Target hardware address.
    #[inline]
    pub fn dst_hardware_addr(&self) -> MacAddr {
        mac(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    #[inline]
    pub fn dst_protocol_addr(&self) -> Ipv4Addr {
        ipv4(&self.buffer.as_ref()[field::TPA])
    }

    /// Packet length (28).
    #[inline]
    pub const fn header_len(&self) -> usize {
        PACKET_LEN
    }

    /// Whether this is a gratuitous ARP: sender and target protocol addresses equal
    /// (RFC 5227 section 3, either operation).
    pub fn is_gratuitous(&self) -> bool {
        self.src_protocol_addr() == self.dst_protocol_addr()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        write_u16(self.buffer.as_mut(), field::OPER, op.into());
    }

    /// Sets the sender hardware address.
    pub fn set_src_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address.
    pub fn set_src_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets the target hardware address.
    pub fn set_dst_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address.
    pub fn set_dst_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

/// A compact Ethernet/IPv4 ARP packet, to answer requests for a VIP or announce one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Operation.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub src_hardware_addr: MacAddr,
    /// Sender protocol address.
    pub src_protocol_addr: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub dst_hardware_addr: MacAddr,
    /// Target protocol address.
    pub dst_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Self {
        Self {
            operation: packet.operation(),
            src_hardware_addr: packet.src_hardware_addr(),
            src_protocol_addr: packet.src_protocol_addr(),
            dst_hardware_addr: packet.dst_hardware_addr(),
            dst_protocol_addr: packet.dst_protocol_addr(),
        }
    }

    /// A gratuitous ARP request announcing that `addr` is at `mac` (RFC 5227 section 3; the
    /// form keepalived sends after a failover): target hardware zero, both protocol addresses
    /// `addr`.
    pub const fn gratuitous(mac: MacAddr, addr: Ipv4Addr) -> Self {
        Self {
            operation: ArpOperation::Request,
            src_hardware_addr: mac,
            src_protocol_addr: addr,
            dst_hardware_addr: MacAddr::ZERO,
            dst_protocol_addr: addr,
        }
    }

    /// Packet length this repr emits (28).
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the 28-byte packet at the start of `buf`; returns 28.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let out = buf.get_mut(..PACKET_LEN).ok_or(WireError::Truncated)?;
        write_u16(out, field::HTYPE, HTYPE_ETHERNET);
        write_u16(out, field::PTYPE, EtherType::Ipv4.into());
        out[field::HLEN] = 6;
        out[field::PLEN] = 4;
        write_u16(out, field::OPER, self.operation.into());
        out[field::SHA].copy_from_slice(&self.src_hardware_addr.0);
        out[field::SPA].copy_from_slice(&self.src_protocol_addr.octets());
        out[field::THA].copy_from_slice(&self.dst_hardware_addr.0);
        out[field::TPA].copy_from_slice(&self.dst_protocol_addr.octets());
        Ok(PACKET_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request who-has 192.0.2.10 tell 192.0.2.1, sender 02:00:00:00:00:01 (RFC 826 layout).
    const REQUEST: [u8; 28] = [
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 10,
    ];

    #[test]
    fn deconstruct_and_emit() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.operation(), ArpOperation::Request);
        assert_eq!(p.src_hardware_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(p.src_protocol_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_hardware_addr(), MacAddr::ZERO);
        assert_eq!(p.dst_protocol_addr(), Ipv4Addr::new(192, 0, 2, 10));
        assert!(!p.is_gratuitous());
        let mut out = [0u8; 28];
        assert_eq!(ArpRepr::parse(&p).emit(&mut out), Ok(28));
        assert_eq!(out, REQUEST);
        assert_eq!(
            ArpRepr::parse(&p).emit(&mut out[..27]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn rejects() {
        for len in 0..28 {
            assert_eq!(
                ArpPacket::new_checked(&REQUEST[..len]),
                Err(WireError::Truncated)
            );
        }
        for at in [1, 2, 4, 5] {
            let mut b = REQUEST;
            b[at] ^= 0x40;
            assert_eq!(
                ArpPacket::new_checked(&b[..]),
                Err(WireError::UnsupportedArp)
            );
        }
    }

    #[test]
    fn gratuitous() {
        let mut out = [0u8; 28];
        let repr = ArpRepr::gratuitous(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(192, 0, 2, 10));
        repr.emit(&mut out).unwrap();
        let mut p = ArpPacket::new_checked(&mut out[..]).unwrap();
        assert!(p.is_gratuitous());
        p.set_operation(ArpOperation::Reply);
        assert_eq!(p.operation(), ArpOperation::Reply);
    }
}
