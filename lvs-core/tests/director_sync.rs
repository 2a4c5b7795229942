//! Connection sync between two directors: the master's exported entries go through the wire
//! codec (`SyncSender` -> bytes -> `decode`) into a backup, which then forwards the flow's
//! next packet without having seen its SYN. Also the backup's import rules (unknown service,
//! replacement on another real server, state updates), expiring one dest's connections and
//! zeroing one service's counters.

mod director_util;

use director_util::*;
use lvs_core::director::{DropReason, SyncImport};
use lvs_core::ipvsadm::{Protocol, ServiceKey};
use lvs_core::service::ServiceError;
use lvs_core::sync::{
    SyncConn, SyncPolicy, SyncSender, SyncSenderConfig, decode, flags, tcp_state,
};
use lvs_core::wire::IpProtocol;

const CIP: &str = "198.51.100.7";
const VIP: &str = "192.0.2.10";
const RIP1: &str = "10.0.0.11";
const RIP2: &str = "10.0.0.12";

/// Master and backup share the service; the backup lists the dests the other way round so a
/// scheduler of its own would not pick RIP1 first by accident.
fn pair(method: &str) -> (Sim, Sim) {
    let mut master = Sim::new(config());
    master.ipvsadm(&format!(
        "-A -t 192.0.2.10:80 -s rr
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 {method}"
    ));
    master.d.set_sync_master(Some(SyncPolicy::default()));
    let mut backup = Sim::new(config());
    backup.ipvsadm(&format!(
        "-A -t 192.0.2.10:80 -s rr
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 {method}
         -a -t 192.0.2.10:80 -r 10.0.0.12:8080 {method}"
    ));
    (master, backup)
}

/// Everything the master queued, through the encoder and the decoder.
fn over_the_wire(master: &mut Sim) -> Vec<SyncConn> {
    let mut sender = SyncSender::new(SyncSenderConfig::default());
    while let Some(c) = master.d.poll_sync() {
        sender.push(master.now, &c).expect("encodable");
    }
    sender.flush();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = sender.poll_transmit(&mut buf) {
        let d = decode(&buf[..n], 0).expect("decodes");
        assert!(d.skipped.is_empty() && d.error.is_none(), "{d:?}");
        out.extend(d.conns);
    }
    out
}

fn entry(vaddr: &str, daddr: &str, flags: u32, state: u16) -> SyncConn {
    SyncConn {
        protocol: IpProtocol::Tcp,
        caddr: ip(CIP),
        cport: 40000,
        vaddr: ip(vaddr),
        vport: 80,
        daddr: ip(daddr),
        dport: 8080,
        fwmark: 0,
        flags,
        state,
        timeout: 0,
        seq: None,
        pe: None,
    }
}

/// The client's packet from port 40000 to the VIP.
fn from_client(f: Flags, payload: &[u8]) -> Vec<u8> {
    tcp_in((CIP, 40000), (VIP, 80), f, payload)
}

/// RIP1's SYN-ACK to the client, through the director (NAT).
fn synack_from_rip1() -> Vec<u8> {
    tcp_from_rs(MAC_RS1, (RIP1, 8080), (CIP, 40000), SYNACK, b"")
}

/// A NAT handshake and the first request: the third incoming packet, in ESTABLISHED.
fn nat_handshake(m: &mut Sim) {
    m.send(&from_client(SYN, b"")).frame();
    m.send(&synack_from_rip1()).frame();
    m.send(&from_client(ACK, b"")).frame();
    m.send(&from_client(ACK, b"GET /")).frame();
}

fn svc_key() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(VIP),
        port: 80,
    }
}

#[test]
fn nat_flow_continues_on_the_backup() {
    let (mut m, mut b) = pair("-m");
    m.send(&from_client(SYN, b"")).frame();
    // Below the threshold of 3 incoming packets nothing is synced.
    assert_eq!(m.d.poll_sync(), None);
    m.send(&synack_from_rip1()).frame();
    m.send(&from_client(ACK, b"")).frame();
    assert_eq!(m.d.poll_sync(), None);
    // The third incoming packet, in ESTABLISHED: synced.
    m.send(&from_client(ACK, b"GET /")).frame();
    let got = over_the_wire(&mut m);
    // NAT (masq = 0), replies seen, active; ESTABLISHED with its 900 s timeout.
    let want = SyncConn {
        timeout: 900,
        ..entry(VIP, RIP1, 0, tcp_state::ESTABLISHED)
    };
    assert_eq!(got, vec![want]);

    // No SYN on the backup: the flow is unknown there before the import.
    let data = from_client(ACK, b"more");
    let mut probe = Sim::new(config());
    probe.ipvsadm("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m");
    assert_eq!(probe.send(&data), Out::Drop(DropReason::NotSyn));

    for c in &got {
        assert_eq!(b.d.import_sync(b.now, c), SyncImport::Created);
    }
    let sc = b.d.sync_counters();
    assert_eq!((sc.imported, sc.updated, sc.skipped), (1, 0, 0));
    assert_eq!(b.counters(0, RIP1), (1, 0));
    assert_eq!(b.counters(0, RIP2), (0, 0));

    let out = b.send(&data);
    let want = tcp_to_rs(MAC_RS1, (CIP, 40000), (RIP1, 8080), ACK, b"more");
    assert_frame("backup in", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(RIP1));
    // The reply is un-NATed back to the VIP.
    let reply = tcp_from_rs(MAC_RS1, (RIP1, 8080), (CIP, 40000), ACK, b"200");
    let out = b.send(&reply);
    let want = tcp_out((VIP, 80), (CIP, 40000), ACK, b"200");
    assert_frame("backup out", out.frame(), &want);
    let c: Vec<_> = b.d.conns(b.now).collect();
    assert_eq!(c.len(), 1);
    // The synced timeout (900 s) was re-armed by the data packet's ESTABLISHED timeout.
    assert!((899..=900).contains(&c[0].expires_in.as_secs()));
}

#[test]
fn dr_flow_continues_on_the_backup() {
    let (mut m, mut b) = pair("-g");
    m.send(&from_client(SYN, b"")).frame();
    m.send(&from_client(ACK, b"")).frame();
    m.send(&from_client(ACK, b"x")).frame();
    let got = over_the_wire(&mut m);
    // ipvsadm gives a DR dest the virtual port (the kernel ignores another one).
    let want = SyncConn {
        timeout: 900,
        dport: 80,
        ..entry(
            VIP,
            RIP1,
            flags::DROUTE | flags::NOOUTPUT,
            tcp_state::ESTABLISHED,
        )
    };
    assert_eq!(got, vec![want]);
    assert_eq!(b.d.import_sync(b.now, &got[0]), SyncImport::Created);
    assert_eq!(b.counters(0, RIP1), (1, 0));
    // DR: only the MACs and the TTL change.
    let data = from_client(ACK, b"y");
    let out = b.send(&data);
    let want = tcp_to_rs(MAC_RS1, (CIP, 40000), (VIP, 80), ACK, b"y");
    assert_frame("backup dr", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(RIP1));
}

#[test]
fn entries_without_service_or_dest_are_skipped() {
    let (_, mut b) = pair("-m");
    let est = tcp_state::ESTABLISHED;
    assert_eq!(
        b.d.import_sync(b.now, &entry("192.0.2.99", RIP1, 0, est)),
        SyncImport::Skipped
    );
    assert_eq!(
        b.d.import_sync(b.now, &entry(VIP, "10.0.0.77", 0, est)),
        SyncImport::Skipped
    );
    // Nor a template of no service.
    assert_eq!(
        b.d.import_sync(b.now, &entry("192.0.2.99", RIP1, flags::TEMPLATE, 1)),
        SyncImport::Skipped
    );
    let sc = b.d.sync_counters();
    assert_eq!((sc.imported, sc.updated, sc.skipped), (0, 0, 3));
    assert_eq!(b.d.conn_count(), 0);
    assert_eq!(b.counters(0, RIP1), (0, 0));
}

#[test]
fn another_real_server_replaces_and_stale_expiry_is_ignored() {
    let (_, mut b) = pair("-m");
    let est = tcp_state::ESTABLISHED;
    assert_eq!(
        b.d.import_sync(b.now, &entry(VIP, RIP1, 0, est)),
        SyncImport::Created
    );
    assert_eq!(
        b.d.import_sync(b.now, &entry(VIP, RIP2, 0, est)),
        SyncImport::Replaced
    );
    assert_eq!(b.d.conn_count(), 1);
    assert_eq!(b.counters(0, RIP1), (0, 0));
    assert_eq!(b.counters(0, RIP2), (1, 0));
    // The master's inactive notice about the old connection: ignored.
    let stale = entry(VIP, RIP1, flags::INACTIVE, tcp_state::CLOSE);
    assert_eq!(b.d.import_sync(b.now, &stale), SyncImport::Skipped);
    assert_eq!(b.counters(0, RIP2), (1, 0));
    let data = from_client(ACK, b"z");
    let out = b.send(&data);
    let want = tcp_to_rs(MAC_RS2, (CIP, 40000), (RIP2, 8080), ACK, b"z");
    assert_frame("replaced", out.frame(), &want);
    let sc = b.d.sync_counters();
    assert_eq!((sc.imported, sc.updated, sc.skipped), (2, 0, 1));
}

#[test]
fn update_moves_state_counters_and_timeout() {
    let (_, mut b) = pair("-m");
    b.d.import_sync(b.now, &entry(VIP, RIP1, 0, tcp_state::ESTABLISHED));
    let close_wait = SyncConn {
        timeout: 30,
        ..entry(VIP, RIP1, flags::INACTIVE, tcp_state::CLOSE_WAIT)
    };
    assert_eq!(b.d.import_sync(b.now, &close_wait), SyncImport::Updated);
    assert_eq!(b.counters(0, RIP1), (0, 1));
    let c: Vec<_> = b.d.conns(b.now).collect();
    assert_eq!(c[0].state, Some(lvs_core::conn::TcpState::CloseWait));
    assert_eq!(c[0].expires_in.as_secs(), 30);
    b.advance(31);
    assert_eq!(b.d.conn_count(), 0);
    assert_eq!(b.counters(0, RIP1), (0, 0));
    let sc = b.d.sync_counters();
    assert_eq!((sc.imported, sc.updated), (1, 1));
}

#[test]
fn expire_dest_conns_removes_one_dests_connections() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t 192.0.2.10:80 -s rr
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m
         -a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m",
    );
    let mut to_rip1 = 0;
    for port in 40000..40006 {
        let out = s.send(&tcp_in((CIP, port), (VIP, 80), SYN, b""));
        if out.next_hop().addr == ip(RIP1) {
            to_rip1 += 1;
        }
    }
    assert_eq!(to_rip1, 3, "rr alternates");
    assert_eq!(s.d.expire_dest_conns(&svc_key(), ip(RIP1), 8080, s.now), 3);
    assert_eq!(s.d.conn_count(), 3);
    assert_eq!(s.counters(0, RIP1), (0, 0));
    assert_eq!(s.counters(0, RIP2), (3, 0));
    assert!(s.d.conns(s.now).all(|c| c.dest.0 == ip(RIP2)));
    // Wrong port, unknown service: nothing.
    assert_eq!(s.d.expire_dest_conns(&svc_key(), ip(RIP2), 9999, s.now), 0);
    let other = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip(VIP),
        port: 80,
    };
    assert_eq!(s.d.expire_dest_conns(&other, ip(RIP2), 8080, s.now), 0);
    assert_eq!(s.d.conn_count(), 3);
}

#[test]
fn zero_service_zeroes_one_service_only() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t 192.0.2.10:80 -s rr
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m
         -A -t 192.0.2.10:443 -s rr
         -a -t 192.0.2.10:443 -r 10.0.0.12:8443 -m",
    );
    s.send(&from_client(SYN, b"")).frame();
    s.send(&tcp_in((CIP, 40001), (VIP, 443), SYN, b"")).frame();
    let https = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(VIP),
        port: 443,
    };
    s.d.zero_service(&svc_key()).expect("exists");
    let snap = s.d.snapshot();
    let http = snap.services.iter().find(|x| x.key == svc_key()).unwrap();
    assert_eq!(http.stats, Default::default());
    assert!(http.dests.iter().all(|d| d.stats == Default::default()));
    // The connection itself stays.
    assert_eq!(http.dests[0].active_conns + http.dests[0].inactive_conns, 1);
    let other = snap.services.iter().find(|x| x.key == https).unwrap();
    assert_eq!((other.stats.conns, other.stats.inpkts), (1, 1));
    assert_eq!(
        (other.dests[0].stats.conns, other.dests[0].stats.inpkts),
        (1, 1)
    );
    // The global counters are ipvsadm -Z's, not this one's.
    assert_eq!(snap.stats.conns, 2);
    let missing = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip(VIP),
        port: 53,
    };
    assert_eq!(s.d.zero_service(&missing), Err(ServiceError::NoSuchService));
}

#[test]
fn persistence_template_follows_the_connection() {
    let mut m = Sim::new(config());
    m.ipvsadm(
        "-A -t 192.0.2.10:80 -s rr -p 300
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m",
    );
    m.d.set_sync_master(Some(SyncPolicy::default()));
    let backup_rules = "-A -t 192.0.2.10:80 -s rr -p 300
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m
         -a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m";
    // Premise: without the template the backup sends this client's first SYN to RIP2.
    let second_syn = tcp_in((CIP, 40001), (VIP, 80), SYN, b"");
    let mut control = Sim::new(config());
    control.ipvsadm(backup_rules);
    assert_eq!(control.send(&second_syn).next_hop().addr, ip(RIP2));

    nat_handshake(&mut m);
    let got = over_the_wire(&mut m);
    // <caddr, 0, vaddr, vport> -> RIP1, the dest's NAT method and INACTIVE bit, 300 s.
    let template = SyncConn {
        cport: 0,
        timeout: 300,
        ..entry(VIP, RIP1, flags::TEMPLATE | flags::INACTIVE, 0)
    };
    let conn = SyncConn {
        timeout: 900,
        ..entry(VIP, RIP1, 0, tcp_state::ESTABLISHED)
    };
    // The kernel's sync_conn_needed lets a template through on every packet of a connection
    // it controls (sync_period does not apply to templates); the connection at the third.
    // Once the connection is ESTABLISHED the template is assured (state 1).
    let assured = SyncConn {
        state: 1,
        ..template.clone()
    };
    assert_eq!(got, vec![template.clone(), assured.clone(), conn, assured]);

    let mut b = Sim::new(config());
    b.ipvsadm(backup_rules);
    for c in &got {
        assert_eq!(b.d.import_sync(b.now, c), SyncImport::Created);
    }
    let snap = b.d.snapshot();
    let d1 = snap.services[0]
        .dests
        .iter()
        .find(|d| d.addr == ip(RIP1))
        .unwrap();
    assert_eq!((d1.active_conns, d1.persist_conns), (1, 1));
    // The client's next connection sticks to RIP1 on the backup.
    let out = b.send(&second_syn);
    let want = tcp_to_rs(MAC_RS1, (CIP, 40001), (RIP1, 8080), SYN, b"");
    assert_frame("persistent", out.frame(), &want);
}
