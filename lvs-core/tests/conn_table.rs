//! Connection table behaviour: lookups, handles, budget, expiry, templates, TCP life cycles.
//!
//! Expected states, timeouts and counter movements are worked out by hand from the kernel's
//! `set_tcp_state` and the LVS-SPEC table, and written next to each step.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::conn::tcp::flags::{ACK, FIN, RST, SYN};
use lvs_core::conn::{
    Conn, ConnError, ConnFlags, ConnId, ConnKey, ConnTable, CounterChange, DestCounter, Direction,
    ForwardMethod, OutKey, TcpState, Timeouts,
};
use lvs_core::time::Instant;
use lvs_core::wire::IpProtocol;

const CIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 110);
const RIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 2);
const LIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn conn(fwd: ForwardMethod, cport: u16) -> Conn {
    Conn {
        proto: IpProtocol::Tcp,
        fwd,
        caddr: CIP.into(),
        cport,
        vaddr: VIP.into(),
        vport: 80,
        daddr: RIP.into(),
        dport: 8080,
        laddr: LIP.into(),
        lport: 40000,
        state: 0,
        flags: ConnFlags::empty(),
        svc: 1,
        dest: 2,
        control: None,
        expires: Instant::ZERO,
    }
}

fn key(cport: u16) -> ConnKey {
    conn(ForwardMethod::Nat, cport).key()
}

fn t(secs: f64) -> Instant {
    Instant::from_nanos((secs * 1e9) as u64)
}

/// Dest counters as the caller keeps them.
#[derive(Default, Debug, PartialEq)]
struct Counters {
    active: i32,
    inactive: i32,
    persistent: i32,
}

impl Counters {
    fn bind(&mut self, c: DestCounter, d: i32) {
        match c {
            DestCounter::Active => self.active += d,
            DestCounter::Inactive => self.inactive += d,
            DestCounter::Persistent => self.persistent += d,
        }
    }
    fn apply(&mut self, c: CounterChange) {
        match c {
            CounterChange::None => {}
            CounterChange::Activate => {
                self.active += 1;
                self.inactive -= 1;
            }
            CounterChange::Deactivate => {
                self.active -= 1;
                self.inactive += 1;
            }
        }
    }
}

struct Step {
    at: f64,
    dir: Direction,
    flags: u8,
    state: TcpState,
    change: CounterChange,
    /// Expected deadline in whole seconds (rounded up, plus the state's timeout).
    expires: u64,
}

fn run(fwd: ForwardMethod, secure: bool, steps: &[Step]) -> (ConnTable, ConnId, Counters) {
    let mut table = ConnTable::new(7, 100);
    let timeouts = Timeouts::default();
    let id = table
        .insert(&conn(fwd, 1234), t(0.0), Timeouts::NEW_CONN_SECS)
        .unwrap();
    let mut counters = Counters::default();
    counters.bind(table.get(id).unwrap().dest_counter(), 1);
    assert_eq!(
        counters,
        Counters {
            inactive: 1,
            ..Default::default()
        },
        "new conns start inactive"
    );
    assert_eq!(table.get(id).unwrap().expires(), Instant::from_secs(3));
    for (n, s) in steps.iter().enumerate() {
        let change = table
            .track_tcp(id, t(s.at), s.dir, s.flags, secure, &timeouts)
            .unwrap();
        let c = table.get(id).unwrap();
        assert_eq!(c.tcp_state(), Some(s.state), "step {n}");
        assert_eq!(change, s.change, "step {n}");
        assert_eq!(c.expires(), Instant::from_secs(s.expires), "step {n}");
        counters.apply(change);
        let mut out = Vec::new();
        table.expire(t(s.at), &mut out);
        assert!(out.is_empty(), "step {n}: nothing expires during the flow");
    }
    (table, id, counters)
}

fn expires_exactly_at(table: &mut ConnTable, id: ConnId, secs: u64, counters: &mut Counters) {
    let mut out = Vec::new();
    table.expire(Instant::from_nanos(secs * 1_000_000_000 - 1), &mut out);
    assert!(out.is_empty(), "not before {secs}");
    assert!(table.get(id).is_some());
    table.expire(Instant::from_secs(secs), &mut out);
    assert_eq!(out.len(), 1, "at {secs}");
    assert_eq!(out[0].0, id);
    counters.bind(DestCounter::of(out[0].1.flags), -1);
    assert_eq!(*counters, Counters::default(), "counters back to zero");
    assert!(table.get(id).is_none());
    assert!(table.is_empty());
}

#[test]
fn nat_life_cycle() {
    use CounterChange::{Activate, Deactivate, None};
    use Direction::{In, Out};
    use TcpState::*;
    #[rustfmt::skip]
    let steps = [
        // Client SYN: IN syn from NONE = SYN_RECV (60 s), NONE inactive -> active.
        Step { at: 0.0, dir: In, flags: SYN, state: SynRecv, change: Activate, expires: 60 },
        // Server SYN+ACK: OUT syn from SYN_RECV = SYN_RECV.
        Step { at: 0.1, dir: Out, flags: SYN | ACK, state: SynRecv, change: None, expires: 61 },
        // Client ACK: IN ack from SYN_RECV = ESTABLISHED (900 s).
        Step { at: 0.2, dir: In, flags: ACK, state: Established, change: None, expires: 901 },
        // Data both ways.
        Step { at: 50.0, dir: In, flags: ACK, state: Established, change: None, expires: 950 },
        Step { at: 50.5, dir: Out, flags: ACK, state: Established, change: None, expires: 951 },
        // Client FIN: IN fin from ESTABLISHED = CLOSE_WAIT (60 s), active -> inactive.
        Step { at: 100.0, dir: In, flags: FIN | ACK, state: CloseWait, change: Deactivate, expires: 160 },
        // Server ACK: OUT ack from CLOSE_WAIT = CLOSE_WAIT.
        Step { at: 100.1, dir: Out, flags: ACK, state: CloseWait, change: None, expires: 161 },
        // Server FIN: OUT fin from CLOSE_WAIT = TIME_WAIT (120 s).
        Step { at: 100.2, dir: Out, flags: FIN | ACK, state: TimeWait, change: None, expires: 221 },
        // Client's last ACK: IN ack from TIME_WAIT = TIME_WAIT.
        Step { at: 100.3, dir: In, flags: ACK, state: TimeWait, change: None, expires: 221 },
    ];
    let (mut table, id, mut counters) = run(ForwardMethod::Nat, false, &steps);
    assert!(
        !table
            .get(id)
            .unwrap()
            .flags()
            .contains(ConnFlags::NO_OUTPUT)
    );
    expires_exactly_at(&mut table, id, 221, &mut counters);
}

#[test]
fn dr_life_cycle_uses_input_only_rows() {
    use CounterChange::{Activate, Deactivate, None};
    use Direction::In;
    use TcpState::*;
    #[rustfmt::skip]
    let steps = [
        // INPUT-ONLY syn from NONE = SYN_RECV (60 s).
        Step { at: 0.0, dir: In, flags: SYN, state: SynRecv, change: Activate, expires: 60 },
        // INPUT-ONLY ack from SYN_RECV = ESTABLISHED (900 s).
        Step { at: 0.3, dir: In, flags: ACK, state: Established, change: None, expires: 901 },
        Step { at: 30.0, dir: In, flags: ACK, state: Established, change: None, expires: 930 },
        // INPUT-ONLY fin from ESTABLISHED = FIN_WAIT (120 s), not CLOSE_WAIT as IN would say.
        Step { at: 60.0, dir: In, flags: FIN | ACK, state: FinWait, change: Deactivate, expires: 180 },
        // The client's ACK of the server's FIN (unseen): INPUT-ONLY ack from FIN_WAIT = FIN_WAIT.
        Step { at: 60.5, dir: In, flags: ACK, state: FinWait, change: None, expires: 181 },
    ];
    let (mut table, id, mut counters) = run(ForwardMethod::Dr, false, &steps);
    assert!(
        table
            .get(id)
            .unwrap()
            .flags()
            .contains(ConnFlags::NO_OUTPUT)
    );
    // No out entry for DR.
    let out = OutKey {
        proto: IpProtocol::Tcp,
        daddr: RIP.into(),
        dport: 8080,
        addr: CIP.into(),
        port: 1234,
    };
    assert_eq!(table.lookup_out(&out), Option::None);
    expires_exactly_at(&mut table, id, 181, &mut counters);
}

#[test]
fn secure_tcp_nat_needs_the_server_for_established() {
    use CounterChange::{Activate, None};
    use Direction::{In, Out};
    use TcpState::*;
    #[rustfmt::skip]
    let steps = [
        Step { at: 0.0, dir: In, flags: SYN, state: SynRecv, change: Activate, expires: 60 },
        // secure_tcp: IN ack from SYN_RECV stays SYN_RECV (normal table: ESTABLISHED).
        Step { at: 0.1, dir: In, flags: ACK, state: SynRecv, change: None, expires: 61 },
        // OUT syn from SYN_RECV = SYNACK (120 s).
        Step { at: 0.2, dir: Out, flags: SYN | ACK, state: SynAck, change: None, expires: 121 },
        // IN ack from SYNACK stays SYNACK; OUT ack from SYNACK = ESTABLISHED.
        Step { at: 0.3, dir: In, flags: ACK, state: SynAck, change: None, expires: 121 },
        Step { at: 0.4, dir: Out, flags: ACK, state: Established, change: None, expires: 901 },
        // RST from the client: IN rst from ESTABLISHED = CLOSE (10 s).
        Step { at: 5.0, dir: In, flags: RST | ACK, state: Close, change: CounterChange::Deactivate, expires: 15 },
    ];
    let (mut table, id, mut counters) = run(ForwardMethod::Nat, true, &steps);
    // CLOSE's 10 s is shorter than the wheel entry queued at ESTABLISHED: it must still fire.
    expires_exactly_at(&mut table, id, 15, &mut counters);
}

#[test]
fn in_and_out_lookups() {
    let mut table = ConnTable::new(1, 100);
    let nat = table
        .insert(&conn(ForwardMethod::Nat, 1000), t(0.0), 60)
        .unwrap();
    let full = table
        .insert(&conn(ForwardMethod::FullNat, 1001), t(0.0), 60)
        .unwrap();
    let tun = table
        .insert(&conn(ForwardMethod::Tun, 1002), t(0.0), 60)
        .unwrap();
    assert_eq!(table.lookup_in(&key(1000)), Some(nat));
    assert_eq!(table.lookup_in(&key(1001)), Some(full));
    assert_eq!(table.lookup_in(&key(1002)), Some(tun));
    assert_eq!(table.lookup_in(&key(1003)), None);
    // Other fields of the key matter.
    let mut k = key(1000);
    k.vport = 81;
    assert_eq!(table.lookup_in(&k), None);
    k = key(1000);
    k.proto = IpProtocol::Udp;
    assert_eq!(table.lookup_in(&k), None);
    // NAT reply: RIP:8080 -> CIP:1000.
    let out = |addr: Ipv4Addr, port| OutKey {
        proto: IpProtocol::Tcp,
        daddr: RIP.into(),
        dport: 8080,
        addr: addr.into(),
        port,
    };
    assert_eq!(table.lookup_out(&out(CIP, 1000)), Some(nat));
    // FULLNAT reply: RIP:8080 -> LIP:40000, not to the client.
    assert_eq!(table.lookup_out(&out(LIP, 40000)), Some(full));
    assert_eq!(table.lookup_out(&out(CIP, 1001)), None);
    // TUN: none.
    assert_eq!(table.lookup_out(&out(CIP, 1002)), None);
    // A template with the same key is a different entry.
    let mut tpl = conn(ForwardMethod::Nat, 1000);
    tpl.flags = ConnFlags::TEMPLATE;
    let tid = table.insert(&tpl, t(0.0), 300).unwrap();
    assert_eq!(table.lookup_in(&key(1000)), Some(nat));
    assert_eq!(table.lookup_template(&key(1000)), Some(tid));
    assert_eq!(table.lookup_template(&key(1001)), None);
    assert_eq!(
        table.insert(&conn(ForwardMethod::Nat, 1000), t(0.0), 60),
        Err(ConnError::Exists)
    );
    assert_eq!(table.len(), 4);
    assert_eq!(
        table.get(tid).unwrap().dest_counter(),
        DestCounter::Persistent
    );
    let listed: Vec<ConnId> = table.iter().map(|(id, _)| id).collect();
    assert_eq!(listed.len(), 4);
    for id in [nat, full, tun, tid] {
        assert!(listed.contains(&id));
    }
}

#[test]
fn stale_handles_are_detected() {
    let mut table = ConnTable::new(2, 100);
    let a = table
        .insert(&conn(ForwardMethod::Nat, 1), t(0.0), 60)
        .unwrap();
    let removed = table.remove(a).unwrap();
    assert_eq!(removed.cport, 1);
    assert_eq!(removed.daddr, IpAddr::V4(RIP));
    assert!(table.get(a).is_none());
    assert!(!table.touch(a, t(1.0), 60));
    assert!(table.remove(a).is_none());
    assert!(
        table
            .track_tcp(a, t(1.0), Direction::In, ACK, false, &Timeouts::default())
            .is_none()
    );
    assert_eq!(table.lookup_in(&key(1)), None);
    // The slot is reused with a new generation.
    let b = table
        .insert(&conn(ForwardMethod::Nat, 2), t(0.0), 60)
        .unwrap();
    assert_ne!(a, b);
    assert!(table.get(a).is_none());
    assert_eq!(table.get(b).unwrap().cport(), 2);
    // The old wheel entry of `a` must not expire `b` early.
    let mut out = Vec::new();
    table.expire(Instant::from_secs(59), &mut out);
    assert!(out.is_empty());
    table.expire(Instant::from_secs(60), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, b);
}

#[test]
fn budget_is_enforced() {
    let mut table = ConnTable::new(3, 2);
    let a = table
        .insert(&conn(ForwardMethod::Dr, 1), t(0.0), 60)
        .unwrap();
    table
        .insert(&conn(ForwardMethod::Dr, 2), t(0.0), 60)
        .unwrap();
    assert_eq!(
        table.insert(&conn(ForwardMethod::Dr, 3), t(0.0), 60),
        Err(ConnError::Full { budget: 2 })
    );
    table.remove(a);
    table
        .insert(&conn(ForwardMethod::Dr, 3), t(0.0), 60)
        .unwrap();
    assert_eq!(table.len(), 2);
}

#[test]
fn expiry_order_and_lazy_rearm() {
    let mut table = ConnTable::new(4, 100);
    let a = table
        .insert(&conn(ForwardMethod::Nat, 1), t(0.0), 10)
        .unwrap();
    let b = table
        .insert(&conn(ForwardMethod::Nat, 2), t(0.0), 20)
        .unwrap();
    assert_eq!(table.next_deadline(), Some(Instant::from_secs(10)));
    // Traffic on `a` at t=5 moves its deadline to 35: no expiry at its old deadline.
    assert!(table.touch(a, t(5.0), 30));
    let mut out = Vec::new();
    assert_eq!(
        table.expire(Instant::from_secs(10), &mut out),
        Some(Instant::from_secs(20))
    );
    assert!(out.is_empty());
    table.expire(Instant::from_secs(20), &mut out);
    assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), [b]);
    out.clear();
    table.expire(Instant::from_secs(34), &mut out);
    assert!(out.is_empty());
    table.expire(Instant::from_secs(35), &mut out);
    assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), [a]);
    assert_eq!(table.next_deadline(), None);
}

#[test]
fn shorter_deadline_fires_and_long_ones_survive_wheel_turns() {
    let mut table = ConnTable::new(5, 100);
    let short = table
        .insert(&conn(ForwardMethod::Nat, 1), t(0.0), 900)
        .unwrap();
    let long = table
        .insert(&conn(ForwardMethod::Nat, 2), t(0.0), 5000)
        .unwrap();
    assert!(table.touch(short, t(1.0), 10)); // 900 s -> 11 s
    let mut out = Vec::new();
    table.expire(Instant::from_secs(11), &mut out);
    assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), [short]);
    out.clear();
    for s in (12..5000).step_by(7) {
        table.expire(Instant::from_secs(s), &mut out);
        assert!(out.is_empty(), "{s}");
    }
    table.expire(Instant::from_secs(5000), &mut out);
    assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), [long]);
}

#[test]
fn time_jump_expires_everything_due() {
    let mut table = ConnTable::new(6, 100);
    for p in 0..50u16 {
        table
            .insert(
                &conn(ForwardMethod::Nat, p),
                t(f64::from(p)),
                100 + u32::from(p),
            )
            .unwrap();
    }
    let keep = table
        .insert(&conn(ForwardMethod::Nat, 999), t(0.0), 100_000)
        .unwrap();
    let mut out = Vec::new();
    table.expire(Instant::from_secs(50_000), &mut out);
    assert_eq!(out.len(), 50);
    assert_eq!(table.len(), 1);
    assert!(table.get(keep).is_some());
    table.expire(Instant::from_secs(100_000), &mut out);
    assert_eq!(out.len(), 51);
}

#[test]
fn template_rearms_while_it_controls_connections() {
    let mut table = ConnTable::new(8, 100);
    let mut tpl = conn(ForwardMethod::Nat, 0);
    tpl.flags = ConnFlags::TEMPLATE;
    let tid = table.insert(&tpl, t(0.0), 300).unwrap();
    let mut c = conn(ForwardMethod::Nat, 5555);
    c.control = Some(tid);
    let cid = table.insert(&c, t(0.0), 900).unwrap();
    assert_eq!(table.get(tid).unwrap().n_control(), 1);
    assert_eq!(table.get(cid).unwrap().control(), Some(tid));
    let mut out = Vec::new();
    // At 300 s the template still controls `c`: ip_vs_conn_expire re-arms it for 60 s.
    table.expire(Instant::from_secs(300), &mut out);
    assert!(out.is_empty());
    assert_eq!(table.get(tid).unwrap().expires(), Instant::from_secs(360));
    table.expire(Instant::from_secs(360), &mut out);
    assert!(out.is_empty());
    assert_eq!(table.get(tid).unwrap().expires(), Instant::from_secs(420));
    // The connection goes (removed at 400 s): the count drops, the template expires at its
    // pending deadline.
    table.remove(cid).unwrap();
    assert_eq!(table.get(tid).unwrap().n_control(), 0);
    table.expire(Instant::from_secs(419), &mut out);
    assert!(out.is_empty());
    table.expire(Instant::from_secs(420), &mut out);
    assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), [tid]);
    // A stale template handle is refused.
    let mut c = conn(ForwardMethod::Nat, 5556);
    c.control = Some(tid);
    assert_eq!(
        table.insert(&c, t(500.0), 60),
        Err(ConnError::NoSuchTemplate)
    );
}

#[test]
fn expiring_connection_releases_its_template() {
    let mut table = ConnTable::new(9, 100);
    let mut tpl = conn(ForwardMethod::Dr, 0);
    tpl.flags = ConnFlags::TEMPLATE;
    let tid = table.insert(&tpl, t(0.0), 300).unwrap();
    let mut c = conn(ForwardMethod::Dr, 1);
    c.control = Some(tid);
    table.insert(&c, t(0.0), 100).unwrap();
    let mut out = Vec::new();
    table.expire(Instant::from_secs(100), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(table.get(tid).unwrap().n_control(), 0);
    table.expire(Instant::from_secs(300), &mut out);
    assert_eq!(out.len(), 2);
    assert!(table.is_empty());
}

#[test]
fn ipv6_connections() {
    let c6: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let v6: Ipv6Addr = "2001:db8::110".parse().unwrap();
    let r6: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let mut table = ConnTable::new(10, 100);
    let mut c = conn(ForwardMethod::Nat, 443);
    c.caddr = c6.into();
    c.vaddr = v6.into();
    c.daddr = r6.into();
    c.laddr = Ipv6Addr::UNSPECIFIED.into();
    let id = table.insert(&c, t(0.0), 60).unwrap();
    let v4 = table
        .insert(&conn(ForwardMethod::Nat, 443), t(0.0), 60)
        .unwrap();
    assert_ne!(id, v4);
    assert_eq!(table.lookup_in(&c.key()), Some(id));
    assert_eq!(table.lookup_in(&key(443)), Some(v4));
    let out = OutKey {
        proto: IpProtocol::Tcp,
        daddr: r6.into(),
        dport: 8080,
        addr: c6.into(),
        port: 443,
    };
    assert_eq!(table.lookup_out(&out), Some(id));
    let got = table.get(id).unwrap();
    assert_eq!(got.caddr(), IpAddr::V6(c6));
    assert_eq!(got.daddr(), IpAddr::V6(r6));
    assert_eq!(got.to_conn().key(), c.key());
    // Mixed families are refused.
    let mut bad = c;
    bad.daddr = RIP.into();
    assert_eq!(
        table.insert(&bad, t(0.0), 60),
        Err(ConnError::FamilyMismatch)
    );
    let mut out_v = Vec::new();
    table.expire(Instant::from_secs(60), &mut out_v);
    assert_eq!(out_v.len(), 2);
}

#[test]
fn set_timeouts() {
    let mut to = Timeouts::default();
    assert_eq!(to.get(), (900, 120, 300));
    let secs: Vec<u32> = TcpState::ALL.iter().map(|s| to.tcp(*s)).collect();
    assert_eq!(secs, [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
    to.set(3600, 0, 30);
    assert_eq!(to.get(), (3600, 120, 30));
    to.set(0, 15, 0);
    assert_eq!(to.get(), (3600, 15, 30));
    assert_eq!(
        to.tcp(TcpState::TimeWait),
        120,
        "--set leaves TIME_WAIT alone"
    );
}

#[test]
fn udp_uses_its_timeout() {
    let mut table = ConnTable::new(11, 100);
    let mut c = conn(ForwardMethod::Nat, 53);
    c.proto = IpProtocol::Udp;
    let id = table.insert(&c, t(0.0), Timeouts::NEW_CONN_SECS).unwrap();
    assert!(table.touch(id, t(0.0), Timeouts::default().udp()));
    assert_eq!(table.get(id).unwrap().tcp_state(), None);
    assert_eq!(table.get(id).unwrap().dest_counter(), DestCounter::Inactive);
    let mut out = Vec::new();
    table.expire(Instant::from_secs(299), &mut out);
    assert!(out.is_empty());
    table.expire(Instant::from_secs(300), &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn batch_lookup_agrees_with_single_lookups() {
    let mut table = ConnTable::new(12, 1000);
    let mut ids = Vec::new();
    for p in 0..100u16 {
        ids.push(
            table
                .insert(&conn(ForwardMethod::Nat, p), t(0.0), 60)
                .unwrap(),
        );
    }
    let c6: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let mut c = conn(ForwardMethod::Dr, 7);
    c.caddr = c6.into();
    c.vaddr = c6.into();
    c.daddr = c6.into();
    let id6 = table.insert(&c, t(0.0), 60).unwrap();
    // Hits, misses (ports 100..), the IPv6 one, in a mixed order.
    let mut keys: Vec<ConnKey> = (0..130u16).rev().map(key).collect();
    keys.push(c.key());
    let mut out = vec![None; keys.len()];
    table.lookup_in_batch(&keys, &mut out);
    for (k, got) in keys.iter().zip(&out) {
        assert_eq!(*got, table.lookup_in(k));
        let want = match (k.caddr, k.cport) {
            (IpAddr::V6(_), _) => Some(id6),
            (_, p) if p < 100 => Some(ids[usize::from(p)]),
            _ => None,
        };
        assert_eq!(*got, want);
    }
}

#[test]
fn get_mut_expire_now_and_reserve() {
    let mut table = ConnTable::new(13, 100);
    table.reserve(1000, 10);
    let id = table
        .insert(&conn(ForwardMethod::Nat, 1), t(0.0), 900)
        .unwrap();
    {
        let mut c = table.get_mut(id).unwrap();
        c.set_dest(9);
        c.set_svc(8);
        c.set_state(TcpState::Listen as u8);
        c.insert_flags(ConnFlags::TEMPLATE.union(ConnFlags::ONE_PACKET));
        c.remove_flags(ConnFlags::INACTIVE);
        let r = c.get();
        assert_eq!((r.dest(), r.svc()), (9, 8));
        assert_eq!(r.tcp_state(), Some(TcpState::Listen));
        // TEMPLATE cannot be set through the view: it would move the entry between key spaces.
        assert!(!r.flags().contains(ConnFlags::TEMPLATE));
        assert!(r.flags().contains(ConnFlags::ONE_PACKET));
        assert_eq!(r.dest_counter(), DestCounter::Active);
    }
    assert_eq!(table.lookup_in(&key(1)), Some(id));
    // expire_now: gone at the next expiry at or after now, not before.
    assert!(table.expire_now(id, t(10.2)));
    let mut out = Vec::new();
    table.expire(Instant::from_secs(10), &mut out);
    assert!(out.is_empty());
    table.expire(Instant::from_secs(11), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.dest, 9);
    assert!(table.get_mut(id).is_none());
    assert!(!table.expire_now(id, t(12.0)));
}

#[test]
fn drop_entry_removes_half_open_connections_only() {
    let mut table = ConnTable::new(14, 10_000);
    let timeouts = Timeouts::default();
    let mut half_open = 0;
    // 320 connections: every third stays half-open (SYN only: SYN_RECV), the others complete
    // the handshake (ESTABLISHED).
    for p in 0..320u16 {
        let id = table
            .insert(&conn(ForwardMethod::Nat, p), t(0.0), 3)
            .unwrap();
        table.track_tcp(id, t(0.0), Direction::In, SYN, false, &timeouts);
        if p % 3 == 0 {
            half_open += 1;
        } else {
            table.track_tcp(id, t(0.1), Direction::Out, SYN | ACK, false, &timeouts);
            table.track_tcp(id, t(0.2), Direction::In, ACK, false, &timeouts);
        }
    }
    let mut out = Vec::new();
    // 32 rounds over consecutive slices cover every slot once.
    for round in 0..32u64 {
        table.drop_half_open(round * 10, &mut out);
    }
    assert_eq!(out.len(), half_open);
    for (_, c) in &out {
        assert_eq!(c.state, TcpState::SynRecv as u8);
        assert_eq!(c.cport % 3, 0);
    }
    assert_eq!(table.len(), 320 - half_open);
    for (_, c) in table.iter() {
        assert_eq!(c.tcp_state(), Some(TcpState::Established));
    }
}

#[test]
fn state_names_for_listings() {
    let mut table = ConnTable::new(15, 100);
    let tcp = table
        .insert(&conn(ForwardMethod::Nat, 1), t(0.0), 60)
        .unwrap();
    assert_eq!(table.get(tcp).unwrap().state_name(), "NONE");
    table.track_tcp(tcp, t(0.0), Direction::In, SYN, false, &Timeouts::default());
    assert_eq!(table.get(tcp).unwrap().state_name(), "SYN_RECV");
    let mut u = conn(ForwardMethod::Nat, 2);
    u.proto = IpProtocol::Udp;
    let udp = table.insert(&u, t(0.0), 60).unwrap();
    assert_eq!(table.get(udp).unwrap().state_name(), "UDP");
    let mut tpl = conn(ForwardMethod::Nat, 0);
    tpl.proto = IpProtocol::from(0);
    tpl.flags = ConnFlags::TEMPLATE;
    let tid = table.insert(&tpl, t(0.0), 300).unwrap();
    assert_eq!(table.get(tid).unwrap().state_name(), "NONE");
    table.get_mut(tcp).unwrap().set_state(42);
    assert_eq!(table.get(tcp).unwrap().state_name(), "ERR!");
}
