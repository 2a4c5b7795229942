//! Who owns the VIPs: the router's data plane (through its own [`VipOwner`]) or, standalone,
//! the kernel (`ip addr add/del`, what keepalived does by netlink).

use std::net::IpAddr;
use std::process::Command;

use super::HaError;

/// Takes and releases the virtual addresses when VRRP says so. The router implements it
/// by adding the VIPs to the director's owned set (answering ARP/ND and accepting traffic).
pub trait VipOwner {
    /// Becoming master: start answering for `vips`.
    fn take(&mut self, vips: &[IpAddr]) -> Result<(), HaError>;
    /// Leaving master (backup, fault, shutdown): stop answering for `vips`.
    fn release(&mut self, vips: &[IpAddr]) -> Result<(), HaError>;
}

/// Adds the VIPs to an interface with `ip addr add VIP/32|/128 dev IF` (IPv6 with `nodad`, so
/// the address is usable at once) and deletes them on release. Already present / already gone
/// is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpCommandOwner {
    iface: String,
}

impl IpCommandOwner {
    /// An owner for interface `iface`.
    pub fn new(iface: &str) -> Self {
        Self {
            iface: iface.to_owned(),
        }
    }

    fn run(&self, op: &str, vip: &IpAddr) -> Result<(), HaError> {
        let prefix = if vip.is_ipv4() { 32 } else { 128 };
        let addr = format!("{vip}/{prefix}");
        let mut args = vec!["addr", op, addr.as_str(), "dev", self.iface.as_str()];
        if vip.is_ipv6() && op == "add" {
            args.push("nodad");
        }
        let command = format!("ip {}", args.join(" "));
        let out = Command::new("ip")
            .args(&args)
            .output()
            .map_err(|e| HaError::Command {
                command: command.clone(),
                detail: e.to_string(),
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Idempotent: EEXIST on add, EADDRNOTAVAIL on delete.
        let benign = stderr.contains("File exists") || stderr.contains("Cannot assign requested");
        if out.status.success() || benign {
            Ok(())
        } else {
            Err(HaError::Command {
                command,
                detail: format!("{}: {}", out.status, stderr.trim()),
            })
        }
    }
}

impl VipOwner for IpCommandOwner {
    fn take(&mut self, vips: &[IpAddr]) -> Result<(), HaError> {
        vips.iter().try_for_each(|v| self.run("add", v))
    }

    fn release(&mut self, vips: &[IpAddr]) -> Result<(), HaError> {
        // Try every VIP even if one fails; report the first failure.
        let mut first = Ok(());
        for vip in vips {
            if let Err(e) = self.run("del", vip)
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }
}
