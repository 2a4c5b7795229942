//! "No allocation per established packet", measured: a counting global allocator around
//! established NAT traffic in both directions (this test binary only; the library stays
//! `forbid(unsafe_code)`).

mod director_util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use director_util::*;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the test's own thread counts: the harness's threads allocate at times of their
    /// own (a failure in about one run in five on the loaded build machine).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTED.with(std::cell::Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// GlobalAlloc contract; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn established_packets_do_not_allocate() {
    COUNTED.with(|c| c.set(true));
    let mut s = Sim::one_nat_dest(config());
    let c = ("198.51.100.7", 40000);
    let v = ("192.0.2.10", 80);
    let r = ("10.0.0.11", 8080);
    s.send(&tcp_in(c, v, SYN, b"")).frame();
    s.send(&tcp_from_rs(MAC_RS1, r, c, SYNACK, b"")).frame();
    let ack = tcp_in(c, v, ACK, b"data");
    let reply = tcp_from_rs(MAC_RS1, r, c, ACK, b"answer");
    let mut buf = vec![0u8; 256];
    let mut feed = |s: &mut Sim, f: &[u8]| {
        buf[64..64 + f.len()].copy_from_slice(f);
        let mut pkt = lvs_core::rewrite::PacketBuf::new(&mut buf, 64, f.len()).unwrap();
        matches!(
            s.d.handle_packet(s.now, &mut pkt),
            lvs_core::director::Verdict::Forward { .. }
        )
    };
    assert!(feed(&mut s, &ack));
    let before = ALLOCS.load(Ordering::Relaxed);
    assert!(before > 0, "the counter sees the setup's allocations");
    for _ in 0..1000 {
        assert!(feed(&mut s, &ack));
        assert!(feed(&mut s, &reply));
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0);
}
