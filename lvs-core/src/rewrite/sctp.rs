//! SCTP's CRC32c (RFC 9260 appendix A, Castagnoli polynomial, reflected).
//!
//! Unlike the Internet checksum, CRC32c has no cheap RFC 1624-style update for a changed port,
//! so a rewritten SCTP packet gets its CRC recomputed over the whole SCTP packet. That is O(size)
//! per packet, as in the kernel's `sctp_csum_check`/`sctp_nat_csum` path without hardware
//! offload.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC32c of `data` (initial value all ones, final complement).
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Recomputes the checksum of the SCTP packet `sctp` (common header + chunks) in place. The
/// value is stored least-significant byte first, as Linux `sctp_compute_cksum` does.
pub(crate) fn fill_checksum(sctp: &mut [u8]) {
    if sctp.len() < 12 {
        return;
    }
    sctp[8..12].fill(0);
    let c = crc32c(sctp);
    sctp[8..12].copy_from_slice(&c.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard CRC-32C check value and the RFC 3720 B.4 all-zero vector.
    #[test]
    fn check_values() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
    }
}
