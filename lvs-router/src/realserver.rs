//! `lvs-router realserver`: the real-server side of LVS.
//!
//! ```text
//! # TUN (-i) on a host without kernel ipip/gre/fou: decapsulate in userspace into a TUN
//! # device that holds the VIPs, so the kernel's own TCP/UDP stack answers the client.
//! lvs-router realserver --interface eth0 --vip 192.0.2.10 [--gue-port 6080] [-v]
//!
//! # DR (-g): print, or apply, the VIP-on-lo and ARP settings every DR real server needs.
//! lvs-router realserver --dr --vip 192.0.2.10 [--apply]
//! ```
//!
//! TUN mode: an AF_PACKET worker on `--interface` runs `lvs_net::worker::TunnelEndpoint`
//! (`lvs_core::rewrite::decap`: ipip, ip6ip6/4in6, GRE, GUE), an nftables rule keeps the host
//! from answering the outer packets with protocol-unreachable, and rp_filter is relaxed on
//! the TUN device (inner sources are clients reached through another interface). SIGTERM or
//! SIGINT removes the rule and the device and exits 0. Replies leave by the host's routes,
//! straight to the client, as with kernel IPVS-TUN.

use std::net::IpAddr;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lvs_net::device::isolate::Isolation;
use lvs_net::device::{AfPacketConfig, tun::open_tun};
use lvs_net::neigh::NeighbourCache;
use lvs_net::worker::{PortConfig, TunnelEndpoint, Worker, WorkerConfig};

/// Arguments of `realserver`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A VIP this real server serves; repeatable.
    #[arg(long, required = true, value_name = "IP")]
    vip: Vec<IpAddr>,
    /// DR mode: the VIP-on-lo and arp_ignore/arp_announce settings (printed unless --apply).
    #[arg(long)]
    dr: bool,
    /// With --dr: run the commands instead of printing them.
    #[arg(long, requires = "dr")]
    apply: bool,
    /// TUN mode: the interface the director's tunnelled packets arrive on.
    #[arg(long, value_name = "IF", required_unless_present = "dr")]
    interface: Option<String>,
    /// TUN mode: accept GUE on this UDP port (ipvsadm --tun-type gue --tun-port).
    #[arg(long, value_name = "PORT")]
    gue_port: Option<u16>,
    /// TUN mode: name of the TUN device that carries the VIPs.
    #[arg(long, default_value = "lvsrs0", value_name = "NAME")]
    tun_name: String,
}

/// The DR settings as shell commands (what LVS-HOWTO tells every DR real server to do).
pub(crate) fn dr_commands(vips: &[IpAddr]) -> Vec<String> {
    let mut c: Vec<String> = vips
        .iter()
        .map(|v| match v {
            IpAddr::V4(a) => format!("ip addr add {a}/32 dev lo"),
            IpAddr::V6(a) => format!("ip -6 addr add {a}/128 dev lo"),
        })
        .collect();
    if vips.iter().any(IpAddr::is_ipv4) {
        // Answer ARP only for addresses of the receiving interface, and never announce the
        // VIP as an ARP source: the director alone owns the VIP on the link.
        for (dev, k, v) in [
            ("all", "arp_ignore", 1),
            ("all", "arp_announce", 2),
            ("lo", "arp_ignore", 1),
            ("lo", "arp_announce", 2),
        ] {
            c.push(format!("sysctl -w net.ipv4.conf.{dev}.{k}={v}"));
        }
    }
    c
}

fn sh(cmd: &str) -> Result<(), String> {
    let mut it = cmd.split_whitespace();
    let prog = it.next().ok_or("empty command")?;
    let out = Command::new(prog)
        .args(it)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs the chosen mode.
pub(crate) fn run(args: &Args) -> ExitCode {
    if args.dr {
        let cmds = dr_commands(&args.vip);
        if !args.apply {
            for c in &cmds {
                println!("{c}");
            }
            return ExitCode::SUCCESS;
        }
        for c in &cmds {
            if let Err(e) = sh(c) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            tracing::info!("{c}");
        }
        return ExitCode::SUCCESS;
    }
    match tunnel(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The TUN device with the VIPs; deleted on drop.
struct TunDevice(String);

impl Drop for TunDevice {
    fn drop(&mut self) {
        let _ = sh(&format!("ip link del {}", self.0));
    }
}

fn tunnel(args: &Args) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let ifname = args.interface.clone().ok_or("--interface is required")?;
    let name = &args.tun_name;
    let mut queues = open_tun(name, 1).map_err(|e| e.to_string())?;
    let queue = queues.remove(0);
    // Persistent devices survive us; a non-persistent one goes with its fd, but `ip link
    // del` also covers a device left by an earlier crash under the same name.
    let _dev = TunDevice(name.clone());
    sh(&format!("ip link set {name} up"))?;
    for v in &args.vip {
        let plen = if v.is_ipv4() { 32 } else { 128 };
        sh(&format!("ip addr add {v}/{plen} dev {name} nodad"))
            .or_else(|_| sh(&format!("ip addr add {v}/{plen} dev {name}")))?;
    }
    for dev in ["all", name.as_str()] {
        // Inner sources are clients routed via another interface: strict rp_filter would
        // drop every decapsulated packet.
        let _ = sh(&format!("sysctl -qw net.ipv4.conf.{dev}.rp_filter=0"));
    }
    let iso =
        Isolation::apply_tunnel_endpoint(&ifname, args.gue_port).map_err(|e| e.to_string())?;
    let cfg = WorkerConfig {
        ports: vec![PortConfig {
            device: AfPacketConfig {
                block_size: 1 << 16,
                blocks: 16,
                ..AfPacketConfig::new(&ifname)
            },
            ipv4: None,
            ipv6: None,
        }],
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(
        &cfg,
        TunnelEndpoint::new(queue, args.gue_port),
        Arc::new(Mutex::new(NeighbourCache::new())),
    )
    .map_err(|e| e.to_string())?;
    tracing::info!(interface = %ifname, tun = %name, vips = ?args.vip, "decapsulating");
    let mut result = Ok(());
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = w.turn(Duration::from_millis(50)) {
            result = Err(e.to_string());
            break;
        }
    }
    let h = w.into_handler();
    tracing::info!(delivered = h.delivered, errors = h.errors, "stopping");
    if let Err(e) = iso.remove() {
        tracing::warn!("removing nftables rules: {e}");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dr_settings_follow_the_lvs_howto() {
        let v4: IpAddr = "192.0.2.10".parse().unwrap();
        let v6: IpAddr = "2001:db8::10".parse().unwrap();
        let c = dr_commands(&[v4, v6]);
        assert_eq!(c[0], "ip addr add 192.0.2.10/32 dev lo");
        assert_eq!(c[1], "ip -6 addr add 2001:db8::10/128 dev lo");
        assert!(c.contains(&"sysctl -w net.ipv4.conf.all.arp_ignore=1".to_owned()));
        assert!(c.contains(&"sysctl -w net.ipv4.conf.lo.arp_announce=2".to_owned()));
        // IPv6 has no ARP: an address on lo is not answered by ND on other links.
        assert_eq!(dr_commands(&[v6]).len(), 1);
    }
}
