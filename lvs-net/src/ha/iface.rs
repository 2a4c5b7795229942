//! Interface attributes from sysfs: no netlink and no unsafe needed for index, MAC and state.

use std::fs;

use lvs_core::wire::MacAddr;

use super::HaError;

/// A network interface by name, with what the HA sockets need from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// Hardware address.
    pub mac: MacAddr,
}

impl Interface {
    /// Reads `/sys/class/net/<name>/{ifindex,address}`.
    pub fn by_name(name: &str) -> Result<Self, HaError> {
        let read = |attr: &str| {
            fs::read_to_string(format!("/sys/class/net/{name}/{attr}")).map_err(|source| {
                HaError::Interface {
                    iface: name.to_owned(),
                    source,
                }
            })
        };
        let bad = |what: &str| HaError::Interface {
            iface: name.to_owned(),
            source: std::io::Error::other(format!("unparsable {what}")),
        };
        let index = read("ifindex")?
            .trim()
            .parse()
            .map_err(|_| bad("ifindex"))?;
        let mut mac = [0u8; 6];
        let text = read("address")?;
        let parts: Vec<_> = text.trim().split(':').collect();
        if parts.len() != 6 {
            return Err(bad("address"));
        }
        for (byte, part) in mac.iter_mut().zip(parts) {
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad("address"))?;
        }
        Ok(Self {
            name: name.to_owned(),
            index,
            mac: MacAddr(mac),
        })
    }

    /// Whether the link is usable: operstate `up` (or `unknown`, which loopback-like and some
    /// virtual devices report while working). A missing interface is down.
    pub fn is_up(&self) -> bool {
        fs::read_to_string(format!("/sys/class/net/{}/operstate", self.name))
            .map(|s| matches!(s.trim(), "up" | "unknown"))
            .unwrap_or(false)
    }
}
