//! TCP segments (RFC 9293 section 3.1) and their options.
//!
//! Contract: after [`TcpPacket::new_checked`] succeeds, no accessor panics: the buffer holds
//! at least 20 bytes and the whole header the data offset announces. The view's buffer must be
//! exactly the segment (the IP payload), since the checksum covers all of it. The options
//! iterator bounds-checks every option itself.

use core::fmt;
use core::net::IpAddr;

use super::{IpProtocol, Result, WireError, checksum, read_u16, read_u32, write_u16, write_u32};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const OFF_FLAGS: usize = 12;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
}

/// Length of a TCP header without options.
pub(super) const HEADER_LEN: usize = 20;

/// The TCP control bits (RFC 9293 section 3.1; NS from RFC 3540), low 9 bits of the data
/// offset / flags word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: Self = Self(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: Self = Self(0x002);
    /// Reset the connection.
    pub const RST: Self = Self(0x004);
    /// Push function.
    pub const PSH: Self = Self(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: Self = Self(0x010);
    /// Urgent pointer field is significant.
    pub const URG: Self = Self(0x020);
    /// ECN echo (RFC 3168).
    pub const ECE: Self = Self(0x040);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: Self = Self(0x080);
    /// ECN nonce sum (RFC 3540, historic).
    pub const NS: Self = Self(0x100);

    /// Whether every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// tcpdump's notation: `S` SYN, `F` FIN, `R` RST, `P` PSH, `U` URG, `E` ECE, `W` CWR, `.` ACK
/// (in that order), `none` when empty.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::ACK, '.'),
        ];
        let mut any = false;
        for (flag, c) in names {
            if self.contains(flag) {
                write!(f, "{c}")?;
                any = true;
            }
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// One TCP option (RFC 9293 section 3.2, RFC 7323, RFC 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of the option list.
    EndOfList,
    /// Kind 1: padding.
    NoOp,
    /// Kind 2: maximum segment size.
    Mss(u16),
    /// Kind 3: window scale shift.
    WindowScale(u8),
    /// Kind 4: SACK permitted.
    SackPermitted,
    /// Kind 5: SACK blocks (raw pairs of 32-bit edges).
    Sack(&'a [u8]),
    /// Kind 8: timestamps.
    Timestamps {
        /// TSval.
        tsval: u32,
        /// TSecr.
        tsecr: u32,
    },
    /// Any other kind, or a known kind with an unexpected length; `data` excludes kind and
    /// length bytes.
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data.
        data: &'a [u8],
    },
}

/// Iterator over the options of a TCP header; yields `Err(BadTcpOption)` once for a malformed
/// option (length below 2 or past the options area), then stops.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    bytes: &'a [u8],
    /// Offset of the next option within `bytes` (for callers that patch an option in place).
    offset: usize,
}

impl<'a> TcpOptions<'a> {
    /// Iterates over raw option bytes (the header from byte 20 to the data offset).
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// Offset, within the options area, of the option the next call to `next` returns.
    pub const fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.offset..)?;
        let kind = *rest.first()?;
        match kind {
            0 => {
                // Nothing after End of Option List is an option.
                self.offset = self.bytes.len();
                return Some(Ok(TcpOption::EndOfList));
            }
            1 => {
                self.offset += 1;
                return Some(Ok(TcpOption::NoOp));
            }
            _ => {}
        }
        let len = match rest.get(1) {
            Some(&len) if len >= 2 && usize::from(len) <= rest.len() => usize::from(len),
            _ => {
                self.offset = self.bytes.len();
                return Some(Err(WireError::BadTcpOption));
            }
        };
        let data = &rest[2..len];
        self.offset += len;
        let option = match (kind, data.len()) {
            (2, 2) => TcpOption::Mss(u16::from_be_bytes([data[0], data[1]])),
            (3, 1) => TcpOption::WindowScale(data[0]),
            (4, 0) => TcpOption::SackPermitted,
            (5, _) => TcpOption::Sack(data),
            (8, 8) => TcpOption::Timestamps {
                tsval: read_u32(data, 0),
                tsecr: read_u32(data, 4),
            },
            _ => TcpOption::Unknown { kind, data },
        };
        Some(Ok(option))
    }
}

view! {
    /// A view of a TCP segment.
    pub struct TcpPacket;
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks the invariants of `new_checked`: [`WireError::Truncated`] when the buffer ends
    /// before 20 bytes or the data offset, [`WireError::BadHeaderLen`] for a data offset < 5.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if len < header_len {
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFF_FLAGS] >> 4) * 4
    }

    /// The control bits.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(read_u16(self.buffer.as_ref(), field::OFF_FLAGS) & 0x01ff)
    }

    /// FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    /// SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    /// RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    /// PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }

    /// ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    /// URG flag.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags().contains(TcpFlags::URG)
    }

    /// Window size (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Raw options bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Iterator over the options.
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// The MSS option, if present and well-formed.
    pub fn mss(&self) -> Option<u16> {
        self.options_iter()
            .map_while(|o| o.ok())
            .find_map(|o| match o {
                TcpOption::Mss(mss) => Some(mss),
                _ => None,
            })
    }

    /// Segment data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum verifies against the pseudo-header of `src` and `dst`.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::upper_layer(src, dst, IpProtocol::Tcp, self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ, seq);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        write_u32(self.buffer.as_mut(), field::ACK, ack);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::OFF_FLAGS];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    /// Sets the control bits (low 9 bits).
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let v = read_u16(self.buffer.as_ref(), field::OFF_FLAGS);
        write_u16(
            self.buffer.as_mut(),
            field::OFF_FLAGS,
            (v & 0xfe00) | (flags.0 & 0x01ff),
        );
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW, window);
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Raw options bytes, mutable (to patch an option in place, e.g. clamp the MSS).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Segment data, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        &mut self.buffer.as_mut()[at..]
    }

    /// Computes the checksum over the pseudo-header of `src`/`dst` and the whole buffer
    /// (RFC 9293 section 3.1).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        let old = self.checksum();
        let packet = self.buffer.as_ref();
        let sum = checksum::upper_layer_checksum(src, dst, IpProtocol::Tcp, packet, old);
        self.set_checksum(sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    /// SYN 40000 > 80, seq 1000, win 64240, options MSS 1460, NOP, WS 7, SACK-permitted,
    /// timestamps (1, 0), 2 NOPs: a 44-byte header (data offset 11).
    fn syn() -> [u8; 44] {
        let mut b = [0u8; 44];
        b[..20].copy_from_slice(&[
            0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0, 0, 0, 0, 0xb0, 0x02, 0xfa, 0xf0, 0,
            0, 0, 0,
        ]);
        b[20..44].copy_from_slice(&[
            2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0,
        ]);
        b
    }

    #[test]
    fn deconstruct() {
        let b = syn();
        let t = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 80));
        assert_eq!(t.seq_number(), 1000);
        assert_eq!(t.ack_number(), 0);
        assert_eq!(t.header_len(), 44);
        assert!(t.syn() && !t.ack() && !t.fin() && !t.rst());
        assert_eq!(t.flags().to_string(), "S");
        assert_eq!(t.window_len(), 64240);
        assert_eq!(t.mss(), Some(1460));
        let opts: Vec<_> = t.options_iter().collect();
        assert_eq!(
            opts,
            vec![
                Ok(TcpOption::Mss(1460)),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::WindowScale(7)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps { tsval: 1, tsecr: 0 }),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::EndOfList),
            ]
        );
        assert!(t.payload().is_empty());
    }

    #[test]
    fn bad_lengths() {
        let b = syn();
        for len in 0..44 {
            assert_eq!(TcpPacket::new_checked(&b[..len]), Err(WireError::Truncated));
        }
        let mut c = syn();
        c[12] = 0x40;
        assert_eq!(TcpPacket::new_checked(&c[..]), Err(WireError::BadHeaderLen));
    }

    #[test]
    fn malformed_options() {
        let opts = [2, 4, 5];
        assert_eq!(
            TcpOptions::new(&opts).collect::<Vec<_>>(),
            vec![Err(WireError::BadTcpOption)]
        );
        let opts = [1, 7, 0];
        assert_eq!(
            TcpOptions::new(&opts).collect::<Vec<_>>(),
            vec![Ok(TcpOption::NoOp), Err(WireError::BadTcpOption)]
        );
        let opts = [9, 3, 0xaa];
        assert_eq!(
            TcpOptions::new(&opts).collect::<Vec<_>>(),
            vec![Ok(TcpOption::Unknown {
                kind: 9,
                data: &[0xaa]
            })]
        );
    }

    #[test]
    fn flags_display() {
        assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "S.");
        assert_eq!(
            (TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK).to_string(),
            "FP."
        );
        assert_eq!(TcpFlags(0).to_string(), "none");
    }

    #[test]
    fn checksum_roundtrip() {
        let mut b = syn();
        let src = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let mut t = TcpPacket::new_checked(&mut b[..]).unwrap();
        t.fill_checksum(&src, &dst);
        assert!(t.verify_checksum(&src, &dst));
        assert!(!t.verify_checksum(&dst, &dst));
        t.set_flags(TcpFlags::SYN | TcpFlags::ACK);
        t.set_ack_number(7);
        assert!(!t.verify_checksum(&src, &dst));
        assert_eq!(t.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(t.header_len(), 44);
    }
}
