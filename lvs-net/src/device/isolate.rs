//! Keeping the host kernel off VIP traffic.
//!
//! An AF_PACKET socket gets a copy of each frame; the original still goes up the host stack.
//! If the VIP were a local address the kernel would answer a SYN with a SYN-ACK or RST; if
//! forwarding is on it would route a second copy. The choice made here: VIPs are **not** local
//! addresses (the director answers ARP/ND for them itself), and an nftables **netdev ingress**
//! rule on each balanced interface drops frames to the VIPs. The order in
//! `__netif_receive_skb_core` makes this work: taps on `ptype_all` (AF_PACKET) are delivered
//! before `sch_handle_ingress`/`nf_ingress`, so the socket has its copy before the rule drops
//! the original (the baseline's `afp_mode.sh` relies on the same order). A `bypass` list drops
//! frames from real-server addresses too: NAT replies (RIP -> CIP) that the host would
//! otherwise forward a second time when `ip_forward` is on; only those not addressed to the
//! host itself (`fib daddr type != local`), so that the director's own connections to its real
//! servers (health checks, management) get their answers.
//!
//! ARP and ND are not dropped: the host still resolves its own neighbours, and the rule never
//! touches traffic to the director's own addresses (management, health checks).
//!
//! Needs the `nft` program (Debian package `nftables`). One table per interface,
//! `netdev lvs_rs_<ifname>`, so [`Isolation::remove`] (also run on drop) deletes exactly what
//! [`Isolation::apply`] added.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use super::DeviceError;

/// The nftables rules of one interface; removed on drop, in the network namespace they were
/// applied in (whichever thread drops it).
#[derive(Debug)]
pub struct Isolation {
    ifname: String,
    table: String,
    active: bool,
    /// The namespace of the thread that applied the rules (`/proc/thread-self/ns/net`).
    netns: std::fs::File,
}

fn set_elems(addrs: &[IpAddr], v6: bool) -> String {
    addrs
        .iter()
        .filter(|a| a.is_ipv6() == v6)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The nft script [`Isolation::apply`] loads (public for review and tests).
pub fn ruleset(ifname: &str, vips: &[IpAddr], bypass: &[IpAddr]) -> String {
    table_def(&table_name(ifname), ifname, &drop_rules(vips, bypass))
}

/// One `counter drop` rule per address family and field with addresses.
fn drop_rules(vips: &[IpAddr], bypass: &[IpAddr]) -> String {
    let mut s = String::new();
    // A real server's packets to the host's own addresses are the host's (health probes).
    for (field, list, unless) in [
        ("daddr", vips, ""),
        ("saddr", bypass, " fib daddr type != local"),
    ] {
        for (fam, v6) in [("ip", false), ("ip6", true)] {
            let e = set_elems(list, v6);
            if !e.is_empty() {
                s.push_str(&format!(
                    "    {fam} {field} {{ {e} }}{unless} counter drop\n"
                ));
            }
        }
    }
    s
}

/// The netdev `table` with `rules` in an ingress chain on `ifname`.
fn table_def(table: &str, ifname: &str, rules: &str) -> String {
    format!(
        "table netdev {table} {{\n  chain ingress {{\n    type filter hook ingress device \"{ifname}\" priority 0; policy accept;\n{rules}  }}\n}}\n"
    )
}

fn table_name(ifname: &str) -> String {
    let clean: String = ifname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("lvs_rs_{clean}")
}

fn nft(
    ifname: &str,
    op: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<(), DeviceError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DeviceError::new(op, ifname, e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| DeviceError::new(op, ifname, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DeviceError::new(op, ifname, e))?;
    if out.status.success() {
        Ok(())
    } else {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(DeviceError::new(op, ifname, std::io::Error::other(msg)))
    }
}

impl Isolation {
    /// Loads the drop rules for `vips` (and `bypass` sources) on `ifname`, replacing an older
    /// table of ours on the same interface.
    pub fn apply(ifname: &str, vips: &[IpAddr], bypass: &[IpAddr]) -> Result<Self, DeviceError> {
        Self::load(ifname, table_name(ifname), &drop_rules(vips, bypass))
    }

    /// Drops tunnelled traffic (IPIP, IPv6-in-IP, GRE and, with `gue_port`, GUE) arriving on
    /// a real server's `ifname` after the [`crate::worker::TunnelEndpoint`] tapped it.
    pub fn apply_tunnel_endpoint(ifname: &str, gue_port: Option<u16>) -> Result<Self, DeviceError> {
        let table = table_name(ifname);
        let mut rules = String::from("    meta l4proto { 4, 41, 47 } counter drop\n");
        if let Some(p) = gue_port {
            rules.push_str(&format!("    udp dport {p} counter drop\n"));
        }
        Self::load(ifname, table, &rules)
    }

    fn load(ifname: &str, table: String, rules: &str) -> Result<Self, DeviceError> {
        // Replace atomically: declare, delete, then load, in one transaction.
        let script = format!(
            "table netdev {table}\ndelete table netdev {table}\n{}",
            table_def(&table, ifname, rules)
        );
        let netns = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(|e| DeviceError::new("open /proc/thread-self/ns/net", ifname, e))?;
        nft(
            ifname,
            "nft add netdev ingress table",
            &["-f", "-"],
            Some(&script),
        )?;
        Ok(Self {
            ifname: ifname.to_owned(),
            table,
            active: true,
            netns,
        })
    }

    /// The nftables table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Deletes the rules.
    pub fn remove(mut self) -> Result<(), DeviceError> {
        self.active = false;
        self.delete()
    }

    /// Runs `nft delete table` from a helper thread that entered the rules' namespace: a child
    /// process inherits its spawning thread's namespace, which may not be the right one.
    fn delete(&self) -> Result<(), DeviceError> {
        let (ifname, table, ns) = (&self.ifname, &self.table, &self.netns);
        std::thread::scope(|s| {
            s.spawn(move || {
                crate::sys::setns_fd(std::os::fd::AsFd::as_fd(ns))
                    .map_err(|e| DeviceError::new("setns", ifname, e))?;
                nft(
                    ifname,
                    "nft delete netdev ingress table",
                    &["delete", "table", "netdev", table],
                    None,
                )
            })
            .join()
            .unwrap_or_else(|_| {
                Err(DeviceError::new(
                    "nft delete (thread)",
                    ifname,
                    std::io::Error::other("panicked"),
                ))
            })
        })
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        if self.active {
            // Best effort: the namespace or interface may be gone, which removes the table too.
            let _ = self.delete();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_lists_vips_per_family() {
        let vips: Vec<IpAddr> = vec![
            "192.0.2.100".parse().unwrap(),
            "2001:db8::100".parse().unwrap(),
        ];
        let rips: Vec<IpAddr> = vec!["198.51.100.10".parse().unwrap()];
        let s = ruleset("veth-lb0", &vips, &rips);
        assert!(s.starts_with("table netdev lvs_rs_veth_lb0 {"));
        assert!(s.contains("hook ingress device \"veth-lb0\""));
        assert!(s.contains("ip daddr { 192.0.2.100 } counter drop"));
        assert!(s.contains("ip6 daddr { 2001:db8::100 } counter drop"));
        assert!(s.contains("ip saddr { 198.51.100.10 } fib daddr type != local counter drop"));
        assert!(!s.contains("ip6 saddr"));
    }
}
