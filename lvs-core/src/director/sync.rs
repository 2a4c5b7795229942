//! Connection synchronisation in the director (`ip_vs_sync_conn` on the master,
//! `ip_vs_proc_conn` on the backup), over the codec of [`crate::sync`].
//!
//! Master: [`Director::set_sync_master`] turns it on; after every client packet of a
//! connection the director counts the packet (the kernel's `cp->in_pkts`), asks
//! [`SyncPolicy::needed`] and queues a [`SyncConn`] that [`Director::poll_sync`] hands out.
//! The per-connection [`SyncTrack`] and packet count live in a side map that exists only
//! while sync is on: a director that does not sync pays one `Option` test per packet.
//!
//! The persistence template controlling a connection goes through the same check after
//! every packet of the connection, with its own packet count (`ip_vs_sync_conn`'s `control`
//! loop); its bookkeeping is pruned when the map outgrows the live templates.
//!
//! SCTP connections carry their [`SctpState`] number as the kernel's do; FULLNAT ones have
//! no kernel equivalent and are not exported. Imports count against the connection budget
//! like local entries (templates included).
//!
//! Backup: [`Director::import_sync`] follows `ip_vs_proc_conn`; templates go to the service
//! table ([`ServiceTable::import_template`](crate::service::ServiceTable::import_template)).
//! Imported connections are not linked to an imported template (the kernel's backup does not
//! link them either).

use std::collections::VecDeque;

use super::{Director, HashMap};
use crate::conn::{
    Conn, ConnFlags, ConnId, ConnKey, CounterChange, ForwardMethod, SctpState, TcpState,
};
use crate::ipvsadm::Protocol;
use crate::sched::{ConnKind, DestId};
use crate::service::{NewConn, Scheduled, TemplateId, TemplateSync};
use crate::sync::{SyncConn, SyncPolicy, SyncTrack, flags};
use crate::time::Instant;
use crate::wire::IpProtocol;

/// Sync entries waiting for [`Director::poll_sync`]; more are dropped (counted).
const SYNC_QUEUE_CAP: usize = 4096;

/// Master-side sync state.
#[derive(Debug)]
pub(super) struct SyncMaster {
    policy: SyncPolicy,
    /// Per connection: its sync bookkeeping and incoming packet count.
    tracks: HashMap<ConnId, (SyncTrack, u32)>,
    /// The same for persistence templates.
    template_tracks: HashMap<TemplateId, (SyncTrack, u32)>,
    queue: VecDeque<SyncConn>,
    lost: u64,
}

impl SyncMaster {
    fn enqueue(&mut self, entry: SyncConn) {
        if self.queue.len() >= SYNC_QUEUE_CAP {
            self.lost += 1;
        } else {
            self.queue.push_back(entry);
        }
    }
}

/// Counters of the sync import (backup) and export (master) sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SyncCounters {
    /// New connections (and templates, created or refreshed) from sync entries.
    pub imported: u64,
    /// Existing connections whose state, flags and timeout an entry refreshed.
    pub updated: u64,
    /// Entries ignored: no matching service or dest, a stale entry for a replaced
    /// connection, unsupported protocol, table full.
    pub skipped: u64,
    /// Entries the master dropped because the [`Director::poll_sync`] queue was full.
    pub export_lost: u64,
}

/// What [`Director::import_sync`] did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncImport {
    /// A new connection was created, or a template created or refreshed.
    Created,
    /// An existing connection was refreshed.
    Updated,
    /// A connection to another real server was replaced by a new one.
    Replaced,
    /// The entry was ignored (see [`SyncCounters::skipped`]).
    Skipped,
}

impl Director {
    /// Makes this director a sync master with `policy` (`ipvsadm --start-daemon master` and
    /// the `sync_*` sysctls), or stops it with `None` (its queue and bookkeeping are freed).
    pub fn set_sync_master(&mut self, policy: Option<SyncPolicy>) {
        self.sync = policy.map(|policy| {
            Box::new(SyncMaster {
                policy,
                tracks: HashMap::default(),
                template_tracks: HashMap::default(),
                queue: VecDeque::new(),
                lost: 0,
            })
        });
    }

    /// The next connection to send to the backups, oldest first. Call it after
    /// `handle_packet` until `None` and push each into a [`crate::sync::SyncSender`]. At most
    /// 4096 wait; more are dropped ([`SyncCounters::export_lost`]).
    pub fn poll_sync(&mut self) -> Option<SyncConn> {
        self.sync.as_mut()?.queue.pop_front()
    }

    /// The sync counters.
    pub fn sync_counters(&self) -> SyncCounters {
        SyncCounters {
            export_lost: self.sync.as_ref().map_or(0, |s| s.lost),
            ..self.sync_counters
        }
    }

    /// After a client packet of connection `id` was tracked: `ip_vs_in`'s
    /// `in_pkts` count and `ip_vs_sync_conn` call.
    pub(super) fn sync_after_in(&mut self, now: Instant, id: ConnId) {
        let Some(entry) = self.sync_conn_of(id) else {
            return;
        };
        let template = self.templates_of.get(&id).copied();
        let Some(m) = self.sync.as_mut() else { return };
        let (track, pkts) = m.tracks.entry(id).or_default();
        *pkts = pkts.wrapping_add(1);
        if m.policy
            .needed(now, track, &entry, *pkts, template.is_some())
        {
            m.enqueue(entry.clone());
        }
        let Some(tid) = template else { return };
        let Some(t) = self.services.template_sync(tid) else {
            return;
        };
        let tentry = SyncConn {
            protocol: IpProtocol::from(t.protocol),
            caddr: t.caddr,
            cport: 0,
            vaddr: t.vaddr,
            vport: t.vport,
            daddr: t.daddr,
            dport: t.dport,
            fwmark: t.fwmark,
            // The dest's conn_flags: its forwarding method and INACTIVE (ip_vs_bind_dest).
            flags: flags::TEMPLATE | flags::INACTIVE | (entry.flags & flags::FWD_MASK),
            // IP_VS_CTPL_S_ASSURED.
            state: u16::from(self.services.template_assured(tid)),
            timeout: t.timeout,
            seq: None,
            pe: None,
        };
        let live = self.services.template_count();
        let Some(m) = self.sync.as_mut() else { return };
        let (track, pkts) = m.template_tracks.entry(tid).or_default();
        *pkts = pkts.wrapping_add(1);
        if m.policy.needed(now, track, &tentry, *pkts, false) {
            m.enqueue(tentry);
        }
        if m.template_tracks.len() > 2 * live + 64 {
            let services = &self.services;
            m.template_tracks
                .retain(|&tid, _| services.template_sync(tid).is_some());
        }
    }

    /// Forgets the sync bookkeeping of a connection that left the table.
    pub(super) fn sync_forget(&mut self, id: ConnId) {
        if let Some(m) = self.sync.as_mut() {
            m.tracks.remove(&id);
        }
    }

    /// A connection as the sync protocol carries it. FULLNAT connections have no kernel
    /// equivalent (no local address in the entry) and are not synced.
    fn sync_conn_of(&self, id: ConnId) -> Option<SyncConn> {
        let c = self.conns.get(id)?;
        let fwd = match c.fwd() {
            ForwardMethod::Nat => flags::MASQ,
            ForwardMethod::Dr => flags::DROUTE,
            ForwardMethod::Tun => flags::TUNNEL,
            ForwardMethod::Local => flags::LOCALNODE,
            ForwardMethod::FullNat => return None,
        };
        let cf = c.flags();
        let mut f = fwd;
        for (ours, theirs) in [
            (ConnFlags::INACTIVE, flags::INACTIVE),
            (ConnFlags::NO_OUTPUT, flags::NOOUTPUT),
            (ConnFlags::ONE_PACKET, flags::ONE_PACKET),
        ] {
            if cf.contains(ours) {
                f |= theirs;
            }
        }
        // The kernel sends `cp->timeout`, the current state's full timeout.
        let (state, timeout) = match c.proto() {
            IpProtocol::Tcp => {
                let s = c.tcp_state().unwrap_or(TcpState::None);
                (s as u16, self.timeouts.tcp(s))
            }
            IpProtocol::Udp => (0, self.timeouts.udp()),
            IpProtocol::Sctp => {
                let s = c.sctp_state().unwrap_or_default();
                (s as u16, self.timeouts.sctp(s))
            }
            _ => (0, self.timeouts.tcp(TcpState::Established)),
        };
        let fwmark = self
            .reg
            .svcs
            .get(c.svc() as usize)
            .and_then(|s| match s.key {
                crate::ipvsadm::ServiceKey::Fwmark { mark, .. } => Some(mark),
                _ => None,
            })
            .unwrap_or(0);
        Some(SyncConn {
            protocol: c.proto(),
            caddr: c.caddr(),
            cport: c.cport(),
            vaddr: c.vaddr(),
            vport: c.vport(),
            daddr: c.daddr(),
            dport: c.dport(),
            fwmark,
            flags: f,
            state,
            timeout,
            seq: None,
            pe: None,
        })
    }

    /// Imports one entry received from a sync master at `now` (the kernel's
    /// `ip_vs_proc_conn`).
    ///
    /// The connection is looked up by protocol, client and virtual endpoint. One bound to
    /// another real server is expired and created anew, unless the entry is inactive (then it
    /// is the master's expiry notice for the connection already replaced: ignored). An
    /// existing one gets the entry's state, the `INACTIVE` and sequence bits (moving its dest
    /// between active and inactive counts) and its timer re-armed. A new one is bound to the
    /// dest `daddr:dport` of the service matching the entry, with the flags of
    /// [`SyncConn::backup_flags`] and the forwarding method of the local dest; an entry with
    /// no such service or dest is skipped. Timeout 0 means the state's default. A template
    /// entry creates or refreshes a persistence template of the matching service (timeout 0:
    /// the service's `-p` timeout).
    pub fn import_sync(&mut self, now: Instant, entry: &SyncConn) -> SyncImport {
        let r = self.import(now, entry);
        match r {
            SyncImport::Created | SyncImport::Replaced => self.sync_counters.imported += 1,
            SyncImport::Updated => self.sync_counters.updated += 1,
            SyncImport::Skipped => self.sync_counters.skipped += 1,
        }
        r
    }

    fn import(&mut self, now: Instant, e: &SyncConn) -> SyncImport {
        if e.is_template() {
            let t = TemplateSync {
                protocol: u8::from(e.protocol),
                caddr: e.caddr,
                vaddr: e.vaddr,
                vport: e.vport,
                fwmark: e.fwmark,
                daddr: e.daddr,
                dport: e.dport,
                timeout: e.timeout,
            };
            if self.table_full() {
                return SyncImport::Skipped;
            }
            return match self.services.import_template(&t, now) {
                Ok(()) => {
                    if e.state & 1 != 0 {
                        self.services.assure_synced_template(&t);
                    }
                    SyncImport::Created
                }
                Err(_) => SyncImport::Skipped,
            };
        }
        let Some(protocol) = Protocol::from_number(u8::from(e.protocol)) else {
            return SyncImport::Skipped;
        };
        let raw = u8::try_from(e.state).ok();
        let (state, default_timeout) = match e.protocol {
            IpProtocol::Tcp => match raw.and_then(TcpState::from_u8) {
                Some(s) => (Some(s as u8), self.timeouts.tcp(s)),
                None => return SyncImport::Skipped,
            },
            IpProtocol::Sctp => match raw.and_then(SctpState::from_u8) {
                Some(s) => (Some(s as u8), self.timeouts.sctp(s)),
                None => return SyncImport::Skipped,
            },
            IpProtocol::Udp => (None, self.timeouts.udp()),
            _ => (None, self.timeouts.tcp(TcpState::Established)),
        };
        let timeout = if e.timeout != 0 {
            e.timeout
        } else {
            default_timeout
        };
        let key = ConnKey {
            proto: e.protocol,
            caddr: e.caddr,
            cport: e.cport,
            vaddr: e.vaddr,
            vport: e.vport,
        };
        let inactive = e.flags & flags::INACTIVE != 0;
        let mut replaced = false;
        if let Some(id) = self.conns.lookup_in(&key) {
            let (daddr, dport, was_inactive, dest) = match self.conns.get(id) {
                Some(c) => (
                    c.daddr(),
                    c.dport(),
                    c.flags().contains(ConnFlags::INACTIVE),
                    c.dest(),
                ),
                None => return SyncImport::Skipped,
            };
            if daddr != e.daddr || dport != e.dport {
                if inactive {
                    return SyncImport::Skipped;
                }
                self.expire_now(id, now);
                replaced = true;
            } else {
                if was_inactive != inactive {
                    let ch = if inactive {
                        CounterChange::Deactivate
                    } else {
                        CounterChange::Activate
                    };
                    if let Some(mut c) = self.conns.get_mut(id) {
                        if inactive {
                            c.insert_flags(ConnFlags::INACTIVE);
                        } else {
                            c.remove_flags(ConnFlags::INACTIVE);
                        }
                    }
                    self.count_change(now, dest, ch);
                }
                // Only the INACTIVE and sequence bits follow the master
                // (IP_VS_CONN_F_BACKUP_UPD_MASK); a connection of our own stays unmarked.
                if let Some(s) = state
                    && let Some(mut c) = self.conns.get_mut(id)
                {
                    c.set_state(s);
                }
                self.conns.touch(id, now, timeout);
                return SyncImport::Updated;
            }
        }
        let nc = NewConn {
            protocol,
            caddr: e.caddr,
            cport: e.cport,
            daddr: e.vaddr,
            dport: e.vport,
            fwmark: e.fwmark,
        };
        let Some(&svc_key) = self.services.find_service(&nc) else {
            return SyncImport::Skipped;
        };
        let Some(&sid) = self.reg.by_key.get(&svc_key) else {
            return SyncImport::Skipped;
        };
        let Some((dest, fwd)) = self.reg.dests.iter().enumerate().find_map(|(i, d)| {
            let d = d.as_ref()?;
            (d.live && d.svc == sid && d.addr == e.daddr && d.port == e.dport)
                .then_some((i as u32, d.fwd))
        }) else {
            return SyncImport::Skipped;
        };
        // Without a local-address allocation a FULLNAT dest cannot carry the connection.
        if fwd == ForwardMethod::FullNat {
            return SyncImport::Skipped;
        }
        let mut cf = ConnFlags::SYNC;
        if e.backup_flags() & flags::INACTIVE != 0 {
            cf.insert(ConnFlags::INACTIVE);
        }
        let conn = Conn {
            proto: e.protocol,
            fwd,
            caddr: e.caddr,
            cport: e.cport,
            vaddr: e.vaddr,
            vport: e.vport,
            daddr: e.daddr,
            dport: e.dport,
            laddr: super::packet::unspecified(e.daddr),
            lport: 0,
            state: state.unwrap_or(0),
            flags: cf,
            svc: sid,
            dest,
            control: None,
            expires: now,
        };
        if self.table_full() || self.conns.insert(&conn, now, timeout).is_err() {
            return SyncImport::Skipped;
        }
        let s = Scheduled {
            service: svc_key,
            dest: DestId(dest),
            daddr: e.daddr,
            dport: e.dport,
            template: None,
            one_packet: false,
        };
        let kind = if cf.contains(ConnFlags::INACTIVE) {
            ConnKind::Inactive
        } else {
            ConnKind::Active
        };
        self.services.bind_conn(&s, kind);
        self.conn_event(super::Event::ConnCreated, &conn);
        if replaced {
            SyncImport::Replaced
        } else {
            SyncImport::Created
        }
    }
}
