//! Ethernet II frames with at most one VLAN tag.
//!
//! One tag rule for the whole crate (this view, [`flow`](super::flow), the rewriters): a frame
//! whose outer EtherType is 0x8100 (IEEE 802.1Q) or 0x88a8 (an IEEE 802.1ad service tag) has one
//! 4-byte tag, and the EtherType after it names the payload. A second tag (QinQ's S-tag +
//! C-tag) is not unwrapped: the payload EtherType is then 0x8100, not IP.
//!
//! Contract: after [`EthernetFrame::new_checked`] succeeds, no accessor panics: the buffer holds
//! the 14-byte header, and the 18-byte header when the outer EtherType is a tag.

use core::fmt;

use super::{Result, WireError, read_u16, write_u16};

enum_with_unknown! {
    /// The EtherType of an Ethernet II frame (IEEE 802.3 clause 3.2.6, IANA registry).
    pub enum EtherType(u16) {
        /// IPv4.
        Ipv4 = 0x0800,
        /// ARP (RFC 826).
        Arp = 0x0806,
        /// IEEE 802.1Q VLAN tag.
        Vlan = 0x8100,
        /// IPv6.
        Ipv6 = 0x86dd,
        /// IEEE 802.1ad service tag (QinQ); one is unwrapped like an 802.1Q tag (module doc).
        QinQ = 0x88a8,
    }
}

/// EtherTypes as raw numbers, for per-packet code that matches the header bytes without the
/// open-enum conversion. Derived from [`EtherType`], so each number is written once.
pub(crate) mod ethertype {
    use super::EtherType;

    pub(crate) const IPV4: u16 = EtherType::Ipv4.raw();
    pub(crate) const ARP: u16 = EtherType::Arp.raw();
    pub(crate) const VLAN: u16 = EtherType::Vlan.raw();
    pub(crate) const IPV6: u16 = EtherType::Ipv6.raw();
    pub(crate) const QINQ: u16 = EtherType::QinQ.raw();

    /// Whether an outer EtherType starts a VLAN tag (module doc: 802.1Q or 802.1ad).
    #[inline(always)]
    pub(crate) const fn is_tag(outer: u16) -> bool {
        outer == VLAN || outer == QINQ
    }
}

/// Offset of the EtherType field that names the payload (12, or 16 behind one VLAN tag) and its
/// value: the one tag walk shared by [`EthernetFrame`], [`flow`](super::flow) and the rewriters.
/// The payload starts 2 bytes after that offset.
#[inline(always)]
pub(crate) fn payload_ethertype(frame: &[u8]) -> Result<(usize, u16)> {
    if frame.len() < field::HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let outer = read_u16(frame, field::ETHERTYPE);
    if !ethertype::is_tag(outer) {
        return Ok((field::ETHERTYPE, outer));
    }
    if frame.len() < field::TAGGED_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    Ok((
        field::INNER_ETHERTYPE,
        read_u16(frame, field::INNER_ETHERTYPE),
    ))
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Self = Self([0xff; 6]);
    /// 00:00:00:00:00:00 (the unknown target of an ARP request).
    pub const ZERO: Self = Self([0; 6]);

    /// The address from the first six bytes of `bytes`, or `None` when shorter.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.get(..6)?.try_into().ok().map(Self)
    }

    /// The six bytes.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Whether the group bit is set (multicast or broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(bytes: [u8; 6]) -> Self {
        Self(bytes)
    }
}

mod field {
    use core::ops::Range;
    pub(super) const DST: Range<usize> = 0..6;
    pub(super) const SRC: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
    /// With a tag: tag control information, then the inner EtherType.
    pub(super) const TCI: usize = 14;
    pub(super) const INNER_ETHERTYPE: usize = 16;
    pub(super) const HEADER_LEN: usize = 14;
    pub(super) const TAGGED_HEADER_LEN: usize = 18;
}

view! {
    /// A view of an Ethernet II frame, optionally VLAN-tagged (module doc).
    pub struct EthernetFrame;
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Checks the length invariants of `new_checked`: the buffer holds the whole header (with
    /// the tag, if any).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::HEADER_LEN || len < self.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Whether the frame carries a VLAN tag (outer EtherType 0x8100 or 0x88a8).
    #[inline]
    pub fn is_tagged(&self) -> bool {
        ethertype::is_tag(read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Header length: 14, or 18 with a tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[6], b[7], b[8], b[9], b[10], b[11]])
    }

    /// The EtherType of the payload: the inner one when tagged.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let b = self.buffer.as_ref();
        let outer = read_u16(b, field::ETHERTYPE);
        if ethertype::is_tag(outer) {
            read_u16(b, field::INNER_ETHERTYPE).into()
        } else {
            outer.into()
        }
    }

    /// The 12-bit VLAN identifier of the tag, if tagged.
    #[inline]
    pub fn vlan_id(&self) -> Option<u16> {
        self.tci().map(|tci| tci & 0x0fff)
    }

    /// The 3-bit priority code point of the tag, if tagged.
    #[inline]
    pub fn vlan_pcp(&self) -> Option<u8> {
        self.tci().map(|tci| (tci >> 13) as u8)
    }

    fn tci(&self) -> Option<u16> {
        self.is_tagged()
            .then(|| read_u16(self.buffer.as_ref(), field::TCI))
    }

    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    /// Sets the payload EtherType (the inner one when tagged).
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        write_u16(self.buffer.as_mut(), at, ethertype.into());
    }

    /// Sets the VLAN identifier of an existing tag, keeping PCP and DEI; no-op when untagged
    /// (adding or removing a tag changes the frame length, which a view cannot do).
    pub fn set_vlan_id(&mut self, vlan_id: u16) {
        if let Some(tci) = self.tci() {
            write_u16(
                self.buffer.as_mut(),
                field::TCI,
                (tci & 0xf000) | (vlan_id & 0x0fff),
            );
        }
    }

    /// The bytes after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        &mut self.buffer.as_mut()[at..]
    }
}

/// A compact Ethernet header, for frames the router writes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src_addr: MacAddr,
    /// Destination MAC address.
    pub dst_addr: MacAddr,
    /// Payload EtherType.
    pub ethertype: EtherType,
    /// VLAN identifier (priority 0), or untagged. [`emit`](Self::emit) always writes an 802.1Q
    /// (0x8100) tag, also for a frame parsed with an 802.1ad one.
    pub vlan_id: Option<u16>,
}

impl EthernetRepr {
    /// Parses the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        Self {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
            vlan_id: frame.vlan_id(),
        }
    }

    /// Header length this repr emits: 14 or 18.
    pub const fn header_len(&self) -> usize {
        if self.vlan_id.is_some() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.header_len();
        let header = buf.get_mut(..len).ok_or(WireError::Truncated)?;
        header[field::DST].copy_from_slice(&self.dst_addr.0);
        header[field::SRC].copy_from_slice(&self.src_addr.0);
        match self.vlan_id {
            Some(id) => {
                write_u16(header, field::ETHERTYPE, EtherType::Vlan.into());
                write_u16(header, field::TCI, id & 0x0fff);
                write_u16(header, field::INNER_ETHERTYPE, self.ethertype.into());
            }
            None => write_u16(header, field::ETHERTYPE, self.ethertype.into()),
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 16] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, 0xaa, 0xbb,
    ];
    const TAGGED: [u8; 20] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x20, 0x64, 0x86, 0xdd, 0xaa,
        0xbb,
    ];

    #[test]
    fn deconstruct_untagged() {
        let f = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:01");
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn deconstruct_tagged() {
        let f = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Ipv6);
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.vlan_pcp(), Some(1));
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn truncated_prefixes() {
        for len in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&UNTAGGED[..len]),
                Err(WireError::Truncated)
            );
        }
        for len in 0..18 {
            assert_eq!(
                EthernetFrame::new_checked(&TAGGED[..len]),
                Err(WireError::Truncated)
            );
        }
        assert!(
            EthernetFrame::new_checked(&TAGGED[..18])
                .unwrap()
                .payload()
                .is_empty()
        );
    }

    #[test]
    fn emit_matches_bytes() {
        let mut buf = [0u8; 18];
        let repr = EthernetRepr {
            src_addr: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_addr: MacAddr([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::Ipv6,
            vlan_id: Some(100),
        };
        assert_eq!(repr.emit(&mut buf), Ok(18));
        // Same bytes as TAGGED except the PCP bits, which emit leaves at 0.
        assert_eq!(&buf[..14], &TAGGED[..14]);
        assert_eq!(&buf[14..18], &[0x00, 0x64, 0x86, 0xdd]);
        assert_eq!(repr.emit(&mut buf[..17]), Err(WireError::Truncated));
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f), repr);
    }

    #[test]
    fn setters() {
        let mut buf = TAGGED;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_vlan_id(7);
        f.set_ethertype(EtherType::Ipv4);
        f.set_dst_addr(MacAddr::BROADCAST);
        assert_eq!(f.vlan_id(), Some(7));
        assert_eq!(f.vlan_pcp(), Some(1));
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert!(f.dst_addr().is_broadcast());
    }

    #[test]
    fn one_service_tag_is_unwrapped_like_a_vlan_tag() {
        let mut buf = TAGGED;
        buf[12..14].copy_from_slice(&[0x88, 0xa8]);
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert!(f.is_tagged());
        assert_eq!((f.header_len(), f.vlan_id()), (18, Some(100)));
        assert_eq!(f.ethertype(), EtherType::Ipv6);
        assert_eq!(payload_ethertype(&buf), Ok((16, 0x86dd)));
        // A second tag (S-tag + C-tag) is not unwrapped: the payload is the inner tag.
        buf[16..18].copy_from_slice(&[0x81, 0x00]);
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(payload_ethertype(&buf[..17]), Err(WireError::Truncated));
    }

    #[test]
    fn open_enum() {
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
        assert_eq!(u16::from(EtherType::Unknown(0x1234)), 0x1234);
        assert_eq!(EtherType::Unknown(0x0800), EtherType::Ipv4);
    }
}
