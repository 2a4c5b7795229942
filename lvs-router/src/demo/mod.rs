//! `lvs-router demo`: a whole LVS-NAT cluster in network namespaces, in one command.
//!
//! ```text
//!   client  c0 203.0.113.2 ---+                      real servers (HTTP responder threads)
//!   director d0 203.0.113.1 --+-- br0 (ns "switch") --+-- rs1 172.16.0.11  weight 1
//!            172.16.0.1       |                       +-- rs2 172.16.0.12  weight 2
//!   VIP 192.0.2.10:80 wlc, -m                         +-- rs3 172.16.0.13  weight 3
//! ```
//!
//! The director is this process's `run` engine (workers inside the director namespace); the
//! servers and the client are threads inside theirs. As a non-root user the demo re-executes
//! itself under `unshare -Urn` (an unprivileged user + network namespace), where everything
//! above works the same: namespaces are held by child processes, not `ip netns` mounts.
//! Ctrl-C stops the load, and the usual teardown runs (workers joined, nftables rules
//! removed, namespace holders killed by pid); a killed demo leaves nothing either, because
//! each holder exits when its pipe from us closes.

mod http;
mod lab;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Interface, Loaded, Role, RouterConfig, read_rules_text};
use crate::engine::Engine;
use crate::listing;
use lab::{LabError, Netns, veth};

/// Arguments of `demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// HTTP requests to send through the director.
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Stop sending after this many seconds even if requests remain.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// The scheduler of the virtual service.
    #[arg(long, default_value = "wlc")]
    scheduler: String,
    /// Director worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// No progress bar (for logs and tests).
    #[arg(long)]
    no_progress: bool,
}

const VIP: &str = "192.0.2.10:80";
const WEIGHTS: [u32; 3] = [1, 2, 3];

/// The lab; fields drop in order (namespaces last).
struct Lab {
    client: Netns,
    director: Netns,
    servers: Vec<Netns>,
    _switch: Netns,
}

fn build() -> Result<Lab, LabError> {
    let switch = Netns::new("switch")?;
    switch.ip("link add name br0 type bridge")?;
    switch.ip("link set br0 up")?;
    let client = Netns::new("client")?;
    let director = Netns::new("director")?;
    let servers = ["rs1", "rs2", "rs3"]
        .into_iter()
        .map(Netns::new)
        .collect::<Result<Vec<_>, _>>()?;
    let attach = |n: &Netns, dev: &str, port: &str| {
        veth(n, dev, &switch, port)?;
        switch.ip(&format!("link set {port} master br0"))
    };
    attach(&client, "c0", "pc")?;
    attach(&director, "d0", "pd")?;
    for (i, s) in servers.iter().enumerate() {
        attach(s, "e0", &format!("p{i}"))?;
        s.ip(&format!("addr add 172.16.0.1{}/24 dev e0", i + 1))?;
        s.ip("route add default via 172.16.0.1")?;
    }
    client.ip("addr add 203.0.113.2/24 dev c0")?;
    client.ip("route add 192.0.2.0/24 via 203.0.113.1")?;
    director.ip("addr add 203.0.113.1/24 dev d0")?;
    director.ip("addr add 172.16.0.1/24 dev d0")?;
    Ok(Lab {
        client,
        director,
        servers,
        _switch: switch,
    })
}

fn rules(scheduler: &str) -> String {
    let mut r = format!("-A -t {VIP} -s {scheduler}\n");
    for (i, w) in WEIGHTS.iter().enumerate() {
        r.push_str(&format!(
            "-a -t {VIP} -r 172.16.0.1{}:80 -m -w {w}\n",
            i + 1
        ));
    }
    r
}

/// Builds, runs and tears down the demo.
pub(crate) fn run(args: &Args) -> ExitCode {
    if !lab::is_root() {
        return reexec_unprivileged();
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&interrupted));
    }
    match demo(args, &interrupted) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) if interrupted.load(Ordering::Relaxed) => {
            eprintln!("interrupted; cleaned up");
            ExitCode::from(130)
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn reexec_unprivileged() -> ExitCode {
    let exe = std::env::current_exe().unwrap_or_else(|_| "lvs-router".into());
    eprintln!("not root: re-running inside an unprivileged user namespace (unshare -Urn)");
    let st = std::process::Command::new("unshare")
        .arg("-Urn")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .status();
    match st {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("unshare -Urn: {e} (install util-linux, or run as root)");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &Args, interrupted: &Arc<AtomicBool>) -> Result<bool, String> {
    // Rules first: a bad --scheduler is refused before anything is built.
    let commands = read_rules_text(&rules(&args.scheduler)).map_err(|e| e.to_string())?;
    println!("building the cluster: client, director, 3 real servers, a switch (namespaces)");
    let lab = build().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut responders = Vec::new();
    for (i, s) in lab.servers.iter().enumerate() {
        let addr: SocketAddr = format!("172.16.0.1{}:80", i + 1).parse().unwrap();
        let t = http::serve(s.path(), addr, format!("rs{}", i + 1), stop.clone())
            .map_err(|e| format!("responder rs{}: {e}", i + 1))?;
        responders.push(t);
    }
    let router = RouterConfig {
        interfaces: vec![Interface {
            name: "d0".into(),
            role: Role::Both,
            ipv4: Some("172.16.0.1".parse().unwrap()),
            ipv6: None,
        }],
        workers: Some(args.workers.max(1)),
        ..RouterConfig::default()
    };
    let loaded = Loaded { router, commands };
    let engine = Engine::start(&loaded, Some(lab.director.path())).map_err(|e| e.to_string())?;
    println!(
        "director up: VIP {VIP}, {} scheduler, NAT, weights {WEIGHTS:?}",
        args.scheduler
    );

    let (by_server, failed, sent) = load(args, &lab.client, interrupted);
    let snap = listing::merge(engine.snapshots());
    let total: usize = by_server.values().sum();
    println!("\n{total} of {sent} requests answered ({failed} failed):");
    for (name, n) in &by_server {
        let pct = 100.0 * *n as f64 / total.max(1) as f64;
        println!(
            "  {name}: {n:>6}  {pct:5.1}%  {}",
            "#".repeat((pct / 2.0) as usize)
        );
    }
    if let Some(s) = &snap {
        println!("\n$ ipvsadm -Ln\n{}", listing::conns_table(s));
        println!("$ ipvsadm -Ln --stats\n{}", listing::stats_table(s));
    }
    stop.store(true, Ordering::Relaxed);
    for t in responders {
        let _ = t.join();
    }
    engine.stop().map_err(|e| e.to_string())?;
    drop(lab);
    println!("cleaned up (namespaces, nftables rules)");
    Ok(failed == 0 && sent == args.requests && by_server.len() == WEIGHTS.len())
}

/// Sends the requests from client threads; (answers per server, failures, attempts).
fn load(
    args: &Args,
    client: &Netns,
    interrupted: &Arc<AtomicBool>,
) -> (BTreeMap<String, usize>, usize, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let by = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let deadline = Instant::now() + Duration::from_secs(args.time_limit);
    let vip: SocketAddr = VIP.parse().unwrap();
    let threads: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (next, done, failed, by) = (next.clone(), done.clone(), failed.clone(), by.clone());
            let (ns, stop, n) = (client.path(), interrupted.clone(), args.requests);
            std::thread::spawn(move || {
                if lvs_net::device::enter_netns(&ns).is_err() {
                    return;
                }
                while !stop.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                    && next.fetch_add(1, Ordering::Relaxed) < n
                {
                    match http::get(vip) {
                        Ok(name) => *by.lock().unwrap().entry(name).or_default() += 1,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let bar = if args.no_progress {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(args.requests as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} requests ({per_sec})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while threads.iter().any(|t| !t.is_finished()) {
        bar.set_position(done.load(Ordering::Relaxed) as u64);
        std::thread::sleep(Duration::from_millis(50));
    }
    bar.set_position(done.load(Ordering::Relaxed) as u64);
    bar.finish();
    for t in threads {
        let _ = t.join();
    }
    let by = std::mem::take(&mut *by.lock().unwrap());
    (
        by,
        failed.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed),
    )
}
