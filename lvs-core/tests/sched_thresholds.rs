//! The overload flag as `ip_vs_bind_dest`, `ip_vs_unbind_dest` and `__ip_vs_update_dest` drive it.

mod sched_util;
use lvs_core::sched::{ConnKind, DestId, SchedDest};
use sched_util::{Svc, ip};

/// Grouped under `sched` so that `cargo test -p lvs-core sched` runs them.
mod sched_thresholds {
    use super::*;

    fn dest(upper: u32, lower: u32) -> SchedDest {
        let mut d = SchedDest::new(DestId(1), ip("10.0.0.1"), 80, 1);
        d.set_thresholds(upper, lower);
        d
    }

    #[test]
    fn upper_sets_three_quarters_clears() {
        let mut d = dest(4, 0);
        for _ in 0..3 {
            d.bind_conn(ConnKind::Inactive);
        }
        assert!(!d.overloaded);
        d.bind_conn(ConnKind::Active); // total 4 >= 4
        assert!(d.overloaded && !d.is_available());
        d.unbind_conn(ConnKind::Inactive); // 3: 3*4 = 12 < 4*3 = 12? no
        assert!(d.overloaded);
        d.unbind_conn(ConnKind::Inactive); // 2: 8 < 12
        assert!(!d.overloaded && d.is_available());
    }

    #[test]
    fn lower_threshold_clears() {
        let mut d = dest(4, 2);
        for _ in 0..4 {
            d.bind_conn(ConnKind::Active);
        }
        assert!(d.overloaded);
        d.unbind_conn(ConnKind::Active); // 3
        d.unbind_conn(ConnKind::Active); // 2: not < 2
        assert!(d.overloaded);
        d.unbind_conn(ConnKind::Active); // 1 < 2
        assert!(!d.overloaded);
    }

    #[test]
    fn templates_and_state_changes_do_not_count() {
        let mut d = dest(2, 0);
        d.bind_conn(ConnKind::Inactive);
        d.bind_conn(ConnKind::Template);
        d.bind_conn(ConnKind::Template);
        assert!(!d.overloaded);
        assert_eq!((d.total_conns(), d.persist_conns), (1, 2));
        d.conn_state_changed(true);
        assert_eq!((d.active_conns, d.inactive_conns), (1, 0));
        assert_eq!(d.overhead(), 256);
        d.bind_conn(ConnKind::Inactive); // total 2
        assert!(d.overloaded);
        assert_eq!(d.overhead(), 257);
    }

    #[test]
    fn no_threshold_unbind_clears() {
        let mut d = dest(0, 0);
        d.overloaded = true;
        d.bind_conn(ConnKind::Active);
        assert!(d.overloaded); // bind only sets
        d.unbind_conn(ConnKind::Active);
        assert!(!d.overloaded);
    }

    /// `__ip_vs_update_dest`: a raised or removed upper threshold clears the flag, a lowered one
    /// leaves the flag alone until the next bind.
    #[test]
    fn update_dest_threshold_rule() {
        let mut d = dest(3, 0);
        for _ in 0..3 {
            d.bind_conn(ConnKind::Inactive);
        }
        assert!(d.overloaded);
        d.set_thresholds(3, 0); // same: not higher
        assert!(d.overloaded);
        d.set_thresholds(5, 0); // higher: cleared although total 3
        assert!(!d.overloaded);
        d.set_thresholds(2, 0); // lower: flag untouched
        assert!(!d.overloaded);
        d.bind_conn(ConnKind::Inactive); // 4 >= 2
        assert!(d.overloaded);
        d.set_thresholds(0, 0);
        assert!(!d.overloaded);
    }

    #[test]
    fn last_weight_keeps_latest_non_zero() {
        let mut d = SchedDest::new(DestId(1), ip("10.0.0.1"), 80, 0);
        assert_eq!(d.last_weight, 0); // added with weight 0
        d.set_weight(5);
        d.set_weight(0);
        assert_eq!((d.weight, d.last_weight), (0, 5));
        assert!(!d.is_available()); // quiesced
    }

    /// Every scheduler skips an overloaded dest and a quiesced one.
    #[test]
    fn all_schedulers_skip_overloaded_and_quiesced() {
        for name in lvs_core::sched::SCHEDULER_NAMES {
            let mut s = Svc::new(name);
            s.add("10.0.0.1", 1);
            s.add("10.0.0.2", 1);
            s.dest("10.0.0.1").overloaded = true;
            s.dest("10.0.0.2").set_weight(0);
            let flow = sched_util::flow("10.9.9.9", 1000);
            assert_eq!(s.pick(&flow), None, "{name}");
        }
    }
}
