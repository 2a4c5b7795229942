//! Connection table benchmarks: established-flow lookup + touch, new connections, bytes per
//! connection, and the N-worker layout question (private tables vs one sharded table).
//!
//! Run briefly: `cargo bench -p lvs-core --bench conn -- --warm-up-time 1 --measurement-time 3
//! --sample-size 10`. Bytes per connection are printed while the tables are built.

mod common;
use common::cpu_nanos;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lvs_core::conn::{Conn, ConnFlags, ConnKey, ConnTable, ForwardMethod};
use lvs_core::time::Instant;
use lvs_core::wire::IpProtocol;

const SIZES: [usize; 3] = [1_000, 1_000_000, 10_000_000];
/// Packets per batch in the batched benchmark (criterion's time is per batch).
const BATCH: usize = 32;
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 110);
const RIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 2);

/// SplitMix64: a key generator, so keys are random-looking and reproducible from an index.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key_of(i: u64) -> ConnKey {
    let h = mix(i);
    ConnKey {
        proto: IpProtocol::Tcp,
        caddr: Ipv4Addr::from_bits(h as u32).into(),
        cport: (h >> 32) as u16 | 1024,
        vaddr: VIP.into(),
        vport: 80,
    }
}

fn conn_of(i: u64) -> Conn {
    let k = key_of(i);
    Conn {
        proto: k.proto,
        fwd: ForwardMethod::Nat,
        caddr: k.caddr,
        cport: k.cport,
        vaddr: k.vaddr,
        vport: k.vport,
        daddr: RIP.into(),
        dport: 8080,
        laddr: k.caddr,
        lport: 0,
        state: 1,
        flags: ConnFlags::empty(),
        svc: 0,
        dest: (i % 16) as u32,
        control: None,
        expires: Instant::ZERO,
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A table of `n` NAT connections, inserted over `n / 10_000` virtual seconds so the timer
/// wheel's slots fill as they would in steady state.
fn build(n: usize, seed: u64) -> ConnTable {
    let rss0 = rss_bytes();
    let start = std::time::Instant::now();
    let mut table = ConnTable::new(seed, usize::MAX);
    for i in 0..n as u64 {
        let now = Instant::from_millis(i / 10);
        let _ = table.insert(&conn_of(i), now, 900);
    }
    let rss = rss_bytes().saturating_sub(rss0);
    eprintln!(
        "conn table n={n}: built in {:.2?}; allocation {:.1} B/conn, RSS delta {:.1} B/conn",
        start.elapsed(),
        table.allocation_size() as f64 / table.len() as f64,
        rss as f64 / table.len() as f64,
    );
    table
}

/// The sizes to run: `CONN_BENCH_SIZES=1000000,10000000` narrows them (building the 10M table
/// is the slow part).
fn sizes() -> Vec<usize> {
    std::env::var("CONN_BENCH_SIZES").map_or_else(
        |_| SIZES.to_vec(),
        |v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
    )
}

/// CPU nanoseconds per established lookup + touch, single and batched, best of 5 rounds.
fn cpu_probe(table: &mut ConnTable, n: usize) {
    const OPS: u64 = 1 << 20;
    let now = Instant::from_secs(2_000);
    let mut single = f64::MAX;
    let mut batched = f64::MAX;
    for round in 0..5u64 {
        let base = round * OPS;
        let t0 = cpu_nanos();
        for i in base..base + OPS {
            let id = table.lookup_in(&key_of(mix(i) % n as u64)).unwrap();
            black_box(table.touch(id, now, 900));
        }
        single = single.min((cpu_nanos() - t0) as f64 / OPS as f64);
        let mut keys = [key_of(0); BATCH];
        let mut ids = [None; BATCH];
        let t0 = cpu_nanos();
        for b in 0..OPS / BATCH as u64 {
            for (k, key) in keys.iter_mut().enumerate() {
                *key = key_of(mix(base + b * BATCH as u64 + k as u64) % n as u64);
            }
            table.lookup_in_batch(&keys, &mut ids);
            for id in ids {
                black_box(table.touch(id.unwrap(), now, 900));
            }
        }
        batched = batched.min((cpu_nanos() - t0) as f64 / OPS as f64);
    }
    let mut churn = f64::MAX;
    for round in 0..5u64 {
        let base = (1u64 << 41) + round * OPS;
        let t0 = cpu_nanos();
        for j in base..base + OPS {
            if let Ok(id) = table.insert(&conn_of(j), now, 3) {
                black_box(table.remove(id));
            }
        }
        churn = churn.min((cpu_nanos() - t0) as f64 / OPS as f64);
    }
    eprintln!(
        "cpu n={n}: lookup_in+touch {single:.1} ns/op, batched x{BATCH} {batched:.1} ns/op, \
         insert+remove {churn:.1} ns/op"
    );
}

fn established(c: &mut Criterion) {
    let mut group = c.benchmark_group("conn");
    group.sample_size(10);
    for n in sizes() {
        let mut table = build(n, 42);
        cpu_probe(&mut table, n);
        let now = Instant::from_secs(2_000);
        let mut i = 0u64;
        group.bench_with_input(BenchmarkId::new("lookup_in+touch", n), &n, |b, &n| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = key_of(mix(i) % n as u64);
                let id = table.lookup_in(black_box(&key)).unwrap();
                black_box(table.touch(id, now, 900))
            });
        });
        let mut i = 0u64;
        let mut keys = [key_of(0); BATCH];
        let mut ids = [None; BATCH];
        group.bench_with_input(
            BenchmarkId::new("lookup_in_batch32+touch", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    for k in &mut keys {
                        i = i.wrapping_add(1);
                        *k = key_of(mix(i) % n as u64);
                    }
                    table.lookup_in_batch(black_box(&keys), &mut ids);
                    for id in ids {
                        black_box(table.touch(id.unwrap(), now, 900));
                    }
                });
            },
        );
        let mut j = 1u64 << 40;
        group.bench_with_input(BenchmarkId::new("insert+remove", n), &n, |b, _| {
            b.iter(|| {
                j += 1;
                // A random key may collide with a table key (rarely): skip it.
                if let Ok(id) = table.insert(&conn_of(j), now, 3) {
                    black_box(table.remove(id));
                }
            });
        });
        // Free the big tables before the next size.
        drop(table);
    }
    group.finish();
}

const SHARDS: usize = 64;

/// Two threads each doing lookups + touches, on private tables (one per thread) or on one
/// table split into 64 mutex-protected shards. Criterion's time is per operation per thread.
/// At 1k connections everything is in cache, so the difference is the synchronisation; at 1M
/// the cache misses dominate both.
fn workers(c: &mut Criterion) {
    let mut group = c.benchmark_group("workers");
    group.sample_size(10);
    let now = Instant::from_secs(2_000);
    for n in [1_000u64, 1_000_000] {
        let private: Vec<Mutex<ConnTable>> =
            (0..2).map(|w| Mutex::new(build(n as usize, w))).collect();
        group.bench_with_input(
            BenchmarkId::new("private_tables_2_threads", n),
            &n,
            |b, &n| {
                b.iter_custom(|iters| {
                    let start = std::time::Instant::now();
                    std::thread::scope(|s| {
                        for t in &private {
                            s.spawn(move || {
                                // Locked once for the whole run: the table is the thread's own.
                                let mut table = t.lock().unwrap();
                                for i in 0..iters {
                                    let key = key_of(mix(i) % n);
                                    let id = table.lookup_in(&key).unwrap();
                                    black_box(table.touch(id, now, 900));
                                }
                            });
                        }
                    });
                    start.elapsed()
                });
            },
        );
        drop(private);

        let shards: Vec<Mutex<ConnTable>> = (0..SHARDS)
            .map(|s| Mutex::new(ConnTable::new(s as u64, usize::MAX)))
            .collect();
        for i in 0..2 * n {
            let k = key_of(i);
            let _ = shards[shard_of(&k)]
                .lock()
                .unwrap()
                .insert(&conn_of(i), Instant::ZERO, 900);
        }
        group.bench_with_input(
            BenchmarkId::new("shared_64_mutex_shards_2_threads", n),
            &n,
            |b, &n| {
                b.iter_custom(|iters| {
                    let start = std::time::Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..2u64 {
                            let shards = &shards;
                            s.spawn(move || {
                                for i in 0..iters {
                                    let key = key_of(mix(i ^ (t << 50)) % (2 * n));
                                    let mut table = shards[shard_of(&key)].lock().unwrap();
                                    let id = table.lookup_in(&key).unwrap();
                                    black_box(table.touch(id, now, 900));
                                }
                            });
                        }
                    });
                    start.elapsed()
                });
            },
        );
    }
    group.finish();
}

fn shard_of(k: &ConnKey) -> usize {
    let ip = match k.caddr {
        std::net::IpAddr::V4(a) => u64::from(a.to_bits()),
        std::net::IpAddr::V6(a) => a.to_bits() as u64,
    };
    (mix(ip ^ u64::from(k.cport)) % SHARDS as u64) as usize
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = established, workers
}
criterion_main!(benches);
