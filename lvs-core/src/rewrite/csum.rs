//! Internet-checksum arithmetic for the rewriters (RFC 1071 sums, RFC 1624 updates).
//!
//! Kept private to `rewrite` so the rewriters do not depend on the exact shape of
//! `wire::checksum`; both follow the same RFCs.

/// Folds a 32-bit one's-complement accumulator to 16 bits with end-around carries.
#[inline]
pub(crate) fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Folds a 64-bit one's-complement accumulator to 16 bits.
#[inline]
pub(crate) fn fold64(mut s: u64) -> u16 {
    // Branch-free: two 32-bit folds leave at most 2^32, three 16-bit folds then at most 0xffff.
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// RFC 1071 one's-complement sum of `data` (odd trailing byte padded with zero), added to `init`.
pub(crate) fn sum(data: &[u8], init: u32) -> u32 {
    let mut acc = u64::from(init);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = rest.remainder() {
        acc += u64::from(*b) << 8;
    }
    u32::from(fold64(acc))
}

/// The checksum field value for `data` (the one's complement of the folded sum).
pub(crate) fn checksum(data: &[u8], init: u32) -> u16 {
    !fold(sum(data, init))
}

/// The pseudo-header sum of RFC 793 / RFC 768 (IPv4) or RFC 8200 8.1 (IPv6): both addresses,
/// the protocol and the upper-layer length.
pub(crate) fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: u32) -> u32 {
    let s = sum(dst, sum(src, 0));
    u32::from(fold(s + u32::from(proto) + (len >> 16) + (len & 0xffff)))
}

/// The accumulated change of an RFC 1624 update: the one's-complement sum of `~m + m'` over
/// every changed 16-bit word. One `Delta` can then be applied to several checksums (the IP
/// header's and the transport's) that cover the same changed words.
///
/// The accumulator is 64-bit and folded only when applied: a packet changes at most a few
/// hundred words, far below the 2^47 words that could overflow it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Delta(u64);

impl Delta {
    /// Records a 16-bit word changing from `old` to `new`.
    #[inline]
    pub(crate) fn word(&mut self, old: u16, new: u16) {
        self.0 += u64::from(!old) + u64::from(new);
    }

    /// Records an address-sized run (4 or 16 bytes, or any even length) changing from `old` to
    /// `new` (same length).
    #[inline]
    pub(crate) fn bytes(&mut self, old: &[u8], new: &[u8]) {
        for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
            self.word(
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([n[0], n[1]]),
            );
        }
    }

    /// Records the words summing to `s` being inserted into the summed data.
    #[inline]
    pub(crate) fn add(&mut self, s: u32) {
        self.0 += u64::from(s);
    }

    /// Adds another delta (changes to words covered by both checksums).
    #[inline]
    pub(crate) fn add_delta(&mut self, other: Self) {
        self.0 += other.0;
    }

    /// RFC 1624 eqn. 3: `HC' = ~(~HC + sum(~m + m'))`.
    #[inline]
    pub(crate) fn apply(self, hc: u16) -> u16 {
        !fold64(self.0 + u64::from(!hc))
    }
}

/// Reads a big-endian u16 at `at`; callers have bounds-checked `at + 2 <= b.len()`.
#[inline]
pub(crate) fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Writes a big-endian u16 at `at`; callers have bounds-checked `at + 2 <= b.len()`.
#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 section 3 worked example: words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d, 0), !0xddf2);
        assert_eq!(
            fold(sum(&d[..7], 0)),
            fold(sum(&[0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0], 0))
        );
    }

    #[test]
    fn delta_matches_full() {
        let mut d = [
            0x45u8, 0, 0, 40, 1, 2, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = checksum(&d, 0);
        put16(&mut d, 10, c);
        let mut delta = Delta::default();
        delta.bytes(&d[16..20], &[192, 168, 7, 9]);
        d[16..20].copy_from_slice(&[192, 168, 7, 9]);
        let inc = delta.apply(get16(&d, 10));
        put16(&mut d, 10, 0);
        assert_eq!(inc, checksum(&d, 0));
    }
}
