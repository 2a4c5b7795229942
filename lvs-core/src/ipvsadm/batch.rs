//! Applying a batch of ipvsadm commands to a [`Director`] all or nothing.
//!
//! ipvsadm applies each command (and each `-R` line) on its own, so a failing line leaves the
//! earlier ones applied. The control socket promises more: every batch is first replayed on a
//! scratch service table rebuilt from the running configuration, and only when every command
//! succeeds there is it applied to the director, so a refused command changes nothing.

use std::net::Ipv4Addr;

use super::model::{AdmFwd, AdmService, AdmState};
use super::more_commands::AdmCommand;
use super::{
    Command, DestConfig, FwdMethod, Netmask, ServiceConfig, TunnelConfig, TunnelCsum, TunnelType,
};
use crate::director::Director;
use crate::sched::SchedConfig;
use crate::service::{ServiceError, ServiceTable};
use crate::time::Instant;

/// Why a batch was refused; nothing was applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A table command failed (the kernel's answer, ipvsadm's text).
    #[error("{error}")]
    Service {
        /// Index of the failing command in the batch.
        index: usize,
        /// The kernel's answer.
        error: ServiceError,
    },
    /// `-Z` of one service: the director keeps only whole-table zeroing.
    #[error("zeroing the counters of one service is not supported; use -Z alone")]
    ZeroOneService {
        /// Index of the command.
        index: usize,
    },
    /// A command that does not change the table (`-L`, `-S`, `-R`, `-h`, daemon commands)
    /// inside a batch.
    #[error("this command cannot be part of a restore batch")]
    NotInBatch {
        /// Index of the command.
        index: usize,
    },
    /// The target refused the command for a reason of its own (an operation it does not
    /// support, a reload that failed); `message` is what the client prints.
    #[error("{message}")]
    Refused {
        /// Index of the command.
        index: usize,
        /// The text for the client.
        message: String,
    },
}

impl BatchError {
    /// The index of the refused command.
    pub fn index(&self) -> usize {
        match self {
            Self::Service { index, .. }
            | Self::ZeroOneService { index }
            | Self::NotInBatch { index }
            | Self::Refused { index, .. } => *index,
        }
    }
}

impl AdmService {
    /// The `-A` settings of this service.
    pub fn config(&self) -> ServiceConfig {
        ServiceConfig {
            scheduler: self.scheduler.clone(),
            persistent: self.persistent,
            netmask: if self.ipv6 {
                Netmask::V6(self.netmask.min(128) as u8)
            } else {
                Netmask::V4(Ipv4Addr::from(self.netmask))
            },
            one_packet: self.one_packet,
            sched_flags: self.flags(),
            pe: self.pe.clone(),
        }
    }
}

impl AdmState {
    /// Commands that rebuild this configuration on an empty table: services in order, each
    /// one's dests oldest first so they end up in the same (newest-first) list order.
    pub fn to_commands(&self) -> Vec<Command> {
        let mut out = Vec::new();
        for svc in &self.services {
            let key = svc.key();
            out.push(Command::AddService(key, svc.config()));
            for d in svc.dests.iter().rev() {
                out.push(Command::AddDest(
                    key,
                    DestConfig {
                        addr: d.addr,
                        port: d.port,
                        fwd: match d.fwd {
                            AdmFwd::Masq => FwdMethod::Masq,
                            AdmFwd::Tunnel => FwdMethod::Tunnel,
                            AdmFwd::Route | AdmFwd::Local => FwdMethod::Route,
                        },
                        weight: d.weight.max(0) as u32,
                        u_threshold: d.u_threshold,
                        l_threshold: d.l_threshold,
                        tunnel: TunnelConfig {
                            kind: match d.tun_type {
                                1 => TunnelType::Gue,
                                2 => TunnelType::Gre,
                                _ => TunnelType::Ipip,
                            },
                            port: d.tun_port,
                            csum: match d.tun_flags {
                                1 => TunnelCsum::Csum,
                                2 => TunnelCsum::RemCsum,
                                _ => TunnelCsum::NoCsum,
                            },
                        },
                    },
                ));
            }
        }
        out
    }
}

/// Checks `cmds` against the director's current configuration, then applies them all, or
/// none. Table commands, `-Z` (whole table) and `--set` may be batched.
pub fn apply_batch(
    director: &mut Director,
    cmds: &[AdmCommand],
    now: Instant,
) -> Result<(), BatchError> {
    let mut scratch = ServiceTable::new(SchedConfig::default());
    for c in AdmState::from_director(director, None).to_commands() {
        // The running configuration was accepted once; a replay failure would be a bug in
        // to_commands, caught by the batch tests.
        let _ = scratch.apply(&c);
    }
    for (index, c) in cmds.iter().enumerate() {
        match c {
            AdmCommand::Table(t) => scratch
                .apply(t)
                .map_err(|error| BatchError::Service { index, error })?,
            AdmCommand::Zero(None) | AdmCommand::SetTimeouts(..) => {}
            AdmCommand::Zero(Some(key)) => {
                if scratch.service(key).is_none() {
                    return Err(BatchError::Service {
                        index,
                        error: ServiceError::NoSuchService,
                    });
                }
                return Err(BatchError::ZeroOneService { index });
            }
            _ => return Err(BatchError::NotInBatch { index }),
        }
    }
    for (index, c) in cmds.iter().enumerate() {
        match c {
            AdmCommand::Table(t) => director
                .apply(t, now)
                .map_err(|error| BatchError::Service { index, error })?,
            AdmCommand::Zero(_) => director.zero_counters(),
            AdmCommand::SetTimeouts(tcp, fin, udp) => director.set_timeouts(*tcp, *fin, *udp),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::director::DirectorConfig;
    use crate::ipvsadm::{
        ListFormat, NumericResolver, list_all, parse_adm_args, restore_lines, save,
    };

    fn batch(text: &str) -> Vec<AdmCommand> {
        restore_lines(text)
            .iter()
            .map(|w| parse_adm_args(w).unwrap())
            .collect()
    }

    fn listing(d: &Director) -> String {
        let f = ListFormat {
            numeric: true,
            tun_info: true,
            ..ListFormat::default()
        };
        list_all(&AdmState::from_director(d, None), &f, &NumericResolver)
    }

    const BASE: &str = "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.1 -m\n\
                        -a -t 192.0.2.1:80 -r 10.0.0.2 -m -w 4 -x 10 -y 5\n\
                        -A -u [2001:db8::1]:53 -p 30 -M 64\n\
                        -a -u [2001:db8::1]:53 -r 192.0.2.9 -i --tun-type gre --tun-csum\n";

    #[test]
    fn a_refused_batch_changes_nothing() {
        let mut d = Director::new(DirectorConfig::default());
        apply_batch(&mut d, &batch(BASE), Instant::ZERO).unwrap();
        let before = listing(&d);
        let timeouts = *d.timeouts();
        let bad = batch("-D -t 192.0.2.1:80\n--set 1 2 3\n-a -t 192.0.2.1:80 -r 10.0.0.3\n");
        let e = apply_batch(&mut d, &bad, Instant::ZERO).unwrap_err();
        assert_eq!(e.index(), 2);
        assert_eq!(e.to_string(), "Service not defined");
        assert_eq!(listing(&d), before);
        assert_eq!(*d.timeouts(), timeouts);
        for (text, index) in [("-L\n", 0), ("-C\n-Z -t 192.0.2.1:80\n", 1)] {
            let e = apply_batch(&mut d, &batch(text), Instant::ZERO).unwrap_err();
            assert_eq!(e.index(), index, "{text}");
        }
        assert_eq!(listing(&d), before);
    }

    #[test]
    fn a_good_batch_applies_in_order() {
        let mut d = Director::new(DirectorConfig::default());
        apply_batch(&mut d, &batch(BASE), Instant::ZERO).unwrap();
        let more = batch(
            "-e -t 192.0.2.1:80 -r 10.0.0.1 -m -w 9\n-D -u [2001:db8::1]:53\n--set 100 0 50\n",
        );
        apply_batch(&mut d, &more, Instant::ZERO).unwrap();
        assert_eq!(
            save(&AdmState::from_director(&d, None), true, &NumericResolver),
            "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 9\n\
             -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 4\n"
        );
        assert_eq!(d.timeouts().get(), (100, 120, 50));
    }

    #[test]
    fn to_commands_rebuilds_the_same_state() {
        let mut d = Director::new(DirectorConfig::default());
        apply_batch(&mut d, &batch(BASE), Instant::ZERO).unwrap();
        let mut again = Director::new(DirectorConfig::default());
        for c in AdmState::from_director(&d, None).to_commands() {
            again.apply(&c, Instant::ZERO).unwrap();
        }
        assert_eq!(listing(&again), listing(&d));
        let f = ListFormat {
            numeric: true,
            thresholds: true,
            nosort: true,
            ..ListFormat::default()
        };
        let a = list_all(&AdmState::from_director(&again, None), &f, &NumericResolver);
        assert_eq!(
            a,
            list_all(&AdmState::from_director(&d, None), &f, &NumericResolver)
        );
    }
}
