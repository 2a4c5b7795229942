//! SCTP association tracking as IPVS does it (`net/netfilter/ipvs/ip_vs_proto_sctp.c`).
//!
//! Like TCP ([`super::tcp`]) IPVS does not run SCTP: it maps the first chunk of each packet
//! to an event and moves the connection through a table indexed by direction x event x
//! state. The states are the kernel's, "as seen in the real server" (RFC 9260 section 4 plus
//! INIT1, INIT, COOKIE_SENT, COOKIE_REPLIED, COOKIE and REJECTED, which split the diagram's
//! CLOSED for shorter timeouts and debugging). Only ESTABLISHED counts as active.
//!
//! ```text
//!   client INIT          NONE     -> INIT1      (4 s: a dropped INIT goes quickly)
//!   server INIT ACK      INIT1    -> C-SENT     (61 s, the maximum RTO + 1)
//!   client COOKIE ECHO   C-SENT   -> C-REPLIED
//!   server COOKIE ACK    C-REPLIED-> ESTABLISHED (900 s)
//!   SHUTDOWN / SHUTDOWN ACK / SHUTDOWN COMPLETE    -> S-SENT/S-RECEIVED/S-ACK-SENT -> CLOSED
//!   ABORT                any      -> CLOSED (REJECTED when it answers an INIT: 4 s)
//! ```
//! DR and TUN see only the client's half: until an OUT packet appears the INPUT-ONLY rows
//! apply, where the client's COOKIE ECHO alone establishes.

use super::tcp::{CounterChange, Direction};
use super::{ConnFlags, ConnId, ConnTable, Timeouts};
use crate::time::Instant;

/// The IPVS SCTP states in the kernel's order (`IP_VS_SCTP_S_*`); the discriminant is the
/// kernel's number, which the sync protocol carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum SctpState {
    /// A new connection before its first packet was tracked.
    #[default]
    None = 0,
    /// The client's first INIT, waiting for the server's INIT ACK.
    Init1 = 1,
    /// A repeated client INIT.
    Init = 2,
    /// The server's INIT ACK was seen, waiting for the client's COOKIE ECHO.
    CookieSent = 3,
    /// The client's COOKIE ECHO was seen, waiting for the server's COOKIE ACK.
    CookieReplied = 4,
    /// The server sent INIT (an association started by the real server).
    CookieWait = 5,
    /// The client answered the server's INIT with INIT ACK.
    Cookie = 6,
    /// The server sent COOKIE ECHO.
    CookieEchoed = 7,
    /// Established: the only active state.
    Established = 8,
    /// The server sent SHUTDOWN.
    ShutdownSent = 9,
    /// The client sent SHUTDOWN.
    ShutdownReceived = 10,
    /// SHUTDOWN ACK sent.
    ShutdownAckSent = 11,
    /// An INIT answered by ABORT.
    Rejected = 12,
    /// Closed.
    Closed = 13,
}

impl SctpState {
    /// Number of states.
    pub const COUNT: usize = 14;

    /// Every state in kernel order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::None,
        Self::Init1,
        Self::Init,
        Self::CookieSent,
        Self::CookieReplied,
        Self::CookieWait,
        Self::Cookie,
        Self::CookieEchoed,
        Self::Established,
        Self::ShutdownSent,
        Self::ShutdownReceived,
        Self::ShutdownAckSent,
        Self::Rejected,
        Self::Closed,
    ];

    /// The name `ipvsadm -Lc` prints: the kernel's `sctp_state_name_table`, which abbreviates
    /// COOKIE to `C-` and SHUTDOWN to `S-`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Init1 => "INIT1",
            Self::Init => "INIT",
            Self::CookieSent => "C-SENT",
            Self::CookieReplied => "C-REPLIED",
            Self::CookieWait => "C-WAIT",
            Self::Cookie => "COOKIE",
            Self::CookieEchoed => "C-ECHOED",
            Self::Established => "ESTABLISHED",
            Self::ShutdownSent => "S-SENT",
            Self::ShutdownReceived => "S-RECEIVED",
            Self::ShutdownAckSent => "S-ACK-SENT",
            Self::Rejected => "REJECTED",
            Self::Closed => "CLOSED",
        }
    }

    /// Whether a connection in this state counts in the dest's `activeconns`
    /// (`set_sctp_state`: ESTABLISHED only).
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Established)
    }
}

super::state::state_numbers_and_names!(SctpState);

/// SCTP chunk types (RFC 9260 section 3.2) the tracking distinguishes.
pub mod chunk {
    /// DATA.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// SACK.
    pub const SACK: u8 = 3;
    /// HEARTBEAT.
    pub const HEARTBEAT: u8 = 4;
    /// HEARTBEAT ACK.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// ABORT.
    pub const ABORT: u8 = 6;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 7;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// ERROR.
    pub const ERROR: u8 = 9;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 10;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 11;
    /// ECNE (RFC 9260 appendix A).
    pub const ECNE: u8 = 12;
    /// CWR.
    pub const CWR: u8 = 13;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

/// The event of a packet, in the kernel's row order (`ipvs_sctp_event_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SctpEvent {
    /// DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR and every chunk type the table does not name.
    Data = 0,
    /// INIT.
    Init = 1,
    /// INIT ACK.
    InitAck = 2,
    /// COOKIE ECHO.
    CookieEcho = 3,
    /// COOKIE ACK.
    CookieAck = 4,
    /// SHUTDOWN.
    Shutdown = 5,
    /// SHUTDOWN ACK.
    ShutdownAck = 6,
    /// SHUTDOWN COMPLETE.
    ShutdownComplete = 7,
    /// ERROR.
    Error = 8,
    /// ABORT.
    Abort = 9,
}

impl SctpEvent {
    /// Number of events.
    pub const COUNT: usize = 10;

    /// The event of a chunk type (`sctp_events`; unknown types are DATA).
    pub const fn of_chunk(chunk_type: u8) -> Self {
        match chunk_type {
            chunk::INIT => Self::Init,
            chunk::INIT_ACK => Self::InitAck,
            chunk::ABORT => Self::Abort,
            chunk::SHUTDOWN => Self::Shutdown,
            chunk::SHUTDOWN_ACK => Self::ShutdownAck,
            chunk::ERROR => Self::Error,
            chunk::COOKIE_ECHO => Self::CookieEcho,
            chunk::COOKIE_ACK => Self::CookieAck,
            chunk::SHUTDOWN_COMPLETE => Self::ShutdownComplete,
            _ => Self::Data,
        }
    }

    /// The event from its number (`as u8`).
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Data,
            1 => Self::Init,
            2 => Self::InitAck,
            3 => Self::CookieEcho,
            4 => Self::CookieAck,
            5 => Self::Shutdown,
            6 => Self::ShutdownAck,
            7 => Self::ShutdownComplete,
            8 => Self::Error,
            9 => Self::Abort,
            _ => return None,
        })
    }

    /// The event of an SCTP packet (`sctp`: common header and chunks), or `None` when it
    /// holds no whole chunk header (the kernel then leaves the state alone).
    ///
    /// Only the first chunk counts (INIT, INIT ACK and SHUTDOWN COMPLETE are never bundled,
    /// RFC 9260 section 6.10), except that an ABORT bundled right after a COOKIE ECHO or
    /// COOKIE ACK wins, as in `set_sctp_state`.
    pub fn of_packet(sctp: &[u8]) -> Option<Self> {
        let first = sctp.get(12..16)?;
        let mut kind = first[0];
        if kind == chunk::COOKIE_ECHO || kind == chunk::COOKIE_ACK {
            let len = usize::from(u16::from_be_bytes([first[2], first[3]]));
            if len >= 4
                && let Some(&next) = sctp.get(12 + len.next_multiple_of(4))
                && sctp.len() >= 12 + len.next_multiple_of(4) + 4
                && next == chunk::ABORT
            {
                kind = chunk::ABORT;
            }
        }
        Some(Self::of_chunk(kind))
    }
}

/// The byte [`event_byte`] uses for "no chunk": the state is left alone.
pub const NO_EVENT: u8 = 0xff;

/// [`SctpEvent::of_packet`] as one byte ([`NO_EVENT`] for `None`), for callers that carry it
/// where TCP carries its flags byte.
pub fn event_byte(sctp: &[u8]) -> u8 {
    SctpEvent::of_packet(sctp).map_or(NO_EVENT, |e| e as u8)
}

/// A state table: `[direction][event][from state] -> next state`.
pub type SctpStateTable = [[[SctpState; SctpState::COUNT]; SctpEvent::COUNT]; 3];

use SctpState::{
    Closed as CL, Cookie as CO, CookieEchoed as CE, CookieReplied as CR, CookieSent as CS,
    CookieWait as CW, Established as ES, Init as IN, Init1 as I1, Rejected as RJ,
    ShutdownAckSent as SA, ShutdownReceived as SR, ShutdownSent as SS,
};

/// The kernel's table (`sctp_states`), cell for cell.
pub const SCTP_STATES: SctpStateTable = [
    // IN (client -> server):
    //   sNO sI1 sIN sCS sCR sCW sCO sCE sES sSS sSR sSA sRJ sCL
    [
        [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL], // data
        [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN], // init
        [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL], // init ack
        [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL], // cookie echo
        [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL], // cookie ack
        [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL], // shutdown
        [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL], // shutdown ack
        [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL], // shutdown complete
        [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL], // error
        [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL], // abort
    ],
    // OUT (server -> client)
    [
        [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
        [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
        [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
        [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
        [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
        [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY (client -> server, no server packet seen: DR, TUN)
    [
        [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
        [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
        [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
        [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
        [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
        [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
];

/// The next state.
pub const fn next_state(direction: Direction, event: SctpEvent, state: SctpState) -> SctpState {
    SCTP_STATES[direction as usize][event as usize][state as usize]
}

/// The counter movement of a state change (`set_sctp_state`): only a real change of state
/// moves counters; leaving ESTABLISHED deactivates, reaching it activates. Updates the
/// connection's `INACTIVE` flag.
pub fn counter_change(flags: &mut ConnFlags, old: SctpState, new: SctpState) -> CounterChange {
    super::state::counter_change(flags, old != new, new.is_active())
}

/// The result of tracking one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SctpTransition {
    /// The state after the packet.
    pub state: SctpState,
    /// What to do to the dest's counters.
    pub counters: CounterChange,
}

/// `set_sctp_state`: tracks one packet with `event` of a connection in `state`.
///
/// `direction` is [`Direction::In`] or [`Direction::Out`]; while the connection has
/// [`ConnFlags::NO_OUTPUT`] an IN packet uses the INPUT-ONLY rows, and the first OUT packet
/// clears the flag.
pub fn track(
    state: SctpState,
    flags: &mut ConnFlags,
    direction: Direction,
    event: SctpEvent,
) -> SctpTransition {
    let direction = super::state::table_direction(flags, direction);
    let new = next_state(direction, event, state);
    SctpTransition {
        state: new,
        counters: counter_change(flags, state, new),
    }
}

impl ConnTable {
    /// Tracks one SCTP packet (`set_sctp_state`): the next state from [`SCTP_STATES`], the
    /// INPUT-ONLY rule, the new state's timeout, and how the dest counters move (`None` for a
    /// stale handle). `event` `None` (no chunk) re-arms the current state's timeout only.
    pub fn track_sctp(
        &mut self,
        id: ConnId,
        now: Instant,
        direction: Direction,
        event: Option<SctpEvent>,
        timeouts: &Timeouts,
    ) -> Option<CounterChange> {
        let meta = self.meta_mut(id)?;
        let state = SctpState::from_u8(meta.state).unwrap_or_default();
        let (state, counters) = match event {
            Some(event) => {
                let t = track(state, &mut meta.flags, direction, event);
                meta.state = t.state as u8;
                (t.state, t.counters)
            }
            None => (state, CounterChange::None),
        };
        self.touch(id, now, timeouts.sctp(state));
        Some(counters)
    }
}

#[cfg(test)]
mod tests {
    use super::SctpEvent as E;
    use super::SctpState as S;
    use super::*;

    fn run(start: S, flags: &mut ConnFlags, steps: &[(Direction, E)]) -> Vec<S> {
        let mut s = start;
        steps
            .iter()
            .map(|&(d, e)| {
                s = track(s, flags, d, e).state;
                s
            })
            .collect()
    }

    #[test]
    fn names_numbers_and_activity() {
        let names = [
            "NONE",
            "INIT1",
            "INIT",
            "C-SENT",
            "C-REPLIED",
            "C-WAIT",
            "COOKIE",
            "C-ECHOED",
            "ESTABLISHED",
            "S-SENT",
            "S-RECEIVED",
            "S-ACK-SENT",
            "REJECTED",
            "CLOSED",
        ];
        for (n, name) in names.iter().enumerate() {
            let s = S::from_u8(n as u8).unwrap();
            assert_eq!(s.to_string(), *name);
            assert_eq!(s as usize, n);
            assert_eq!(s.is_active(), *name == "ESTABLISHED");
        }
        assert_eq!(S::from_u8(14), None);
        assert_eq!(format!("{:<11}|", S::Init1), "INIT1      |");
    }

    #[test]
    fn numbers_agree_with_the_sync_codec() {
        use crate::sync::sctp_state as wire;
        assert_eq!(S::COUNT as u16, wire::COUNT);
        for (s, n) in [
            (S::Established, wire::ESTABLISHED),
            (S::ShutdownSent, wire::SHUTDOWN_SENT),
            (S::ShutdownReceived, wire::SHUTDOWN_RECEIVED),
            (S::ShutdownAckSent, wire::SHUTDOWN_ACK_SENT),
            (S::Closed, wire::CLOSED),
        ] {
            assert_eq!(s as u16, n, "{s}");
        }
    }

    #[test]
    fn chunk_types_map_to_events() {
        let want = [
            (chunk::DATA, E::Data),
            (chunk::INIT, E::Init),
            (chunk::INIT_ACK, E::InitAck),
            (chunk::SACK, E::Data),
            (chunk::HEARTBEAT, E::Data),
            (chunk::HEARTBEAT_ACK, E::Data),
            (chunk::ABORT, E::Abort),
            (chunk::SHUTDOWN, E::Shutdown),
            (chunk::SHUTDOWN_ACK, E::ShutdownAck),
            (chunk::ERROR, E::Error),
            (chunk::COOKIE_ECHO, E::CookieEcho),
            (chunk::COOKIE_ACK, E::CookieAck),
            (chunk::ECNE, E::Data),
            (chunk::CWR, E::Data),
            (chunk::SHUTDOWN_COMPLETE, E::ShutdownComplete),
            // I-DATA, FORWARD TSN, ASCONF: beyond the kernel's array, DATA.
            (64, E::Data),
            (192, E::Data),
            (193, E::Data),
        ];
        for (t, e) in want {
            assert_eq!(E::of_chunk(t), e, "chunk {t}");
            assert_eq!(E::from_u8(e as u8), Some(e));
        }
        assert_eq!(E::from_u8(10), None);
    }

    fn packet(chunks: &[(u8, usize)]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        for &(t, len) in chunks {
            let mut c = vec![0u8; len.max(4).next_multiple_of(4)];
            c[0] = t;
            c[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            p.extend_from_slice(&c);
        }
        p
    }

    #[test]
    fn packet_event_first_chunk_or_abort_after_cookie() {
        assert_eq!(E::of_packet(&packet(&[(chunk::INIT, 20)])), Some(E::Init));
        assert_eq!(
            E::of_packet(&packet(&[(chunk::SACK, 16), (chunk::ABORT, 4)])),
            Some(E::Data)
        );
        // COOKIE ECHO of an odd length, padded, then ABORT: ABORT.
        assert_eq!(
            E::of_packet(&packet(&[(chunk::COOKIE_ECHO, 13), (chunk::ABORT, 4)])),
            Some(E::Abort)
        );
        assert_eq!(
            E::of_packet(&packet(&[(chunk::COOKIE_ACK, 4), (chunk::ABORT, 4)])),
            Some(E::Abort)
        );
        assert_eq!(
            E::of_packet(&packet(&[(chunk::COOKIE_ACK, 4), (chunk::DATA, 20)])),
            Some(E::CookieAck)
        );
        // A truncated second chunk header does not count.
        let mut p = packet(&[(chunk::COOKIE_ACK, 4), (chunk::ABORT, 4)]);
        p.truncate(18);
        assert_eq!(E::of_packet(&p), Some(E::CookieAck));
        // A bogus length below a chunk header: the first chunk stands.
        assert_eq!(
            E::of_packet(&packet(&[(chunk::COOKIE_ECHO, 0)])),
            Some(E::CookieEcho)
        );
        assert_eq!(E::of_packet(&[0u8; 15]), None);
        assert_eq!(event_byte(&[0u8; 15]), NO_EVENT);
        assert_eq!(
            event_byte(&packet(&[(chunk::SHUTDOWN, 8)])),
            E::Shutdown as u8
        );
    }

    #[test]
    fn nat_life_cycle() {
        use Direction::{In, Out};
        let mut f = ConnFlags::INACTIVE;
        let got = run(
            S::None,
            &mut f,
            &[
                (In, E::Init),
                (In, E::Init),
                (Out, E::InitAck),
                (In, E::CookieEcho),
                (Out, E::CookieAck),
                (In, E::Data),
                (Out, E::Data),
                (In, E::Shutdown),
                (Out, E::ShutdownAck),
                (In, E::ShutdownComplete),
            ],
        );
        assert_eq!(
            got,
            [
                S::Init1,
                S::Init,
                S::CookieSent,
                S::CookieReplied,
                S::Established,
                S::Established,
                S::Established,
                S::ShutdownReceived,
                S::ShutdownAckSent,
                S::Closed,
            ]
        );
        // The server closing instead: SHUTDOWN from it, SHUTDOWN ACK from the client.
        let mut f = ConnFlags::empty();
        let got = run(
            S::Established,
            &mut f,
            &[
                (Out, E::Shutdown),
                (In, E::ShutdownAck),
                (Out, E::ShutdownComplete),
            ],
        );
        assert_eq!(got, [S::ShutdownSent, S::Closed, S::Closed]);
    }

    #[test]
    fn dr_life_cycle_uses_the_input_only_rows() {
        use Direction::In;
        let mut f = ConnFlags::INACTIVE.union(ConnFlags::NO_OUTPUT);
        let got = run(
            S::None,
            &mut f,
            &[
                (In, E::Init),
                (In, E::CookieEcho),
                (In, E::Data),
                (In, E::Shutdown),
                (In, E::ShutdownAck),
            ],
        );
        // The COOKIE ECHO alone establishes (IN would say C-REPLIED); a SHUTDOWN ACK leaves
        // S-RECEIVED alone in every block.
        assert_eq!(
            got,
            [
                S::Init1,
                S::Established,
                S::Established,
                S::ShutdownReceived,
                S::ShutdownReceived,
            ]
        );
        assert!(f.contains(ConnFlags::NO_OUTPUT));
        // SHUTDOWN COMPLETE from the client ends it.
        assert_eq!(
            track(S::ShutdownReceived, &mut f, In, E::ShutdownComplete).state,
            S::Closed
        );
        // IN from C-SENT on COOKIE ECHO: C-REPLIED with output seen, ESTABLISHED without.
        assert_eq!(
            next_state(In, E::CookieEcho, S::CookieSent),
            S::CookieReplied
        );
        assert_eq!(
            next_state(Direction::InputOnly, E::CookieEcho, S::CookieSent),
            S::Established
        );
    }

    #[test]
    fn the_first_out_packet_leaves_input_only() {
        let mut f = ConnFlags::NO_OUTPUT;
        let t = track(S::Init1, &mut f, Direction::Out, E::InitAck);
        assert_eq!(t.state, S::CookieSent);
        assert!(!f.contains(ConnFlags::NO_OUTPUT));
        // Now IN rows: COOKIE ECHO gives C-REPLIED.
        let t = track(t.state, &mut f, Direction::In, E::CookieEcho);
        assert_eq!(t.state, S::CookieReplied);
    }

    #[test]
    fn abort_rejects_an_init_and_closes_everything_else() {
        use Direction::{In, InputOnly, Out};
        // The server aborting the client's first INIT: REJECTED (short timeout).
        assert_eq!(next_state(Out, E::Abort, S::Init1), S::Rejected);
        // Any other ABORT closes, except a client ABORT of a server-started C-WAIT.
        for d in [In, Out, InputOnly] {
            for s in S::ALL {
                let want = match (d, s) {
                    (Out, S::Init1) | (In | InputOnly, S::CookieWait) => S::Rejected,
                    _ => S::Closed,
                };
                assert_eq!(next_state(d, E::Abort, s), want, "{d:?} {s}");
            }
        }
        // A new INIT on REJECTED or CLOSED restarts the handshake.
        assert_eq!(next_state(In, E::Init, S::Rejected), S::Init);
        assert_eq!(next_state(In, E::Init, S::Closed), S::Init);
    }

    #[test]
    fn server_started_association() {
        use Direction::{In, Out};
        let mut f = ConnFlags::empty();
        let got = run(
            S::None,
            &mut f,
            &[
                (Out, E::Init),
                (In, E::InitAck),
                (Out, E::CookieEcho),
                (In, E::CookieAck),
            ],
        );
        assert_eq!(
            got,
            [S::CookieWait, S::Cookie, S::CookieEchoed, S::Established]
        );
        // An OUT INIT on an established association is ignored (collision handling is the
        // endpoints' business).
        assert_eq!(next_state(Out, E::Init, S::Established), S::Established);
    }

    #[test]
    fn data_and_error_rows() {
        use Direction::{In, Out};
        // DATA on a new connection (sloppy pickup) establishes; otherwise it keeps the state.
        for d in [In, Out, Direction::InputOnly] {
            assert_eq!(next_state(d, E::Data, S::None), S::Established);
            for s in &S::ALL[1..] {
                let want = if d == Direction::InputOnly && *s == S::CookieWait {
                    S::Established
                } else {
                    *s
                };
                assert_eq!(next_state(d, E::Data, *s), want, "{d:?} {s}");
            }
        }
        // ERROR closes a fresh entry and an IN-side C-ECHOED.
        assert_eq!(next_state(In, E::Error, S::None), S::Closed);
        assert_eq!(next_state(In, E::Error, S::CookieEchoed), S::Closed);
        assert_eq!(next_state(Out, E::Error, S::CookieSent), S::Closed);
        assert_eq!(next_state(Out, E::Error, S::Established), S::Established);
    }

    #[test]
    fn counters_follow_established() {
        let mut f = ConnFlags::INACTIVE;
        let t = track(S::CookieReplied, &mut f, Direction::Out, E::CookieAck);
        assert_eq!(t.counters, CounterChange::Activate);
        assert!(!f.contains(ConnFlags::INACTIVE));
        let t = track(S::Established, &mut f, Direction::In, E::Data);
        assert_eq!(t.counters, CounterChange::None);
        let t = track(S::Established, &mut f, Direction::In, E::Shutdown);
        assert_eq!(t.counters, CounterChange::Deactivate);
        assert!(f.contains(ConnFlags::INACTIVE));
        let t = track(S::ShutdownReceived, &mut f, Direction::Out, E::ShutdownAck);
        assert_eq!(
            (t.state, t.counters),
            (S::ShutdownAckSent, CounterChange::None)
        );
    }
}
