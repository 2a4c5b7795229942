//! ipvsadm's listing order: libipvs' `ipvs_cmp_services` / `ipvs_cmp_dests` run by glibc's
//! `qsort`, which is a top-down merge sort (`msort_with_tmp`).
//!
//! The comparators subtract unsigned 32-bit values into an `int`, so two addresses more than
//! 2^31 apart compare "backwards" (`200.0.0.1` sorts before `10.0.0.1`). That is what users
//! see, so it is reproduced: the merge sort below is glibc's, which tolerates such a
//! comparator (Rust's `sort_by` may panic on one).

use std::net::IpAddr;

use super::model::{AdmDest, AdmService};

/// `(int)(a - b)` of two unsigned values, as C computes it.
fn csub(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn words(addr: &IpAddr) -> [u32; 4] {
    match addr {
        // The v4 address sits in the first word of `union nf_inet_addr`.
        IpAddr::V4(a) => [u32::from(*a), 0, 0, 0],
        IpAddr::V6(a) => {
            let o = a.octets();
            core::array::from_fn(|i| {
                u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    }
}

fn cmp_addr(v6: bool, a: &IpAddr, b: &IpAddr) -> i32 {
    let (wa, wb) = (words(a), words(b));
    if v6 {
        wa.iter()
            .zip(&wb)
            .map(|(x, y)| csub(*x, *y))
            .find(|r| *r != 0)
            .unwrap_or(0)
    } else {
        csub(wa[0], wb[0])
    }
}

/// `ipvs_cmp_services`.
pub(super) fn cmp_services(a: &AdmService, b: &AdmService) -> i32 {
    let af = |s: &AdmService| if s.ipv6 { 10 } else { 2 };
    [
        csub(a.fwmark, b.fwmark),
        af(a) - af(b),
        i32::from(a.protocol) - i32::from(b.protocol),
        cmp_addr(a.ipv6, &a.addr, &b.addr),
        i32::from(a.port) - i32::from(b.port),
    ]
    .into_iter()
    .find(|r| *r != 0)
    .unwrap_or(0)
}

/// `ipvs_cmp_dests` (the family of the first operand decides how addresses compare).
pub(super) fn cmp_dests(a: &AdmDest, b: &AdmDest) -> i32 {
    let r = cmp_addr(a.addr.is_ipv6(), &a.addr, &b.addr);
    if r != 0 {
        return r;
    }
    i32::from(a.port) - i32::from(b.port)
}

/// glibc's `msort_with_tmp`: split at n/2, sort both halves, merge taking the left element
/// while `cmp(left, right) <= 0`.
pub(super) fn msort<T: Clone>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut v[..n1], cmp);
    msort(&mut v[n1..], cmp);
    let mut out = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            out.push(v[i].clone());
            i += 1;
        } else {
            out.push(v[j].clone());
            j += 1;
        }
    }
    out.extend_from_slice(&v[i..n1]);
    out.extend_from_slice(&v[j..]);
    v.clone_from_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msort_sorts_and_is_stable() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        msort(&mut v, &|a: &(i32, char), b: &(i32, char)| a.0 - b.0);
        assert_eq!(v, vec![(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]);
    }

    #[test]
    fn c_subtraction_wraps() {
        // 200.0.0.1 - 10.0.0.1 = 0xBE000000, negative as an int.
        assert!(csub(0xC800_0001, 0x0A00_0001) < 0);
        assert!(csub(0x0B00_0001, 0x0A00_0001) > 0);
    }
}
