//! Random insert / touch / remove / expire sequences against a `BTreeMap` model.
//!
//! The model's contract: a deadline is `ceil(now in seconds) + timeout` (whole seconds, never
//! early), an entry expires at the first `expire(now)` with `now >= deadline`, and touch
//! replaces the deadline (earlier or later).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::conn::{Conn, ConnFlags, ConnId, ConnTable, Direction, ForwardMethod, OutKey};
use lvs_core::time::Instant;
use lvs_core::wire::IpProtocol;
use lvs_core::wire::flow::FlowKey;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert { port: u16, v6: bool, timeout: u32 },
    Touch { pick: usize, timeout: u32 },
    Remove { pick: usize },
    Advance { millis: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u16..64, any::<bool>(), 0u32..3000).prop_map(|(port, v6, timeout)| Op::Insert {
            port,
            v6,
            timeout
        }),
        (any::<usize>(), 0u32..3000).prop_map(|(pick, timeout)| Op::Touch { pick, timeout }),
        any::<usize>().prop_map(|pick| Op::Remove { pick }),
        (0u64..400_000).prop_map(|millis| Op::Advance { millis }),
    ]
}

fn conn(port: u16, v6: bool) -> Conn {
    let (c, v, d): (IpAddr, IpAddr, IpAddr) = if v6 {
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7).into(),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x110).into(),
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2).into(),
        )
    } else {
        (
            Ipv4Addr::new(198, 51, 100, 7).into(),
            Ipv4Addr::new(192, 0, 2, 110).into(),
            Ipv4Addr::new(172, 16, 0, 2).into(),
        )
    };
    Conn {
        proto: IpProtocol::Tcp,
        fwd: if port.is_multiple_of(2) {
            ForwardMethod::Nat
        } else {
            ForwardMethod::Dr
        },
        caddr: c,
        cport: port,
        vaddr: v,
        vport: 80,
        daddr: d,
        dport: 80,
        laddr: c,
        lport: 0,
        state: 0,
        flags: ConnFlags::empty(),
        svc: 0,
        dest: 0,
        control: None,
        expires: Instant::ZERO,
    }
}

fn deadline(now_nanos: u64, timeout: u32) -> u64 {
    now_nanos.div_ceil(1_000_000_000) + u64::from(timeout)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn table_matches_model(ops in proptest::collection::vec(op(), 1..200), seed: u64) {
        let mut table = ConnTable::new(seed, 1 << 20);
        // (port, v6) -> (handle, deadline seconds)
        let mut model: BTreeMap<(u16, bool), (ConnId, u64)> = BTreeMap::new();
        let mut now: u64 = 1_000_000_000; // nanoseconds
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Insert { port, v6, timeout } => {
                    let c = conn(port, v6);
                    let r = table.insert(&c, Instant::from_nanos(now), timeout);
                    match model.entry((port, v6)) {
                        Entry::Occupied(_) => prop_assert!(r.is_err()),
                        Entry::Vacant(v) => {
                            v.insert((r.unwrap(), deadline(now, timeout)));
                        }
                    }
                }
                Op::Touch { pick, timeout } => {
                    if model.is_empty() { continue; }
                    let k = *model.keys().nth(pick % model.len()).unwrap();
                    let entry = model.get_mut(&k).unwrap();
                    prop_assert!(table.touch(entry.0, Instant::from_nanos(now), timeout));
                    entry.1 = deadline(now, timeout);
                }
                Op::Remove { pick } => {
                    if model.is_empty() { continue; }
                    let k = *model.keys().nth(pick % model.len()).unwrap();
                    let (id, _) = model.remove(&k).unwrap();
                    prop_assert!(table.remove(id).is_some());
                    prop_assert!(table.get(id).is_none());
                }
                Op::Advance { millis } => {
                    now += millis * 1_000_000;
                    let now_secs = now / 1_000_000_000;
                    out.clear();
                    let next = table.expire(Instant::from_nanos(now), &mut out);
                    let mut expired: Vec<(u16, bool)> = Vec::new();
                    for (id, c) in &out {
                        let k = (c.cport, c.caddr.is_ipv6());
                        let (mid, d) = model.remove(&k).expect("expired entry is in the model");
                        prop_assert_eq!(mid, *id);
                        prop_assert!(d <= now_secs, "expired early: deadline {} now {}", d, now_secs);
                        prop_assert!(table.get(*id).is_none());
                        expired.push(k);
                    }
                    // Nothing due stays.
                    for (k, (_, d)) in &model {
                        prop_assert!(*d > now_secs, "{:?} due at {} still there at {}", k, d, now_secs);
                    }
                    // The next deadline is a lower bound of every remaining deadline (it may
                    // come from a superseded wheel entry, so it can be early, never late).
                    match (next, model.values().map(|v| v.1).min()) {
                        (None, min) => prop_assert_eq!(min, None),
                        (Some(n), Some(min)) => prop_assert!(n.as_secs() <= min),
                        (Some(_), None) => prop_assert!(false, "a deadline for an empty table"),
                    }
                }
            }
            // Same contents.
            prop_assert_eq!(table.len(), model.len());
            for ((port, v6), (id, d)) in &model {
                let c = conn(*port, *v6);
                prop_assert_eq!(table.lookup_in(&c.key()), Some(*id));
                let got = table.get(*id).unwrap();
                prop_assert_eq!(got.expires(), Instant::from_secs(*d));
            }
            // Replies find exactly the NAT connections (whose out keys go into the index a
            // few inserts late), by key and as a packet, and nothing once removed.
            for port in 0..64 {
                for v6 in [false, true] {
                    let c = conn(port, v6);
                    let want = model
                        .get(&(port, v6))
                        .filter(|_| c.fwd == ForwardMethod::Nat)
                        .map(|(id, _)| *id);
                    let out = OutKey { proto: c.proto, daddr: c.daddr, dport: c.dport, addr: c.caddr, port: c.cport };
                    prop_assert_eq!(table.lookup_out(&out), want);
                    let reply = FlowKey { proto: c.proto, src_addr: c.daddr, src_port: c.dport, dst_addr: c.caddr, dst_port: c.cport };
                    prop_assert_eq!(table.lookup_flow(&reply), want.map(|id| (id, Direction::Out)));
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum TplOp {
    /// A connection under template `tpl` (created on first use) with a timeout.
    Conn {
        tpl: u8,
        timeout: u32,
    },
    Remove {
        pick: usize,
    },
    Advance {
        secs: u64,
    },
}

fn tpl_op() -> impl Strategy<Value = TplOp> {
    prop_oneof![
        (0u8..4, 1u32..600).prop_map(|(tpl, timeout)| TplOp::Conn { tpl, timeout }),
        any::<usize>().prop_map(|pick| TplOp::Remove { pick }),
        (0u64..200).prop_map(|secs| TplOp::Advance { secs }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// ip_vs_conn_expire's rule: a template never expires while it controls a connection, and
    /// its count is the number of live connections naming it.
    #[test]
    fn templates_outlive_their_connections(ops in proptest::collection::vec(tpl_op(), 1..150)) {
        let mut table = ConnTable::new(99, 1 << 16);
        let mut now = 0u64;
        let mut templates: BTreeMap<u8, ConnId> = BTreeMap::new();
        let mut conns: Vec<(ConnId, u8)> = Vec::new();
        let mut next_port = 1u16;
        let mut out = Vec::new();
        for op in ops {
            match op {
                TplOp::Conn { tpl, timeout } => {
                    let tid = match templates.get(&tpl) {
                        Some(t) if table.get(*t).is_some() => *t,
                        _ => {
                            let mut c = conn(0, false);
                            c.cport = 0;
                            c.vport = 1000 + u16::from(tpl);
                            c.flags = ConnFlags::TEMPLATE;
                            let t = table.insert(&c, Instant::from_secs(now), 300).unwrap();
                            templates.insert(tpl, t);
                            t
                        }
                    };
                    let mut c = conn(next_port, false);
                    next_port += 1;
                    c.control = Some(tid);
                    let id = table.insert(&c, Instant::from_secs(now), timeout).unwrap();
                    conns.push((id, tpl));
                }
                TplOp::Remove { pick } => {
                    if conns.is_empty() { continue; }
                    let (id, _) = conns.swap_remove(pick % conns.len());
                    prop_assert!(table.remove(id).is_some());
                }
                TplOp::Advance { secs } => {
                    now += secs;
                    out.clear();
                    table.expire(Instant::from_secs(now), &mut out);
                    for (id, c) in &out {
                        if !c.flags.contains(ConnFlags::TEMPLATE) {
                            let before = conns.len();
                            conns.retain(|(cid, _)| cid != id);
                            prop_assert_eq!(conns.len() + 1, before);
                        }
                    }
                }
            }
            for (tpl, tid) in &templates {
                let live = conns.iter().filter(|(_, t)| t == tpl).count() as u32;
                match table.get(*tid) {
                    Some(t) => prop_assert_eq!(t.n_control(), live),
                    None => prop_assert_eq!(live, 0, "template {} expired under connections", tpl),
                }
            }
            prop_assert_eq!(
                table.len(),
                conns.len() + templates.values().filter(|t| table.get(**t).is_some()).count()
            );
        }
    }
}
