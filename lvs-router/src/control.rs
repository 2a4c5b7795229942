//! The ipvsadm control socket of `lvs-router run` (`control_socket` in the TOML):
//! `lvs-router adm --socket PATH -Ln`, `-a/-e/-d/-A/-E/-D/-C`, `-S`, `-R` against the running
//! workers.
//!
//! ```text
//!   adm client --socket--> ControlServer thread --RunTarget--> Engine::replace(rules + cmds)
//!                                                 |----------> Engine::each_director (-Z)
//!                                                 \----------> Engine::adm_state() / adm_conns()
//! ```
//!
//! A batch of table commands is replayed after the running rules on a scratch service table
//! (ipvsadm's error text on the first refusal, nothing applied), then the rules plus the batch
//! go to every worker through [`Engine::replace`], the path SIGHUP takes; the stored rules
//! change only when that succeeded.
//!
//! `--start-daemon master|backup` / `--stop-daemon` start and stop the connection sync daemons
//! (`crate::ha::SyncDaemons`) and `-L --daemon` lists them, as ipvsadm does with the kernel.
//!
//! `--set tcp tcpfin udp` is stored the same way, as the `[timeouts]` of the running
//! configuration (0 keeps a value), and reaches every worker through the same
//! [`Engine::replace`]. One rule for everything changed over the socket, rules and timeouts
//! alike: it lasts until the next SIGHUP reload or restart, which re-read both files (as
//! `ipvsadm` changes last until the next `ipvsadm-restore`); a later socket change keeps it.
//!
//! `-Z` (all counters, or one service's and its dests') is an action, not configuration: it
//! runs on every worker's director through [`Engine::each_director`] after the batch's table
//! commands and `--set` are in force. `-Lnc`/`-Lc` list the connections of every worker
//! ([`Director::conns`](lvs_core::director::Director::conns)), one table after the other, in
//! the format `adm --state` renders.

use std::sync::{Arc, Mutex};

use lvs_core::ipvsadm::{AdmCommand, AdmState, BatchError, DaemonConfig, ServiceKey};
use lvs_core::sched::SchedConfig;
use lvs_core::service::{ServiceError, ServiceTable};
use lvs_net::ctl::ControlTarget;

use crate::config::Loaded;
use crate::engine::Engine;
use crate::ha::SyncDaemons;
use crate::health::Health;

/// The running engine and the configuration it was loaded with (shared with `run`'s SIGHUP
/// reload, which replaces it).
pub(crate) struct RunTarget<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) loaded: &'a Mutex<Loaded>,
    /// The sync daemons (`--start-daemon`, `--stop-daemon`, `-L --daemon`; `crate::ha`).
    pub(crate) sync: &'a SyncDaemons,
    /// The health checkers, for `adm -L --health`.
    pub(crate) health: Option<&'a Health>,
}

impl ControlTarget for RunTarget<'_> {
    fn apply(&self, commands: &[AdmCommand]) -> Result<(), BatchError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let mut scratch = ServiceTable::new(SchedConfig::default());
        for c in &loaded.commands {
            // Accepted once already; the engine's own check below has the last word.
            let _ = scratch.apply(c);
        }
        let mut next = loaded.clone();
        let mut table = Vec::with_capacity(commands.len());
        let mut zero = Vec::new();
        let mut set = false;
        for (index, c) in commands.iter().enumerate() {
            match c {
                AdmCommand::Table(t) => {
                    scratch
                        .apply(t)
                        .map_err(|error| BatchError::Service { index, error })?;
                    table.push(t.clone());
                }
                AdmCommand::Zero(None) => zero.push(None),
                AdmCommand::Zero(Some(key)) => {
                    if scratch.service(key).is_none() {
                        return Err(BatchError::Service {
                            index,
                            error: ServiceError::NoSuchService,
                        });
                    }
                    zero.push(Some(*key));
                }
                AdmCommand::SetTimeouts(tcp, tcpfin, udp) => {
                    set = true;
                    let t = &mut next.router.timeouts;
                    for (slot, v) in [
                        (&mut t.tcp, tcp),
                        (&mut t.tcpfin, tcpfin),
                        (&mut t.udp, udp),
                    ] {
                        if *v != 0 {
                            *slot = Some(*v);
                        }
                    }
                }
                _ => return Err(BatchError::NotInBatch { index }),
            }
        }
        if !table.is_empty() || set {
            next.commands.extend(table);
            self.engine
                .replace(&next)
                .map_err(|message| BatchError::Refused {
                    index: commands.len().saturating_sub(1),
                    message,
                })?;
        }
        // In force on every worker: the stored configuration follows even if -Z fails below.
        let rules = next.commands.len();
        *loaded = next;
        if !zero.is_empty() {
            let zero: Arc<[Option<ServiceKey>]> = zero.into();
            let done = self.engine.each_director(move |d| {
                for z in zero.iter() {
                    match z {
                        None => d.zero_counters(),
                        // Checked above; a service the same batch deleted again is gone.
                        Some(key) => {
                            let _ = d.zero_service(key);
                        }
                    }
                }
            });
            if done.len() != self.engine.workers() {
                return Err(BatchError::Refused {
                    index: commands.len().saturating_sub(1),
                    message: "a worker did not confirm -Z".into(),
                });
            }
        }
        tracing::info!(commands = commands.len(), rules, "control socket: applied");
        Ok(())
    }

    fn state(&self, conns: bool) -> AdmState {
        let mut state = self.engine.adm_state();
        state.daemons = self.sync.listing();
        if conns {
            state.conns = self.engine.adm_conns();
        }
        state
    }

    fn start_daemon(&self, config: &DaemonConfig) -> Result<(), String> {
        self.sync.start(self.engine, config)
    }

    fn stop_daemon(&self, master: bool) -> Result<(), String> {
        self.sync.stop(self.engine, master)
    }

    fn health(&self) -> Result<String, String> {
        self.health
            .map(Health::listing)
            .ok_or_else(|| "no health checks are configured ([health] in the config)".into())
    }
}
