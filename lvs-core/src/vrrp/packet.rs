//! The VRRP advertisement: a view over received bytes and a repr to write adverts.
//!
//! Layouts (all big-endian):
//!
//! ```text
//!  v3 (RFC 5798 section 5.1)              v2 (RFC 3768 section 5.1)
//!  0 ver|type  1 vrid  2 prio  3 count    0 ver|type  1 vrid  2 prio  3 count
//!  4 rsvd(4)|max adver int(12, cs)        4 auth type  5 adver int (s)
//!  6 checksum                             6 checksum
//!  8 count x IPv4 (4) or IPv6 (16)        8 count x IPv4, then 8 bytes auth data
//! ```
//!
//! The v3 checksum covers the IPv4/IPv6 pseudo-header and the message (RFC 5798 section 5.2.8);
//! the v2 checksum covers the message only, auth data included (RFC 3768 section 5.3.8).
//!
//! Contract: after [`VrrpPacket::new_checked`] succeeds, no accessor panics: the buffer holds the
//! 8-byte header, `count` addresses of the family and, for v2, the 8 auth bytes. Bytes past
//! that (link padding) are ignored.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::VrrpError;
use crate::wire::{IpProtocol, checksum};

/// The fixed header length of both versions.
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data trailer.
pub(crate) const AUTH_LEN: usize = 8;
/// The only packet type of both versions: ADVERTISEMENT (RFC 5798 section 5.2.2).
pub(crate) const TYPE_ADVERTISEMENT: u8 = 1;

/// The IPv4 multicast group of VRRP (RFC 5798 section 5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP (RFC 5798 section 5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// The protocol version, which fixes the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpVersion {
    /// RFC 3768: IPv4 only, interval in seconds, optional simple password.
    V2,
    /// RFC 5798: IPv4 and IPv6, interval in centiseconds, pseudo-header checksum.
    V3,
}

impl VrrpVersion {
    /// The version nibble.
    pub const fn number(self) -> u8 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

/// The address family of the enclosing IP packet, which fixes the address length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// 4-byte addresses.
    V4,
    /// 16-byte addresses.
    V6,
}

impl Family {
    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    const fn addr_len(self) -> usize {
        match self {
            Self::V4 => 4,
            Self::V6 => 16,
        }
    }
}

/// v2 authentication (RFC 3768 section 5.3.6; type 1 is simple text password, the only one
/// keepalived still speaks; type 2 was IP AH, removed by RFC 3768).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpAuth {
    /// Type 0: no authentication; the 8 auth bytes are zero.
    None,
    /// Type 1: an up to 8-byte password, zero padded (keepalived `auth_type PASS`).
    Simple([u8; 8]),
    /// Any other type, with its data; not an error to parse, never accepted.
    Unknown(u8, [u8; 8]),
}

impl VrrpAuth {
    /// A simple password; keepalived truncates to 8 bytes and pads with zeros, as this does.
    pub fn simple(password: &[u8]) -> Self {
        let mut data = [0u8; 8];
        let n = password.len().min(8);
        data[..n].copy_from_slice(&password[..n]);
        Self::Simple(data)
    }

    fn type_and_data(&self) -> (u8, [u8; 8]) {
        match *self {
            Self::None => (0, [0; 8]),
            Self::Simple(d) => (1, d),
            Self::Unknown(t, d) => (t, d),
        }
    }
}

/// A read-only or mutable view over the VRRP message (the IP payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpPacket<T> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> VrrpPacket<T> {
    /// Wraps `buffer` after checking the version and every length the accessors rely on.
    ///
    /// Errors: [`VrrpError::Truncated`] when the buffer is shorter than the header, the address
    /// list or the v2 auth data; [`VrrpError::BadVersion`] for a version other than 2 or 3, or 2
    /// over IPv6 (RFC 3768 is IPv4 only).
    pub fn new_checked(buffer: T, family: Family) -> Result<Self, VrrpError> {
        let packet = Self { buffer, family };
        let data = packet.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(VrrpError::Truncated);
        }
        let version = match data[0] >> 4 {
            2 if family == Family::V4 => VrrpVersion::V2,
            3 => VrrpVersion::V3,
            _ => return Err(VrrpError::BadVersion),
        };
        let trailer = if version == VrrpVersion::V2 {
            AUTH_LEN
        } else {
            0
        };
        let need = HEADER_LEN + usize::from(data[3]) * family.addr_len() + trailer;
        if data.len() < need {
            return Err(VrrpError::Truncated);
        }
        Ok(packet)
    }

    fn data(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version (2 or 3, checked).
    pub fn version(&self) -> VrrpVersion {
        if self.data()[0] >> 4 == 2 {
            VrrpVersion::V2
        } else {
            VrrpVersion::V3
        }
    }

    /// The type nibble; 1 (ADVERTISEMENT) is the only defined value.
    pub fn msg_type(&self) -> u8 {
        self.data()[0] & 0x0f
    }

    /// Virtual router identifier.
    pub fn vrid(&self) -> u8 {
        self.data()[1]
    }

    /// Sender's priority: 255 address owner, 0 master resigning.
    pub fn priority(&self) -> u8 {
        self.data()[2]
    }

    /// Number of addresses.
    pub fn addr_count(&self) -> u8 {
        self.data()[3]
    }

    /// v3: the 12-bit Max Adver Int in centiseconds; v2: the Adver Int in seconds.
    pub fn adver_int(&self) -> u16 {
        match self.version() {
            VrrpVersion::V3 => u16::from_be_bytes([self.data()[4], self.data()[5]]) & 0x0fff,
            VrrpVersion::V2 => u16::from(self.data()[5]),
        }
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.data()[6], self.data()[7]])
    }

    /// The length of the message the checksum covers (header, addresses, v2 auth data).
    pub fn message_len(&self) -> usize {
        let trailer = match self.version() {
            VrrpVersion::V2 => AUTH_LEN,
            VrrpVersion::V3 => 0,
        };
        HEADER_LEN + usize::from(self.addr_count()) * self.family.addr_len() + trailer
    }

    /// The `index`-th address, `None` past `addr_count`.
    pub fn addr(&self, index: usize) -> Option<IpAddr> {
        if index >= usize::from(self.addr_count()) {
            return None;
        }
        let at = HEADER_LEN + index * self.family.addr_len();
        let data = self.data();
        Some(match self.family {
            Family::V4 => {
                let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
                IpAddr::V4(Ipv4Addr::from(b))
            }
            Family::V6 => {
                let b: [u8; 16] = data.get(at..at + 16)?.try_into().ok()?;
                IpAddr::V6(Ipv6Addr::from(b))
            }
        })
    }

    /// The addresses in packet order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        (0..usize::from(self.addr_count())).filter_map(|i| self.addr(i))
    }

    /// v2 authentication; `None` for v3, which has none (RFC 5798 section 9).
    pub fn auth(&self) -> Option<VrrpAuth> {
        if self.version() != VrrpVersion::V2 {
            return None;
        }
        let at = self.message_len() - AUTH_LEN;
        let data: [u8; 8] = self.data().get(at..at + AUTH_LEN)?.try_into().ok()?;
        Some(match self.data()[4] {
            0 => VrrpAuth::None,
            1 => VrrpAuth::Simple(data),
            t => VrrpAuth::Unknown(t, data),
        })
    }

    /// Whether the checksum verifies; `src`/`dst` are the IP header's addresses (v3 only).
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::finish(self.sum(src, dst)) == 0
    }

    fn sum(&self, src: &IpAddr, dst: &IpAddr) -> u16 {
        let msg = &self.data()[..self.message_len()];
        match self.version() {
            VrrpVersion::V2 => checksum::data(msg),
            VrrpVersion::V3 => {
                let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
                let pseudo = checksum::pseudo_header(src, dst, IpProtocol::Vrrp, len);
                checksum::combine(&[pseudo, checksum::data(msg)])
            }
        }
    }
}

/// A VRRP advertisement to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VrrpRepr {
    /// Protocol version.
    pub version: VrrpVersion,
    /// Virtual router identifier (1..=255).
    pub vrid: u8,
    /// Priority (0 resigning, 255 owner).
    pub priority: u8,
    /// v3: centiseconds (12 bits); v2: seconds (8 bits).
    pub adver_int: u16,
    /// Addresses, all of one family; at most 255.
    pub addrs: Vec<IpAddr>,
    /// v2 authentication; ignored for v3.
    pub auth: VrrpAuth,
}

impl VrrpRepr {
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &VrrpPacket<T>) -> Self {
        Self {
            version: packet.version(),
            vrid: packet.vrid(),
            priority: packet.priority(),
            adver_int: packet.adver_int(),
            addrs: packet.addrs().collect(),
            auth: packet.auth().unwrap_or(VrrpAuth::None),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        let family = self.addrs.first().map_or(Family::V4, Family::of);
        let trailer = match self.version {
            VrrpVersion::V2 => AUTH_LEN,
            VrrpVersion::V3 => 0,
        };
        HEADER_LEN + self.addrs.len() * family.addr_len() + trailer
    }

    /// Writes the message with its checksum at the start of `buf` and returns its length.
    /// `src` and `dst` are the addresses of the IP header it will travel in (the v3 pseudo-header).
    ///
    /// Errors: [`VrrpError::Truncated`] if `buf` is short; [`VrrpError::BadAddrList`] for more
    /// than 255 addresses, mixed families, or a family other than `src`'s.
    pub fn emit(&self, buf: &mut [u8], src: &IpAddr, dst: &IpAddr) -> Result<usize, VrrpError> {
        let family = Family::of(src);
        if self.addrs.len() > 255 || self.addrs.iter().any(|a| Family::of(a) != family) {
            return Err(VrrpError::BadAddrList);
        }
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(VrrpError::Truncated)?;
        out[0] = (self.version.number() << 4) | TYPE_ADVERTISEMENT;
        out[1] = self.vrid;
        out[2] = self.priority;
        out[3] = self.addrs.len() as u8; // bounded by the check above
        match self.version {
            VrrpVersion::V3 => out[4..6].copy_from_slice(&(self.adver_int & 0x0fff).to_be_bytes()),
            VrrpVersion::V2 => {
                let (auth_type, data) = self.auth.type_and_data();
                out[4] = auth_type;
                out[5] = u8::try_from(self.adver_int).unwrap_or(u8::MAX);
                out[len - AUTH_LEN..].copy_from_slice(&data);
            }
        }
        out[6..8].fill(0);
        let mut at = HEADER_LEN;
        for addr in &self.addrs {
            match addr {
                IpAddr::V4(a) => out[at..at + 4].copy_from_slice(&a.octets()),
                IpAddr::V6(a) => out[at..at + 16].copy_from_slice(&a.octets()),
            }
            at += family.addr_len();
        }
        let sum = VrrpPacket {
            buffer: &out[..],
            family,
        }
        .sum(src, dst);
        out[6..8].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        Ok(len)
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
