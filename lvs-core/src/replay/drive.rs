//! Driving a [`Director`] with captured frames in capture time.

use std::collections::BTreeMap;
use std::fmt;

use super::Frame;
use crate::director::{Director, Verdict};
use crate::rewrite::PacketBuf;
use crate::time::Instant;
use crate::wire::MacAddr;

/// Room around each frame for rewrites that grow it (TOA, tunnel headers): the director asks
/// for 64 bytes of headroom or tailroom.
const ROOM: usize = 64;
/// `poll_transmit` needs a buffer for a full-size frame.
const TX_BUF: usize = 1 << 16;

/// What the director did with the frames of one replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames fed to `handle_packet`.
    pub frames_in: u64,
    /// `Verdict::Forward` frames (requests to real servers, NAT replies to clients).
    pub forwarded: u64,
    /// `Verdict::Reply` frames (ARP / neighbour answers written over the request).
    pub replies: u64,
    /// Frames the director originated (`poll_transmit`: ICMP errors, ARP/ND answers).
    pub transmitted: u64,
    /// `Verdict::Pass`: not balanced traffic (not to a service, not a reply of a connection).
    pub passed: u64,
    /// Forwarded frames whose next hop's MAC the director did not know: they got the
    /// replay's fallback next-hop MAC.
    pub unresolved_next_hop: u64,
    /// `handle_timeout` calls made for timers due between frames (bounded per gap, see
    /// [`MAX_TIMER_STEPS`]).
    pub timer_runs: u64,
    /// `Verdict::Drop` by [`DropReason::label`](crate::director::DropReason::label).
    pub dropped: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// Frames written out: forwarded + replies + transmitted.
    pub const fn frames_out(&self) -> u64 {
        self.forwarded + self.replies + self.transmitted
    }

    /// Frames dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

impl fmt::Display for Summary {
    /// The report `lvs-router replay` prints: one `key: value` per line, drops by reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "frames in: {}", self.frames_in)?;
        writeln!(
            f,
            "frames out: {} (forwarded {}, replies {}, originated {})",
            self.frames_out(),
            self.forwarded,
            self.replies,
            self.transmitted
        )?;
        if self.unresolved_next_hop > 0 {
            writeln!(
                f,
                "next hop MAC unknown (fallback used): {}",
                self.unresolved_next_hop
            )?;
        }
        writeln!(f, "passed to the host: {}", self.passed)?;
        writeln!(f, "dropped: {}", self.dropped_total())?;
        for (reason, n) in &self.dropped {
            writeln!(f, "  {reason}: {n}")?;
        }
        Ok(())
    }
}

/// Feeds `frames` (ordered by time: see [`merge`](super::merge)) to `director` and hands every
/// frame it transmits to `emit`, stamped with the virtual time it was sent at.
///
/// Before each frame, every timer due up to the frame's timestamp runs at its own deadline
/// (`poll_timeout` / `handle_timeout`), so connections expire in capture time exactly as they
/// would have between those packets. No timer runs after the last frame: the capture ends there.
/// A forwarded frame whose next hop the director could not resolve gets `fallback_mac` as its
/// destination (the capture cannot answer an ARP request).
pub fn replay(
    director: &mut Director,
    frames: impl IntoIterator<Item = Frame>,
    fallback_mac: MacAddr,
    mut emit: impl FnMut(Frame),
) -> Summary {
    let mut summary = Summary::default();
    let mut buf = Vec::new();
    let mut tx = vec![0u8; TX_BUF];
    let mut started = false;
    for frame in frames {
        let at = frame.at;
        if !started {
            // The first call arms the periodic timers (estimator, defense) from capture time.
            director.handle_timeout(at);
            started = true;
        }
        run_timers(director, at, &mut tx, &mut summary, &mut emit);
        summary.frames_in += 1;
        buf.clear();
        buf.resize(ROOM + frame.data.len() + ROOM, 0);
        buf[ROOM..ROOM + frame.data.len()].copy_from_slice(&frame.data);
        // Cannot fail: the buffer was sized for the frame.
        let Ok(mut pkt) = PacketBuf::new(&mut buf, ROOM, frame.data.len()) else {
            continue;
        };
        match director.handle_packet(at, &mut pkt) {
            Verdict::Forward { frame, next_hop } => {
                if next_hop.mac.is_none() && frame.len() >= 6 {
                    frame[..6].copy_from_slice(&fallback_mac.octets());
                    summary.unresolved_next_hop += 1;
                }
                summary.forwarded += 1;
                emit(Frame::new(at, frame.to_vec()));
            }
            Verdict::Reply { frame } => {
                summary.replies += 1;
                emit(Frame::new(at, frame.to_vec()));
            }
            Verdict::Drop(reason) => *summary.dropped.entry(reason.label()).or_default() += 1,
            Verdict::Pass => summary.passed += 1,
        }
        drain_transmit(director, at, &mut tx, &mut summary, &mut emit);
    }
    summary
}

/// Timer deadlines run one by one between two frames; past this many the rest run in one
/// `handle_timeout(until)`, which skips the missed periodic ticks (estimator 2 s, defense 1 s).
/// One by one they would take millions of steps over a gap of months in a capture.
pub const MAX_TIMER_STEPS: u32 = 100_000;

/// Runs the timers due at or before `until`, each at its deadline.
fn run_timers(
    director: &mut Director,
    until: Instant,
    tx: &mut [u8],
    summary: &mut Summary,
    emit: &mut impl FnMut(Frame),
) {
    let mut steps = 0;
    while let Some(deadline) = director.poll_timeout().filter(|d| *d <= until) {
        steps += 1;
        // A timer that does not move after firing would spin: catch up at `until` instead.
        let (at, last) = if steps > MAX_TIMER_STEPS {
            (until, true)
        } else {
            (deadline, false)
        };
        director.handle_timeout(at);
        summary.timer_runs += 1;
        drain_transmit(director, at, tx, summary, emit);
        if last || director.poll_timeout() == Some(deadline) {
            if !last {
                director.handle_timeout(until);
                summary.timer_runs += 1;
                drain_transmit(director, until, tx, summary, emit);
            }
            break;
        }
    }
}

fn drain_transmit(
    director: &mut Director,
    at: Instant,
    tx: &mut [u8],
    summary: &mut Summary,
    emit: &mut impl FnMut(Frame),
) {
    while let Some(n) = director.poll_transmit(at, tx) {
        summary.transmitted += 1;
        emit(Frame::new(at, tx[..n].to_vec()));
    }
}
