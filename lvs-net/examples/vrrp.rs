//! A standalone VRRP instance, keepalived-compatible, adding its VIPs with `ip addr`.
//!
//! ```text
//! vrrp --iface eth0 --src 192.0.2.1 --vrid 51 --priority 150 --vip 192.0.2.100 [--version 2]
//! ```
//!
//! Prints one line per state change (`STATE BACKUP -> MASTER`) and per rejected advert on
//! stderr. Stops gracefully (resigning with priority 0 when master, releasing the VIPs) when
//! its standard input reaches end of file or a line `stop` arrives.

use std::io::BufRead;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use lvs_core::vrrp::{VrrpAuth, VrrpConfig, VrrpEvent, VrrpVersion};
use lvs_net::ha::{IpCommandOwner, Notify, VrrpRunner};

#[derive(Parser, Debug)]
#[command(about = "A standalone VRRP v2/v3 instance (keepalived-compatible)")]
struct Args {
    /// Interface to run on.
    #[arg(long)]
    iface: String,
    /// Primary address adverts come from (IPv6: the link-local address).
    #[arg(long)]
    src: IpAddr,
    /// Virtual router id.
    #[arg(long, default_value_t = 51)]
    vrid: u8,
    /// Priority, 1..=255 (255: address owner).
    #[arg(long, default_value_t = 100)]
    priority: u8,
    /// Virtual addresses (repeat).
    #[arg(long = "vip", required = true)]
    vips: Vec<IpAddr>,
    /// VRRP version, 2 or 3.
    #[arg(long, default_value_t = 3)]
    version: u8,
    /// Advertisement interval in milliseconds (v2: whole seconds).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// v2 simple password (keepalived auth_type PASS).
    #[arg(long)]
    auth_pass: Option<String>,
    /// Do not preempt a lower-priority master.
    #[arg(long)]
    no_preempt: bool,
    /// keepalived preempt_delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    preempt_delay_ms: u64,
    /// Unicast peers instead of multicast (repeat).
    #[arg(long = "peer")]
    peers: Vec<IpAddr>,
    /// Accept mode.
    #[arg(long)]
    accept: bool,
    /// Gratuitous ARPs / NAs per VIP per burst.
    #[arg(long, default_value_t = 5)]
    garp_repeat: u32,
    /// Command run on becoming master.
    #[arg(long)]
    notify_master: Option<String>,
    /// Command run on becoming backup.
    #[arg(long)]
    notify_backup: Option<String>,
    /// Command run on entering fault.
    #[arg(long)]
    notify_fault: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let version = if args.version == 2 {
        VrrpVersion::V2
    } else {
        VrrpVersion::V3
    };
    let mut config = VrrpConfig::new(version, args.vrid, args.priority, args.src, args.vips);
    config.adver_int = Duration::from_millis(args.interval_ms);
    config.peers = args.peers;
    config.preempt = !args.no_preempt;
    config.preempt_delay = Duration::from_millis(args.preempt_delay_ms);
    config.accept_mode = args.accept;
    config.garp_repeat = args.garp_repeat;
    if let Some(pass) = &args.auth_pass {
        config.auth = VrrpAuth::simple(pass.as_bytes());
    }
    let notify = Notify {
        master: args.notify_master,
        backup: args.notify_backup,
        fault: args.notify_fault,
    };
    let owner = IpCommandOwner::new(&args.iface);
    let mut runner = match VrrpRunner::new(&args.iface, config, owner, notify) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vrrp: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() != "stop" => continue,
                _ => break,
            }
        }
        flag.store(true, Ordering::Relaxed);
    });
    let result = runner.run(
        &stop,
        |event| match event {
            VrrpEvent::StateChanged { from, to } => eprintln!("STATE {from:?} -> {to:?}"),
            VrrpEvent::Rejected { from, reason } => eprintln!("REJECTED from {from}: {reason}"),
        },
        |error| eprintln!("ERROR {error}"),
    );
    let s = runner.vrrp().stats();
    eprintln!(
        "STATS rx {} tx {} bad_ttl {} bad_checksum {} bad_auth {} addr_mismatch {}",
        s.adverts_rx, s.adverts_tx, s.bad_ttl, s.bad_checksum, s.bad_auth, s.addr_list_mismatch
    );
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrrp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
