//! rr and wrr, pick for pick against sequences worked out from `ip_vs_rr.c` / `ip_vs_wrr.c`.

mod sched_util;
use sched_util::Svc;

/// Grouped under `sched` so that `cargo test -p lvs-core sched` runs them.
mod sched_rr_wrr {
    use super::*;

    /// The public cross-check from a real kernel: rr with .2, .3, .4 added in that order (list
    /// .4 .3 .2), then `-e .2 -w 3` and `-E -s wrr`.
    #[test]
    fn kernel_cross_check_rr_then_wrr() {
        let mut s = Svc::new("rr");
        for a in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
            s.add(a, 1);
        }
        assert_eq!(s.picks(6), [".4", ".3", ".2", ".4", ".3", ".2"]);
        s.edit("10.0.0.2", 3);
        s.switch("wrr");
        // init_service: di = gcd(1,1,3) = 1, mw = 3, cw = 3, cursor at head.
        // cw=3: .4 no, .3 no, .2 yes | end: cw=2: .4 no .3 no .2 yes | end: cw=1: .4, .3, .2 |
        // end: cw=0 -> 3: .2
        assert_eq!(s.picks(6), [".2", ".2", ".4", ".3", ".2", ".2"]);
    }

    #[test]
    fn rr_skips_quiesced_and_overloaded() {
        let mut s = Svc::new("rr");
        s.add("10.0.0.2", 1);
        s.add("10.0.0.3", 0);
        s.add("10.0.0.4", 1);
        s.dest("10.0.0.2").overloaded = true;
        // list .4 .3(w0) .2(overloaded): only .4 is available.
        assert_eq!(s.picks(3), [".4", ".4", ".4"]);
        s.dest("10.0.0.4").set_weight(0);
        assert_eq!(s.picks(1), ["-"]);
    }

    /// `ip_vs_rr_del_dest`: a cursor on the deleted dest moves to its predecessor.
    #[test]
    fn rr_delete_moves_cursor_to_previous() {
        let mut s = Svc::new("rr");
        for a in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
            s.add(a, 1);
        }
        assert_eq!(s.picks(2), [".4", ".3"]); // cursor on .3
        s.del("10.0.0.3"); // cursor -> .4 (previous element)
        assert_eq!(s.picks(3), [".2", ".4", ".2"]);
        // cursor on .2 (the last); delete the first element .4: cursor unaffected.
        s.del("10.0.0.4");
        assert_eq!(s.picks(2), [".2", ".2"]);
    }

    #[test]
    fn rr_delete_of_first_element_returns_cursor_to_head() {
        let mut s = Svc::new("rr");
        for a in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
            s.add(a, 1);
        }
        assert_eq!(s.picks(1), [".4"]);
        s.del("10.0.0.4"); // cursor was on the first element -> the list head
        assert_eq!(s.picks(3), [".3", ".2", ".3"]);
    }

    /// A dest added at the head does not move the cursor off its element.
    #[test]
    fn rr_add_keeps_cursor_element() {
        let mut s = Svc::new("rr");
        s.add("10.0.0.2", 1);
        s.add("10.0.0.3", 1);
        assert_eq!(s.picks(1), [".3"]); // list .3 .2, cursor on .3
        s.add("10.0.0.5", 1); // list .5 .3 .2
        assert_eq!(s.picks(4), [".2", ".5", ".3", ".2"]);
    }

    /// Fresh service, a(4) b(3) c(2) added in that order -> list c b a.
    /// add a: di=4, mw=4-3=1, cw 0 -> 1.  add b: di=1, mw=4, cw=1 kept.  add c: same, cw=1.
    /// cw=1: c b a | cw=0 -> mw=4: a | cw=3: b a | cw=2: c b a | cw=1: c b a | cw=4: a ...
    #[test]
    fn wrr_new_service_keeps_cw_from_first_dest() {
        let mut s = Svc::new("wrr");
        s.add("10.0.0.1", 4);
        s.add("10.0.0.2", 3);
        s.add("10.0.0.3", 2);
        assert_eq!(
            s.picks(13),
            [
                ".3", ".2", ".1", ".1", ".2", ".1", ".3", ".2", ".1", ".3", ".2", ".1", ".1"
            ]
        );
    }

    /// a(4) then b(2): add a: di=4, mw=1, cw=1. add b: di=2, mw=3, cw=1 -> (1/2)*2+1 = 1.
    /// list b a. cw=1: b a | cw=-1 -> 3: a | cw=1: b a | cw=3: a ...
    #[test]
    fn wrr_gcd_above_one() {
        let mut s = Svc::new("wrr");
        s.add("10.0.0.1", 4);
        s.add("10.0.0.2", 2);
        assert_eq!(s.picks(8), [".2", ".1", ".1", ".2", ".1", ".1", ".2", ".1"]);
    }

    /// Any edit puts the cursor back at the head (cw kept).
    #[test]
    fn wrr_edit_resets_cursor() {
        let mut s = Svc::new("wrr");
        s.add("10.0.0.1", 4);
        s.add("10.0.0.2", 3);
        s.add("10.0.0.3", 2);
        assert_eq!(s.picks(2), [".3", ".2"]); // cw = 1, cursor on .2
        s.edit("10.0.0.1", 4); // same weight: di=1, mw=4, cw=1 kept, cursor -> head
        assert_eq!(s.picks(3), [".3", ".2", ".1"]);
    }

    /// Every dest overloaded: the kernel's stop rule ends the scan with no dest.
    #[test]
    fn wrr_all_overloaded_terminates() {
        let mut s = Svc::new("wrr");
        s.add("10.0.0.1", 3);
        s.add("10.0.0.2", 1);
        // add .1(3): di=3, mw=1, cw=1. add .2(1): di=1, mw=3, cw=1 kept. list .2 .1.
        assert_eq!(s.picks(1), [".2"]);
        s.dest("10.0.0.1").overloaded = true;
        s.dest("10.0.0.2").overloaded = true;
        assert_eq!(s.picks(2), ["-", "-"]);
        // Only .2 (weight 1) is back: passes cw=3, 2 find nothing, cw=1 (last pass) takes .2.
        s.dest("10.0.0.2").overloaded = false;
        assert_eq!(s.picks(2), [".2", ".2"]);
    }

    #[test]
    fn wrr_empty_and_all_zero() {
        let mut s = Svc::new("wrr");
        assert_eq!(s.picks(1), ["-"]);
        s.add("10.0.0.1", 0);
        assert_eq!(s.picks(1), ["-"]); // mw = 0 - (1 - 1) = 0
        s.edit("10.0.0.1", 2);
        assert_eq!(s.picks(2), [".1", ".1"]);
    }
}
