//! Director benchmarks: an established-flow packet (parse + lookup + state + rewrite +
//! counters) and a new connection, at 1k, 1M and 10M connections; bytes per connection are
//! printed while the tables are built. `new_conn` times a new connection's SYN alone (lookup
//! miss, service lookup, schedule, insert, rewrite); `new_conn_life` its whole life (SYN, the
//! real server's RST, expiry), which keeps the table at a steady size in both.
//!
//! Run briefly: `cargo bench -p lvs-core --bench director -- --warm-up-time 1
//! --measurement-time 3 --sample-size 10`. `DIRECTOR_BENCH_SIZES=1000,1000000` picks sizes.
//!
//! Two modes without criterion, for a shared machine:
//! - `DIRECTOR_BENCH_CPU=1`: only the CPU-time probe (thread CPU clock) of each size.
//! - `DIRECTOR_BENCH_IR=1`: fixed loops for an instruction count, e.g.
//!   `DIRECTOR_BENCH_IR=1 DIRECTOR_BENCH_SIZES=1000 valgrind --tool=callgrind
//!   --toggle-collect='*ir_*' target/release/deps/director-<hash>`, then
//!   `callgrind_annotate --inclusive=yes` and divide `ir_established` and `ir_batched` by 65536
//!   packets, `ir_new_conn` and `ir_syn` by 16384 connections (each includes about 57
//!   instructions of frame setup per packet).

mod common;
use common::cpu_nanos;
use std::hint::black_box;
use std::time::Instant as WallClock;

use criterion::{BenchmarkId, Criterion, criterion_group};
use lvs_core::conn::FlowHint;
use lvs_core::director::{Director, DirectorConfig, PREFETCH_BATCH, PREFETCH_MIN_CONNS, Verdict};
use lvs_core::ipvsadm::parse_line;
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;

/// SplitMix64: client addresses and ports from an index.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Connection indices `start, start + step, ...` modulo `n` without a division per packet
/// (a 64-bit `%` is a few ns of the bench's own on the critical path).
struct Walk {
    i: u64,
    step: u64,
    n: u64,
}

impl Walk {
    fn new(n: usize, start: u64) -> Self {
        let n = n as u64;
        Self {
            i: start % n,
            step: 0x9e37 % n,
            n,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> u64 {
        let i = self.i;
        self.i += self.step;
        if self.i >= self.n {
            self.i -= self.n;
        }
        i
    }
}

/// Ethernet + IPv4 + TCP (no options) to 192.0.2.10:80 with `flags`. Checksums are left
/// zero: the director updates them incrementally and never verifies them.
fn template(flags: u8) -> [u8; 54] {
    let mut f = [0u8; 54];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..34].copy_from_slice(&[
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 0, 0, 0, 0, 192, 0, 2, 10,
    ]);
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[46] = 0x50;
    f[47] = flags;
    f[48..50].copy_from_slice(&29200u16.to_be_bytes());
    f
}

/// Writes client `i`'s frame into `buf[64..]`.
#[inline]
fn client(buf: &mut [u8], tpl: &[u8; 54], i: u64) {
    let h = mix(i);
    let f = &mut buf[64..64 + 54];
    f.copy_from_slice(tpl);
    f[26..30].copy_from_slice(&(h as u32).to_be_bytes());
    f[34..36].copy_from_slice(&((h >> 32) as u16 | 1024).to_be_bytes());
}

/// Writes into `out[64..]` the real server's reply to client `i`, whose forwarded frame is in
/// `fwd[64..]` (its destination is the real server the director chose).
#[inline]
fn reply_to(out: &mut [u8], fwd: &[u8], tpl: &[u8; 54], i: u64) {
    client(out, tpl, i);
    let f = &mut out[64..64 + 54];
    let (caddr, cport) = ([f[26], f[27], f[28], f[29]], [f[34], f[35]]);
    f[26..30].copy_from_slice(&fwd[64 + 30..64 + 34]);
    f[30..34].copy_from_slice(&caddr);
    f[34..36].copy_from_slice(&8080u16.to_be_bytes());
    f[36..38].copy_from_slice(&cport);
}

fn director(budget: usize) -> Director {
    let mut d = Director::new(DirectorConfig {
        hash_seed: 1,
        conn_budget: budget,
        // As `lvs-router run` configures it (connection events only with trace logging).
        conn_events: false,
        ..DirectorConfig::default()
    });
    let mut lines = vec!["-A -t 192.0.2.10:80 -s wlc".to_string()];
    for k in 0..16 {
        lines.push(format!("-a -t 192.0.2.10:80 -r 10.0.1.{}:8080 -m", k + 1));
    }
    for l in lines {
        d.apply(&parse_line(&l).unwrap(), Instant::ZERO).unwrap();
    }
    d.handle_timeout(Instant::ZERO);
    // Established connections outlive the run; new ones (SYN_RECV, 60 s) are expired below.
    d.set_timeouts(10_000_000, 0, 0);
    d
}

#[inline]
fn feed(d: &mut Director, now: Instant, buf: &mut [u8]) -> bool {
    let mut pkt = PacketBuf::new(buf, 64, 54).unwrap();
    matches!(d.handle_packet(now, &mut pkt), Verdict::Forward { .. })
}

#[inline]
fn feed_hinted(d: &mut Director, now: Instant, buf: &mut [u8], hint: FlowHint) -> bool {
    let mut pkt = PacketBuf::new(buf, 64, 54).unwrap();
    matches!(
        d.handle_packet_hinted(now, 0, &mut pkt, hint),
        Verdict::Forward { .. }
    )
}

/// A director holding `n` established connections (SYN then ACK each).
fn build(n: usize) -> Director {
    let mut d = director(n * 2 + 1_000_000);
    let (syn, ack) = (template(0x02), template(0x10));
    let mut buf = vec![0u8; 256];
    let t0 = WallClock::now();
    let before = d.conn_memory();
    let rss_before = resident_bytes();
    for i in 0..n as u64 {
        client(&mut buf, &syn, i);
        assert!(feed(&mut d, Instant::ZERO, &mut buf));
        client(&mut buf, &ack, i);
        assert!(feed(&mut d, Instant::ZERO, &mut buf));
    }
    let took = t0.elapsed();
    eprintln!(
        "director n={n}: built in {took:.2?} ({:.0} ns per SYN+ACK); {:.1} B/conn (table + side \
         maps; the process's resident memory grew {:.1} B/conn)",
        took.as_nanos() as f64 / n as f64,
        (d.conn_memory() - before) as f64 / n as f64,
        resident_bytes().saturating_sub(rss_before) as f64 / n as f64,
    );
    d
}

/// The process's resident memory (`/proc/self/statm`, 4 KiB pages), 0 where unknown: checks
/// that reserved table space costs no memory until it is written.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// New connections at a steady table size: each is a fresh client's SYN, closed at once by
/// the real server's RST (CLOSE: 10 s); every 4000 of them virtual time moves 1 s and the closed ones
/// expire. So the figure is a connection's whole cost (create, track, close, expire), and the
/// table holds n + about 40k entries. Time moves slowly enough that the established
/// connections' timer slots are never lapped.
struct NewConns {
    next: u64,
    now: Instant,
    syn: [u8; 54],
    rst: [u8; 54],
}

impl NewConns {
    fn new(n: usize) -> Self {
        Self {
            next: (n as u64) << 8,
            now: Instant::from_millis(10),
            syn: template(0x02),
            rst: template(0x04),
        }
    }

    #[inline]
    fn one(&mut self, d: &mut Director, buf: &mut [u8]) -> bool {
        let (ok, rip) = self.syn(d, buf);
        ok & self.close(d, buf, self.next, rip)
    }

    /// The next client's SYN: `true` if forwarded, and the real server chosen.
    #[inline]
    fn syn(&mut self, d: &mut Director, buf: &mut [u8]) -> (bool, [u8; 4]) {
        self.next += 1;
        client(buf, &self.syn, self.next);
        let ok = feed(d, self.now, buf);
        let mut rip = [0u8; 4];
        rip.copy_from_slice(&buf[64 + 30..64 + 34]);
        (ok, rip)
    }

    /// The next `bufs.len()` clients' SYNs, looked up together and then handled one by
    /// one as a worker does; the real servers chosen go to `rips`.
    #[inline]
    fn syn_batch(&mut self, d: &mut Director, bufs: &mut [Vec<u8>], rips: &mut [[u8; 4]]) {
        for buf in bufs.iter_mut() {
            self.next += 1;
            client(buf, &self.syn, self.next);
        }
        let frames: [&[u8]; PREFETCH_BATCH] =
            core::array::from_fn(|k| bufs.get(k).map_or(&[][..], |b| &b[64..64 + 54]));
        let mut hints = [FlowHint::default(); PREFETCH_BATCH];
        d.lookup_batch(&frames[..bufs.len()], &mut hints[..bufs.len()]);
        for ((buf, hint), rip) in bufs.iter_mut().zip(hints).zip(rips) {
            black_box(feed_hinted(d, self.now, buf, hint));
            rip.copy_from_slice(&buf[64 + 30..64 + 34]);
        }
    }

    /// The real server resets client `i`'s connection (OUT rst: SYN_RECV -> CLOSE; a client
    /// RST would leave SYN_RECV in place): RIP:8080 -> client. Every 4000 connections
    /// virtual time moves 1 s and the closed ones expire.
    #[inline]
    fn close(&mut self, d: &mut Director, buf: &mut [u8], i: u64, rip: [u8; 4]) -> bool {
        if i.is_multiple_of(4000) {
            self.now = self.now + std::time::Duration::from_secs(1);
            d.handle_timeout(self.now);
        }
        client(buf, &self.rst, i);
        let f = &mut buf[64..64 + 54];
        let (caddr, cport) = ([f[26], f[27], f[28], f[29]], [f[34], f[35]]);
        f[26..30].copy_from_slice(&rip);
        f[30..34].copy_from_slice(&caddr);
        f[34..36].copy_from_slice(&8080u16.to_be_bytes());
        f[36..38].copy_from_slice(&cport);
        feed(d, self.now, buf)
    }

    /// `count` new connections, the SYNs alone timed by `clock` (nanoseconds): chunks of
    /// SYNs, each followed by the untimed RSTs that close them, so the table stays the same
    /// size and the figure is the SYN's own cost (lookup miss, service lookup, schedule,
    /// insert, rewrite). With more than one buffer in `bufs` the SYNs come in batches of
    /// that many, looked up together first as a worker does (`lookup_batch`).
    fn syns_timed(
        &mut self,
        d: &mut Director,
        bufs: &mut [Vec<u8>],
        count: u64,
        clock: impl Fn() -> u64,
    ) -> u64 {
        const CHUNK: u64 = 256;
        let batch = bufs.len() as u64;
        let mut rips = [[0u8; 4]; CHUNK as usize];
        let mut spent = 0;
        let mut left = count;
        while left > 0 {
            let k = left.min(CHUNK);
            let first = self.next + 1;
            let t0 = clock();
            if batch == 1 {
                for rip in &mut rips[..k as usize] {
                    let (ok, r) = self.syn(d, &mut bufs[0]);
                    *rip = r;
                    black_box(ok);
                }
            } else {
                for rips in rips[..k as usize].chunks_mut(batch as usize) {
                    self.syn_batch(d, &mut bufs[..rips.len()], rips);
                }
            }
            spent += clock() - t0;
            for (j, rip) in rips[..k as usize].iter().enumerate() {
                black_box(self.close(d, &mut bufs[0], first + j as u64, *rip));
            }
            left -= k;
        }
        spent
    }
}

/// CPU nanoseconds per established packet (alone and in batches as a worker hands them) and per new
/// connection, best of 5 rounds, printed next to criterion's wall-clock figures.
fn cpu_probe(d: &mut Director, n: usize, nc: &mut NewConns) {
    const OPS: u64 = 1 << 18;
    let ack = template(0x10);
    let mut buf = vec![0u8; 256];
    let mut bufs = vec![vec![0u8; 256]; PREFETCH_BATCH];
    let mut reply = vec![0u8; 256];
    let (mut est, mut batched, mut pair) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut new, mut syn, mut syn_batched) = (f64::MAX, f64::MAX, f64::MAX);
    for round in 0..5u64 {
        let now = nc.now;
        // NAT traffic both ways: a client packet, then the real server's reply to it (built
        // from the forwarded frame's real-server address).
        let t0 = cpu_nanos();
        let mut forwarded = true;
        let mut walk = Walk::new(n, round * OPS);
        for _ in 0..OPS / 2 {
            let i = walk.next();
            client(&mut buf, &ack, i);
            forwarded &= feed(d, now, &mut buf);
            reply_to(&mut reply, &buf, &ack, i);
            forwarded &= feed(d, now, &mut reply);
        }
        pair = pair.min((cpu_nanos() - t0) as f64 / OPS as f64);
        assert!(forwarded, "every client packet and reply is forwarded");
        let mut walk = Walk::new(n, round * OPS);
        let t0 = cpu_nanos();
        for _ in 0..OPS {
            client(&mut buf, &ack, walk.next());
            black_box(feed(d, now, &mut buf));
        }
        est = est.min((cpu_nanos() - t0) as f64 / OPS as f64);
        let mut walk = Walk::new(n, round * OPS);
        let mut hints = [FlowHint::default(); PREFETCH_BATCH];
        let t0 = cpu_nanos();
        for _ in 0..OPS / PREFETCH_BATCH as u64 {
            for buf in bufs.iter_mut() {
                client(buf, &ack, walk.next());
            }
            let frames: [&[u8]; PREFETCH_BATCH] = core::array::from_fn(|k| &bufs[k][64..64 + 54]);
            d.lookup_batch(&frames, &mut hints);
            for (buf, &hint) in bufs.iter_mut().zip(&hints) {
                black_box(feed_hinted(d, now, buf, hint));
            }
        }
        batched = batched.min((cpu_nanos() - t0) as f64 / OPS as f64);
        let t0 = cpu_nanos();
        for _ in 0..OPS / 4 {
            black_box(nc.one(d, &mut buf));
        }
        new = new.min((cpu_nanos() - t0) as f64 / (OPS / 4) as f64);
        let spent = nc.syns_timed(d, core::slice::from_mut(&mut buf), OPS / 4, cpu_nanos);
        syn = syn.min(spent as f64 / (OPS / 4) as f64);
        let spent = nc.syns_timed(d, &mut bufs, OPS / 4, cpu_nanos);
        syn_batched = syn_batched.min(spent as f64 / (OPS / 4) as f64);
    }
    eprintln!(
        "director n={n}: CPU time {est:.1} ns per established packet ({batched:.1} ns in \
         batches of {PREFETCH_BATCH} looked up together as a worker does, prefetched from \
         {PREFETCH_MIN_CONNS} connections; {pair:.1} ns per packet of client + reply \
         pairs), {syn:.1} ns per new connection's SYN ({syn_batched:.1} ns in batches), {new:.1} ns per new connection's \
         life (SYN + RST + expiry); {} connections",
        d.conn_count()
    );
}

fn sizes() -> Vec<usize> {
    std::env::var("DIRECTOR_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 1_000_000, 10_000_000])
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("director");
    for n in sizes() {
        let mut d = build(n);
        let ack = template(0x10);
        let mut buf = vec![0u8; 256];
        let mut nc = NewConns::new(n);
        let now = nc.now;
        let mut walk = Walk::new(n, 0);
        g.bench_with_input(BenchmarkId::new("established", n), &n, |b, _| {
            b.iter(|| {
                client(&mut buf, &ack, walk.next());
                black_box(feed(&mut d, now, &mut buf))
            });
        });
        // The bench's own share of `established`: the frame written and wrapped, no director.
        g.bench_with_input(BenchmarkId::new("frame_setup", n), &n, |b, _| {
            b.iter(|| {
                client(&mut buf, &ack, walk.next());
                let pkt = PacketBuf::new(&mut buf, 64, 54).unwrap();
                black_box(pkt.frame()).len()
            });
        });
        g.bench_with_input(BenchmarkId::new("new_conn", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let wall = WallClock::now();
                let ns = nc.syns_timed(&mut d, core::slice::from_mut(&mut buf), iters, || {
                    wall.elapsed().as_nanos() as u64
                });
                std::time::Duration::from_nanos(ns)
            });
        });
        g.bench_with_input(BenchmarkId::new("new_conn_life", n), &n, |b, _| {
            b.iter(|| black_box(nc.one(&mut d, &mut buf)));
        });
        cpu_probe(&mut d, n, &mut nc);
    }
    g.finish();
}

/// The established-packet loop the instruction count covers (callgrind `--toggle-collect`).
#[inline(never)]
fn ir_established(d: &mut Director, n: usize, ops: u64, now: Instant, buf: &mut [u8]) {
    let ack = template(0x10);
    let mut walk = Walk::new(n, 0);
    for _ in 0..ops {
        client(buf, &ack, walk.next());
        black_box(feed(d, now, buf));
    }
}

/// The batched established-packet loop (batch lookup + handle, as a worker does).
#[inline(never)]
fn ir_batched(d: &mut Director, n: usize, ops: u64, now: Instant, bufs: &mut [Vec<u8>]) {
    let ack = template(0x10);
    let mut walk = Walk::new(n, 0);
    for _ in 0..ops / PREFETCH_BATCH as u64 {
        for buf in bufs.iter_mut() {
            client(buf, &ack, walk.next());
        }
        let frames: [&[u8]; PREFETCH_BATCH] = core::array::from_fn(|k| &bufs[k][64..64 + 54]);
        let mut hints = [FlowHint::default(); PREFETCH_BATCH];
        d.lookup_batch(&frames, &mut hints);
        for (buf, &hint) in bufs.iter_mut().zip(&hints) {
            black_box(feed_hinted(d, now, buf, hint));
        }
    }
}

/// The new-connection loop.
#[inline(never)]
fn ir_new_conn(d: &mut Director, nc: &mut NewConns, ops: u64, buf: &mut [u8]) {
    for _ in 0..ops {
        black_box(nc.one(d, buf));
    }
}

/// One new connection's SYN (its RST and expiry come outside, in `syns_timed`).
#[inline(never)]
fn ir_syn(d: &mut Director, nc: &mut NewConns, buf: &mut [u8]) -> (bool, [u8; 4]) {
    nc.syn(d, buf)
}

/// `DIRECTOR_BENCH_IR=1`: no criterion; fixed loops for an instruction count. Run under
/// `valgrind --tool=callgrind --toggle-collect='*ir_*'` and divide each function's inclusive
/// count by the operations printed here.
fn ir_mode() {
    const OPS: u64 = 1 << 16;
    for n in sizes() {
        let mut d = build(n);
        let mut nc = NewConns::new(n);
        let now = nc.now;
        let mut buf = vec![0u8; 256];
        let mut bufs = vec![vec![0u8; 256]; PREFETCH_BATCH];
        ir_established(&mut d, n, OPS, now, &mut buf);
        ir_batched(&mut d, n, OPS, now, &mut bufs);
        // Closed connections expire 10 s (40000 connections) later: reach that steady state
        // first, so the counted loop pays for expiry too.
        for _ in 0..60_000 {
            black_box(nc.one(&mut d, &mut buf));
        }
        ir_new_conn(&mut d, &mut nc, OPS / 4, &mut buf);
        for _ in 0..OPS / 4 {
            let (_, rip) = ir_syn(&mut d, &mut nc, &mut buf);
            let i = nc.next;
            black_box(nc.close(&mut d, &mut buf, i, rip));
        }
        eprintln!(
            "director n={n}: ir_established {OPS} packets, ir_batched {OPS} packets, \
             ir_new_conn {} connections, ir_syn {} SYNs",
            OPS / 4,
            OPS / 4
        );
    }
}

criterion_group!(benches, bench);

/// `DIRECTOR_BENCH_CPU=1`: no criterion; only the CPU-time probe of each size, then the
/// machine's memory probe.
fn cpu_mode() {
    for n in sizes() {
        let mut d = build(n);
        let mut nc = NewConns::new(n);
        cpu_probe(&mut d, n, &mut nc);
    }
    eprintln!(
        "machine: {:.1} ns per random 64-byte line of 768 MiB, read in batches of \
         {PREFETCH_BATCH} after prefetching them all (best of 3)",
        (0..3).map(|_| memory_probe()).fold(f64::MAX, f64::min)
    );
}

/// CPU nanoseconds per random cache line of a table far larger than the caches, read in
/// batches after prefetching the whole batch: the access pattern of a batch lookup's two
/// passes, without the director. An established packet at 10M reads two such lines (its
/// index line and its entry), so twice this is the floor of its cost over the 1k figure.
fn memory_probe() -> f64 {
    const LINES: usize = (768 << 20) / 64;
    const READS: usize = 1 << 22;
    let mem = vec![[1u64; 8]; LINES];
    let mut x = 0;
    let mut at = [0usize; PREFETCH_BATCH];
    let mut sum = 0u64;
    let t0 = cpu_nanos();
    for _ in 0..READS / PREFETCH_BATCH {
        for a in at.iter_mut() {
            x += 1;
            *a = (mix(x) % LINES as u64) as usize;
            #[cfg(target_arch = "x86_64")]
            safe_arch::prefetch_t0(&mem[*a]);
        }
        for &a in &at {
            sum = sum.wrapping_add(mem[a][0]);
        }
    }
    black_box(sum);
    (cpu_nanos() - t0) as f64 / READS as f64
}

fn main() {
    if std::env::var_os("DIRECTOR_BENCH_IR").is_some() {
        ir_mode();
        return;
    }
    if std::env::var_os("DIRECTOR_BENCH_CPU").is_some() {
        cpu_mode();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
