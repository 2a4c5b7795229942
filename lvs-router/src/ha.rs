//! Active/backup directors in `lvs-router run`: the `[vrrp]` instance that decides which
//! director owns the VIPs, and the IPVS connection sync daemons, over the running workers.
//!
//! ```text
//!   lvs-vrrp thread   VrrpRunner<EngineVips>: adverts, timers, GARP bursts on its interface.
//!                       MASTER: every worker's Director owns the VIPs (Engine::each:
//!                       set_owned_vips + gratuitous ARP / unsolicited NA on every port)
//!                       BACKUP/FAULT: every Director owns none (ARP/ND answers stop)
//!                       each transition also sets the sync role (SyncDaemons::follow)
//!   lvs-sync thread   master daemon: every 100 ms drain each worker's Director::poll_sync
//!                       into one SyncSender, send its datagrams (224.0.0.81:8848, TTL 1)
//!                     backup daemon: receive, decode, Director::import_sync into the
//!                       worker the fanout steering hands the connection's packets to
//!                       (Engine::owner; every worker where that cannot be known)
//!   control socket    --start-daemon / --stop-daemon / -L --daemon (crate::control)
//! ```
//!
//! Workers are reached only through [`Engine::each`], between two turns of their loops.
//!
//! With `[vrrp]` the directors start owning nothing (a backup must stay silent) and the sync
//! role follows the VRRP state as keepalived's `lvs_sync_daemon` makes it: entering MASTER
//! stops the backup daemon and starts the master one, entering BACKUP or FAULT the reverse.
//! `--start-daemon` / `--stop-daemon` over the control socket change the daemons at once; the
//! next VRRP transition sets them again. Without `[vrrp]`, `[sync] daemon` starts one daemon
//! at start-up and the control socket does the rest, as `ipvsadm` with the kernel.
//!
//! A synced connection goes only into the worker that receives its packets: the steering
//! program's answer for the client's packet (`lvs_net::device::steer::program_value`; NAT
//! replies steer like the client's packets, FULLNAT connections are not synced), so `-Ln` on a
//! backup counts it once. A persistence template goes to one worker only when all of its
//! connections do: the workers are steered by client address or network and the steering
//! mask is at least as wide as the template's service netmask (`SteerKey::groups`: then
//! every client the template covers hashes like the template's own, masked, address), and it
//! is not a fwmark or persistence-engine template; otherwise (a netmask widened by a reload,
//! workers steered by client endpoint after a reload added persistence, a service the backup
//! does not have) every worker gets it, as each may schedule that network's clients. Entries whose worker
//! cannot be known (plain hash fanout, keyed by the kernel's random seed: not used by `run`
//! today, which refuses to start when the program does not fit) go to every worker too.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Scope;
use std::time::Duration;

use lvs_core::director::SyncImport;
use lvs_core::ipvsadm::{AdmDaemon, DaemonConfig, Netmask, Protocol, ServiceKey};
use lvs_core::sync::{SyncConn, SyncPolicy, SyncSender, SyncSenderConfig, decode};
use lvs_core::vrrp::{VrrpAuth, VrrpConfig, VrrpEvent, VrrpState, VrrpVersion};
use lvs_net::device::steer::{SteerKey, SteerPacket};
use lvs_net::ha::{
    HaError, Notify, SyncRecvSocket, SyncSendSocket, SyncSocketConfig, VipOwner, VrrpRunner,
};
use lvs_net::worker::now;

use crate::config::{RouterConfig, SyncRole, SyncSection, VrrpSection};
use crate::engine::Engine;

/// How often the master daemon collects the workers' sync entries.
const MASTER_POLL: Duration = Duration::from_millis(100);
/// Longest wait for a sync datagram (also the idle sleep without a backup daemon).
const RECV_WAIT: Duration = Duration::from_millis(50);
/// Datagrams decoded before one import round on the workers.
const IMPORT_BATCH: usize = 64;

/// The `[vrrp]` section as a [`VrrpConfig`]; `owned` are the engine's VIPs and local
/// addresses (the default advert list: those of the source's family).
pub(crate) fn vrrp_config(
    v: &VrrpSection,
    router: &RouterConfig,
    owned: &[IpAddr],
) -> Result<VrrpConfig, String> {
    let version = match v.version.unwrap_or(3) {
        2 => VrrpVersion::V2,
        3 => VrrpVersion::V3,
        n => return Err(format!("[vrrp] version {n}: 2 or 3")),
    };
    let src = v
        .src
        .or_else(|| {
            router
                .interfaces
                .iter()
                .find(|i| i.name == v.interface)
                .and_then(|i| i.ipv4)
                .map(IpAddr::V4)
        })
        .ok_or("[vrrp] needs src (or the interface's ipv4)")?;
    let vips = v.vips.clone().unwrap_or_else(|| {
        owned
            .iter()
            .filter(|a| a.is_ipv4() == src.is_ipv4())
            .copied()
            .collect()
    });
    let mut c = VrrpConfig::new(version, v.vrid, v.priority.unwrap_or(100), src, vips);
    if let Some(ms) = v.advert_int_ms {
        c.adver_int = Duration::from_millis(ms);
    }
    c.peers.clone_from(&v.peers);
    c.preempt = v.preempt.unwrap_or(true);
    if let Some(ms) = v.preempt_delay_ms {
        c.preempt_delay = Duration::from_millis(ms);
    }
    if let Some(p) = &v.auth_pass {
        c.auth = VrrpAuth::simple(p.as_bytes());
    }
    if let Some(n) = v.garp_repeat {
        c.garp_repeat = n;
    }
    if let Some(ms) = v.garp_delay_ms {
        c.garp_delay = Duration::from_millis(ms);
    }
    // The core's own range checks, so a bad section is refused before any socket opens.
    lvs_core::vrrp::Vrrp::new(c.clone()).map_err(|e| format!("[vrrp]: {e}"))?;
    Ok(c)
}

/// The `--start-daemon` settings `[sync]` stands for, as master or backup.
pub(crate) fn daemon_config(s: &SyncSection, master: bool) -> DaemonConfig {
    DaemonConfig {
        master,
        mcast_ifn: s.interface.clone(),
        syncid: s.syncid.unwrap_or(0),
        sync_maxlen: s.maxlen.unwrap_or(0),
        mcast_group: s.group,
        mcast_port: s.port.unwrap_or(0),
        mcast_ttl: s.ttl.unwrap_or(0),
    }
}

fn socket_config(d: &DaemonConfig) -> SyncSocketConfig {
    let mut c = SyncSocketConfig::new(&d.mcast_ifn);
    if let Some(g) = d.mcast_group {
        c.group = g;
    }
    if d.mcast_port != 0 {
        c.port = d.mcast_port;
    }
    if d.mcast_ttl != 0 {
        c.ttl = u32::from(d.mcast_ttl);
    }
    c.syncid = d.syncid;
    c.maxlen = usize::from(d.sync_maxlen);
    c
}

/// The running master daemon.
struct MasterDaemon {
    config: DaemonConfig,
    socket: SyncSendSocket,
    sender: SyncSender,
}

/// The running backup daemon (its socket is shared with the receive loop, which waits on it
/// without holding the lock).
struct BackupDaemon {
    config: DaemonConfig,
    socket: Arc<SyncRecvSocket>,
}

#[derive(Default)]
struct Running {
    master: Option<MasterDaemon>,
    backup: Option<BackupDaemon>,
}

/// The sync daemons of one `run` (at most a master and a backup, as in the kernel).
pub(crate) struct SyncDaemons {
    running: Mutex<Running>,
    policy: SyncPolicy,
    /// `[sync]` with `[vrrp]`: the settings each VRRP transition starts the daemons with.
    follow: Option<SyncSection>,
}

impl SyncDaemons {
    /// No daemon running yet; `follow_vrrp`: the roles follow VRRP with `[sync]`'s settings.
    pub(crate) fn new(sync: Option<&SyncSection>, follow_vrrp: bool) -> Self {
        let d = SyncPolicy::default();
        let policy = sync.map_or(d, |s| SyncPolicy {
            threshold: s.threshold.unwrap_or(d.threshold),
            period: s.period.unwrap_or(d.period),
            ..d
        });
        Self {
            running: Mutex::default(),
            policy,
            follow: sync.filter(|_| follow_vrrp).cloned(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `--start-daemon`: opens the socket; a master also turns on every worker's sync
    /// export. ipvsadm's "Daemon has already run" when that role runs already.
    pub(crate) fn start(&self, engine: &Engine, config: &DaemonConfig) -> Result<(), String> {
        let mut r = self.lock();
        let sock = socket_config(config);
        let role = if config.master { "master" } else { "backup" };
        if config.master {
            if r.master.is_some() {
                return Err("Daemon has already run".into());
            }
            let socket = SyncSendSocket::open(&sock).map_err(|e| e.to_string())?;
            let sender = SyncSender::new(SyncSenderConfig {
                syncid: config.syncid,
                maxlen: sock.effective_maxlen(),
            });
            let policy = self.policy;
            let n = engine.each_director(move |d| d.set_sync_master(Some(policy)));
            if n.len() != engine.worker_count() {
                tracing::warn!("a worker did not confirm the sync master start");
            }
            r.master = Some(MasterDaemon {
                config: config.clone(),
                socket,
                sender,
            });
        } else {
            if r.backup.is_some() {
                return Err("Daemon has already run".into());
            }
            let socket = SyncRecvSocket::open(&sock).map_err(|e| e.to_string())?;
            r.backup = Some(BackupDaemon {
                config: config.clone(),
                socket: Arc::new(socket),
            });
        }
        tracing::info!(
            role,
            interface = %config.mcast_ifn,
            group = %sock.group,
            port = sock.port,
            syncid = config.syncid,
            "sync daemon started"
        );
        Ok(())
    }

    /// `--stop-daemon`: a master sends what it has collected first and turns the workers'
    /// export off. ipvsadm's "No daemon is running" when that role does not run.
    pub(crate) fn stop(&self, engine: &Engine, master: bool) -> Result<(), String> {
        if master {
            if self.lock().master.is_none() {
                return Err("No daemon is running".into());
            }
            self.send_round(engine, true);
            let Some(_) = self.lock().master.take() else {
                return Err("No daemon is running".into());
            };
            engine.each_director(|d| d.set_sync_master(None));
        } else if self.lock().backup.take().is_none() {
            return Err("No daemon is running".into());
        }
        let role = if master { "master" } else { "backup" };
        tracing::info!(role, "sync daemon stopped");
        Ok(())
    }

    /// The running daemons as `ipvsadm -L --daemon` lists them (the effective settings, as
    /// the kernel reports them).
    pub(crate) fn listing(&self) -> Vec<AdmDaemon> {
        let r = self.lock();
        let row = |c: &DaemonConfig| {
            let s = socket_config(c);
            AdmDaemon {
                master: c.master,
                mcast_ifn: c.mcast_ifn.clone(),
                syncid: c.syncid,
                sync_maxlen: u16::try_from(s.effective_maxlen()).unwrap_or(u16::MAX),
                mcast_group: Some(s.group),
                mcast_port: s.port,
                mcast_ttl: u8::try_from(s.ttl).unwrap_or(u8::MAX),
            }
        };
        r.master
            .iter()
            .map(|m| row(&m.config))
            .chain(r.backup.iter().map(|b| row(&b.config)))
            .collect()
    }

    /// A VRRP transition: MASTER runs the master daemon only, BACKUP and FAULT the backup
    /// daemon only (nothing without `[sync]`).
    pub(crate) fn follow(&self, engine: &Engine, state: VrrpState) {
        let Some(s) = &self.follow else { return };
        let master = match state {
            VrrpState::Master => true,
            VrrpState::Backup | VrrpState::Fault => false,
            VrrpState::Initialize => return,
        };
        let running = {
            let r = self.lock();
            (r.master.is_some(), r.backup.is_some())
        };
        let (other_runs, this_runs) = if master {
            (running.1, running.0)
        } else {
            (running.0, running.1)
        };
        if other_runs && let Err(e) = self.stop(engine, !master) {
            tracing::warn!("sync: stopping the other daemon: {e}");
        }
        if !this_runs && let Err(e) = self.start(engine, &daemon_config(s, master)) {
            tracing::error!("sync: cannot start the daemon: {e}");
        }
    }

    /// The sync loop: receive (backup daemon) and send (master daemon) until `done`.
    pub(crate) fn run(&self, engine: &Engine, done: &AtomicBool) {
        let mut buf = vec![0u8; 65536];
        let mut next_round = std::time::Instant::now();
        while !done.load(Ordering::Relaxed) {
            let backup = self
                .lock()
                .backup
                .as_ref()
                .map(|b| (Arc::clone(&b.socket), b.config.syncid));
            match backup {
                Some((socket, syncid)) => receive(engine, &socket, syncid, &mut buf),
                None => std::thread::sleep(RECV_WAIT),
            }
            if std::time::Instant::now() >= next_round {
                next_round = std::time::Instant::now() + MASTER_POLL;
                self.send_round(engine, false);
            }
        }
    }

    /// Collects every worker's sync entries into the sender and sends the datagrams that are
    /// full or older than the kernel's flush time (all of them with `flush`).
    fn send_round(&self, engine: &Engine, flush: bool) {
        if self.lock().master.is_none() {
            return;
        }
        let batches: Vec<Vec<SyncConn>> =
            engine.each_director(|d| std::iter::from_fn(|| d.poll_sync()).collect());
        let mut r = self.lock();
        let Some(m) = r.master.as_mut() else { return };
        let t = now();
        for c in batches.iter().flatten() {
            // Unencodable entries (FULLNAT, SCTP) are counted by the sender and skipped.
            let _ = m.sender.push(t, c);
        }
        if flush {
            m.sender.flush();
        } else {
            m.sender.handle_timeout(t);
        }
        match m.socket.send_ready(&mut m.sender) {
            Ok(0) => {}
            Ok(n) => tracing::trace!(messages = n, "sync: sent"),
            Err(e) => tracing::warn!("sync: {e}"),
        }
    }
}

/// The worker a synced entry belongs on, `None` for every worker (module doc): `owner` gives
/// the worker that receives a packet, `netmask` a template's service netmask (`None` when
/// unknown).
fn entry_owner(
    e: &SyncConn,
    key: SteerKey,
    netmask: impl Fn(&SyncConn) -> Option<Netmask>,
    owner: impl Fn(&SteerPacket) -> Option<usize>,
) -> Option<usize> {
    let pkt = SteerPacket::from_client(u8::from(e.protocol), e.caddr, e.cport, e.vaddr, e.vport);
    if !e.is_template() {
        return owner(&pkt);
    }
    // The template's client port is 0 and its connections' ports vary: only steering by
    // client address or network leaves them out of the hash. Its client address is the
    // client network (masked by the service's netmask): every client of it hashes like that
    // address when the steering masks no bit the netmask keeps. A fwmark template (protocol
    // 0) names the mark, not the address its packets go to.
    let own =
        u8::from(e.protocol) != 0 && e.pe.is_none() && netmask(e).is_some_and(|m| key.groups(m));
    if own { owner(&pkt) } else { None }
}

/// The persistence netmask of template `e`'s service (protocol, VIP, port) in `d`'s rules;
/// `None` for unknown services (FTP's port-0 templates too).
fn template_netmask(d: &lvs_core::director::Director, e: &SyncConn) -> Option<Netmask> {
    let protocol = Protocol::from_number(u8::from(e.protocol))?;
    let key = ServiceKey::Inet {
        protocol,
        addr: e.vaddr,
        port: e.vport,
    };
    d.services().service(&key).map(|s| s.config().netmask)
}

/// `conns` split by [`entry_owner`] over `workers` lists; an entry without an owner is in
/// every list.
fn split_by_owner(
    conns: Vec<SyncConn>,
    workers: usize,
    owner: impl Fn(&SyncConn) -> Option<usize>,
) -> Vec<Vec<SyncConn>> {
    let mut parts = vec![Vec::new(); workers];
    for c in conns {
        match owner(&c).filter(|&i| i < workers) {
            Some(i) => parts[i].push(c),
            None => {
                for p in &mut parts {
                    p.push(c.clone());
                }
            }
        }
    }
    parts
}

/// Waits for sync datagrams (at most [`RECV_WAIT`] for the first), decodes a batch and
/// imports each entry into the worker that owns it ([`entry_owner`]).
fn receive(engine: &Engine, socket: &SyncRecvSocket, syncid: u8, buf: &mut [u8]) {
    let mut conns = Vec::new();
    let mut wait = RECV_WAIT;
    for _ in 0..IMPORT_BATCH {
        match socket.recv(buf, wait) {
            Ok(Some(n)) => match decode(&buf[..n], syncid) {
                Ok(d) => conns.extend(d.conns),
                Err(e) => tracing::debug!("sync: datagram ignored: {e}"),
            },
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("sync: {e}");
                std::thread::sleep(RECV_WAIT);
                break;
            }
        }
        wait = Duration::from_millis(1);
    }
    if conns.is_empty() {
        return;
    }
    let entries = conns.len();
    let key = engine.steer_key();
    let parts = engine.with_rules(|d| {
        split_by_owner(conns, engine.worker_count(), |c| {
            entry_owner(c, key, |t| template_netmask(d, t), |p| engine.owner(p))
        })
    });
    let parts = Arc::new(parts);
    let imported = engine.each_director_indexed(move |i, d| {
        let t = now();
        parts.get(i).map_or(0, |p| {
            p.iter()
                .filter(|c| d.import_sync(t, c) != SyncImport::Skipped)
                .count()
        })
    });
    tracing::debug!(entries, ?imported, "sync: imported");
}

/// VIP ownership over the running workers: the router's [`VipOwner`].
pub(crate) struct EngineVips<'e> {
    engine: &'e Engine,
    /// Announcement rounds on every port when taking over.
    repeat: u32,
}

impl EngineVips<'_> {
    fn confirmed(&self, answers: usize, op: &str) -> Result<(), HaError> {
        if answers == self.engine.worker_count() {
            Ok(())
        } else {
            Err(HaError::Command {
                command: format!("{op} the VIPs on the workers"),
                detail: format!(
                    "{answers} of {} workers answered",
                    self.engine.worker_count()
                ),
            })
        }
    }
}

impl VipOwner for EngineVips<'_> {
    fn take(&mut self, _vips: &[IpAddr]) -> Result<(), HaError> {
        // Every owned address (both families, FULLNAT local addresses too), not only the
        // advert's list: the instance stands for the whole director.
        let owned: Arc<[IpAddr]> = self.engine.owned_addrs().into();
        let first = Arc::new(AtomicBool::new(true));
        let repeat = self.repeat;
        let answers = self.engine.each(move |w| {
            w.handler_mut().0.set_owned_vips(&owned);
            // One worker announces on every port (with each port's MAC).
            if first.swap(false, Ordering::Relaxed) {
                for _ in 0..repeat {
                    if let Err(e) = w.announce(&owned) {
                        tracing::warn!("announcing the VIPs: {e}");
                    }
                }
            }
        });
        tracing::info!(addrs = ?self.engine.owned_addrs(), "VRRP master: VIPs owned");
        self.confirmed(answers.len(), "take")
    }

    fn release(&mut self, _vips: &[IpAddr]) -> Result<(), HaError> {
        let answers = self.engine.each_director(|d| d.set_owned_vips(&[]));
        tracing::info!("VRRP: VIPs released");
        self.confirmed(answers.len(), "release")
    }
}

/// The VRRP instance, ready to run on its thread.
pub(crate) struct VrrpThread<'e>(VrrpRunner<EngineVips<'e>>);

/// Builds the HA side of `run` from the TOML: the sync daemons (with `[sync] daemon` started
/// when there is no `[vrrp]`) and the VRRP instance with its sockets open.
pub(crate) fn start<'e>(
    router: &RouterConfig,
    engine: &'e Engine,
) -> Result<(SyncDaemons, Option<VrrpThread<'e>>), String> {
    let daemons = SyncDaemons::new(router.sync.as_ref(), router.vrrp.is_some());
    let vrrp = match &router.vrrp {
        None => None,
        Some(v) => {
            let config = vrrp_config(v, router, engine.owned_addrs())?;
            let owner = EngineVips {
                engine,
                repeat: config.garp_repeat,
            };
            let notify = Notify {
                master: v.notify_master.clone(),
                backup: v.notify_backup.clone(),
                fault: v.notify_fault.clone(),
            };
            tracing::info!(
                interface = %v.interface,
                vrid = config.vrid,
                priority = config.priority,
                version = ?config.version,
                advert_int = ?config.adver_int,
                "VRRP instance configured"
            );
            let runner = VrrpRunner::new(&v.interface, config, owner, notify)
                .map_err(|e| format!("[vrrp]: {e}"))?;
            Some(VrrpThread(runner))
        }
    };
    if router.vrrp.is_none()
        && let Some(s) = &router.sync
        && let Some(role) = s.daemon
    {
        daemons.start(engine, &daemon_config(s, role == SyncRole::Master))?;
    }
    Ok((daemons, vrrp))
}

/// Starts the HA threads in `scope`: the sync loop always (it idles without daemons), the
/// VRRP instance when configured. Both end when `done` is set; the VRRP instance then resigns
/// (priority 0 advert) and releases the VIPs while the workers still run.
pub(crate) fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    engine: &'env Engine,
    daemons: &'env SyncDaemons,
    vrrp: Option<VrrpThread<'env>>,
    done: &'env AtomicBool,
) {
    let spawned = std::thread::Builder::new()
        .name("lvs-sync".into())
        .spawn_scoped(scope, move || daemons.run(engine, done));
    if let Err(e) = spawned {
        tracing::error!("cannot start the sync thread: {e}");
    }
    let Some(VrrpThread(mut runner)) = vrrp else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("lvs-vrrp".into())
        .spawn_scoped(scope, move || {
            let on_event = |ev: &VrrpEvent| match ev {
                VrrpEvent::StateChanged { from, to } => {
                    tracing::info!(?from, ?to, "VRRP state changed");
                    daemons.follow(engine, *to);
                }
                VrrpEvent::Rejected { from, reason } => {
                    tracing::debug!(%from, %reason, "VRRP advert rejected");
                }
            };
            let on_error = |e: &HaError| tracing::warn!("VRRP: {e}");
            if let Err(e) = runner.run(done, on_event, on_error) {
                tracing::error!("VRRP instance stopped: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the VRRP thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouterConfig;

    const BASE: &str = "[[interface]]\nname = \"eth0\"\nipv4 = \"203.0.113.11\"\n";

    #[test]
    fn the_vrrp_section_maps_to_the_core_config() {
        let text = format!(
            "{BASE}[vrrp]\ninterface = \"eth0\"\nvrid = 51\npriority = 150\nadvert_int_ms = 500\n\
             preempt_delay_ms = 3000\ngarp_repeat = 2\n"
        );
        let r = RouterConfig::parse(&text).unwrap();
        let owned: Vec<IpAddr> = vec![
            "192.0.2.10".parse().unwrap(),
            "2001:db8::10".parse().unwrap(),
            "172.16.0.1".parse().unwrap(),
        ];
        let c = vrrp_config(r.vrrp.as_ref().unwrap(), &r, &owned).unwrap();
        assert_eq!(c.version, VrrpVersion::V3);
        assert_eq!((c.vrid, c.priority), (51, 150));
        assert_eq!(c.src_addr, "203.0.113.11".parse::<IpAddr>().unwrap());
        // The advert lists the addresses of the source's family.
        assert_eq!(c.vips, vec![owned[0], owned[2]]);
        assert_eq!(c.adver_int, Duration::from_millis(500));
        assert_eq!(c.preempt_delay, Duration::from_secs(3));
        assert_eq!(c.garp_repeat, 2);
        assert!(c.preempt);
    }

    #[test]
    fn bad_vrrp_and_sync_sections_are_refused() {
        let v2_fraction = format!(
            "{BASE}[vrrp]\ninterface = \"eth0\"\nvrid = 1\nversion = 2\nadvert_int_ms = 500\n"
        );
        let r = RouterConfig::parse(&v2_fraction).unwrap();
        let owned: Vec<IpAddr> = vec!["192.0.2.10".parse().unwrap()];
        assert!(vrrp_config(r.vrrp.as_ref().unwrap(), &r, &owned).is_err());
        let no_vips = format!("{BASE}[vrrp]\ninterface = \"eth0\"\nvrid = 1\n");
        let r = RouterConfig::parse(&no_vips).unwrap();
        assert!(vrrp_config(r.vrrp.as_ref().unwrap(), &r, &[]).is_err());
        for bad in [
            format!("{BASE}[vrrp]\ninterface = \"eth9\"\nvrid = 1\n"),
            format!("{BASE}[vrrp]\ninterface = \"eth0\"\nvrid = 1\nprio = 1\n"),
            format!(
                "{BASE}[vrrp]\ninterface = \"eth0\"\nvrid = 1\n[sync]\ninterface = \"eth0\"\ndaemon = \"master\"\n"
            ),
            format!("{BASE}[sync]\ninterface = \"eth0\"\ndaemon = \"primary\"\n"),
        ] {
            assert!(RouterConfig::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_example_ha_config_loads() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/run");
        let l =
            crate::config::Loaded::read(&root.join("rules"), &root.join("ha-router.toml")).unwrap();
        let v = l.router.vrrp.as_ref().unwrap();
        let owned: Vec<IpAddr> = l.router.vips.clone().unwrap();
        let c = vrrp_config(v, &l.router, &owned).unwrap();
        assert_eq!((c.vrid, c.priority, c.vips.len()), (51, 150, 2));
        assert_eq!(l.router.sync.as_ref().unwrap().interface, "eth1");
    }

    fn entry(caddr: &str, cport: u16, vaddr: &str, vport: u16, template: bool) -> SyncConn {
        SyncConn {
            protocol: lvs_core::wire::IpProtocol::Tcp,
            caddr: caddr.parse().unwrap(),
            cport,
            vaddr: vaddr.parse().unwrap(),
            vport,
            daddr: "172.16.0.21".parse().unwrap(),
            dport: vport,
            fwmark: 0,
            flags: if template {
                lvs_core::sync::flags::TEMPLATE
            } else {
                lvs_core::sync::flags::MASQ
            },
            state: 1,
            timeout: 0,
            seq: None,
            pe: None,
        }
    }

    fn director(rules: &str) -> lvs_core::director::Director {
        let commands: Vec<_> = rules
            .lines()
            .map(|l| lvs_core::ipvsadm::parse_line(l).unwrap())
            .collect();
        let mut d = lvs_core::director::Director::new(Default::default());
        d.replace_config(&commands, now()).unwrap();
        d
    }

    /// Connections go to the one worker the steering gives their client's packets, each
    /// once; templates follow their clients' connections when the steering keeps those on one
    /// worker (by client address for a /32 service, by client network for a /24 one), the
    /// rest go everywhere.
    #[test]
    fn synced_entries_go_to_the_worker_that_gets_their_packets() {
        use lvs_net::device::Steering;
        let vip = "192.0.2.10";
        let d = director(
            "-A -t 192.0.2.10:80 -s rr -p 300\n-a -t 192.0.2.10:80 -r 172.16.0.21:80 -m\n\
             -A -t 192.0.2.10:443 -s rr -p 300 -M 255.255.255.0\n\
             -a -t 192.0.2.10:443 -r 172.16.0.21:443 -m",
        );
        let network = SteerKey::ClientNetwork {
            v4_mask: [255, 255, 255, 0].into(),
            v6_prefix: 128,
        };
        let slash24 = Netmask::V4([255, 255, 255, 0].into());
        for (key, workers) in [
            (SteerKey::ClientEndpoint, 3),
            (SteerKey::ClientAddress, 3),
            (network, 3),
            (SteerKey::ClientAddress, 1),
        ] {
            let steering = Steering::Client {
                vips: vec![vip.parse().unwrap()],
                laddrs: Vec::new(),
                key,
            };
            let owner = |c: &SyncConn| {
                entry_owner(
                    c,
                    key,
                    |t| template_netmask(&d, t),
                    |p| steering.member(p, workers),
                )
            };
            // 40 clients in 8 /24s: 3 connections to :80 and its template each, 1 to :443;
            // one :443 template per /24.
            let mut conns = Vec::new();
            for last in 1..=40u8 {
                let caddr = format!("203.0.{}.{last}", 100 + last % 8);
                for cport in [40_000, 40_001, 40_002] {
                    conns.push(entry(&caddr, cport, vip, 80, false));
                }
                conns.push(entry(&caddr, 0, vip, 80, true));
                conns.push(entry(&caddr, 40_003, vip, 443, false));
            }
            for net in 0..8 {
                conns.push(entry(&format!("203.0.{}.0", 100 + net), 0, vip, 443, true));
            }
            let total = conns.len();
            let parts = split_by_owner(conns.clone(), workers, owner);
            assert_eq!(parts.len(), workers);
            for c in &conns {
                let holders: Vec<usize> = (0..workers).filter(|&i| parts[i].contains(c)).collect();
                let everywhere = c.is_template()
                    && match key {
                        SteerKey::ClientEndpoint => true,
                        SteerKey::ClientAddress => c.vport == 443,
                        SteerKey::ClientNetwork { .. } => false,
                    };
                if everywhere {
                    assert_eq!(holders.len(), workers, "{key:?} {c:?}");
                    continue;
                }
                assert_eq!(holders.len(), 1, "{key:?} {c:?}");
                // The worker the client's (and the NAT reply's) packets reach.
                let pkt = SteerPacket::from_client(6, c.caddr, c.cport, c.vaddr, c.vport);
                assert_eq!(Some(holders[0]), steering.member(&pkt, workers));
                let reply = SteerPacket {
                    protocol: 6,
                    src: c.daddr,
                    sport: c.dport,
                    dst: c.caddr,
                    dport: c.cport,
                };
                if !c.is_template() {
                    assert_eq!(Some(holders[0]), steering.member(&reply, workers));
                    continue;
                }
                // A template and the connections of every client it covers meet.
                let mask = if c.vport == 443 {
                    slash24
                } else {
                    Netmask::V4(std::net::Ipv4Addr::BROADCAST)
                };
                let mine: Vec<_> = conns
                    .iter()
                    .filter(|x| {
                        !x.is_template() && x.vport == c.vport && mask.apply(x.caddr) == c.caddr
                    })
                    .collect();
                assert!(!mine.is_empty(), "{c:?}");
                for x in mine {
                    assert!(parts[holders[0]].contains(x), "{key:?} {c:?} {x:?}");
                }
            }
            if workers > 1 {
                // Spread over the workers, and copied only where the steering splits a
                // template's clients.
                assert!(parts.iter().all(|p| p.len() > 10), "{key:?}");
                let copies = match key {
                    SteerKey::ClientEndpoint => (40 + 8) * (workers - 1),
                    SteerKey::ClientAddress => 8 * (workers - 1),
                    SteerKey::ClientNetwork { .. } => 0,
                };
                assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), total + copies);
            }
        }
        // A /24 template stays on one worker under a /16 steering, not under a /25 one.
        let t24 = entry("203.0.113.0", 0, vip, 443, true);
        let mask = |_: &SyncConn| Some(slash24);
        for (v4_mask, own) in [([255, 255, 0, 0], Some(2)), ([255, 255, 255, 128], None)] {
            let key = SteerKey::ClientNetwork {
                v4_mask: v4_mask.into(),
                v6_prefix: 128,
            };
            assert_eq!(entry_owner(&t24, key, mask, |_| Some(2)), own, "{key:?}");
        }
        // A fwmark template (protocol 0) and one with a persistence engine go everywhere.
        let mut fwmark = entry("203.0.113.1", 0, "0.0.0.7", 0, true);
        fwmark.protocol = lvs_core::wire::IpProtocol::from(0);
        let one = |_: &SyncConn| Some(Netmask::V4(std::net::Ipv4Addr::BROADCAST));
        assert_eq!(
            entry_owner(&fwmark, SteerKey::ClientAddress, one, |_| Some(1)),
            None
        );
        let mut sip = entry("203.0.113.1", 0, vip, 80, true);
        sip.pe = Some(lvs_core::sync::SyncPe {
            name: "sip".into(),
            data: b"call".to_vec(),
        });
        assert_eq!(
            entry_owner(&sip, SteerKey::ClientAddress, one, |_| Some(1)),
            None
        );
        assert_eq!(
            entry_owner(
                &entry("203.0.113.1", 0, vip, 80, true),
                SteerKey::ClientAddress,
                one,
                |_| Some(1)
            ),
            Some(1)
        );
        // Unknown service (port 8080): no netmask, so every worker.
        assert_eq!(
            template_netmask(&d, &entry("203.0.113.1", 0, vip, 8080, true)),
            None
        );
        assert_eq!(
            template_netmask(&d, &entry("203.0.113.0", 0, vip, 443, true)),
            Some(slash24)
        );
        assert_eq!(
            entry_owner(
                &entry("203.0.113.1", 0, vip, 8080, true),
                SteerKey::ClientAddress,
                |t| template_netmask(&d, t),
                |_| Some(1)
            ),
            None
        );
    }

    #[test]
    fn daemon_rows_show_the_effective_settings() {
        let text = format!("{BASE}[sync]\ninterface = \"eth0\"\nsyncid = 7\n");
        let r = RouterConfig::parse(&text).unwrap();
        let d = daemon_config(r.sync.as_ref().unwrap(), true);
        let s = socket_config(&d);
        assert_eq!(s.group, IpAddr::from([224, 0, 0, 81]));
        assert_eq!((s.port, s.ttl, s.syncid), (8848, 1, 7));
        assert_eq!(s.effective_maxlen(), 1472);
        let daemons = SyncDaemons::new(r.sync.as_ref(), false);
        assert!(daemons.listing().is_empty());
        assert_eq!(daemons.policy, SyncPolicy::default());
    }
}
