//! ns per packet of each rewriter at 64 and 1500 bytes (frames built once with etherparse).
//!
//! Same-size rewrites run in place on one buffer, alternating between the two directions (or
//! re-applying, which rewrites the same values) so every iteration does the full work.
//! Growing rewrites copy the frame into a buffer with headroom first; that copy is included.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use lvs_core::rewrite::toa::insert_toa;
use lvs_core::rewrite::tunnel::{Tunnel, TunnelKind, encap};
use lvs_core::rewrite::{
    ConnAddrs, Layout, PacketBuf, clamp_mss, decap, decrement_ttl, dr, fullnat_in, fullnat_out,
    icmp, nat_in, nat_in_at, nat_out,
};
use lvs_core::wire::MacAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn conn() -> ConnAddrs {
    ConnAddrs {
        caddr: ip("198.51.100.7"),
        cport: 40123,
        vaddr: ip("192.0.2.110"),
        vport: 80,
        daddr: ip("172.16.0.2"),
        dport: 8080,
        laddr: ip("172.16.0.254"),
        lport: 5001,
    }
}

/// A TCP frame of `size` bytes total, `src -> dst`.
fn tcp(size: usize, src: (IpAddr, u16), dst: (IpAddr, u16), ttl: u8) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.0, dst.0) else {
        unreachable!()
    };
    let payload = vec![0x42; size - 54];
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(s.octets(), d.octets(), ttl)
        .tcp(src.1, dst.1, 1, 1000)
        .ack(2)
        .write(&mut out, &payload)
        .unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let k = conn();
    let (cl, vs, rs, ls) = (
        (k.caddr, k.cport),
        (k.vaddr, k.vport),
        (k.daddr, k.dport),
        (k.laddr, k.lport),
    );
    for size in [64usize, 1500] {
        let mut g = c.benchmark_group(format!("rewrite/{size}"));
        let mut f = tcp(size, cl, vs, 64);
        g.bench_function("nat_in", |b| b.iter(|| nat_in(black_box(&mut f), &k)));
        let mut f = tcp(size, cl, vs, 64);
        let layout = Layout::parse(&f).unwrap();
        g.bench_function("nat_in_at(layout)", |b| {
            b.iter(|| nat_in_at(black_box(&mut f), black_box(&layout), &k))
        });
        let mut f = tcp(size, cl, vs, 64);
        g.bench_function("flow_extract+nat_in_at", |b| {
            b.iter(|| {
                let f = black_box(&mut f);
                let info = lvs_core::wire::flow::extract(f).unwrap();
                let l = Layout::from_frame_info(f, &info).unwrap();
                nat_in_at(f, &l, &k)
            })
        });
        let mut f = tcp(size, rs, cl, 64);
        g.bench_function("nat_out", |b| b.iter(|| nat_out(black_box(&mut f), &k)));
        let mut f = tcp(size, cl, vs, 64);
        g.bench_function("fullnat_in", |b| {
            b.iter(|| fullnat_in(black_box(&mut f), &k))
        });
        let mut f = tcp(size, rs, ls, 64);
        g.bench_function("fullnat_out", |b| {
            b.iter(|| fullnat_out(black_box(&mut f), &k))
        });
        let mut f = tcp(size, cl, vs, 64);
        let (m1, m2) = (MacAddr([2, 0, 0, 0, 0, 3]), MacAddr([2, 0, 0, 0, 0, 2]));
        g.bench_function("dr", |b| b.iter(|| dr(black_box(&mut f), m1, m2)));
        let mut f = tcp(size, cl, vs, 255);
        g.bench_function("ttl", |b| {
            b.iter(|| {
                // Reset the TTL so it never expires; the checksum stays consistent enough for
                // timing (the rewriter does not verify it).
                f[22] = 255;
                decrement_ttl(black_box(&mut f))
            })
        });
        let mut f = tcp(size, cl, vs, 64);
        g.bench_function("clamp_mss(no syn)", |b| {
            b.iter(|| clamp_mss(black_box(&mut f), 1400))
        });
        let src = tcp(size, ls, rs, 64);
        let mut buf = vec![0u8; 64 + size];
        g.bench_function("toa_insert", |b| {
            b.iter(|| {
                buf[64..].copy_from_slice(&src);
                let mut p = PacketBuf::new(&mut buf, 64, size).unwrap();
                insert_toa(black_box(&mut p), k.caddr, k.cport)
            })
        });
        for (name, kind) in [
            ("encap_ipip", TunnelKind::Ipip),
            (
                "encap_gue",
                TunnelKind::Gue {
                    port: 6080,
                    csum: false,
                    direct: false,
                },
            ),
            (
                "encap_gue_csum",
                TunnelKind::Gue {
                    port: 6080,
                    csum: true,
                    direct: false,
                },
            ),
            ("encap_gre", TunnelKind::Gre { csum: false }),
        ] {
            let t = Tunnel {
                kind,
                src: ls.0,
                dst: rs.0,
                path_mtu: 9000,
                ident: 1,
            };
            let src = tcp(size, cl, vs, 64);
            let mut buf = vec![0u8; 64 + size];
            g.bench_function(name, |b| {
                b.iter(|| {
                    buf[64..].copy_from_slice(&src);
                    let mut p = PacketBuf::new(&mut buf, 64, size).unwrap();
                    encap(black_box(&mut p), &t)
                })
            });
        }
        let t = Tunnel {
            kind: TunnelKind::Ipip,
            src: ls.0,
            dst: rs.0,
            path_mtu: 9000,
            ident: 1,
        };
        let mut enc = vec![0u8; 64 + size];
        enc[64..].copy_from_slice(&tcp(size, cl, vs, 64));
        let mut p = PacketBuf::new(&mut enc, 64, size).unwrap();
        let _ = encap(&mut p, &t).unwrap();
        let encapsulated = p.frame().to_vec();
        g.bench_function("decap_ipip", |b| {
            b.iter(|| decap::inner(black_box(&encapsulated), None))
        });
        g.finish();
    }
    // A related ICMP error (IPv4 time exceeded quoting 28 bytes), translated back and forth.
    let quoted = &tcp(64, vs, cl, 64)[14..42];
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([203, 0, 113, 1], [192, 0, 2, 110], 64)
        .icmpv4(etherparse::Icmpv4Type::TimeExceeded(
            etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
        ))
        .write(&mut f, quoted)
        .unwrap();
    c.bench_function("rewrite/icmp_nat_in", |b| {
        b.iter(|| icmp::nat_in(black_box(&mut f), &k))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
