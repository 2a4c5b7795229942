//! Which connections the `drop_entry` defense removes (`ip_vs_random_dropentry` and
//! `todrop_entry` in `ip_vs_conn.c`).
//!
//! Each second, while the defense is on, a random 1/32 slice of the table is scanned
//! ([`ConnTable::remove_in_slice`]). An entry that controls others (a template with
//! connections) stays. Then, by protocol:
//!
//! | protocol | dropped at once | dropped by [`DropRate`] | kept |
//! |---|---|---|---|
//! | TCP | SYN_RECV, SYNACK (half-open) | ESTABLISHED | every other state |
//! | SCTP | INIT1, INIT (INIT seen, no answer) | ESTABLISHED | every other state |
//! | UDP and the rest | | every entry | |
//!
//! [`DropRate`] (`todrop_entry`) only considers an entry idle for at least 60 s (since its
//! timer was last re-armed, which every packet does) that has seen 1 to 8 client packets, and
//! then drops one in `n` of the entries with `n` client packets: the fewer packets, the more
//! likely a flood's leftover. Templates live in the service table and are not scanned here.

use super::sctp::SctpState;
use super::tcp::TcpState;
use super::{ConnFlags, ConnId, ConnRef, ConnTable, Timeouts};
use crate::time::Instant;
use crate::wire::IpProtocol;

/// `todrop_entry` does not touch an entry re-armed less than this long ago.
pub const MIN_IDLE_SECS: u64 = 60;

/// The rotating counters of `todrop_entry` (`ipvs->dropentry_counters`): one per client
/// packet count 1..=8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropRate {
    counters: [u8; 8],
}

impl DropRate {
    /// `todrop_entry` for an entry with `in_pkts` client packets, idle for `idle_secs`: drop
    /// one in `in_pkts` of the candidates with that count.
    pub fn todrop(&mut self, in_pkts: u8, idle_secs: u64) -> bool {
        if idle_secs < MIN_IDLE_SECS || !(1..=8).contains(&in_pkts) {
            return false;
        }
        let c = &mut self.counters[usize::from(in_pkts - 1)];
        // The kernel pre-decrements a counter starting at 0: the first candidate goes.
        if *c > 1 {
            *c -= 1;
            return false;
        }
        *c = in_pkts;
        true
    }
}

/// How long ago the entry's timer was last armed: its deadline minus its state's timeout
/// (the kernel's `cp->timeout + jiffies < cp->timer.expires + 60 * HZ` test, in seconds).
fn idle_secs(c: &ConnRef<'_>, now: Instant, timeouts: &Timeouts) -> u64 {
    let timeout = match c.proto() {
        IpProtocol::Tcp => timeouts.tcp(TcpState::from_u8(c.state()).unwrap_or_default()),
        IpProtocol::Sctp => timeouts.sctp(SctpState::from_u8(c.state()).unwrap_or_default()),
        IpProtocol::Udp => timeouts.udp(),
        _ => timeouts.tcp(TcpState::Established),
    };
    let armed = c.expires().as_secs().saturating_sub(u64::from(timeout));
    now.as_secs().saturating_sub(armed)
}

/// The `ip_vs_random_dropentry` verdict on one connection (module doc).
pub fn should_drop(
    c: &ConnRef<'_>,
    now: Instant,
    timeouts: &Timeouts,
    rate: &mut DropRate,
) -> bool {
    if c.n_control() > 0 || c.flags().contains(ConnFlags::TEMPLATE) {
        return false;
    }
    let mut todrop = || rate.todrop(c.in_pkts(), idle_secs(c, now, timeouts));
    match c.proto() {
        IpProtocol::Tcp => match TcpState::from_u8(c.state()) {
            Some(TcpState::SynRecv | TcpState::SynAck) => true,
            Some(TcpState::Established) => todrop(),
            _ => false,
        },
        IpProtocol::Sctp => match SctpState::from_u8(c.state()) {
            Some(SctpState::Init1 | SctpState::Init) => true,
            Some(SctpState::Established) => todrop(),
            _ => false,
        },
        _ => todrop(),
    }
}

impl ConnTable {
    /// Counts a client packet of `id` (`cp->in_pkts`, saturating), for [`should_drop`].
    #[inline]
    pub fn note_in_packet(&mut self, id: ConnId) {
        if let Some(m) = self.meta_mut(id) {
            m.in_pkts = m.in_pkts.saturating_add(1);
        }
    }

    /// One `drop_entry` round: scans a random 1/32 slice from `start` and removes the
    /// connections [`should_drop`] picks, pushing them onto `out`; returns how many.
    pub fn random_drop_entry(
        &mut self,
        start: u64,
        now: Instant,
        timeouts: &Timeouts,
        rate: &mut DropRate,
        out: &mut Vec<(ConnId, super::Conn)>,
    ) -> usize {
        self.remove_in_slice(start, |c| should_drop(&c, now, timeouts, rate), out)
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::conn::{Conn, ForwardMethod};

    #[test]
    fn rate_drops_one_in_n_of_idle_entries_with_few_packets() {
        let mut r = DropRate::default();
        // Fresh (idle < 60 s) or busy (> 8 packets) or never counted: never.
        assert!(!r.todrop(1, 59));
        assert!(!r.todrop(9, 600));
        assert!(!r.todrop(0, 600));
        for n in 1..=8u8 {
            let picks: Vec<bool> = (0..2 * usize::from(n) + 1)
                .map(|_| r.todrop(n, 60))
                .collect();
            let drops = picks.iter().filter(|&&d| d).count();
            // The first goes (the kernel's counter starts at 0), then one in n.
            assert!(picks[0], "n={n}");
            assert_eq!(drops, 3, "n={n}: {picks:?}");
        }
    }

    fn conn(proto: IpProtocol, state: u8) -> Conn {
        let a = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let v = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        Conn {
            proto,
            fwd: ForwardMethod::Dr,
            caddr: a,
            cport: 1000 + u16::from(state) + 100 * u16::from(u8::from(proto)),
            vaddr: v,
            vport: 80,
            daddr: v,
            dport: 80,
            laddr: v,
            lport: 0,
            state,
            flags: ConnFlags::empty(),
            svc: 0,
            dest: 0,
            control: None,
            expires: Instant::ZERO,
        }
    }

    #[test]
    fn victims_by_protocol_and_state() {
        let t = Timeouts::DEFAULT;
        let mut table = ConnTable::new(1, 1000);
        let at = Instant::from_secs(1000);
        let mut ids = Vec::new();
        for (p, s, timeout) in [
            (IpProtocol::Tcp, TcpState::SynRecv as u8, 60),
            (IpProtocol::Tcp, TcpState::Established as u8, 900),
            (IpProtocol::Tcp, TcpState::FinWait as u8, 120),
            (IpProtocol::Sctp, SctpState::Init1 as u8, 4),
            (IpProtocol::Sctp, SctpState::Established as u8, 900),
            (IpProtocol::Sctp, SctpState::CookieSent as u8, 61),
            (IpProtocol::Udp, 0, 300),
        ] {
            let id = table.insert(&conn(p, s), at, timeout).unwrap();
            table.note_in_packet(id);
            ids.push(id);
        }
        let names = |now: Instant, table: &ConnTable, rate: &mut DropRate| -> Vec<bool> {
            ids.iter()
                .map(|&id| should_drop(&table.get(id).unwrap(), now, &t, rate))
                .collect()
        };
        let mut rate = DropRate::default();
        // At once: only the half-open TCP and the unanswered SCTP INIT.
        assert_eq!(
            names(at, &table, &mut rate),
            [true, false, false, true, false, false, false]
        );
        // 60 s idle with one client packet each: the established and UDP ones too.
        let later = Instant::from_secs(1060);
        assert_eq!(
            names(later, &table, &mut rate),
            [true, true, false, true, true, false, true]
        );
        // A packet re-arms: idle again for 60 s.
        table.touch(ids[1], later, 900);
        assert!(!should_drop(
            &table.get(ids[1]).unwrap(),
            later,
            &t,
            &mut rate
        ));
        // Busy connections (more than 8 client packets) are never dropped.
        for _ in 0..8 {
            table.note_in_packet(ids[6]);
        }
        assert_eq!(table.get(ids[6]).unwrap().in_pkts(), 9);
        assert!(!should_drop(
            &table.get(ids[6]).unwrap(),
            Instant::from_secs(5000),
            &t,
            &mut rate
        ));
    }

    #[test]
    fn a_round_scans_a_slice_and_removes_the_victims() {
        let t = Timeouts::DEFAULT;
        let mut table = ConnTable::new(1, 100_000);
        let now = Instant::from_secs(10);
        for i in 0..3200u16 {
            let mut c = conn(IpProtocol::Tcp, TcpState::SynRecv as u8);
            c.cport = i;
            table.insert(&c, now, 60).unwrap();
        }
        let mut out = Vec::new();
        let n = table.random_drop_entry(12345, now, &t, &mut DropRate::default(), &mut out);
        // 1/32 of 3200 slots.
        assert_eq!(n, 100);
        assert_eq!(table.len(), 3100);
        assert!(out.iter().all(|(id, _)| table.get(*id).is_none()));
    }
}
