//! lblc and lblcr: cache behaviour and expiry in virtual time, worked out from `ip_vs_lblc.c`
//! and `ip_vs_lblcr.c`.

mod sched_util;
use std::time::Duration;

use lvs_core::time::Instant;
use sched_util::{Svc, to};

/// Grouped under `sched` so that `cargo test -p lvs-core sched` runs them.
mod sched_lblc {
    use super::*;

    const DAY: u64 = 24 * 60 * 60;

    fn two(name: &str) -> Svc {
        let mut s = Svc::new(name);
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 1); // list .2 .1
        s
    }

    fn active(s: &mut Svc, addr: &str, n: u32) {
        s.dest(addr).active_conns = n;
    }

    #[test]
    fn lblc_sticks_until_busy_while_another_is_idle() {
        let mut s = two("lblc");
        let v = to("192.0.2.10");
        // Miss: wlc over equal loads picks the first, .2, and caches it.
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        active(&mut s, "10.0.0.2", 1); // 1 > 1? no: stays
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        // Another destination address gets its own wlc pick: .1 (0 < 256).
        assert_eq!(s.pick(&to("192.0.2.11")).as_deref(), Some("10.0.0.1"));
        active(&mut s, "10.0.0.2", 2);
        active(&mut s, "10.0.0.1", 1);
        // .2: 2 > 1, but is any dest below half its weight? .1: 1*2 < 1 no -> stays .2.
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        active(&mut s, "10.0.0.1", 0); // 0*2 < 1: .2 counts as overloaded -> wlc -> .1
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.1"));
        active(&mut s, "10.0.0.1", 5);
        active(&mut s, "10.0.0.2", 0);
        // .1 busy (5 > 1) and .2 idle: re-pick .2 by wlc.
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        assert_eq!(s.sched.cache_len(), Some(2));
    }

    /// The kernel keeps a cached dest above its threshold (it only tests weight and its own
    /// `is_overloaded`); quiesced or deleted dests are re-picked.
    #[test]
    fn lblc_cached_dest_availability() {
        let mut s = two("lblc");
        let v = to("192.0.2.10");
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        s.dest("10.0.0.2").overloaded = true;
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        s.dest("10.0.0.2").overloaded = false;
        s.edit("10.0.0.2", 0);
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.1"));
        s.edit("10.0.0.2", 1);
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.1"));
        s.del("10.0.0.1");
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
    }

    /// Timer: armed 60 s after the first schedule (t = 0), ticks every 60 s. The counter starts at
    /// 1 and grows on each quiet tick; tick k sees counter k, so the full check runs at tick 30 and
    /// resets the counter to 1, which tick 31 sees: full checks at ticks 30, 60, 90, ... An entry
    /// last used at 0 goes at the first full check with `now >= 0 + 24 h` (`time_before` is
    /// strict): tick 1440, t = 86400 s.
    #[test]
    fn lblc_full_expiry_after_a_day() {
        let mut s = two("lblc");
        s.pick_at(&to("192.0.2.10"), Instant::ZERO).unwrap();
        assert_eq!(s.sched.poll_timeout(), Some(Instant::from_secs(60)));
        let run_until = |s: &mut Svc, limit: Instant| {
            while let Some(t) = s.sched.poll_timeout() {
                if t > limit {
                    break;
                }
                s.sched.handle_timeout(t);
            }
        };
        run_until(&mut s, Instant::from_secs(86_340));
        assert_eq!(s.sched.cache_len(), Some(1));
        assert_eq!(s.sched.poll_timeout(), Some(Instant::from_secs(86_400)));
        run_until(&mut s, Instant::from_secs(86_400));
        assert_eq!(s.sched.cache_len(), Some(0));
    }

    #[test]
    fn lblc_use_refreshes_entry() {
        let mut s = two("lblc");
        let v = to("192.0.2.10");
        s.pick_at(&v, Instant::ZERO).unwrap();
        let mut t = Instant::ZERO;
        // Use it every hour for two days: never expires.
        while t < Instant::from_secs(2 * DAY) {
            t = t + Duration::from_secs(3600);
            while let Some(due) = s.sched.poll_timeout().filter(|&d| d <= t) {
                s.sched.handle_timeout(due);
            }
            s.pick_at(&v, t).unwrap();
        }
        assert_eq!(s.sched.cache_len(), Some(1));
    }

    /// Above max_size (1024 * 16 entries), each tick drops entries idle for 6 minutes, bucket by
    /// bucket, until 4/3 of the excess went.
    #[test]
    fn lblc_size_driven_collection() {
        let mut s = two("lblc");
        for i in 0..20_000u32 {
            let a = std::net::Ipv4Addr::from_bits(0x0a00_0000 + i).to_string();
            s.pick_at(&to(&a), Instant::ZERO).unwrap();
        }
        assert_eq!(s.sched.cache_len(), Some(20_000));
        s.sched.handle_timeout(Instant::from_secs(60)); // nothing idle for 6 min yet
        assert_eq!(s.sched.cache_len(), Some(20_000));
        s.sched.handle_timeout(Instant::from_secs(420));
        // goal = (20000 - 16384) * 4 / 3 = 4821; whole buckets go, ~20 entries per bucket.
        let left = s.sched.cache_len().unwrap();
        assert!(
            (20_000 - 4821 - 200..=20_000 - 4821).contains(&left),
            "{left}"
        );
    }

    #[test]
    fn lblcr_replicates_then_sheds() {
        let mut s = two("lblcr");
        let v = to("192.0.2.10");
        let t0 = Instant::from_secs(10);
        // Miss: wlc -> .2; set {.2}.
        assert_eq!(s.pick_at(&v, t0).as_deref(), Some("10.0.0.2"));
        active(&mut s, "10.0.0.2", 2);
        // set min .2 is busy (2 > 1) while .1 is idle: wlc -> .1 joins; set {.1, .2}, lastmod t0.
        assert_eq!(s.pick_at(&v, t0).as_deref(), Some("10.0.0.1"));
        active(&mut s, "10.0.0.1", 1);
        active(&mut s, "10.0.0.2", 0);
        // set min over .1 (256) then .2 (0): 256*1 > 0*1 -> .2.
        assert_eq!(s.pick_at(&v, t0).as_deref(), Some("10.0.0.2"));
        // More than a day after lastmod (strictly): shed the most loaded member (.1) first; the min
        // (.2) was chosen before and serves.
        let later = t0 + Duration::from_secs(DAY) + Duration::from_nanos(1);
        assert_eq!(s.pick_at(&v, later).as_deref(), Some("10.0.0.2"));
        // Now the set is {.2}: even when .1 is the better wlc choice, .2 serves until it is busy.
        active(&mut s, "10.0.0.1", 0);
        active(&mut s, "10.0.0.2", 1);
        assert_eq!(s.pick_at(&v, later).as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn lblcr_not_shed_at_exactly_expiry() {
        let mut s = two("lblcr");
        let v = to("192.0.2.10");
        assert_eq!(s.pick_at(&v, Instant::ZERO).as_deref(), Some("10.0.0.2"));
        active(&mut s, "10.0.0.2", 2);
        assert_eq!(s.pick_at(&v, Instant::ZERO).as_deref(), Some("10.0.0.1")); // set {.1, .2}
        active(&mut s, "10.0.0.1", 2);
        active(&mut s, "10.0.0.2", 0);
        // At exactly lastmod + 1 day nothing is shed: min is .2 (0 load).
        let at = Instant::from_secs(DAY);
        assert_eq!(s.pick_at(&v, at).as_deref(), Some("10.0.0.2"));
        // .2 busy, .1 busy too (2 > 1, and nobody below half weight): the min stays in use.
        active(&mut s, "10.0.0.2", 3);
        assert_eq!(s.pick_at(&v, at).as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn lblcr_deleted_member_is_skipped() {
        let mut s = two("lblcr");
        let v = to("192.0.2.10");
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.2"));
        s.del("10.0.0.2");
        // Set {.2} has no usable member: wlc -> .1 joins.
        assert_eq!(s.pick(&v).as_deref(), Some("10.0.0.1"));
    }
}
