//! The ipvsadm control socket of `lvs-router run` (`control_socket` in the TOML):
//! `lvs-router adm --socket PATH -Ln`, `-a/-e/-d/-A/-E/-D/-C`, `-S`, `-R` against the running
//! workers.
//!
//! ```text
//!   adm client --socket--> ControlServer thread --RunTarget--> Engine::replace(rules + cmds)
//!                                                 \----------> Engine::adm_state()
//! ```
//!
//! A batch of table commands is replayed after the running rules on a scratch service table
//! (ipvsadm's error text on the first refusal, nothing applied), then the rules plus the batch
//! go to every worker through [`Engine::replace`], the path SIGHUP takes; the stored rules
//! change only when that succeeded. A SIGHUP reload later re-reads the rules file, so changes
//! made over the socket last until the next reload or restart (as `ipvsadm` changes last
//! until the next `ipvsadm-restore`).
//!
//! Not supported, refused with a message rather than pretended: `-Z` (the workers have no
//! message to zero their counters) and `--set` (timeouts come from the TOML; change them there
//! and reload). `-Lnc` lists no connections: the workers answer snapshots, not connection
//! lists.

use std::sync::Mutex;

use lvs_core::ipvsadm::{AdmCommand, AdmState, BatchError};
use lvs_core::sched::SchedConfig;
use lvs_core::service::ServiceTable;
use lvs_net::ctl::ControlTarget;

use crate::config::Loaded;
use crate::engine::Engine;
use crate::health::Health;

/// The running engine and the configuration it was loaded with (shared with `run`'s SIGHUP
/// reload, which replaces it).
pub(crate) struct RunTarget<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) loaded: &'a Mutex<Loaded>,
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
        let mut table = Vec::with_capacity(commands.len());
        for (index, c) in commands.iter().enumerate() {
            match c {
                AdmCommand::Table(t) => {
                    scratch
                        .apply(t)
                        .map_err(|error| BatchError::Service { index, error })?;
                    table.push(t.clone());
                }
                AdmCommand::Zero(_) => {
                    return Err(BatchError::Refused {
                        index,
                        message: "zeroing counters is not supported by lvs-router run".into(),
                    });
                }
                AdmCommand::SetTimeouts(..) => {
                    return Err(BatchError::Refused {
                        index,
                        message: "--set is not supported by lvs-router run: set [timeouts] in \
                                  the config file and reload (SIGHUP)"
                            .into(),
                    });
                }
                _ => return Err(BatchError::NotInBatch { index }),
            }
        }
        if table.is_empty() {
            return Ok(());
        }
        let mut next = loaded.clone();
        next.commands.extend(table);
        self.engine
            .replace(&next)
            .map_err(|message| BatchError::Refused {
                index: commands.len().saturating_sub(1),
                message,
            })?;
        tracing::info!(
            commands = commands.len(),
            rules = next.commands.len(),
            "control socket: applied"
        );
        *loaded = next;
        Ok(())
    }

    fn state(&self, _conns: bool) -> AdmState {
        self.engine.adm_state()
    }

    fn health(&self) -> Result<String, String> {
        self.health
            .map(Health::listing)
            .ok_or_else(|| "no health checks are configured ([health] in the config)".into())
    }
}
