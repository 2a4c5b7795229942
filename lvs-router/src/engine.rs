//! The running director: one worker thread per `workers`, each owning a `Director` behind
//! `lvs_net::worker::DirectorHandler`, and the host set-up around them (offloads, nftables
//! isolation). `run` and `demo` both start one.
//!
//! ```text
//!   control thread (run: signal loop)       worker i (lvs_net::worker::Worker)
//!     Engine::each(job)         ---mpsc--->   turn(); then run the queued jobs on the
//!                               <--reply---     worker (its Director: handler_mut().0)
//!     Engine::replace / snapshots / ...         are jobs; Engine::stop() joins the threads
//! ```
//!
//! Every control-plane feature (reload, listings, health actions, VRRP ownership, sync) talks
//! to the workers through [`Engine::each`]: one place that knows how to reach them.
//!
//! FULLNAT runs on every worker: worker i allocates the pools' local ports with
//! `lport % workers == i` ([`PortShare`]), and the fanout steering program answers `lport` for
//! a reply to a local address, which the kernel takes modulo the group size: the worker that
//! made the connection gets its replies.
//!
//! With persistent services in the rules the steering leaves the client port out and masks
//! the client address by the widest `-M` among them ([`steer_key`]): all connections of one
//! client network, the unit of a persistence template, reach the worker holding the template.
//! The program is fixed at start; a reload that needs a wider mask only warns.
//!
//! A reload is checked on a scratch director first, so every worker either takes it or none
//! does. The control socket (`crate::control`, `lvs_net::ctl`) applies ipvsadm commands as
//! [`Engine::replace`] with the running rules plus the commands (all or nothing, flows kept
//! by the diff) and lists [`Engine::adm_state`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use lvs_core::conn::Timeouts;
use lvs_core::director::{Director, DirectorConfig, DirectorSnapshot, PortShare, Sysctls};
use lvs_core::ipvsadm::{AdmConn, AdmState, Command, Netmask};
use lvs_net::device::steer::{SteerKey, SteerPacket};
use lvs_net::device::{AfPacketConfig, DeviceError, Steering};
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{Counters, DirectorHandler, PortConfig, Route, Worker, WorkerConfig, now};

use crate::config::{Loaded, parse_prefix, service_addrs};
use crate::host::HostSetup;

/// Longest a worker sleeps before it looks at its control channel.
const TURN: Duration = Duration::from_millis(20);

/// The data-plane worker every job runs on.
pub(crate) type RunningWorker = Worker<DirectorHandler>;

/// Rewrites every rule set before it reaches the workers (the health overlay,
/// `crate::health`): rules in, effective rules out.
pub(crate) type Overlay = Arc<dyn Fn(&[Command]) -> Vec<Command> + Send + Sync>;

/// A job for one worker, run between two turns of its loop.
type Job = Box<dyn FnOnce(&mut RunningWorker) + Send>;

/// How long [`Engine::each`] waits for a worker's answer.
const JOB_TIMEOUT: Duration = Duration::from_secs(5);

struct WorkerHandle {
    ctl: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<Result<(), DeviceError>>>,
}

/// The client netmasks (`-M`) of the persistent (`-p`) services that `commands` add or edit.
pub(crate) fn persistence_netmasks(commands: &[Command]) -> impl Iterator<Item = Netmask> + '_ {
    commands.iter().filter_map(|c| match c {
        Command::AddService(_, cfg) | Command::EditService(_, cfg) if cfg.persistent.is_some() => {
            Some(cfg.netmask)
        }
        _ => None,
    })
}

/// How the fanout should steer for `commands`: by client endpoint without persistent
/// services, else by the client address masked by the widest netmask of each family among
/// them (`SteerKey::for_netmasks`: [`SteerKey::ClientAddress`] when all are /32 and /128), so
/// every client of one persistence template reaches one worker.
pub(crate) fn steer_key(commands: &[Command]) -> SteerKey {
    let mut netmasks = persistence_netmasks(commands).peekable();
    if netmasks.peek().is_none() {
        SteerKey::ClientEndpoint
    } else {
        SteerKey::for_netmasks(netmasks)
    }
}

/// Why workers steered by `key` (fixed at start) do not keep together the clients that
/// share a persistence template under `commands`, if they do not: persistence added to
/// workers steered by client endpoint, or a netmask wider than the steering's mask.
/// `None` with one worker.
pub(crate) fn steering_warning(
    key: SteerKey,
    workers: usize,
    commands: &[Command],
) -> Option<String> {
    if workers <= 1 {
        return None;
    }
    let wider: Vec<Netmask> = persistence_netmasks(commands)
        .filter(|&m| !key.groups(m))
        .collect();
    if wider.is_empty() {
        return None;
    }
    let want = steer_key(commands);
    Some(if key == SteerKey::ClientEndpoint {
        format!(
            "persistent services added while running on {workers} workers steered by client \
             endpoint: a client's connections may be scheduled on several workers until a \
             restart steers by client address ({want:?})"
        )
    } else {
        let masks = wider.iter().map(|m| match m {
            Netmask::V4(m) => m.to_string(),
            Netmask::V6(p) => format!("/{p}"),
        });
        format!(
            "persistence netmask {} wider than the mask the {workers} workers are steered by \
             ({key:?}, fixed at start): clients of one network may be scheduled on several \
             workers (one template each) until a restart steers by {want:?}",
            masks.collect::<Vec<_>>().join(", ")
        )
    })
}

/// Everything `start` set up; [`Engine::stop`] (or drop) undoes it.
pub(crate) struct Engine {
    workers: Vec<WorkerHandle>,
    stop: Arc<AtomicBool>,
    host: Mutex<HostSetup>,
    /// The scratch director that vets reloads (same sched config as the workers').
    scratch: Mutex<Director>,
    /// The addresses the workers answer ARP/ND for when they own the VIPs: the VIPs and the
    /// FULLNAT local addresses. With `[vrrp]` they start owning none (`crate::ha`).
    owned: Vec<IpAddr>,
    /// How the workers' fanout steers clients (fixed at start).
    steer_key: SteerKey,
    /// How the fanout group spreads frames over the workers (what every port was opened
    /// with): [`Engine::owner`] reads it.
    steering: Steering,
    /// Applied by [`Engine::replace`] to every rule set.
    overlay: Mutex<Option<Overlay>>,
}

/// Why the engine did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// An OS call on an interface failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The configuration does not fit the interfaces.
    #[error("{0}")]
    Config(String),
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // RandomState is keyed from the OS's randomness: good enough for a hash seed.
    RandomState::new().hash_one(std::process::id())
}

impl Engine {
    /// Sets up the interfaces and starts the workers; `netns` (a `/proc/PID/ns/net` or
    /// `/var/run/netns/NAME` path) puts them in another namespace than the caller's.
    pub(crate) fn start(cfg: &Loaded, netns: Option<PathBuf>) -> Result<Self, StartError> {
        let r = &cfg.router;
        let fullnat = r
            .fullnat_pools()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let workers = r.workers.unwrap_or(1).max(1);
        if !fullnat.is_empty() && u16::try_from(workers).is_err() {
            return Err(StartError::Config(format!(
                "{workers} workers: FULLNAT splits local ports by worker, at most 65535"
            )));
        }
        let (rule_vips, rips) = service_addrs(&cfg.commands);
        let laddrs: Vec<IpAddr> = fullnat.iter().flat_map(|p| p.laddrs.clone()).collect();
        let vips = r.vips.clone().unwrap_or(rule_vips);
        let mut addrs = r.addrs.clone();
        if addrs.is_empty() {
            for i in &r.interfaces {
                addrs.extend(i.ipv4.map(IpAddr::from));
                addrs.extend(i.ipv6.map(IpAddr::from));
            }
        }
        let mut routes = Vec::new();
        for rt in &r.routes {
            let (net, prefix) = parse_prefix(&rt.to).map_err(StartError::Config)?;
            let port = r.interfaces.iter().position(|i| i.name == rt.interface);
            routes.push(Route {
                net,
                prefix,
                port: port.unwrap_or(0),
                gateway: rt.via,
            });
        }
        // Persistence templates live in each worker's table: the connections of a persistent
        // client network must all reach one worker, so steer by masked client address when
        // the rules have any. Fixed for the life of the workers (a reload that adds
        // persistence or widens its netmask only warns).
        let steer_key = steer_key(&cfg.commands);
        if workers > 1 {
            tracing::debug!(?steer_key, workers, "fanout steering");
        }
        let steering = Steering::Client {
            vips: vips.clone(),
            laddrs: laddrs.clone(),
            key: steer_key,
        };
        let ports: Vec<PortConfig> = r
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, itf)| PortConfig {
                device: AfPacketConfig {
                    fanout_group: (workers > 1)
                        .then(|| (std::process::id() as u16).wrapping_add(i as u16 * 16)),
                    steering: steering.clone(),
                    ..AfPacketConfig::new(&itf.name)
                },
                ipv4: itf.ipv4,
                ipv6: itf.ipv6,
            })
            .collect();
        let wcfg = WorkerConfig { ports, routes };
        let neighbours = r
            .neighbour_list()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let host = HostSetup::apply(
            netns.clone(),
            r.interfaces.clone(),
            r.disable_offloads.unwrap_or(true),
            r.isolate.unwrap_or(true),
            vips.clone(),
            laddrs.clone(),
            rips,
        )?;
        let mac_of_first = {
            // The director's MAC (the fallback; each worker gives its director every port's MAC
            // for ARP/ND answers, `FrameHandler::set_port_macs`): the first interface's.
            let name = r.interfaces[0].name.clone();
            let p = netns.clone();
            std::thread::spawn(move || -> Result<_, DeviceError> {
                if let Some(p) = p {
                    lvs_net::device::enter_netns(&p)?;
                }
                Ok(lvs_net::device::AfPacket::open(&AfPacketConfig {
                    blocks: 1,
                    block_size: 1 << 12,
                    ..AfPacketConfig::new(&name)
                })?
                .mac())
            })
            .join()
            .map_err(|_| StartError::Config("MAC probe panicked".into()))??
        };
        let owned: Vec<IpAddr> = vips.iter().chain(&laddrs).copied().collect();
        // A VRRP director starts as a backup would: silent until it becomes master.
        let standby = r.vrrp.is_some();
        let dcfg = DirectorConfig {
            hash_seed: seed(),
            rng_seed: seed(),
            conn_budget: r.conn_budget.unwrap_or(1 << 20),
            timeouts: r.timeouts(),
            mac: mac_of_first,
            addrs,
            vips: if standby { Vec::new() } else { owned.clone() },
            neighbours,
            fullnat,
            path_mtu: r.path_mtu.unwrap_or(1500),
            sysctls: r.sysctls(),
            // The workers only trace connection events: build them only when that is on.
            conn_events: tracing::enabled!(tracing::Level::TRACE),
            ..DirectorConfig::default()
        };
        let mut scratch = Director::new(dcfg.clone());
        scratch
            .replace_config(&cfg.commands, now())
            .map_err(|e| StartError::Config(e.to_string()))?;
        let neigh = Arc::new(Mutex::new(NeighbourCache::new()));
        // Built before the workers so that a failure part-way stops the ones started (Drop).
        let mut engine = Self {
            workers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            host: Mutex::new(host),
            scratch: Mutex::new(scratch),
            owned,
            overlay: Mutex::new(None),
            steer_key,
            steering,
        };
        // Workers open their sockets in index order: fanout numbers members by join order.
        for i in 0..workers {
            // FULLNAT: worker i allocates local ports with lport % workers == i, the member the
            // steering program's `lport` answer (taken modulo the group size) picks for the
            // replies (lvs_net::device::steer).
            let mut wdcfg = dcfg.clone();
            for p in &mut wdcfg.fullnat {
                p.share = PortShare {
                    index: i as u16,
                    count: workers as u16,
                };
                if p.share.len_in(&p.ports) == 0 {
                    return Err(StartError::Config(format!(
                        "FULLNAT pool {:?}: ports {}-{} leave worker {i} of {workers} none",
                        p.service,
                        p.ports.start(),
                        p.ports.end()
                    )));
                }
            }
            let mut d = Director::new(wdcfg);
            d.replace_config(&cfg.commands, now())
                .map_err(|e| StartError::Config(e.to_string()))?;
            let (tx, rx) = mpsc::channel();
            let (ready_tx, ready_rx) = mpsc::channel();
            let (wcfg, neigh, stop, netns) = (
                wcfg.clone(),
                neigh.clone(),
                engine.stop.clone(),
                netns.clone(),
            );
            let announce = if standby { Vec::new() } else { vips.clone() };
            let thread = std::thread::Builder::new()
                .name(format!("lvs-worker-{i}"))
                .spawn(move || worker_main(netns, wcfg, d, neigh, announce, stop, rx, ready_tx))
                .map_err(|e| StartError::Config(format!("spawn worker: {e}")))?;
            let counters = match ready_rx.recv() {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    let _ = thread.join();
                    return Err(e.into());
                }
                Err(_) => return Err(StartError::Config("worker died at start".into())),
            };
            engine.workers.push(WorkerHandle {
                ctl: tx,
                counters,
                thread: Some(thread),
            });
        }
        tracing::info!(workers, vips = ?vips, "data plane started");
        Ok(engine)
    }

    /// Runs `job` on every worker (between two turns of its loop) and returns the answers in
    /// worker order; a worker that is gone or does not answer within 5 s is left out.
    pub(crate) fn each<T, F>(&self, job: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(&mut RunningWorker) -> T + Send + Sync + 'static,
    {
        self.each_indexed(move |_, w| job(w))
    }

    /// [`Engine::each`] with the worker's index (its fanout member number, [`Engine::owner`])
    /// passed to `job`, for jobs that do something else on each worker.
    pub(crate) fn each_indexed<T, F>(&self, job: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(usize, &mut RunningWorker) -> T + Send + Sync + 'static,
    {
        let job = Arc::new(job);
        let pending: Vec<mpsc::Receiver<T>> = self
            .workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let (tx, rx) = mpsc::channel();
                let job = Arc::clone(&job);
                let boxed: Job = Box::new(move |worker| {
                    let _ = tx.send(job(i, worker));
                });
                w.ctl.send(boxed).ok().map(|()| rx)
            })
            .collect();
        pending
            .into_iter()
            .filter_map(|rx| rx.recv_timeout(JOB_TIMEOUT).ok())
            .collect()
    }

    /// How many workers run.
    pub(crate) fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// The addresses an owning director answers for (VIPs and FULLNAT local addresses).
    pub(crate) fn owned_addrs(&self) -> &[IpAddr] {
        &self.owned
    }

    /// Runs `job` on every worker's director; see [`Engine::each`].
    pub(crate) fn each_director<T, F>(&self, job: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(&mut Director) -> T + Send + Sync + 'static,
    {
        self.each(move |w| job(&mut w.handler_mut().0))
    }

    /// Runs `job` on every worker's director with the worker's index; see
    /// [`Engine::each_indexed`].
    pub(crate) fn each_director_indexed<T, F>(&self, job: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(usize, &mut Director) -> T + Send + Sync + 'static,
    {
        self.each_indexed(move |i, w| job(i, &mut w.handler_mut().0))
    }

    /// The worker whose sockets receive `pkt` (the fanout steering, computed in user space:
    /// `lvs_net::device::steer::program_value`); `None` when that cannot be known.
    pub(crate) fn owner(&self, pkt: &SteerPacket) -> Option<usize> {
        self.steering.member(pkt, self.workers.len())
    }

    /// How the workers' fanout steers clients (fixed at start).
    pub(crate) fn steer_key(&self) -> SteerKey {
        self.steer_key
    }

    /// Why the running steering does not fit `commands`' persistent services, if it does not
    /// (see [`steering_warning`]).
    fn steering_warning(&self, commands: &[Command]) -> Option<String> {
        steering_warning(self.steer_key, self.workers.len(), commands)
    }

    /// Runs `f` on the scratch director, which holds the effective rules every worker holds
    /// (services, their settings), but no connections.
    pub(crate) fn with_rules<R>(&self, f: impl FnOnce(&Director) -> R) -> R {
        f(&self.scratch.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// From now on [`Engine::replace`] installs `overlay(rules)` instead of the rules.
    pub(crate) fn set_overlay(&self, overlay: Overlay) {
        *self.overlay.lock().unwrap_or_else(|e| e.into_inner()) = Some(overlay);
    }

    /// Diff-applies a new rules set and settings to every worker, after checking it on the
    /// scratch director (on error nothing changed anywhere). The overlay, if one is set, is
    /// applied to the rules first.
    pub(crate) fn replace(&self, cfg: &Loaded) -> Result<(), String> {
        if let Some(warning) = self.steering_warning(&cfg.commands) {
            tracing::warn!("{warning}");
        }
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let effective = match &*self.overlay.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(overlay) => overlay(&cfg.commands),
            None => cfg.commands.clone(),
        };
        s.replace_config(&effective, now())
            .map_err(|e| e.to_string())?;
        let (_, rips) = service_addrs(&effective);
        let commands: Arc<[Command]> = effective.into();
        let (timeouts, sysctls): (Timeouts, Sysctls) =
            (cfg.router.timeouts(), cfg.router.sysctls());
        // The scratch director is what listings read the timeouts from (`-L --timeout`).
        {
            let (tcp, tcpfin, udp) = timeouts.get();
            s.set_timeouts(tcp, tcpfin, udp);
            s.set_sysctls(sysctls.clone());
        }
        let applied = self.each_director(move |d| {
            if let Err(e) = d.replace_config(&commands, now()) {
                tracing::error!("worker refused a checked config: {e}");
            }
            let (tcp, tcpfin, udp) = timeouts.get();
            d.set_timeouts(tcp, tcpfin, udp);
            d.set_sysctls(sysctls.clone());
        });
        // Return once every worker has it in force ("reloaded" then means applied).
        if applied.len() != self.workers.len() {
            return Err("a worker did not confirm the reload".to_owned());
        }
        let mut host = self.host.lock().unwrap_or_else(|e| e.into_inner());
        host.refresh(rips)
            .map_err(|e| format!("rules applied, but the nftables refresh failed: {e}"))
    }

    /// Every worker's snapshot (merge with [`crate::listing::merge`]).
    pub(crate) fn snapshots(&self) -> Vec<DirectorSnapshot> {
        self.each_director(|d| d.snapshot())
    }

    /// The ipvsadm model of the running configuration (read from the scratch director, which
    /// holds what every worker holds: forwarding methods and tunnel settings are not in the
    /// snapshots) with the workers' counters, rates and connection counts added up. No
    /// connection rows: [`Engine::adm_conns`] lists them (`-c`).
    pub(crate) fn adm_state(&self) -> AdmState {
        let mut state = {
            let s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
            AdmState::from_director(&s, None)
        };
        let Some(total) = crate::listing::merge(self.snapshots()) else {
            return state;
        };
        state.table_size = total.conn_budget as u64;
        for svc in &mut state.services {
            let Some(t) = total.services.iter().find(|t| t.key == svc.key()) else {
                continue;
            };
            svc.stats = t.stats.into();
            svc.rates = t.rates.into();
            for d in &mut svc.dests {
                let Some(td) = t
                    .dests
                    .iter()
                    .find(|x| x.addr == d.addr && x.port == d.port)
                else {
                    continue;
                };
                d.active_conns = td.active_conns;
                d.inactive_conns = td.inactive_conns;
                d.persist_conns = td.persist_conns;
                d.stats = td.stats.into();
                d.rates = td.rates.into();
            }
        }
        state
    }

    /// Every worker's connections as `ipvsadm -Lc` rows, worker after worker.
    pub(crate) fn adm_conns(&self) -> Vec<AdmConn> {
        self.each_director(|d| AdmConn::of_director(d, now()))
            .into_iter()
            .flatten()
            .collect()
    }

    /// How many workers run.
    pub(crate) fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Each worker's data-plane counters.
    pub(crate) fn counters(&self) -> Vec<lvs_net::worker::CountersSnapshot> {
        self.workers.iter().map(|w| w.counters.snapshot()).collect()
    }

    /// Stops the workers and removes the nftables rules. Returns the first worker error.
    pub(crate) fn stop(mut self) -> Result<(), DeviceError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), DeviceError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut first = Ok(());
        for w in &mut self.workers {
            if let Some(t) = w.thread.take()
                && let Ok(Err(e)) = t.join()
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        self.host.lock().unwrap_or_else(|e| e.into_inner()).remove();
        first
    }
}

/// The metrics endpoint's view of the running router (`metrics_listen`): the workers'
/// snapshots merged (counters, rates, connections, drops; each scrape is one job per worker,
/// run between two turns, never on the packet path) and each worker's data-plane counters
/// (atomics, read without a job).
impl lvs_net::metrics::MetricsSource for Engine {
    fn snapshot(&self) -> DirectorSnapshot {
        crate::listing::merge(self.snapshots()).unwrap_or_else(|| {
            self.scratch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .snapshot()
        })
    }

    fn workers(&self) -> Vec<lvs_net::worker::CountersSnapshot> {
        self.counters()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

#[allow(clippy::too_many_arguments)]
fn worker_main(
    netns: Option<PathBuf>,
    cfg: WorkerConfig,
    director: Director,
    neigh: lvs_net::neigh::SharedNeighbours,
    announce: Vec<IpAddr>,
    stop: Arc<AtomicBool>,
    ctl: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<Arc<Counters>, DeviceError>>,
) -> Result<(), DeviceError> {
    let opened = netns
        .as_deref()
        .map_or(Ok(()), lvs_net::device::enter_netns)
        .and_then(|()| Worker::new(&cfg, DirectorHandler::new(director), neigh));
    let mut w = match opened {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(DeviceError {
                op: e.op,
                ifname: e.ifname.clone(),
                source: std::io::Error::new(e.source.kind(), e.source.to_string()),
            }));
            return Err(e);
        }
    };
    let _ = w.announce(&announce);
    let _ = ready.send(Ok(w.counters()));
    while !stop.load(Ordering::Relaxed) {
        w.turn(TURN)?;
        while let Ok(job) = ctl.try_recv() {
            job(&mut w);
        }
        while let Some(ev) = w.handler_mut().0.poll_event() {
            tracing::trace!(?ev, "director event");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Command> {
        text.lines()
            .map(|l| lvs_core::ipvsadm::parse_line(l.trim()).unwrap())
            .collect()
    }

    #[test]
    fn the_steering_key_follows_the_widest_persistence_netmask() {
        assert_eq!(
            steer_key(&parse("-A -t 192.0.2.1:80 -s rr")),
            SteerKey::ClientEndpoint
        );
        assert_eq!(
            steer_key(&parse("-A -t 192.0.2.1:80 -s rr -p 300")),
            SteerKey::ClientAddress
        );
        assert_eq!(
            steer_key(&parse(
                "-A -t 192.0.2.1:80 -s rr\n-E -t 192.0.2.1:80 -s rr -p"
            )),
            SteerKey::ClientAddress
        );
        // A non-persistent service's netmask does not count; per family, the widest.
        let rules = parse(
            "-A -t 192.0.2.1:80 -s rr -M 255.0.0.0
             -A -t 192.0.2.1:443 -s rr -p 300 -M 255.255.255.0
             -A -u 192.0.2.1:53 -s rr -p 60 -M 255.255.0.0
             -A -t [2001:db8::1]:80 -s rr -p 300 -M 64
             -A -t [2001:db8::1]:443 -s rr -p 300",
        );
        assert_eq!(
            steer_key(&rules),
            SteerKey::ClientNetwork {
                v4_mask: [255, 255, 0, 0].into(),
                v6_prefix: 64
            }
        );
        assert_eq!(
            steer_key(&parse("-A -t [2001:db8::1]:80 -s rr -p 300 -M 48")),
            SteerKey::ClientNetwork {
                v4_mask: std::net::Ipv4Addr::BROADCAST,
                v6_prefix: 48
            }
        );
    }

    #[test]
    fn a_reload_that_widens_the_netmask_warns() {
        let start = parse("-A -t 192.0.2.1:80 -s rr -p 300 -M 255.255.255.0");
        let key = steer_key(&start);
        assert_eq!(steering_warning(key, 2, &start), None);
        // Narrower or equal masks, or no persistence at all: still fine.
        for ok in [
            "-A -t 192.0.2.1:80 -s rr -p 300",
            "-A -t 192.0.2.1:80 -s rr -p 300 -M 255.255.255.128",
            "-A -t 192.0.2.1:80 -s rr",
        ] {
            assert_eq!(steering_warning(key, 2, &parse(ok)), None, "{ok}");
        }
        let wider = parse("-A -t 192.0.2.1:80 -s rr -p 300 -M 255.255.0.0");
        let w = steering_warning(key, 2, &wider).unwrap();
        assert!(w.contains("persistence netmask 255.255.0.0 wider"), "{w}");
        assert_eq!(steering_warning(key, 1, &wider), None);
        // IPv6: steering by /128 (ClientAddress), a reload asks for /64.
        let v6 = parse("-A -t [2001:db8::1]:80 -s rr -p 300 -M 64");
        let w = steering_warning(SteerKey::ClientAddress, 4, &v6).unwrap();
        assert!(w.contains("/64"), "{w}");
        // Persistence added to workers steered by client endpoint.
        let w = steering_warning(SteerKey::ClientEndpoint, 2, &start).unwrap();
        assert!(w.contains("steered by client endpoint"), "{w}");
    }

    /// Two workers' directors behind the steering `run` picks for a persistent service with
    /// `-M 255.255.255.0`: the clients of one /24, over many connections, make one template
    /// and reach one real server, as with the kernel's single table. Steering by client
    /// address alone (the mask ignored) makes a template per worker.
    #[test]
    fn one_client_network_makes_one_template_over_two_workers() {
        use lvs_core::director::{DirectorConfig, Verdict};
        use lvs_core::rewrite::PacketBuf;
        use lvs_core::wire::MacAddr;
        let rules = parse(
            "-A -t 192.0.2.10:80 -s rr -p 300 -M 255.255.255.0
             -a -t 192.0.2.10:80 -r 10.0.0.11:80 -m
             -a -t 192.0.2.10:80 -r 10.0.0.12:80 -m",
        );
        let vip: IpAddr = "192.0.2.10".parse().unwrap();
        let run = |key: SteerKey| {
            let steering = Steering::Client {
                vips: vec![vip],
                laddrs: Vec::new(),
                key,
            };
            let config = DirectorConfig {
                mac: MacAddr([2, 0, 0, 0, 0, 2]),
                addrs: vec!["10.0.0.1".parse().unwrap()],
                neighbours: vec![
                    ("10.0.0.11".parse().unwrap(), MacAddr([2, 0, 0, 0, 0, 0x11])),
                    ("10.0.0.12".parse().unwrap(), MacAddr([2, 0, 0, 0, 0, 0x12])),
                ],
                ..DirectorConfig::default()
            };
            let mut workers: Vec<Director> = (0..2)
                .map(|_| {
                    let mut d = Director::new(config.clone());
                    d.replace_config(&rules, now()).unwrap();
                    d
                })
                .collect();
            let (mut servers, mut used) = (std::collections::HashSet::new(), [0; 2]);
            let mut conns = 0;
            for last in 1..=30u8 {
                for cport in [40_000, 40_001, 40_002] {
                    let caddr = IpAddr::from([198, 51, 100, last]);
                    let pkt = SteerPacket::from_client(6, caddr, cport, vip, 80);
                    let w = steering.member(&pkt, 2).unwrap();
                    used[w] += 1;
                    let mut frame = vec![0u8; 64];
                    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                        .ipv4([198, 51, 100, last], [192, 0, 2, 10], 64)
                        .tcp(cport, 80, 1, 1000)
                        .syn()
                        .write(&mut frame, &[])
                        .unwrap();
                    let len = frame.len() - 64;
                    frame.extend([0; 64]);
                    let mut buf = PacketBuf::new(&mut frame, 64, len).unwrap();
                    match workers[w].handle_packet(now(), &mut buf) {
                        Verdict::Forward { frame, .. } => {
                            let ip = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
                            let Some(etherparse::NetSlice::Ipv4(h)) = ip.net else {
                                panic!("not IPv4");
                            };
                            servers.insert(h.header().destination_addr());
                        }
                        v => panic!("{v:?}"),
                    }
                    conns += 1;
                }
            }
            assert_eq!(
                workers.iter().map(Director::conn_count).sum::<usize>(),
                conns
            );
            let templates: usize = workers.iter().map(|d| d.templates(now()).count()).sum();
            (servers.len(), templates, used)
        };
        let key = steer_key(&rules);
        let (servers, templates, used) = run(key);
        assert_eq!((servers, templates), (1, 1), "{key:?}");
        assert!(used.contains(&0), "{used:?}");
        let (_, templates, used) = run(SteerKey::ClientAddress);
        assert_eq!(templates, 2, "per-client steering: {used:?}");
    }
}
