//! SCTP through the whole director: the kernel's state table per chunk (NAT with both
//! directions, DR with the INPUT-ONLY rows), its timeouts in virtual time, active/inactive
//! counting, association reuse and the `ipvsadm -Lc` names. Frames are built by hand with a
//! CRC32c computed here, independently of the library's.

mod director_util;

use director_util::*;
use lvs_core::conn::SctpState;
use lvs_core::director::{ConnSnapshot, DropReason};
use lvs_core::ipvsadm::{AdmState, ListFormat, NumericResolver, list_conns};

const VIP: &str = "192.0.2.10";
const PORT: u16 = 3868;
const RS: &str = "10.0.0.11";
const CLIENT: (&str, u16) = ("198.51.100.7", 5000);

// Chunk types, RFC 9260 section 3.2.
const DATA: u8 = 0;
const INIT: u8 = 1;
const INIT_ACK: u8 = 2;
const ABORT: u8 = 6;
const SHUTDOWN: u8 = 7;
const SHUTDOWN_ACK: u8 = 8;
const COOKIE_ECHO: u8 = 10;
const COOKIE_ACK: u8 = 11;
const SHUTDOWN_COMPLETE: u8 = 14;

/// A chunk of `kind` with a body of the size the chunk type has in real traffic.
fn chunk(kind: u8) -> Vec<u8> {
    let body: usize = match kind {
        INIT | INIT_ACK => 16, // tag, a_rwnd, streams, initial TSN
        DATA => 16,            // TSN, stream, SSN, PPID + 4 bytes of user data
        COOKIE_ECHO => 9,      // an odd-sized cookie: padded
        SHUTDOWN => 4,         // cumulative TSN ack
        _ => 0,
    };
    let mut c = vec![kind, 0];
    c.extend_from_slice(&((4 + body) as u16).to_be_bytes());
    c.extend((0..body).map(|i| i as u8 + 1));
    c.resize(c.len().next_multiple_of(4), 0);
    c
}

/// An SCTP packet `src -> dst` carrying `chunks`, checksum filled (little-endian on the
/// wire, as Linux stores it).
fn sctp(src: (&str, u16), dst: (&str, u16), chunks: &[u8]) -> Vec<u8> {
    let body: Vec<u8> = chunks.iter().flat_map(|&k| chunk(k)).collect();
    sctp_in(src, dst, 0x1234_5678, &body)
}

fn from_client(chunks: &[u8]) -> Vec<u8> {
    sctp(CLIENT, (VIP, PORT), chunks)
}

fn from_server(chunks: &[u8]) -> Vec<u8> {
    sctp((RS, PORT), CLIENT, chunks)
}

/// The SCTP checksum of a forwarded IPv4 frame is right.
#[track_caller]
fn assert_crc(frame: &[u8]) {
    let mut l4 = frame[34..].to_vec();
    let got = u32::from_le_bytes([l4[8], l4[9], l4[10], l4[11]]);
    l4[8..12].fill(0);
    assert_eq!(got, crc32c(&l4), "SCTP checksum");
}

fn only(s: &Sim) -> ConnSnapshot {
    let c: Vec<_> = s.d.conns(s.now).collect();
    assert_eq!(c.len(), 1, "{c:?}");
    c[0]
}

fn state(s: &Sim) -> SctpState {
    only(s).sctp_state.expect("an SCTP connection")
}

fn sim(method: &str) -> Sim {
    let mut s = Sim::new(config());
    s.ipvsadm(&format!(
        "-A --sctp-service {VIP}:{PORT} -s rr
         -a --sctp-service {VIP}:{PORT} -r {RS}:{PORT} {method}"
    ));
    s
}

/// Sends `frame` and checks it was forwarded with a valid checksum.
#[track_caller]
fn pass(s: &mut Sim, frame: &[u8]) -> Vec<u8> {
    let out = s.send(frame);
    let f = out.frame().to_vec();
    assert_crc(&f);
    f
}

#[test]
fn nat_association_from_init_to_closed() {
    let mut s = sim("-m");
    /// (from the client?, chunk, state after, its timeout, (active, inactive))
    type Step = (bool, u8, SctpState, u64, (u32, u32));
    let steps: [Step; 9] = [
        (true, INIT, SctpState::Init1, 4, (0, 1)),
        (false, INIT_ACK, SctpState::CookieSent, 61, (0, 1)),
        (true, COOKIE_ECHO, SctpState::CookieReplied, 61, (0, 1)),
        (false, COOKIE_ACK, SctpState::Established, 900, (1, 0)),
        (true, DATA, SctpState::Established, 900, (1, 0)),
        (false, DATA, SctpState::Established, 900, (1, 0)),
        (true, SHUTDOWN, SctpState::ShutdownReceived, 61, (0, 1)),
        (false, SHUTDOWN_ACK, SctpState::ShutdownAckSent, 61, (0, 1)),
        (true, SHUTDOWN_COMPLETE, SctpState::Closed, 61, (0, 1)),
    ];
    for (client, kind, want, timeout, counters) in steps {
        let f = if client {
            let f = pass(&mut s, &from_client(&[kind]));
            // NAT toward the real server.
            assert_eq!(&f[30..34], &[10, 0, 0, 11]);
            f
        } else {
            let f = pass(&mut s, &from_server(&[kind]));
            // The reply leaves from the VIP.
            assert_eq!(&f[26..30], &[192, 0, 2, 10]);
            f
        };
        assert_eq!(f[34 + 12], kind, "the chunk is untouched");
        let c = only(&s);
        assert_eq!(state(&s), want, "after chunk {kind}");
        assert_eq!(c.state_name, want.name());
        assert_eq!(c.expires_in.as_secs(), timeout, "timeout of {want}");
        assert_eq!(s.counters(0, RS), counters, "counters in {want}");
        s.advance(1);
    }
    // CLOSED lives 61 s from the SHUTDOWN COMPLETE, then the dest is released.
    s.advance(59);
    assert_eq!(s.d.conn_count(), 1);
    s.advance(1);
    assert_eq!(s.d.conn_count(), 0);
    assert_eq!(s.counters(0, RS), (0, 0));
}

#[test]
fn an_unanswered_init_expires_after_four_seconds() {
    let mut s = sim("-m");
    pass(&mut s, &from_client(&[INIT]));
    s.advance(3);
    assert_eq!(state(&s), SctpState::Init1);
    // A retransmitted INIT: INIT, the maximum RTO.
    pass(&mut s, &from_client(&[INIT]));
    assert_eq!(state(&s), SctpState::Init);
    assert_eq!(only(&s).expires_in.as_secs(), 61);
    s.advance(61);
    assert_eq!(s.d.conn_count(), 0);
    assert_eq!(s.counters(0, RS), (0, 0));
}

#[test]
fn dr_uses_the_input_only_rows() {
    let mut s = sim("-g");
    pass(&mut s, &from_client(&[INIT]));
    assert!(only(&s).input_only);
    assert_eq!(state(&s), SctpState::Init1);
    // The server's INIT ACK goes to the client directly; the client's COOKIE ECHO alone
    // establishes.
    pass(&mut s, &from_client(&[COOKIE_ECHO]));
    assert_eq!(state(&s), SctpState::Established);
    assert_eq!(s.counters(0, RS), (1, 0));
    pass(&mut s, &from_client(&[DATA]));
    pass(&mut s, &from_client(&[SHUTDOWN]));
    assert_eq!(state(&s), SctpState::ShutdownReceived);
    assert_eq!(s.counters(0, RS), (0, 1));
    pass(&mut s, &from_client(&[SHUTDOWN_COMPLETE]));
    assert_eq!(state(&s), SctpState::Closed);
    assert!(only(&s).input_only);
}

#[test]
fn a_server_abort_of_the_init_rejects() {
    let mut s = sim("-m");
    pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_server(&[ABORT]));
    assert_eq!(state(&s), SctpState::Rejected);
    assert_eq!(only(&s).expires_in.as_secs(), 4);
    s.advance(4);
    assert_eq!(s.d.conn_count(), 0);
}

#[test]
fn an_abort_bundled_after_the_cookie_echo_closes() {
    let mut s = sim("-m");
    pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_server(&[INIT_ACK]));
    pass(&mut s, &from_client(&[COOKIE_ECHO, ABORT]));
    assert_eq!(state(&s), SctpState::Closed);
    // A DATA chunk bundled after the COOKIE ECHO is the common case: the echo counts.
    let mut s = sim("-m");
    pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_server(&[INIT_ACK]));
    pass(&mut s, &from_client(&[COOKIE_ECHO, DATA]));
    assert_eq!(state(&s), SctpState::CookieReplied);
}

#[test]
fn an_init_on_a_closed_association_is_scheduled_afresh() {
    let mut s = sim("-m");
    s.ipvsadm(&format!(
        "-a --sctp-service {VIP}:{PORT} -r 10.0.0.12:{PORT} -m"
    ));
    let first = pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_client(&[ABORT]));
    assert_eq!(state(&s), SctpState::Closed);
    // conn_reuse_mode: the old entry goes, rr picks the next dest, the state starts over
    // (without the reuse rule an INIT on CLOSED would move it to INIT on the old dest).
    let second = pass(&mut s, &from_client(&[INIT]));
    assert_eq!(state(&s), SctpState::Init1);
    assert_ne!(first[30..34], second[30..34]);
}

#[test]
fn other_chunks_do_not_open_and_a_packet_without_chunks_keeps_the_state() {
    let mut s = sim("-m");
    for k in [DATA, COOKIE_ECHO, SHUTDOWN, ABORT] {
        assert_eq!(
            s.send(&from_client(&[k])),
            Out::Drop(DropReason::NotSyn),
            "chunk {k}"
        );
    }
    pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_server(&[INIT_ACK]));
    s.advance(10);
    // A bare common header: forwarded, state kept, its timeout re-armed.
    pass(&mut s, &from_client(&[]));
    assert_eq!(state(&s), SctpState::CookieSent);
    assert_eq!(only(&s).expires_in.as_secs(), 61);
}

#[test]
fn ipvsadm_lists_sctp_state_names() {
    let mut s = sim("-m");
    pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_server(&[INIT_ACK]));
    let st = AdmState::from_director(&s.d, Some(s.now));
    let f = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    let text = list_conns(&st.conns, &f, &NumericResolver);
    assert_eq!(
        text.lines().nth(2),
        Some("SCTP 01:01  C-SENT      198.51.100.7:5000  192.0.2.10:3868    10.0.0.11:3868")
    );
}

#[test]
fn an_established_association_is_synced_with_its_state() {
    use lvs_core::sync::{SyncPolicy, SyncSender, SyncSenderConfig, decode};
    let mut master = sim("-m");
    master.d.set_sync_master(Some(SyncPolicy::default()));
    pass(&mut master, &from_client(&[INIT]));
    pass(&mut master, &from_server(&[INIT_ACK]));
    pass(&mut master, &from_client(&[COOKIE_ECHO]));
    pass(&mut master, &from_server(&[COOKIE_ACK]));
    // The policy syncs SCTP in ESTABLISHED after the threshold of client packets.
    for _ in 0..3 {
        pass(&mut master, &from_client(&[DATA]));
    }
    let mut sender = SyncSender::new(SyncSenderConfig::default());
    while let Some(c) = master.d.poll_sync() {
        sender.push(master.now, &c).expect("encodable");
    }
    sender.flush();
    let mut entries = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = sender.poll_transmit(&mut buf) {
        entries.extend(decode(&buf[..n], 0).expect("decodes").conns);
    }
    assert!(!entries.is_empty(), "nothing synced");
    let e = entries.last().unwrap();
    assert_eq!((e.state, e.timeout), (SctpState::Established as u16, 900));
    let mut backup = sim("-m");
    for e in &entries {
        let _ = backup.d.import_sync(backup.now, e);
    }
    assert_eq!(state(&backup), SctpState::Established);
    assert_eq!(backup.counters(0, RS), (1, 0));
    // The backup forwards the association's next packet and tracks it on.
    pass(&mut backup, &from_client(&[SHUTDOWN]));
    assert_eq!(state(&backup), SctpState::ShutdownReceived);
}

#[test]
fn ipv6_associations_are_tracked_alike() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A --sctp-service [2001:db8::10]:3868
         -a --sctp-service [2001:db8::10]:3868 -r [fd00::11]:3868 -m",
    );
    let c = ("2001:db8::7", 5000);
    let v = ("2001:db8::10", 3868);
    let r = ("fd00::11", 3868);
    for (client, kind, want) in [
        (true, INIT, SctpState::Init1),
        (false, INIT_ACK, SctpState::CookieSent),
        (true, COOKIE_ECHO, SctpState::CookieReplied),
        (false, COOKIE_ACK, SctpState::Established),
        (false, SHUTDOWN, SctpState::ShutdownSent),
        (true, SHUTDOWN_ACK, SctpState::Closed),
    ] {
        let f = if client {
            sctp(c, v, &[kind])
        } else {
            sctp(r, c, &[kind])
        };
        assert!(matches!(s.send(&f), Out::Forward(..)), "chunk {kind}");
        assert_eq!(state(&s), want, "after chunk {kind}");
    }
    assert_eq!(s.counters(0, "fd00::11"), (0, 1));
}

#[test]
fn an_init_on_a_closed_persistent_association_stays_with_it() {
    let mut s = Sim::new(config());
    s.ipvsadm(&format!(
        "-A --sctp-service {VIP}:{PORT} -s rr -p 300
         -a --sctp-service {VIP}:{PORT} -r {RS}:{PORT} -m"
    ));
    pass(&mut s, &from_client(&[INIT]));
    pass(&mut s, &from_client(&[ABORT]));
    assert_eq!(state(&s), SctpState::Closed);
    // Controlled by a template: no rescheduling, the table moves CLOSED on to INIT.
    pass(&mut s, &from_client(&[INIT]));
    assert_eq!(state(&s), SctpState::Init);
}
