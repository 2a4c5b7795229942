//! The kernel's small hashing helpers shared by sh, dh, lblc and lblcr.

use core::net::IpAddr;

/// The golden-ratio multiplier of `include/linux/hash.h` (`GOLDEN_RATIO_32`).
const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// `hash_32(val, bits)`: multiply by the golden ratio and keep the top `bits` bits
/// (`include/linux/hash.h`, the generic `__hash_32`). `bits` is 1..=32.
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    debug_assert!((1..=32).contains(&bits));
    // u64 shift so that bits = 32 (shift by 0) and bits = 1 need no special case.
    (u64::from(val.wrapping_mul(GOLDEN_RATIO_32)) >> (32 - bits)) as u32
}

/// An address folded to 32 bits in host byte order, as the hash schedulers key it: IPv4 is
/// `ntohl(addr)`, IPv6 the XOR of its four 32-bit words (`addr_fold` in `ip_vs_sh.c`,
/// `ip_vs_dh.c`, `ip_vs_lblc.c`). XOR commutes with the byte swap, so folding the host-order
/// words equals `ntohl` of the folded network-order words.
pub(crate) fn fold_addr(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => a.to_bits(),
        IpAddr::V6(a) => {
            let b = a.to_bits();
            (b >> 96) as u32 ^ (b >> 64) as u32 ^ (b >> 32) as u32 ^ b as u32
        }
    }
}

/// Greatest common divisor (`gcd` in `lib/math/gcd.c`), 0 when both are 0.
pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_32_matches_hand_values() {
        // 1 * 0x61C88647 = 0x61C88647; top 8 bits = 0x61 = 97.
        assert_eq!(hash_32(1, 8), 0x61);
        // 0 always hashes to bucket 0.
        assert_eq!(hash_32(0, 8), 0);
        // 2 * 0x61C88647 = 0xC3910C8E; top 10 bits = 0b1100001110 = 782.
        assert_eq!(hash_32(2, 10), 782);
        assert_eq!(hash_32(1, 32), 0x61C8_8647);
    }

    #[test]
    fn fold_xors_ipv6_words() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        // words 0x20010db8, 0, 0, 1 -> 0x20010db9.
        assert_eq!(fold_addr(a), 0x2001_0db9);
        assert_eq!(fold_addr("10.0.0.1".parse().unwrap()), 0x0a00_0001);
    }

    #[test]
    fn gcd_small() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(0, 5), 5);
        assert_eq!(gcd(0, 0), 0);
    }
}
