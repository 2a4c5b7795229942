//! Fuzz target: related-ICMP translation (NAT and FULLNAT, both directions) and originated
//! ICMP errors (valid, within the RFC 1812 / RFC 4443 size limits); see `rewrite_check.rs`.
#![no_main]

#[path = "rewrite_check.rs"]
mod check;

use lvs_core::rewrite::icmp;
use lvs_core::rewrite::originate::{IcmpErrorKind, icmp_error};
use lvs_core::wire::IpVersion;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seed, mut frame) = check::split(data);
    let normalized = check::normalize(&mut frame);
    let v6 = normalized.is_some_and(|(i, _)| i.ip_version == IpVersion::Ipv6);
    let k = check::conn(&seed, v6);
    let _ = icmp::quoted_tuple(&frame);
    if let Some((_, filled)) = normalized {
        check::run(&frame, filled, "icmp_nat_in", |f| icmp::nat_in(f, &k));
        check::run(&frame, filled, "icmp_nat_out", |f| icmp::nat_out(f, &k));
        check::run(&frame, filled, "icmp_fullnat_in", |f| {
            icmp::fullnat_in(f, &k)
        });
        check::run(&frame, filled, "icmp_fullnat_out", |f| {
            icmp::fullnat_out(f, &k)
        });
    }
    let mtu = u16::from_be_bytes([seed[78], seed[79]]);
    let kinds = [
        IcmpErrorKind::TimeExceeded,
        IcmpErrorKind::FragNeeded { mtu },
        IcmpErrorKind::PacketTooBig {
            mtu: u32::from(mtu),
        },
    ];
    let mut out = [0u8; 1600];
    for kind in kinds {
        if let Ok(n) = icmp_error(&frame, kind, k.vaddr, 9, &mut out) {
            let mut o = out[..n].to_vec();
            let (_, filled) = check::normalize(&mut o).expect("originated frame parses");
            check::assert_valid(&out[..n], filled, "icmp_error");
            // One 802.1Q (0x8100) or 802.1ad (0x88a8) tag, as wire::ethernet accepts.
            let l3 = if out[12..14] == [0x81, 0] || out[12..14] == [0x88, 0xa8] {
                18
            } else {
                14
            };
            assert!(n - l3 <= if v6 { 1280 } else { 576 });
        }
    }
});
