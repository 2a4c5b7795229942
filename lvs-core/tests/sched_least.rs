//! lc, wlc, sed, nq, fo, ovf against picks worked out from the kernel's scans.

mod sched_util;
use sched_util::Svc;

/// Grouped under `sched` so that `cargo test -p lvs-core sched` runs them.
mod sched_least {
    use super::*;

    /// Three dests added .1, .2, .3 -> list .3 .2 .1.
    fn svc(name: &str, w1: i32, w2: i32, w3: i32) -> Svc {
        let mut s = Svc::new(name);
        s.add("10.0.0.1", w1);
        s.add("10.0.0.2", w2);
        s.add("10.0.0.3", w3);
        s
    }

    fn load(s: &mut Svc, addr: &str, active: u32, inactive: u32) {
        let d = s.dest(addr);
        d.active_conns = active;
        d.inactive_conns = inactive;
    }

    #[test]
    fn lc_smallest_overhead_first_on_ties() {
        let mut s = svc("lc", 1, 1, 1);
        load(&mut s, "10.0.0.1", 1, 0); // 256
        load(&mut s, "10.0.0.2", 0, 3); // 3
        load(&mut s, "10.0.0.3", 0, 4); // 4
        assert_eq!(s.picks(1), [".2"]);
        load(&mut s, "10.0.0.3", 0, 3); // tie 3/3: .3 is earlier in the list
        assert_eq!(s.picks(1), [".3"]);
        s.dest("10.0.0.3").set_weight(0); // quiesced
        assert_eq!(s.picks(1), [".2"]);
        // Weight is otherwise ignored: a heavy weight does not attract lc.
        s.dest("10.0.0.1").set_weight(100);
        assert_eq!(s.picks(1), [".2"]);
    }

    #[test]
    fn wlc_cross_multiplied() {
        // list .3(w1) .2(w2) .1(w3)
        let mut s = svc("wlc", 3, 2, 1);
        load(&mut s, "10.0.0.3", 1, 0); // 256 / 1
        load(&mut s, "10.0.0.2", 2, 0); // 512 / 2
        load(&mut s, "10.0.0.1", 3, 0); // 768 / 3: all equal -> first, .3
        assert_eq!(s.picks(1), [".3"]);
        // .3: 257/1. .2: 257*2 = 514 > 512*1 -> .2. .1: 512*3 = 1536 > 768*2 = 1536? no -> .2.
        load(&mut s, "10.0.0.3", 1, 1);
        assert_eq!(s.picks(1), [".2"]);
        // The first stage skips a quiesced or overloaded head.
        s.dest("10.0.0.3").set_weight(0);
        s.dest("10.0.0.2").overloaded = true;
        assert_eq!(s.picks(1), [".1"]);
        s.dest("10.0.0.1").overloaded = true;
        assert_eq!(s.picks(1), ["-"]);
    }

    #[test]
    fn sed_counts_only_active_plus_one() {
        let mut s = Svc::new("sed");
        s.add("10.0.0.2", 3);
        s.add("10.0.0.3", 1); // list .3(w1) .2(w3)
        load(&mut s, "10.0.0.2", 2, 500); // (2+1)/3 = 1, inactive ignored
        // .3: (0+1)/1 = 1: tie, .3 earlier.
        assert_eq!(s.picks(1), [".3"]);
        load(&mut s, "10.0.0.2", 1, 0); // 2/3 < 1: 1*3 = 3 > 2*1 = 2 -> .2
        assert_eq!(s.picks(1), [".2"]);
    }

    #[test]
    fn nq_idle_first_else_sed() {
        let mut s = svc("nq", 5, 3, 1); // list .3(w1) .2(w3) .1(w5)
        load(&mut s, "10.0.0.3", 1, 0);
        // .2 is the first idle dest in list order (.1 is idle too, and heavier).
        assert_eq!(s.picks(1), [".2"]);
        load(&mut s, "10.0.0.2", 1, 0);
        load(&mut s, "10.0.0.1", 4, 0);
        // sed: .3 2/1, .2 2/3, .1 5/5 = 1 -> .2 (2*5 = 10 > 5*3 = 15? no, keeps .2)
        assert_eq!(s.picks(1), [".2"]);
        s.dest("10.0.0.2").overloaded = true;
        // .3 2/1 vs .1 5/5: 2*5 = 10 > 5*1 = 5 -> .1
        assert_eq!(s.picks(1), [".1"]);
    }

    #[test]
    fn fo_highest_weight_first_on_ties() {
        let mut s = svc("fo", 5, 5, 2); // list .3(w2) .2(w5) .1(w5)
        assert_eq!(s.picks(2), [".2", ".2"]);
        s.dest("10.0.0.2").overloaded = true;
        assert_eq!(s.picks(1), [".1"]);
        s.dest("10.0.0.1").set_weight(0);
        assert_eq!(s.picks(1), [".3"]);
    }

    #[test]
    fn ovf_weight_is_an_active_budget() {
        let mut s = svc("ovf", 2, 1, 2); // list .3(w2) .2(w1) .1(w2)
        load(&mut s, "10.0.0.3", 3, 0); // 3 > 2: over budget
        load(&mut s, "10.0.0.1", 2, 9); // 2 <= 2: still in (inactive ignored)
        assert_eq!(s.picks(1), [".1"]);
        load(&mut s, "10.0.0.1", 3, 0);
        assert_eq!(s.picks(1), [".2"]);
        load(&mut s, "10.0.0.2", 2, 0);
        assert_eq!(s.picks(1), ["-"]);
    }
}
