//! The Internet checksum: full sums (RFC 1071) and incremental updates (RFC 1624).
//!
//! Vocabulary: a *sum* is the folded 16-bit ones'-complement sum of some data (what [`data`],
//! [`combine`] and the pseudo-header functions return); the *checksum* written in a header is
//! its complement, [`finish`]. A received header verifies when the sum over it (checksum field
//! included) is `0xffff`, i.e. `finish(..) == 0`.
//!
//! ```
//! use lvs_core::wire::checksum;
//! // RFC 1071 section 3 example bytes: the sum is 0xddf2.
//! let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::data(&bytes), 0xddf2);
//! assert_eq!(checksum::finish(0xddf2), 0x220d);
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::IpProtocol;

/// Folds a wide accumulator of 16-bit quantities into a 16-bit ones'-complement sum
/// (RFC 1071 section 4.1: add the carries back until none are left). Two halving steps, each
/// an add whose carry-out is added back in (it cannot carry again: a wrapped sum is at most
/// 2^n - 2).
#[inline(always)]
const fn fold(acc: u64) -> u16 {
    let (sum, carry) = ((acc >> 32) as u32).overflowing_add(acc as u32);
    let sum = sum + carry as u32;
    let (sum, carry) = ((sum >> 16) as u16).overflowing_add(sum as u16);
    sum + carry as u16
}

/// Ones'-complement sum of `data` as a sequence of big-endian 16-bit words, folded to 16 bits
/// (RFC 1071 section 4.1). An odd trailing byte counts as the high byte of a word padded with
/// zero.
///
/// Speed: the ones'-complement sum does not depend on byte order (RFC 1071 section 2(B)), so the
/// loop adds the two native-endian 32-bit halves of each 8-byte word into a 64-bit accumulator
/// (no carry handling, no byte swaps) and folds and swaps once at the end ("fold late"). The
/// tail is summed in 4-, 2- and 1-byte pieces without a copy. The accumulator cannot overflow
/// below 2^31 words, i.e. 16 GiB of data.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        // chunks_exact(8) guarantees the length; the fallback is never taken.
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        acc += (word & 0xffff_ffff) + (word >> 32);
    }
    let mut rest = chunks.remainder();
    if let [a, b, c, d, tail @ ..] = rest {
        acc += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = tail;
    }
    if let [a, b, tail @ ..] = rest {
        // A native-endian 16-bit word is congruent to its place in a 32-bit one (mod 0xffff).
        acc += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = tail;
    }
    if let [a] = rest {
        // Zero padding at the end is RFC 1071's odd-byte rule, in either byte order.
        acc += u64::from(u16::from_ne_bytes([*a, 0]));
    }
    // The folded native-endian sum is the byte swap of the big-endian sum.
    u16::from_be(fold(acc))
}

/// Ones'-complement sum of several partial sums (RFC 1071 section 2(C): sums of pieces that
/// each start at an even offset can be added).
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The checksum to write into a header: the complement of the sum over everything it covers.
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// Sum of the IPv4 pseudo-header: source, destination, zero + protocol, upper-layer length
/// (RFC 793 section 3.1, RFC 768).
#[inline]
pub fn pseudo_header_v4(src: &Ipv4Addr, dst: &Ipv4Addr, proto: IpProtocol, len: u32) -> u16 {
    let s = u32::from_be_bytes(src.octets());
    let d = u32::from_be_bytes(dst.octets());
    let acc = u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff)
        + u64::from(u8::from(proto))
        + u64::from(len >> 16)
        + u64::from(len & 0xffff);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header: source, destination, 32-bit upper-layer length, zero +
/// next header (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: IpProtocol, len: u32) -> u16 {
    let s = u128::from_be_bytes(src.octets());
    let d = u128::from_be_bytes(dst.octets());
    let mut acc = u64::from(u8::from(proto)) + u64::from(len >> 16) + u64::from(len & 0xffff);
    for word in [s, d] {
        acc += (word & 0xffff_ffff) as u64
            + ((word >> 32) & 0xffff_ffff) as u64
            + ((word >> 64) & 0xffff_ffff) as u64
            + (word >> 96) as u64;
    }
    fold(acc)
}

/// Sum of the pseudo-header for either family. Two IPv4 addresses use the IPv4 form; any other
/// pair is summed as IPv6, an IPv4 address as its IPv4-mapped form (a mixed pair is never valid
/// on the wire, but must not panic).
#[inline]
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, proto: IpProtocol, len: u32) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, proto, len),
        _ => pseudo_header_v6(&to_v6(src), &to_v6(dst), proto, len),
    }
}

/// Sum of the pseudo-header from raw address fields as they sit in a packet (4 bytes each for
/// IPv4, 16 for IPv6; any even length is summed as given), for code that works on frame offsets
/// rather than typed addresses. Equal to [`pseudo_header`] for the same addresses.
#[inline]
pub fn pseudo_header_bytes(src: &[u8], dst: &[u8], proto: IpProtocol, len: u32) -> u16 {
    fold(
        u64::from(data(src))
            + u64::from(data(dst))
            + u64::from(u8::from(proto))
            + u64::from(len >> 16)
            + u64::from(len & 0xffff),
    )
}

/// Sum of an upper-layer packet (all of `packet`) with its pseudo-header: what a TCP, UDP or
/// ICMPv6 checksum covers (RFC 9293 section 3.1, RFC 768, RFC 8200 section 8.1). A received
/// packet verifies when this is `0xffff`.
#[inline]
pub fn upper_layer(src: &IpAddr, dst: &IpAddr, proto: IpProtocol, packet: &[u8]) -> u16 {
    let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
    combine(&[pseudo_header(src, dst, proto, len), data(packet)])
}

/// The checksum to write into an upper-layer `packet` whose checksum field holds `old` now.
///
/// Sums the packet as it is and takes `old` back out (adds its complement) instead of zeroing
/// the field first: no store of a zero just before the loads that read it. The non-zero
/// pseudo-header keeps the result identical to summing with a zeroed field.
#[inline]
pub fn upper_layer_checksum(
    src: &IpAddr,
    dst: &IpAddr,
    proto: IpProtocol,
    packet: &[u8],
    old: u16,
) -> u16 {
    finish(combine(&[upper_layer(src, dst, proto, packet), !old]))
}

fn to_v6(addr: &IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => *a,
    }
}

/// Incremental update of checksum `hc` after a 16-bit word changed from `old` to `new`
/// (RFC 1624 section 3, eqn. 3: `HC' = ~(~HC + ~m + m')`). Returns `hc` unchanged when
/// `old == new`.
#[inline]
pub const fn update_u16(hc: u16, old: u16, new: u16) -> u16 {
    if old == new {
        return hc;
    }
    !fold(!hc as u64 + !old as u64 + new as u64)
}

/// Incremental update after a 32-bit field (at an even offset) changed, e.g. an IPv4 address.
#[inline]
pub const fn update_u32(hc: u16, old: u32, new: u32) -> u16 {
    if old == new {
        return hc;
    }
    // A 32-bit complement negates both 16-bit halves at once (see `update_u128`).
    !fold(!hc as u64 + !old as u64 + new as u64)
}

/// Incremental update after the bytes `old` (at an even offset of the covered data) were
/// replaced by `new`, e.g. a 16-byte IPv6 address or a whole header. Lengths may differ (a
/// shorter side counts as zero-padded). Returns `hc` unchanged when `old == new`.
///
/// Uses `~sum(old) == sum(~old)` in ones'-complement arithmetic, so `old` is summed once.
#[inline]
pub fn update_bytes(hc: u16, old: &[u8], new: &[u8]) -> u16 {
    if let (Ok(old), Ok(new)) = (<&[u8; 16]>::try_from(old), <&[u8; 16]>::try_from(new)) {
        return update_u128(hc, u128::from_be_bytes(*old), u128::from_be_bytes(*new));
    }
    if old == new {
        return hc;
    }
    !fold(u64::from(!hc) + u64::from(!data(old)) + u64::from(data(new)))
}

/// Incremental update after a 128-bit field (an IPv6 address) changed: RFC 1624 eqn. 3 over
/// 32-bit words, which is valid because `2^32 - 1` is a multiple of `2^16 - 1`, so a 32-bit
/// complement is the ones'-complement negation of the word's two 16-bit halves.
#[inline]
pub const fn update_u128(hc: u16, old: u128, new: u128) -> u16 {
    if old == new {
        return hc;
    }
    let (o, n) = (!old, new);
    let acc = !hc as u64
        + (o as u32) as u64
        + ((o >> 32) as u32) as u64
        + ((o >> 64) as u32) as u64
        + ((o >> 96) as u32) as u64
        + (n as u32) as u64
        + ((n >> 32) as u32) as u64
        + ((n >> 64) as u32) as u64
        + ((n >> 96) as u32) as u64;
    !fold(acc)
}

/// Incremental update after an address of either family changed (4 or 16 bytes).
#[inline]
pub fn update_addr(hc: u16, old: &IpAddr, new: &IpAddr) -> u16 {
    match (old, new) {
        (IpAddr::V4(o), IpAddr::V4(n)) => update_u32(
            hc,
            u32::from_be_bytes(o.octets()),
            u32::from_be_bytes(n.octets()),
        ),
        _ => update_u128(hc, u128::from(to_v6(old)), u128::from(to_v6(new))),
    }
}

/// The accumulated change of an RFC 1624 update (eqn. 3, `HC' = ~(~HC + sum(~m + m'))`): the
/// ones'-complement sum of `~m + m'` over every changed 16-bit word, applied to a checksum only
/// at the end. One `Delta` can feed several checksums that cover the same changed words (the
/// IPv4 header's and, through the pseudo-header, the transport's), and deltas combine with
/// [`Delta::add_delta`], so a rewriter sums each change once.
///
/// Unlike the `update_*` functions, a recorded word that did not change is not skipped: it adds
/// `~m + m = 0xffff` (negative zero), which can turn a checksum of `0xffff` into `0x0000`
/// (RFC 1624 section 3 explains why both are valid for a non-zero sum).
///
/// The accumulator is 64-bit and folded only in [`Delta::apply`]: a packet changes at most a
/// few hundred words, far below the 2^47 words that could overflow it.
///
/// ```
/// use lvs_core::wire::checksum::{self, Delta};
/// // RFC 1624 section 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
/// let mut d = Delta::default();
/// d.word(0x5555, 0x3285);
/// assert_eq!(d.apply(0xdd2f), checksum::update_u16(0xdd2f, 0x5555, 0x3285));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Delta(u64);

impl Delta {
    /// Records a 16-bit word changing from `old` to `new`.
    #[inline]
    pub fn word(&mut self, old: u16, new: u16) {
        self.0 += u64::from(!old) + u64::from(new);
    }

    /// Records a run of bytes at an even offset (an address: 4 or 16 bytes, or any even length)
    /// changing from `old` to `new`; the runs have the same length (extra bytes of the longer
    /// one and an odd last byte are ignored).
    #[inline]
    pub fn bytes(&mut self, old: &[u8], new: &[u8]) {
        for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
            self.word(
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([n[0], n[1]]),
            );
        }
    }

    /// Records words whose sum is `sum` (e.g. [`data`] of an inserted option) being inserted
    /// into the covered data.
    #[inline]
    pub fn add(&mut self, sum: u16) {
        self.0 += u64::from(sum);
    }

    /// Adds the changes recorded in `other` (changes to words covered by both checksums).
    #[inline]
    pub fn add_delta(&mut self, other: Self) {
        self.0 += other.0;
    }

    /// The checksum `hc` updated by every recorded change (RFC 1624 eqn. 3).
    #[inline]
    pub const fn apply(self, hc: u16) -> u16 {
        !fold(self.0 + !hc as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to 0xddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        // Split into pieces at even offsets and combined.
        assert_eq!(
            combine(&[
                data(&[0x00, 0x01]),
                data(&[0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
            ]),
            0xddf2
        );
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(
            data(&[0x12, 0x34, 0x56, 0x78, 0x9a]),
            0x02ad // 0x1234 + 0x5678 + 0x9a00 = 0x102ac, carry folded in
        );
    }

    #[test]
    fn ipv4_header_example() {
        // A well-known IPv4 header (Wikipedia "IPv4 header checksum" example): checksum b861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish(data(&hdr)), 0xb861);
        hdr[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(finish(data(&hdr)), 0);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 section 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(update_u16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn update_is_noop_when_unchanged() {
        for hc in [0u16, 1, 0x1234, 0xfffe, 0xffff] {
            assert_eq!(update_u16(hc, 0xabcd, 0xabcd), hc);
            assert_eq!(update_u32(hc, 0xdead_beef, 0xdead_beef), hc);
            assert_eq!(update_bytes(hc, &[1; 16], &[1; 16]), hc);
            assert_eq!(update_bytes(hc, &[1; 6], &[1; 6]), hc);
            assert_eq!(update_u128(hc, 7, 7), hc);
        }
    }

    #[test]
    fn delta_matches_full() {
        let mut hdr = [
            0x45u8, 0, 0, 40, 1, 2, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = finish(data(&hdr));
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        let mut delta = Delta::default();
        delta.bytes(&hdr[16..20], &[192, 168, 7, 9]);
        hdr[16..20].copy_from_slice(&[192, 168, 7, 9]);
        let inc = delta.apply(c);
        hdr[10..12].fill(0);
        assert_eq!(inc, finish(data(&hdr)));
        // An inserted run adds its sum.
        let mut d = Delta::default();
        d.add(data(&[0xfe, 0x08, 0x1f, 0x90]));
        let more = [&hdr[..], &[0xfe, 0x08, 0x1f, 0x90]].concat();
        assert_eq!(d.apply(finish(data(&hdr))), finish(data(&more)));
    }

    #[test]
    fn pseudo_headers() {
        let s = Ipv4Addr::new(192, 0, 2, 1);
        let d = Ipv4Addr::new(198, 51, 100, 2);
        // Worked by hand: c000 + 0201 + c633 + 6402 + 0006 + 0014 = 0x1ec50 -> 0xec51.
        assert_eq!(pseudo_header_v4(&s, &d, IpProtocol::Tcp, 20), 0xec51);
        assert_eq!(
            pseudo_header(&s.into(), &d.into(), IpProtocol::Tcp, 20),
            0xec51
        );
        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let d6: Ipv6Addr = "2001:db8::2".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        // 2001+0db8+1 + 2001+0db8+2 + 0011 + 0008 = 0x5b8e
        assert_eq!(pseudo_header_v6(&s6, &d6, IpProtocol::Udp, 8), 0x5b8e);
        assert_eq!(
            pseudo_header_bytes(&s.octets(), &d.octets(), IpProtocol::Tcp, 20),
            0xec51
        );
        assert_eq!(
            pseudo_header_bytes(&s6.octets(), &d6.octets(), IpProtocol::Udp, 8),
            0x5b8e
        );
    }
}
