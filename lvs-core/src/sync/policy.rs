//! Which packets of a connection trigger a sync message: the kernel's
//! `ip_vs_sync_conn_needed` with the `net.ipv4.vs.sync_*` sysctls.

use core::time::Duration;

use super::conn::{SyncConn, flags, sctp_state, tcp_state};
use crate::time::Instant;
use crate::wire::IpProtocol;

/// The sync sysctls (Documentation/networking/ipvs-sysctl.rst), with the kernel's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncPolicy {
    /// `sync_threshold` first value: sync when the packet count reaches it (default 3).
    pub threshold: u32,
    /// `sync_threshold` second value, `sync_period`: and every this many packets after
    /// (default 50; 0 syncs once, at the threshold).
    pub period: u32,
    /// `sync_refresh_period`: when non-zero, skip syncs of an unchanged state until this long
    /// has passed or half the timeout (at least 10 s) (default 0).
    pub refresh_period: Duration,
    /// `sync_retries`: extra syncs at refresh_period / 8 intervals (0..=3, default 0).
    pub retries: u8,
    /// `sync_persist_mode`: connections controlled by a persistence template are not synced
    /// (the template is) (default off).
    pub persist_mode: bool,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            threshold: 3,
            period: 50,
            refresh_period: Duration::ZERO,
            retries: 0,
            persist_mode: false,
        }
    }
}

/// Per-connection sync bookkeeping the director keeps beside each connection (the kernel's
/// `cp->old_state` and `cp->sync_endtime`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SyncTrack {
    old_state: u16,
    sync_endtime: Option<Instant>,
    retries: u8,
}

impl SyncPolicy {
    /// Whether the packet just counted (`pkts` = the connection's incoming packet count,
    /// templates: their own counter) must sync `conn`. Updates `track` when it returns true.
    /// `in_persistence`: the connection is controlled by a template.
    ///
    /// TCP syncs only in ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT and TIME_WAIT; a change into
    /// any of them but ESTABLISHED syncs at once; otherwise the packet-count rule applies.
    pub fn needed(
        &self,
        now: Instant,
        track: &mut SyncTrack,
        conn: &SyncConn,
        pkts: u32,
        in_persistence: bool,
    ) -> bool {
        if conn.flags & flags::ONE_PACKET != 0 {
            return false;
        }
        let template = conn.flags & flags::TEMPLATE != 0;
        let synced_states: &[u16] = match conn.protocol {
            IpProtocol::Tcp => &[
                tcp_state::ESTABLISHED,
                tcp_state::FIN_WAIT,
                tcp_state::CLOSE,
                tcp_state::CLOSE_WAIT,
                tcp_state::TIME_WAIT,
            ],
            IpProtocol::Sctp => &[
                sctp_state::ESTABLISHED,
                sctp_state::SHUTDOWN_SENT,
                sctp_state::SHUTDOWN_RECEIVED,
                sctp_state::SHUTDOWN_ACK_SENT,
                sctp_state::CLOSED,
            ],
            _ => &[],
        };
        let mut force = false;
        if !template {
            if self.persist_mode && in_persistence {
                return false;
            }
            if !synced_states.is_empty() {
                if !synced_states.contains(&conn.state) {
                    return false;
                }
                force = conn.state != track.old_state;
                let established = match conn.protocol {
                    IpProtocol::Tcp => tcp_state::ESTABLISHED,
                    _ => sctp_state::ESTABLISHED,
                };
                if force && conn.state != established {
                    return self.set(now, track, conn, 0);
                }
            }
        }
        let timeout = Duration::from_secs(u64::from(conn.timeout));
        let mut retries = 0;
        if !self.refresh_period.is_zero()
            && let Some(orig) = track.sync_endtime
        {
            let n = now + timeout;
            let diff = if n > orig { n - orig } else { orig - n };
            let min_diff = (timeout / 2).max(Duration::from_secs(10));
            if diff < self.refresh_period.min(min_diff) {
                if track.retries >= self.retries {
                    return false;
                }
                let since = orig.saturating_duration_since(Instant::ZERO);
                let earliest =
                    Instant::ZERO + since.saturating_sub(timeout) + self.refresh_period / 8;
                if now < earliest {
                    return false;
                }
                retries = track.retries + 1;
            }
        }
        if self.period > 0 {
            if !template && pkts % self.period != self.threshold {
                return false;
            }
        } else if self.refresh_period.is_zero() && pkts != self.threshold {
            return false;
        }
        self.set(now, track, conn, retries) || force
    }

    fn set(&self, now: Instant, track: &mut SyncTrack, conn: &SyncConn, retries: u8) -> bool {
        track.old_state = conn.state;
        track.sync_endtime = Some(now + Duration::from_secs(u64::from(conn.timeout)));
        track.retries = retries;
        true
    }
}
