//! `lvs-router run --rules RULES --config CONFIG.toml`: the director as a daemon.
//!
//! ```text
//! ipvsadm-save -n > /etc/lvs-router/rules      # from a kernel LVS box, unchanged
//! lvs-router run --rules /etc/lvs-router/rules --config /etc/lvs-router/router.toml -v
//! kill -HUP $(pidof lvs-router)                # re-read both files, diff-apply
//! kill -TERM $(pidof lvs-router)               # stop: workers joined, nftables rules removed
//! ```
//!
//! Exit codes: 0 after SIGTERM/SIGINT, 1 when the files are refused at start, 2 when the data
//! plane cannot start (interfaces, permissions). A reload with a bad file is logged and the
//! running configuration stays. Works as root or as root of an unprivileged user namespace
//! (`unshare -Urn`): AF_PACKET, nftables and ethtool only need capabilities over the network
//! namespace the interfaces live in.
//!
//! With `control_socket = "PATH"` in the TOML (none by default) the router also serves
//! `lvs-router adm --socket PATH` (ipvsadm's command line; see `crate::control`) from a
//! thread; the socket file is removed at exit. Exit code 2 too when it cannot listen there.
//!
//! With `[vrrp]` / `[sync]` the router is one of an active/backup pair (`crate::ha`: VRRP
//! decides who owns the VIPs, the IPVS sync daemon copies connections); exit code 2 when their
//! sockets cannot open. On SIGTERM a VRRP master resigns (priority 0) before the workers stop.
//!
//! With `metrics_listen = "ADDR:PORT"` it serves Prometheus metrics (`GET /metrics`,
//! `lvs_net::metrics`) from another thread: the workers' merged snapshots and their data-plane
//! counters. The listener closes at exit; exit code 2 when it cannot bind.
//! With `[[health.virtual_server]]` sections the checkers run on a thread of their own
//! (`crate::health`): failed real servers leave rotation, on every worker and across reloads;
//! `adm -L --health` lists them.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lvs_net::ctl::ControlServer;
use lvs_net::metrics::{MetricsServer, MetricsSource};

use crate::config::Loaded;
use crate::control::RunTarget;
use crate::engine::Engine;
use crate::health::{Health, HealthMetrics};
use crate::{ha, listing};

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// ipvsadm-save rules (`ipvsadm-save -n` output: `-A`/`-a` lines).
    #[arg(long, value_name = "RULES")]
    rules: PathBuf,
    /// Interfaces, addresses, workers, timeouts (see examples/lvs-router.toml).
    #[arg(long, value_name = "CONFIG.toml")]
    config: PathBuf,
    /// Print the `ipvsadm -Ln --stats` table (and the health listing) every N seconds (0:
    /// never; also on SIGUSR1).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    stats_every: u64,
}

/// Signals seen since the last look, set by signal-hook's handlers (async-signal-safe).
struct Signals {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    dump: Arc<AtomicBool>,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
        let s = Self {
            stop: Arc::default(),
            reload: Arc::default(),
            dump: Arc::default(),
        };
        for sig in [SIGTERM, SIGINT] {
            signal_hook::flag::register(sig, Arc::clone(&s.stop))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&s.reload))?;
        signal_hook::flag::register(SIGUSR1, Arc::clone(&s.dump))?;
        Ok(s)
    }
}

/// Runs until SIGTERM/SIGINT.
pub(crate) fn run(args: &Args) -> ExitCode {
    let signals = match Signals::register() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("installing signal handlers: {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = match Loaded::read(&args.rules, &args.config) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("configuration refused: {e}");
            return ExitCode::FAILURE;
        }
    };
    let health = match Health::start(&loaded) {
        Ok(h) => h,
        // The sections were checked with the TOML: what fails here is starting the probe pool.
        Err(e) => {
            tracing::error!("cannot start the health checks: {e}");
            return ExitCode::from(2);
        }
    };
    let started = health
        .as_ref()
        .map_or_else(|| loaded.clone(), |h| h.effective(&loaded));
    let engine = match Engine::start(&started, None) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot start the data plane: {e}");
            return ExitCode::from(2);
        }
    };
    let (daemons, vrrp) = match ha::start(&loaded.router, &engine) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot start VRRP / connection sync: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(h) = &health {
        h.install(&engine);
    }
    let server = match &loaded.router.control_socket {
        None => None,
        Some(path) => match ControlServer::bind(path) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(path = %path.display(), "cannot listen on the control socket: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let metrics = match loaded.router.metrics_listen {
        None => None,
        Some(addr) => match MetricsServer::bind(addr) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!("cannot serve metrics: {e}");
                return ExitCode::from(2);
            }
        },
    };
    tracing::info!(
        rules = %args.rules.display(),
        commands = loaded.commands.len(),
        "running; SIGHUP reloads, SIGTERM stops"
    );
    let loaded = Mutex::new(loaded);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        ha::spawn(scope, &engine, &daemons, vrrp, &done);
        if let Some(server) = &server {
            tracing::info!(path = %server.path().display(), "control socket listening");
            let target = RunTarget {
                engine: &engine,
                loaded: &loaded,
                sync: &daemons,
                health: health.as_ref(),
            };
            let done = &done;
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Err(e) = server.serve_one(&target)
                        && !matches!(
                            e.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionAborted
                        )
                    {
                        tracing::error!("control socket: {e}");
                        return;
                    }
                }
            });
        }
        let metrics_addr = metrics.as_ref().and_then(|m| m.local_addr().ok());
        if let (Some(m), Some(addr)) = (&metrics, metrics_addr) {
            tracing::info!(%addr, "metrics listening");
            let (engine, done) = (&engine, &done);
            // With health checks the scrape also carries their verdicts (`lvs_dest_up`).
            let source: Box<dyn MetricsSource + Send + Sync + '_> = match &health {
                Some(h) => Box::new(HealthMetrics {
                    source: engine,
                    status: h.status(),
                }),
                None => Box::new(engine),
            };
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Err(e) = m.serve_one(&*source)
                        && !matches!(
                            e.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionAborted
                        )
                    {
                        tracing::error!("metrics: {e}");
                        return;
                    }
                }
            });
        }
        if let Some(h) = &health {
            let (engine, loaded, done) = (&engine, &loaded, &done);
            match std::thread::Builder::new()
                .name("lvs-health".into())
                .spawn_scoped(scope, move || h.run(engine, loaded, done))
            {
                Ok(_) => tracing::info!("health checks running"),
                // The data plane runs on with the rules as they were at start.
                Err(e) => tracing::error!("cannot start the health-check thread: {e}"),
            }
        }
        signal_loop(&engine, args, &loaded, &signals, health.as_ref());
        done.store(true, Ordering::Relaxed);
        if let Some(server) = &server {
            // Wakes the control thread out of accept so it sees `done`.
            let _ = UnixStream::connect(server.path());
        }
        if let Some(mut addr) = metrics_addr {
            // The same for the metrics thread (a wildcard address is reached on loopback).
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    });
    drop(metrics);
    // Dropping the server removes the socket file.
    drop(server);
    tracing::info!("stopping");
    match engine.stop() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("a worker failed: {e}");
            ExitCode::from(2)
        }
    }
}

fn signal_loop(
    engine: &Engine,
    args: &Args,
    loaded: &Mutex<Loaded>,
    signals: &Signals,
    health: Option<&Health>,
) {
    let every = Duration::from_secs(args.stats_every);
    let mut last_dump = std::time::Instant::now();
    while !signals.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if signals.reload.swap(false, Ordering::Relaxed) {
            reload(
                engine,
                args,
                &mut loaded.lock().unwrap_or_else(|e| e.into_inner()),
                health,
            );
        }
        let periodic = !every.is_zero() && last_dump.elapsed() >= every;
        if signals.dump.swap(false, Ordering::Relaxed) || periodic {
            last_dump = std::time::Instant::now();
            if let Some(s) = listing::merge(engine.snapshots()) {
                println!("{}\n{}", listing::conns_table(&s), listing::stats_table(&s));
            }
            if let Some(h) = health {
                println!("{}", h.listing());
            }
            tracing::debug!(counters = ?engine.counters(), "data plane counters");
        }
    }
}

fn reload(engine: &Engine, args: &Args, loaded: &mut Loaded, health: Option<&Health>) {
    let new = match Loaded::read(&args.rules, &args.config) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("reload refused, running configuration unchanged: {e}");
            return;
        }
    };
    let r = &new.router;
    let old = &loaded.router;
    // What the workers were built with cannot change under them.
    if r.interfaces != old.interfaces
        || r.routes != old.routes
        || r.workers != old.workers
        || r.addrs != old.addrs
        || r.vips != old.vips
        || r.fullnat != old.fullnat
        || r.neighbours != old.neighbours
        || r.vrrp != old.vrrp
        || r.sync != old.sync
        || r.control_socket != old.control_socket
        || r.metrics_listen != old.metrics_listen
    {
        tracing::warn!(
            "interfaces, routes, workers, addresses, VIPs, FULLNAT pools, neighbours, [vrrp], \
             [sync], the control socket and the metrics address change only on restart; \
             applying rules, timeouts and sysctls"
        );
    }
    let health_changed = r.health != old.health;
    if health_changed && (health.is_none() || r.health.threads != old.health.threads) {
        tracing::warn!(
            "[health] threads, and sections when none ran at start, change only on restart"
        );
    }
    match engine.replace(&new) {
        Ok(()) => {
            if health_changed
                && let Some(h) = health
                && let Err(e) = h.reconfigure(&new)
            {
                tracing::error!("[health] not reloaded: {e}");
            }
            tracing::info!(commands = new.commands.len(), "reloaded");
            *loaded = new;
        }
        Err(e) => tracing::error!("reload refused, running configuration unchanged: {e}"),
    }
}
