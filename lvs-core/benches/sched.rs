//! Scheduler benchmarks: one `schedule()` per algorithm for 10/100/1000 dests, the Maglev
//! table build for 1000 dests at M = 65537 (the Maglev paper reports 1.8 ms), and a new
//! connection's service lookup among 1 / 1000 / 10000 services.
//!
//! Quick run: `cargo bench -p lvs-core --bench sched -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lvs_core::ipvsadm::{Protocol, parse_line};
use lvs_core::sched::{
    DestChange, DestId, SCHEDULER_NAMES, SchedConfig, SchedDest, SchedFlow, new_scheduler,
};
use lvs_core::service::{NewConn, ServiceTable};
use lvs_core::time::Instant;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `n` dests with weights 1..=10 and some load, in list order.
fn dests(n: u32, rng: &mut StdRng) -> Vec<SchedDest> {
    (0..n)
        .map(|i| {
            let addr = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i));
            let mut d = SchedDest::new(DestId(i), addr, 80, (rng.next_u32() % 10 + 1) as i32);
            d.active_conns = rng.next_u32() % 100;
            d.inactive_conns = rng.next_u32() % 1000;
            d
        })
        .collect()
}

/// 1024 flows from random clients to 1024 VIP-side addresses (dh, lblc and lblcr key on those).
fn flows(rng: &mut StdRng) -> Vec<SchedFlow> {
    (0..1024u32)
        .map(|i| SchedFlow {
            caddr: IpAddr::V4(Ipv4Addr::from_bits(rng.next_u32())),
            cport: (rng.next_u32() & 0xffff) as u16,
            vaddr: IpAddr::V4(Ipv4Addr::from_bits(0xc000_0200 + i)),
            vport: 80,
        })
        .collect()
}

fn schedule(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let flows = flows(&mut rng);
    let mut group = c.benchmark_group("schedule");
    for n in [10u32, 100, 1000] {
        let list = dests(n, &mut rng);
        for name in SCHEDULER_NAMES {
            let mut sched = new_scheduler(name, &SchedConfig::default()).unwrap();
            sched.init_service(&list);
            let mut k = 0usize;
            group.bench_with_input(BenchmarkId::new(name, n), &list, |b, list| {
                b.iter(|| {
                    k = (k + 1) & 1023;
                    black_box(sched.schedule(list, &flows[k], Instant::ZERO))
                })
            });
        }
    }
    group.finish();
}

fn rebuild(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let list = dests(1000, &mut rng);
    let mut group = c.benchmark_group("rebuild");
    let config = SchedConfig {
        mh_table_size: 65537,
        ..SchedConfig::default()
    };
    let mut mh = new_scheduler("mh", &config).unwrap();
    group.bench_function("mh_1000_dests_65537", |b| {
        b.iter(|| mh.init_service(black_box(&list)))
    });
    let mut mh = new_scheduler("mh", &SchedConfig::default()).unwrap();
    group.bench_function("mh_1000_dests_4093", |b| {
        b.iter(|| mh.init_service(black_box(&list)))
    });
    // An edit of one dest in a built 65537 table: the rebuild plus the moved-slot count.
    let mut mh = new_scheduler("mh", &config).unwrap();
    mh.init_service(&list);
    group.bench_function("mh_1000_dests_65537_edit", |b| {
        b.iter(|| mh.update(black_box(&list), DestChange::Edited(DestId(0))))
    });
    let mut sh = new_scheduler("sh", &SchedConfig::default()).unwrap();
    group.bench_function("sh_1000_dests_256", |b| {
        b.iter(|| sh.init_service(black_box(&list)))
    });
    group.finish();
}

/// `find_service` as a new connection does it: a hit on the last service added, and a miss
/// (a packet for the host: the port, the FTP and the port-0 lookups all fail).
fn service_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("service_lookup");
    for n in [1u32, 1000, 10_000] {
        let mut table = ServiceTable::default();
        for i in 0..n {
            let vip = Ipv4Addr::from_bits(0xc000_0200 + (i >> 8)); // 192.0.2.x and on
            let line = format!("-A -t {vip}:{} -s wlc", 1000 + (i & 0xff));
            table.apply(&parse_line(&line).unwrap()).unwrap();
        }
        let last = n - 1;
        let pkt = |daddr: u32, dport: u16| NewConn {
            protocol: Protocol::Tcp,
            caddr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            cport: 40000,
            daddr: IpAddr::V4(Ipv4Addr::from_bits(daddr)),
            dport,
            fwmark: 0,
        };
        let hit = pkt(0xc000_0200 + (last >> 8), 1000 + (last & 0xff) as u16);
        let miss = pkt(0xcb00_7101, 22);
        assert!(table.find_service(&hit).is_some() && table.find_service(&miss).is_none());
        group.bench_with_input(BenchmarkId::new("hit", n), &n, |b, _| {
            b.iter(|| table.find_service(black_box(&hit)).is_some())
        });
        group.bench_with_input(BenchmarkId::new("miss", n), &n, |b, _| {
            b.iter(|| table.find_service(black_box(&miss)).is_some())
        });
    }
    group.finish();
}

criterion_group!(benches, schedule, rebuild, service_lookup);
criterion_main!(benches);
