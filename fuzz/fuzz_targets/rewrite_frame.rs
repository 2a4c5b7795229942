//! Fuzz target, whole frame: flow extraction, then every rewriter the frame qualifies for, in
//! data-path order, with the layout from the flow extraction (see `rewrite_check.rs`).
#![no_main]

#[path = "rewrite_check.rs"]
mod check;

use lvs_core::rewrite::originate::{IcmpErrorKind, icmp_error};
use lvs_core::rewrite::tunnel::{Tunnel, TunnelKind, encap};
use lvs_core::rewrite::{
    Layout, PacketBuf, TtlVerdict, decap, decrement_ttl_at, dr, fullnat_in_at, icmp, nat_in_at,
    nat_out_at,
};
use lvs_core::wire::{IpVersion, MacAddr, flow};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seed, mut frame) = check::split(data);
    // Raw bytes first: flow extraction and a layout from it must not panic.
    if let Ok(info) = flow::extract(&frame) {
        let _ = Layout::from_frame_info(&frame, &info);
    }
    let Some((info, filled)) = check::normalize(&mut frame) else {
        return;
    };
    let k = check::conn(&seed, info.ip_version == IpVersion::Ipv6);
    let mut f = frame.clone();
    // A forged layout offset must be refused or harmless.
    let mut forged = info;
    forged.l4_offset = usize::from(seed[70]) + forged.l3_offset;
    if let Ok(l) = Layout::from_frame_info(&frame, &forged) {
        let _ = nat_in_at(&mut f.clone(), &l, &k);
    }
    match decrement_ttl_at_or_parse(&mut f) {
        Some(TtlVerdict::Expired) => {
            let mut out = [0u8; 1600];
            if let Ok(n) = icmp_error(&frame, IcmpErrorKind::TimeExceeded, k.vaddr, 1, &mut out) {
                let mut o = out[..n].to_vec();
                let (_, fo) = check::normalize(&mut o).expect("parses");
                check::assert_valid(&out[..n], fo, "time exceeded");
            }
            return;
        }
        Some(TtlVerdict::Forward) => check::assert_valid(&f, filled, "ttl"),
        None => {}
    }
    if let Some(i) = info.icmp.filter(|i| i.related) {
        let _ = i;
        check::run(&f, filled, "icmp nat_in", |g| icmp::nat_in(g, &k));
        check::run(&f, filled, "icmp fullnat_out", |g| icmp::fullnat_out(g, &k));
    }
    if let Ok(l) = Layout::from_frame_info(&f, &info) {
        check::run(&f, filled, "nat_in_at", |g| nat_in_at(g, &l, &k));
        check::run(&f, filled, "nat_out_at", |g| nat_out_at(g, &l, &k));
        check::run(&f, filled, "fullnat_in_at", |g| fullnat_in_at(g, &l, &k));
    }
    let mut g = f.clone();
    dr(
        &mut g,
        MacAddr([2, 0, 0, 0, 0, 3]),
        MacAddr([2, 0, 0, 0, 0, 2]),
    )
    .expect("frame >= 14");
    check::assert_valid(&g, filled, "dr");
    let mut buf = vec![0u8; 64 + f.len()];
    buf[64..].copy_from_slice(&f);
    let mut p = PacketBuf::new(&mut buf, 64, f.len()).expect("in range");
    let t = Tunnel {
        kind: TunnelKind::Ipip,
        src: k.laddr,
        dst: k.daddr,
        path_mtu: 9000,
        ident: 0,
    };
    if encap(&mut p, &t).is_ok() {
        let _ = decap::decap(&mut p, None);
    }
});

/// TTL decrement through the layout when there is one, else by parsing.
fn decrement_ttl_at_or_parse(f: &mut [u8]) -> Option<TtlVerdict> {
    let info = flow::extract(f).ok()?;
    match Layout::from_frame_info(f, &info) {
        Ok(l) => decrement_ttl_at(f, &l).ok(),
        Err(_) => lvs_core::rewrite::decrement_ttl(f).ok(),
    }
}
