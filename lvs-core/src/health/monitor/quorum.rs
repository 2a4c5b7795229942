//! Quorum, hysteresis and the sorry server: keepalived `update_quorum_state`.

use super::{HealthMonitor, take_out};
use crate::health::{HealthAction, HealthEvent};
use crate::ipvsadm::Command;

impl HealthMonitor {
    /// The total weight of the alive real servers (keepalived `weigh_live_realservers`).
    pub(super) fn live_weight(&self, v: usize) -> u64 {
        self.vss[v]
            .rss
            .iter()
            .filter(|rs| rs.alive)
            .map(|rs| u64::from(rs.weight))
            .sum()
    }

    /// keepalived `update_quorum_state`: quorum is gained at `quorum + hysteresis` and lost
    /// below `quorum - hysteresis` (or at zero weight). Losing it adds the sorry server and then
    /// takes the alive real servers out; gaining it puts them back and then removes the sorry
    /// server, so the service never has neither.
    pub(super) fn update_quorum(&mut self, v: usize) {
        let sum = self.live_weight(v);
        let vs = &self.vss[v];
        let quorum = u64::from(vs.cfg.quorum);
        let hysteresis = u64::from(vs.cfg.hysteresis);
        if !vs.quorum_up && sum >= quorum + hysteresis {
            self.vss[v].quorum_up = true;
            if self.vss[v].sorry_alive {
                self.perform_pool(v, true);
                let vs = &mut self.vss[v];
                vs.sorry_alive = false;
                if let Some(s) = vs.cfg.sorry_server {
                    let cmd = take_out(vs.cfg.service, s.dest, s.inhibit, &mut vs.sorry_in_table);
                    self.actions.extend(cmd.map(HealthAction::Apply));
                }
            }
            let vs = &self.vss[v];
            self.actions
                .push_back(HealthAction::Notify(HealthEvent::QuorumUp {
                    service: vs.cfg.service,
                    notify: vs.cfg.quorum_up.clone(),
                }));
        } else if vs.quorum_up && (sum == 0 || sum < quorum.saturating_sub(hysteresis)) {
            self.vss[v].quorum_up = false;
            let vs = &mut self.vss[v];
            if let Some(s) = vs.cfg.sorry_server {
                let cmd = if vs.sorry_in_table {
                    Command::EditDest(vs.cfg.service, s.dest)
                } else {
                    Command::AddDest(vs.cfg.service, s.dest)
                };
                vs.sorry_in_table = true;
                vs.sorry_alive = true;
                self.actions.push_back(HealthAction::Apply(cmd));
                self.perform_pool(v, false);
            }
            let vs = &self.vss[v];
            self.actions
                .push_back(HealthAction::Notify(HealthEvent::QuorumDown {
                    service: vs.cfg.service,
                    notify: vs.cfg.quorum_down.clone(),
                }));
        }
    }

    /// keepalived `perform_quorum_state`: adds or takes out every alive real server.
    fn perform_pool(&mut self, v: usize, add: bool) {
        for r in 0..self.vss[v].rss.len() {
            if self.vss[v].rss[r].alive {
                if add {
                    self.add_rs(v, r);
                } else {
                    self.del_rs(v, r);
                }
            }
        }
    }
}
