//! Fuzz target: NAT / FULLNAT / TTL / DR rewriters on one frame (see `rewrite_check.rs`).
#![no_main]

#[path = "rewrite_check.rs"]
mod check;

use lvs_core::rewrite::{decrement_ttl, dr, fullnat_in, fullnat_out, nat_in, nat_out};
use lvs_core::wire::flow;
use lvs_core::wire::{IpVersion, MacAddr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seed, mut frame) = check::split(data);
    let Some((info, filled)) = check::normalize(&mut frame) else {
        // Not IP: everything must refuse without panicking.
        let k = check::conn(&seed, false);
        let _ = nat_in(&mut frame.clone(), &k);
        let _ = decrement_ttl(&mut frame.clone());
        return;
    };
    let k = check::conn(&seed, info.ip_version == IpVersion::Ipv6);
    if let Some(g) = check::run(&frame, filled, "nat_in", |f| nat_in(f, &k)) {
        let out = flow::extract(&g).expect("parses");
        assert_eq!((out.flow.dst_addr, out.flow.dst_port), (k.daddr, k.dport));
        assert_eq!(
            (out.flow.src_addr, out.flow.src_port),
            (info.flow.src_addr, info.flow.src_port)
        );
    }
    if let Some(g) = check::run(&frame, filled, "nat_out", |f| nat_out(f, &k)) {
        let out = flow::extract(&g).expect("parses");
        assert_eq!((out.flow.src_addr, out.flow.src_port), (k.vaddr, k.vport));
    }
    if let Some(g) = check::run(&frame, filled, "fullnat_in", |f| fullnat_in(f, &k)) {
        let out = flow::extract(&g).expect("parses");
        assert_eq!((out.flow.src_addr, out.flow.src_port), (k.laddr, k.lport));
        assert_eq!((out.flow.dst_addr, out.flow.dst_port), (k.daddr, k.dport));
    }
    check::run(&frame, filled, "fullnat_out", |f| fullnat_out(f, &k));
    check::run(&frame, filled, "ttl", |f| decrement_ttl(f).map(|_| ()));
    let mut g = frame.clone();
    dr(
        &mut g,
        MacAddr([2, 0, 0, 0, 0, 3]),
        MacAddr([2, 0, 0, 0, 0, 2]),
    )
    .expect("IP frame");
    check::assert_valid(&g, filled, "dr");
});
