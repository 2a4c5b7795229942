//! sh, dh and mh: bucket values computed by hand from `hash_32` and the kernel's table layouts;
//! mh against an independent SipHash-1-3 and Maglev fill written from the specs.

mod sched_util;
use lvs_core::sched::{DestId, SchedConfig, SchedFlags};
use sched_util::{Svc, flow, to};

/// Grouped under `sched` so that `cargo test -p lvs-core sched` runs them.
mod sched_hash {
    use super::*;

    fn sh(flags: SchedFlags) -> Svc {
        let config = SchedConfig {
            flags,
            ..SchedConfig::default()
        };
        Svc::with_config("sh", &config)
    }

    // hash_32(v, 8) = (v * 0x61C88647 mod 2^32) >> 24. With 0x0A000000 * 0x61C88647 = 0xC6000000
    // (mod 2^32, from 0x0A * 0x61C88647 = 0x3D1D53EC6):
    //   10.0.0.1: 0xC6000000 + 0x61C88647 = 0x27C88647 (mod 2^32) -> bucket 0x27 = 39
    //   10.0.0.2: 0xC6000000 + 0xC3910C8E = 0x89910C8E            -> bucket 0x89 = 137
    //   10.0.0.3: 0xC6000000 + 0x255992D5 = 0xEB5992D5            -> bucket 0xEB = 235
    //   10.0.0.6: 0xC6000000 + 0x4AB325AA = 0x10B325AA            -> bucket 0x10 = 16

    /// Table for list .3(w1) .2(w2) .1(w1): buckets cycle .3 .2 .2 .1, so bucket b goes to
    /// [.3, .2, .2, .1][b % 4].
    #[test]
    fn sh_weighted_layout_and_hand_buckets() {
        let mut s = sh(SchedFlags::EMPTY);
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 2);
        s.add("10.0.0.3", 1);
        let table = s.sched.lookup_table().unwrap();
        assert_eq!(table.len(), 256);
        assert_eq!(
            &table[..5],
            &[
                Some(DestId(3)),
                Some(DestId(2)),
                Some(DestId(2)),
                Some(DestId(1)),
                Some(DestId(3))
            ]
        );
        // 39 % 4 = 3 -> .1; 137 % 4 = 1 -> .2; 235 % 4 = 3 -> .1; 16 % 4 = 0 -> .3
        assert_eq!(s.pick(&flow("10.0.0.1", 5000)).as_deref(), Some("10.0.0.1"));
        assert_eq!(s.pick(&flow("10.0.0.2", 5000)).as_deref(), Some("10.0.0.2"));
        assert_eq!(s.pick(&flow("10.0.0.3", 5000)).as_deref(), Some("10.0.0.1"));
        assert_eq!(s.pick(&flow("10.0.0.6", 5000)).as_deref(), Some("10.0.0.3"));
    }

    /// With sh-port the key is port + address: 10.0.0.1 port 1 hashes like 10.0.0.2 -> bucket 137.
    #[test]
    fn sh_port_flag() {
        let mut s = sh(SchedFlags::SH_PORT);
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 2);
        s.add("10.0.0.3", 1);
        assert_eq!(s.pick(&flow("10.0.0.1", 1)).as_deref(), Some("10.0.0.2"));
        assert_eq!(s.pick(&flow("10.0.0.1", 0)).as_deref(), Some("10.0.0.1"));
    }

    /// A weight-0 dest still owns one bucket per cycle; its clients get no dest unless
    /// sh-fallback, which probes `(roffset + ihash) & 255` with roffset = ihash + i: for
    /// 10.0.0.6 (ihash 16) the probes are 32 (.3 again, 32 % 4 = 0), then 33 (.2).
    #[test]
    fn sh_quiesced_owner_and_fallback() {
        for (flags, want) in [
            (SchedFlags::EMPTY, None),
            (SchedFlags::SH_FALLBACK, Some("10.0.0.2")),
        ] {
            let mut s = sh(flags);
            s.add("10.0.0.1", 1);
            s.add("10.0.0.2", 2);
            s.add("10.0.0.3", 0); // list .3(w0) .2(w2) .1(w1): cycle .3 .2 .2 .1 as before
            assert_eq!(s.sched.lookup_table().unwrap()[16], Some(DestId(3)));
            assert_eq!(s.pick(&flow("10.0.0.6", 1)).as_deref(), want);
            // 10.0.0.1 -> bucket 39 -> .1, available either way.
            assert_eq!(s.pick(&flow("10.0.0.1", 1)).as_deref(), Some("10.0.0.1"));
        }
    }

    /// Overloaded owner, sh-fallback: 10.0.0.1 (ihash 39) probes 78 (78 % 4 = 2 -> .2).
    #[test]
    fn sh_fallback_probe_order() {
        let mut s = sh(SchedFlags::SH_FALLBACK.union(SchedFlags::SH_PORT));
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 2);
        s.add("10.0.0.3", 1);
        s.dest("10.0.0.1").overloaded = true;
        assert_eq!(s.pick(&flow("10.0.0.1", 0)).as_deref(), Some("10.0.0.2"));
    }

    /// IPv6 clients fold their four words: 2001:db8::1 folds to 0x20010db9, the same key as the
    /// IPv4 address 32.1.13.185.
    #[test]
    fn sh_ipv6_fold() {
        let mut s = sh(SchedFlags::EMPTY);
        for i in 1..=7 {
            s.add(&format!("10.0.0.{i}"), i);
        }
        let v6 = s.pick(&flow("2001:db8::1", 0));
        let v4 = s.pick(&flow("32.1.13.185", 0));
        assert!(v6.is_some());
        assert_eq!(v6, v4);
    }

    #[test]
    fn sh_rebuild_reports_moved() {
        let mut s = sh(SchedFlags::EMPTY);
        s.add("10.0.0.1", 1);
        assert_eq!(s.sched.last_rebuild().unwrap().moved, 256); // first fill
        s.add("10.0.0.2", 1); // list .2 .1: alternate; half the buckets change owner
        assert_eq!(s.sched.last_rebuild().unwrap().moved, 128);
        s.edit("10.0.0.2", 1);
        assert_eq!(s.sched.last_rebuild().unwrap().moved, 0);
    }

    /// dh: bucket i -> dest i % n regardless of weight. List .3 .2 .1:
    /// 10.0.0.1 -> 39 % 3 = 0 -> .3; 10.0.0.2 -> 137 % 3 = 2 -> .1; 10.0.0.3 -> 235 % 3 = 1 -> .2.
    #[test]
    fn dh_hand_buckets() {
        let mut s = Svc::new("dh");
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 5);
        s.add("10.0.0.3", 1);
        assert_eq!(s.pick(&to("10.0.0.1")).as_deref(), Some("10.0.0.3"));
        assert_eq!(s.pick(&to("10.0.0.2")).as_deref(), Some("10.0.0.1"));
        assert_eq!(s.pick(&to("10.0.0.3")).as_deref(), Some("10.0.0.2"));
        s.edit("10.0.0.3", 0);
        assert_eq!(s.pick(&to("10.0.0.1")), None);
    }

    // ---- mh -------------------------------------------------------------------------------------

    /// SipHash-1-3 of a 4-byte message, straight from the SipHash paper (one compression round,
    /// three finalisation rounds), as the kernel's 64-bit `hsiphash` computes it.
    fn siphash13_u32(v: u32, k0: u64, k1: u64) -> u32 {
        let mut s = [
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ];
        fn round(s: &mut [u64; 4]) {
            s[0] = s[0].wrapping_add(s[1]);
            s[1] = s[1].rotate_left(13) ^ s[0];
            s[0] = s[0].rotate_left(32);
            s[2] = s[2].wrapping_add(s[3]);
            s[3] = s[3].rotate_left(16) ^ s[2];
            s[0] = s[0].wrapping_add(s[3]);
            s[3] = s[3].rotate_left(21) ^ s[0];
            s[2] = s[2].wrapping_add(s[1]);
            s[1] = s[1].rotate_left(17) ^ s[2];
            s[2] = s[2].rotate_left(32);
        }
        // Length 4 in the top byte, the 4 message bytes (little-endian) in the low ones.
        let b = (4u64 << 56) | u64::from(v);
        s[3] ^= b;
        round(&mut s);
        s[0] ^= b;
        s[2] ^= 0xff;
        for _ in 0..3 {
            round(&mut s);
        }
        (s[0] ^ s[1] ^ s[2] ^ s[3]) as u32
    }

    const K1: u64 = 2_654_435_761;
    const K2: u64 = 2_654_446_892;

    fn v4(a: &str) -> u32 {
        a.parse::<std::net::Ipv4Addr>().unwrap().to_bits()
    }

    /// The Maglev fill of `ip_vs_mh_populate` for dests in list order with the given turns.
    fn reference_table(m: u32, dests: &[(u32, u16, u32)]) -> Vec<Option<usize>> {
        let mut next: Vec<(u32, u32)> = dests
            .iter()
            .map(|&(a, p, _)| {
                let key = a.wrapping_add(u32::from(p));
                (
                    siphash13_u32(key, K1, K1) % m,
                    siphash13_u32(key, K2, K2) % (m - 1) + 1,
                )
            })
            .collect();
        let mut table = vec![None; m as usize];
        let mut filled = 0;
        while filled < m {
            for (i, &(_, _, turns)) in dests.iter().enumerate() {
                for _ in 0..turns {
                    let (perm, skip) = &mut next[i];
                    while table[*perm as usize].is_some() {
                        *perm = (*perm + *skip) % m;
                    }
                    table[*perm as usize] = Some(i);
                    filled += 1;
                    if filled == m {
                        return table;
                    }
                }
            }
        }
        table
    }

    fn mh(size: u32, flags: SchedFlags) -> Svc {
        let config = SchedConfig {
            mh_table_size: size,
            flags,
            ..SchedConfig::default()
        };
        Svc::with_config("mh", &config)
    }

    #[test]
    fn mh_table_matches_reference_fill() {
        let mut s = mh(251, SchedFlags::EMPTY);
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 2);
        s.add("10.0.0.3", 1);
        // list .3 .2 .1, gcd 1, max 2: fls(2) = 2 < TAB_BITS (8 / 2 = 4 for 251): no shift.
        let want = reference_table(
            251,
            &[
                (v4("10.0.0.3"), 80, 1),
                (v4("10.0.0.2"), 80, 2),
                (v4("10.0.0.1"), 80, 1),
            ],
        );
        let ids = [DestId(3), DestId(2), DestId(1)];
        let got = s.sched.lookup_table().unwrap();
        let want: Vec<Option<DestId>> = want.iter().map(|o| o.map(|i| ids[i])).collect();
        assert_eq!(got, want);
        // And a lookup: slot = siphash13(fold(caddr)) % 251.
        let slot = (siphash13_u32(v4("198.51.100.20"), K1, K1) % 251) as usize;
        let owner = got[slot].unwrap();
        let want_addr =
            ["10.0.0.3", "10.0.0.2", "10.0.0.1"][ids.iter().position(|&i| i == owner).unwrap()];
        assert_eq!(
            s.pick(&flow("198.51.100.20", 999)).as_deref(),
            Some(want_addr)
        );
    }

    /// turns = (w / gcd) >> rshift, rshift = fls(max / gcd) - TAB_BITS. Weights 1 and 1000 in a
    /// 251-slot table (TAB_BITS 4): fls(1000) = 10, rshift 6, turns 1000 >> 6 = 15 and, for weight 1,
    /// 0 -> 1 ("lw != 0"). Rounds of 16 slots: 15 full rounds fill 240, and the last 11 slots go in
    /// list order.
    #[test]
    fn mh_turns_and_rshift() {
        let mut s = mh(251, SchedFlags::EMPTY);
        s.add("10.0.0.1", 1000);
        s.add("10.0.0.2", 1); // list .2(t1) .1(t15): last round .2 gets 1, .1 gets 10
        let count = |s: &Svc, id| {
            s.sched
                .lookup_table()
                .unwrap()
                .iter()
                .filter(|&&o| o == Some(id))
                .count()
        };
        assert_eq!((count(&s, DestId(2)), count(&s, DestId(1))), (16, 235));

        let mut s = mh(251, SchedFlags::EMPTY);
        let light = s.add("10.0.0.2", 1);
        let heavy = s.add("10.0.0.1", 1000); // list .1(t15) .2(t1): .1 takes all 11 of the last round
        assert_eq!((count(&s, heavy), count(&s, light)), (236, 15));
    }

    /// A quiesced dest keeps its slots (last_weight); its clients get no dest unless mh-fallback.
    #[test]
    fn mh_quiesced_keeps_slots() {
        for fallback in [false, true] {
            let flags = if fallback {
                SchedFlags::MH_FALLBACK
            } else {
                SchedFlags::EMPTY
            };
            let mut s = mh(4093, flags);
            s.add("10.0.0.1", 1);
            s.add("10.0.0.2", 1);
            let before = s.sched.lookup_table().unwrap();
            // A client of .2:
            let client = (1..)
                .map(|i| format!("198.51.{}.{}", i / 250, i % 250 + 1))
                .find(|c| s.pick(&flow(c, 0)).as_deref() == Some("10.0.0.2"))
                .unwrap();
            s.edit("10.0.0.2", 0);
            assert_eq!(s.sched.last_rebuild().unwrap().moved, 0);
            assert_eq!(s.sched.lookup_table().unwrap(), before);
            let want = fallback.then_some("10.0.0.1");
            assert_eq!(s.pick(&flow(&client, 0)).as_deref(), want);
        }
    }

    /// A dest added with weight 0 has last_weight 0: no turns, no slots.
    #[test]
    fn mh_added_with_zero_weight_gets_nothing() {
        let mut s = mh(251, SchedFlags::EMPTY);
        s.add("10.0.0.1", 1);
        s.add("10.0.0.2", 0);
        let table = s.sched.lookup_table().unwrap();
        assert!(table.iter().all(|&o| o == Some(DestId(1))));
        s.edit("10.0.0.1", 0); // last_weight stays 1
        assert!(
            s.sched
                .lookup_table()
                .unwrap()
                .iter()
                .all(|&o| o == Some(DestId(1)))
        );
        assert_eq!(s.pick(&flow("10.1.1.1", 0)), None);
    }

    #[test]
    fn mh_port_flag_changes_key() {
        let mut s = mh(4093, SchedFlags::MH_PORT);
        for i in 1..=8 {
            s.add(&format!("10.0.0.{i}"), 1);
        }
        let table = s.sched.lookup_table().unwrap();
        // key = port + fold(addr): port 5 from 10.1.1.1 is 10.1.1.6 without port.
        let slot = (siphash13_u32(v4("10.1.1.1").wrapping_add(5), K1, K1) % 4093) as usize;
        let owner = table[slot].unwrap();
        let got = s.pick(&flow("10.1.1.1", 5)).unwrap();
        assert_eq!(got, format!("10.0.0.{}", owner.0));
    }

    #[test]
    fn mh_bad_size_rejected() {
        let config = SchedConfig {
            mh_table_size: 4096,
            ..SchedConfig::default()
        };
        assert!(lvs_core::sched::new_scheduler("mh", &config).is_err());
        let config = SchedConfig {
            mh_table_size: 65537,
            ..SchedConfig::default()
        };
        assert!(lvs_core::sched::new_scheduler("mh", &config).is_ok());
    }

    /// `ip_vs_mh_reassign` refuses more dests than slots (-EINVAL) and keeps the old table; its
    /// slots still name the same dests after the list shifted.
    #[test]
    fn mh_more_dests_than_slots_keeps_table() {
        let mut s = mh(251, SchedFlags::EMPTY);
        for i in 0..251 {
            s.add(&format!("10.0.{}.{}", i / 200, i % 200 + 1), 1);
        }
        let before = s.sched.lookup_table().unwrap();
        s.add("10.9.9.9", 1); // the 252nd
        assert_eq!(s.sched.last_rebuild().unwrap().moved, 0);
        assert_eq!(s.sched.lookup_table().unwrap(), before);
        let f = flow("198.51.100.1", 0);
        let slot = (siphash13_u32(v4("198.51.100.1"), K1, K1) % 251) as usize;
        let owner = before[slot].unwrap();
        let want = s
            .dests
            .iter()
            .find(|d| d.id == owner)
            .unwrap()
            .addr
            .to_string();
        assert_eq!(s.pick(&f), Some(want));
    }

    #[test]
    fn table_bits_validated() {
        use lvs_core::sched::new_scheduler;
        for (sh_bits, dh_bits, ok) in [
            (8, 8, true),
            (3, 8, false),
            (21, 8, false),
            (4, 1, true),
            (8, 0, false),
        ] {
            let config = SchedConfig {
                sh_table_bits: sh_bits,
                dh_table_bits: dh_bits,
                ..SchedConfig::default()
            };
            assert_eq!(
                new_scheduler("rr", &config).is_ok(),
                ok,
                "{sh_bits} {dh_bits}"
            );
        }
        let config = SchedConfig {
            sh_table_bits: 4,
            ..SchedConfig::default()
        };
        let mut s = Svc::with_config("sh", &config);
        s.add("10.0.0.1", 1);
        assert_eq!(s.sched.lookup_table().unwrap().len(), 16);
    }
}
