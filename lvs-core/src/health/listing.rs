//! The `--health` listing: one line per checker of each real server.

use core::fmt::Write as _;
use core::time::Duration;
use std::net::SocketAddr;

use super::HealthMonitor;
use crate::ipvsadm::{ServiceKey, SocketDisplay};
use crate::time::Instant;

/// One line of the listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthRow {
    /// The virtual service.
    pub service: ServiceKey,
    /// The real server.
    pub dest: SocketAddr,
    /// keepalived's checker name (`TCP_CHECK`, `HTTP_GET`, ...), `-` for an unchecked server.
    pub checker: &'static str,
    /// The checker is up (for `-`: the server is alive).
    pub up: bool,
    /// The last result, `-` before the first one.
    pub last: String,
    /// Consecutive failed probes.
    pub fails: u32,
    /// How long the checker has been in its state.
    pub since: Duration,
}

impl HealthMonitor {
    /// The listing's rows at `now`, in configuration order.
    pub fn rows(&self, now: Instant) -> Vec<HealthRow> {
        let mut rows = Vec::new();
        for (v, vs) in self.vss.iter().enumerate() {
            for (r, rs) in vs.cfg.real_servers.iter().enumerate() {
                let dest = SocketAddr::new(rs.dest.addr, rs.dest.port);
                let mut any = false;
                for c in self.checkers.iter().filter(|c| c.vs == v && c.rs == r) {
                    any = true;
                    rows.push(HealthRow {
                        service: vs.cfg.service,
                        dest,
                        checker: c.cfg.kind.name(),
                        up: c.is_up,
                        last: c.last.clone().unwrap_or_else(|| "-".to_owned()),
                        fails: c.fails,
                        since: now - c.since,
                    });
                }
                if !any {
                    rows.push(HealthRow {
                        service: vs.cfg.service,
                        dest,
                        checker: "-",
                        up: vs.rss[r].alive,
                        last: "-".to_owned(),
                        fails: 0,
                        since: Duration::ZERO,
                    });
                }
            }
        }
        rows
    }

    /// The text `adm -L --health` prints: a header, then one line per row.
    pub fn listing(&self, now: Instant) -> String {
        let mut out = String::from(
            "Service                        RemoteAddress:Port      Checker      State Fails Since   Last\n",
        );
        for row in self.rows(now) {
            let state = if row.up { "UP" } else { "DOWN" };
            let dest = SocketDisplay(row.dest.ip(), row.dest.port()).to_string();
            let _ = writeln!(
                out,
                "{:<30} {:<23} {:<12} {:<5} {:>5} {:>6}s {}",
                row.service.to_string(),
                dest,
                row.checker,
                state,
                row.fails,
                row.since.as_secs(),
                row.last
            );
        }
        out
    }
}
