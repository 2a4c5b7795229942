//! DoS defense (`update_defense_level`, `ip_vs_todrop`, `ip_vs_random_dropentry` in
//! `ip_vs_ctl.c` / `ip_vs_conn.c`), driven by the connection budget instead of free memory.
//!
//! "No memory" becomes "fewer than `amemthresh` free entries in the budget", where the
//! entries are connections and persistence templates. Each sysctl keeps
//! the kernel's 0..3 meaning: 0 off, 1 armed (switches itself to 2 under pressure), 2 on
//! (switches back to 1 when the pressure is gone), 3 always on.

use super::Director;
use super::config::Sysctls;
use crate::conn::dropentry::DropRate;
use crate::conn::{ConnId, Direction, SctpState, TcpState};
use crate::time::Instant;
use crate::wire::IpProtocol;

/// Defense state, updated once per second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Defense {
    /// `ipvs->dropentry`.
    pub(super) drop_entry: bool,
    /// `ipvs->drop_rate`: drop one new connection in this many (0 = off).
    pub(super) drop_rate: u32,
    drop_counter: u32,
    /// `ipvs->secure_tcp` in force.
    pub(super) secure_tcp: bool,
    /// Under pressure at the last update.
    pub(super) pressure: bool,
    /// `todrop_entry`'s rotating counters.
    pub(super) entry_rate: DropRate,
}

/// Moves a 1/2 sysctl as the kernel does: 1 -> 2 when `nomem`, 2 -> 1 when not.
fn step(level: &mut u8, nomem: bool) -> bool {
    match *level {
        0 => false,
        1 | 2 => {
            *level = if nomem { 2 } else { 1 };
            nomem
        }
        _ => true,
    }
}

impl Defense {
    /// `update_defense_level`: `free` entries left in a budget with threshold `amemthresh`.
    /// Returns whether anything changed.
    pub(super) fn update(&mut self, s: &mut Sysctls, free: usize) -> bool {
        let before = Self {
            entry_rate: self.entry_rate,
            ..self.clone()
        };
        let nomem = free < s.amemthresh;
        self.pressure = nomem;
        self.drop_entry = step(&mut s.drop_entry, nomem);
        self.drop_rate = match s.drop_packet {
            0 => 0,
            1 | 2 => {
                if step(&mut s.drop_packet, nomem) {
                    // amemthresh / (amemthresh - availmem): more pressure, more drops.
                    let r = s.amemthresh / (s.amemthresh - free).max(1);
                    u32::try_from(r).unwrap_or(u32::MAX).max(1)
                } else {
                    0
                }
            }
            _ => s.am_droprate.max(1),
        };
        if self.drop_rate != before.drop_rate {
            self.drop_counter = self.drop_rate;
        }
        self.secure_tcp = step(&mut s.secure_tcp, nomem);
        *self != before
    }

    /// `ip_vs_todrop`: whether to drop this new connection (one in `drop_rate`).
    pub(super) fn todrop(&mut self) -> bool {
        if self.drop_rate == 0 {
            return false;
        }
        self.drop_counter = self.drop_counter.saturating_sub(1);
        if self.drop_counter > 0 {
            return false;
        }
        self.drop_counter = self.drop_rate;
        true
    }
}

impl Director {
    /// Entries counted against the budget: connections and persistence templates (each is an
    /// `ip_vs_conn` in the kernel, and both live until they time out).
    pub(super) fn table_used(&self) -> usize {
        self.conns.len() + self.services.template_count()
    }

    /// Whether a new entry would exceed the budget.
    pub(super) fn table_full(&self) -> bool {
        self.table_used() >= self.conns.budget()
    }

    /// The defense's view of the budget: entries still free.
    pub(super) fn table_free(&self) -> usize {
        self.conns.budget().saturating_sub(self.table_used())
    }

    /// `ip_vs_random_dropentry`: one round over a random 1/32 slice of the table
    /// ([`ConnTable::random_drop_entry`](crate::conn::ConnTable::random_drop_entry) for the
    /// rules); the dropped connections release their dests and templates.
    pub(super) fn random_drop_entry(&mut self, now: Instant) {
        use rand::RngExt;
        let start: u64 = self.rng.random();
        let mut dropped = core::mem::take(&mut self.expired);
        dropped.clear();
        self.conns.random_drop_entry(
            start,
            now,
            &self.timeouts,
            &mut self.defense.entry_rate,
            &mut dropped,
        );
        for (id, conn) in &dropped {
            let template = self.templates_of.get(id).copied();
            self.unbind(*id, conn, now);
            // ip_vs_conn_del of a controlled connection takes its unassured template along.
            if let Some(t) = template {
                self.services.drop_unassured_template(t);
            }
        }
        self.expired = dropped;
        self.services.random_drop_templates(start);
    }

    /// `ip_vs_control_assure_ct` after a packet of `id` was tracked: a TCP or SCTP connection
    /// that just reached ESTABLISHED (from `before`), or a UDP reply, assures the connection's
    /// template. Called only while some connection has a template.
    pub(super) fn assure_template(
        &mut self,
        id: ConnId,
        proto: IpProtocol,
        dir: Direction,
        before: Option<u8>,
    ) {
        let after = self.conns.get(id).map(|c| c.state());
        let assure = match proto {
            IpProtocol::Tcp => after != before && after == Some(TcpState::Established as u8),
            IpProtocol::Sctp => after != before && after == Some(SctpState::Established as u8),
            IpProtocol::Udp => dir == Direction::Out,
            _ => false,
        };
        if assure && let Some(&t) = self.templates_of.get(&id) {
            self.services.assure_template(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let mut s = Sysctls {
            drop_packet: 1,
            secure_tcp: 1,
            drop_entry: 3,
            amemthresh: 100,
            ..Sysctls::default()
        };
        let mut d = Defense::default();
        d.update(&mut s, 1000);
        assert_eq!((d.drop_rate, d.secure_tcp, d.drop_entry), (0, false, true));
        assert_eq!((s.drop_packet, s.secure_tcp), (1, 1));
        // 75 free of a threshold of 100: rate 100 / 25 = 4.
        d.update(&mut s, 75);
        assert_eq!((d.drop_rate, d.secure_tcp), (4, true));
        assert_eq!((s.drop_packet, s.secure_tcp), (2, 2));
        let drops: Vec<bool> = (0..8).map(|_| d.todrop()).collect();
        assert_eq!(
            drops,
            [false, false, false, true, false, false, false, true]
        );
        d.update(&mut s, 500);
        assert_eq!((d.drop_rate, d.secure_tcp), (0, false));
        assert_eq!((s.drop_packet, s.secure_tcp), (1, 1));
        s.drop_packet = 3;
        d.update(&mut s, 500);
        assert_eq!(d.drop_rate, 10);
    }
}
