//! `lvs-router replay --rules FILE --out OUT.pcap IN.pcap...`: runs captured frames through
//! the director in capture time and writes what it transmits (`lvs_net::replay`).
//!
//! ```text
//! ipvsadm-save -n > rules          # or write the -A/-a lines by hand
//! tcpdump -i eth0 -w client.pcap   # what reaches the director, from clients and real servers
//! lvs-router replay --rules rules --out out.pcap \
//!     --neighbour 172.16.0.2=52:54:00:12:34:56 client.pcap servers.pcap
//! tcpdump -enr out.pcap
//! ```
//!
//! The director learns next-hop MACs from ARP frames in the captures and from `--neighbour`;
//! frames to an unknown next hop get `--next-hop-mac` (counted in the summary). Output frames
//! carry the timestamp of the frame that caused them (the director takes no time), or the timer
//! deadline for frames it originates on a timer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use lvs_core::wire::MacAddr;
use lvs_net::replay::{DEFAULT_MAC, DEFAULT_PEER_MAC, ReplayOptions, replay_files};

/// Arguments of `replay`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// ipvsadm-save style rules (`ipvsadm -S -n` output), applied before the first frame.
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// Where to write the transmitted frames (pcap, Ethernet).
    #[arg(long, value_name = "OUT.pcap")]
    out: PathBuf,
    /// The director's MAC (source of the frames it sends).
    #[arg(long, value_name = "MAC", default_value_t = DEFAULT_MAC, value_parser = parse_mac)]
    mac: MacAddr,
    /// Destination MAC of forwarded frames whose next hop the director does not know (it
    /// learns from ARP in the capture and from --neighbour); also the source MAC of frames
    /// from cooked or raw-IP captures.
    #[arg(long, value_name = "MAC", default_value_t = DEFAULT_PEER_MAC, value_parser = parse_mac)]
    next_hop_mac: MacAddr,
    /// A static neighbour `IP=MAC` (a real server or a client); repeat as needed.
    #[arg(long, value_name = "IP=MAC", value_parser = parse_neighbour)]
    neighbour: Vec<(IpAddr, MacAddr)>,
    /// The director's own address (source of ICMP errors it originates); repeat per family.
    #[arg(long, value_name = "IP")]
    addr: Vec<IpAddr>,
    /// A VIP the director answers ARP / neighbour solicitations for; repeatable.
    #[arg(long, value_name = "IP")]
    vip: Vec<IpAddr>,
    /// Captures (pcap or pcapng; Ethernet, Linux cooked v1/v2 or raw IP), merged by timestamp.
    #[arg(required = true, value_name = "IN.pcap")]
    inputs: Vec<PathBuf>,
}

fn parse_mac(s: &str) -> Result<MacAddr, String> {
    let octets: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC address {s:?}")))
        .collect::<Result<_, _>>()?;
    MacAddr::from_bytes(&octets)
        .filter(|_| octets.len() == 6)
        .ok_or_else(|| format!("bad MAC address {s:?}: want six hex octets like 02:00:00:00:00:01"))
}

fn parse_neighbour(s: &str) -> Result<(IpAddr, MacAddr), String> {
    let (ip, mac) = s
        .split_once('=')
        .ok_or_else(|| format!("want IP=MAC, got {s:?}"))?;
    let ip = ip.parse().map_err(|_| format!("bad IP address {ip:?}"))?;
    Ok((ip, parse_mac(mac)?))
}

/// Replays, prints the summary on stdout; errors go to stderr with exit status 1.
pub(crate) fn run(args: &Args) -> ExitCode {
    let options = ReplayOptions {
        mac: args.mac,
        peer_mac: args.next_hop_mac,
        neighbours: args.neighbour.clone(),
        addrs: args.addr.clone(),
        vips: args.vip.clone(),
    };
    match replay_files(&args.inputs, &args.rules, &args.out, &options) {
        Ok(report) => {
            print!("{}", report.summary);
            if report.skipped_outgoing > 0 {
                println!(
                    "skipped (sent by the capturing host): {}",
                    report.skipped_outgoing
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
