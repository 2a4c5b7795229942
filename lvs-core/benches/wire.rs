//! Benchmarks of the per-packet wire work: flow-key extraction and checksums.
//!
//! Run briefly with `cargo bench -p lvs-core --bench wire -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use lvs_core::wire::{TcpPacket, checksum, flow};

const CIP: [u8; 4] = [203, 0, 113, 7];
const VIP: [u8; 4] = [192, 0, 2, 10];
const CIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
const VIP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// A TCP frame of exactly `len` bytes (Ethernet header included).
fn tcp_frame(v6: bool, len: usize) -> Vec<u8> {
    let headers = if v6 { 14 + 40 + 20 } else { 14 + 20 + 20 };
    let payload = vec![0xa5; len - headers];
    let mut out = Vec::with_capacity(len);
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    if v6 {
        builder
            .ipv6(CIP6, VIP6, 64)
            .tcp(40000, 80, 1, 64240)
            .ack(1)
            .write_to_vec(&mut out, &payload)
    } else {
        builder
            .ipv4(CIP, VIP, 64)
            .tcp(40000, 80, 1, 64240)
            .ack(1)
            .write_to_vec(&mut out, &payload)
    }
    .expect("etherparse builds the frame");
    assert_eq!(out.len(), len);
    out
}

fn bench_flow(c: &mut Criterion) {
    let mut group = c.benchmark_group("flow_extract");
    for (name, v6, len) in [
        ("tcp4_64", false, 64),
        ("tcp4_1500", false, 1500),
        ("tcp6_86", true, 86),
        ("tcp6_1500", true, 1500),
    ] {
        let frame = tcp_frame(v6, len);
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| flow::extract(black_box(&frame))));
    }
    // As the data path uses it: the key and an offset, so the unused parts of the ~150-byte
    // FrameInfo need not be materialized (the rows above black-box all of it).
    let frame = tcp_frame(false, 64);
    group.bench_function("tcp4_64_key_and_offset", |b| {
        b.iter(|| flow::extract(black_box(&frame)).map(|info| (info.flow, info.l4_offset)))
    });
    // A reference point under the same machine load: etherparse's zero-copy slicer on the
    // 64-byte TCP/IPv4 frame (it does less: no ICMP quote handling, no key).
    let frame = tcp_frame(false, 64);
    group.bench_function("etherparse_sliced_tcp4_64", |b| {
        b.iter(|| etherparse::SlicedPacket::from_ethernet(black_box(&frame)).is_ok())
    });
    group.finish();
}

fn bench_checksum(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for len in [64usize, 1500] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("data_{len}"), |b| {
            b.iter(|| checksum::data(black_box(&data)))
        });
    }
    for (name, v6, len) in [
        ("tcp4_fill_64", false, 64),
        ("tcp4_fill_1500", false, 1500),
        ("tcp6_fill_86", true, 86),
        ("tcp6_fill_1500", true, 1500),
    ] {
        let mut frame = tcp_frame(v6, len);
        let l4 = if v6 { 54 } else { 34 };
        let (src, dst) = if v6 {
            (IpAddr::from(CIP6), IpAddr::from(VIP6))
        } else {
            (IpAddr::from(CIP), IpAddr::from(VIP))
        };
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut t = TcpPacket::new_unchecked(&mut frame[l4..]);
                t.fill_checksum(black_box(&src), black_box(&dst));
                t.checksum()
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    // What NAT does per packet: one IPv4 address and one port in the TCP checksum.
    group.bench_function("incremental_nat4", |b| {
        b.iter(|| {
            let hc = checksum::update_u32(
                black_box(0x1234),
                black_box(0xc000_020a),
                black_box(0xac10_0002),
            );
            checksum::update_u16(hc, black_box(80), black_box(8080))
        })
    });
    // The IPv6 equivalent: a 16-byte address.
    let (old, new) = (VIP6, CIP6);
    group.bench_function("incremental_nat6", |b| {
        b.iter(|| {
            let hc = checksum::update_bytes(black_box(0x1234), black_box(&old), black_box(&new));
            checksum::update_u16(hc, black_box(80), black_box(8080))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_flow, bench_checksum);
criterion_main!(benches);
