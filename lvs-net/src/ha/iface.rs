//! Interface index, MAC and link state by ioctl on a socket of the calling thread's network
//! namespace (sysfs would describe the namespace `/sys` was mounted in, which differs under
//! `nsenter --net`).

use std::os::fd::AsFd;

use lvs_core::wire::MacAddr;
use socket2::{Domain, Socket, Type};

use super::HaError;
use crate::sys;

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

/// A datagram socket for the interface ioctls (no privilege needed).
fn ioctl_socket(name: &str) -> Result<Socket, HaError> {
    Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(|source| HaError::Interface {
        iface: name.to_owned(),
        source,
    })
}

impl Interface {
    /// Looks `name` up: if_nametoindex(3) and SIOCGIFHWADDR.
    pub fn by_name(name: &str) -> Result<Self, HaError> {
        let err = |source| HaError::Interface {
            iface: name.to_owned(),
            source,
        };
        let index = sys::if_index(name).map_err(err)?;
        let socket = ioctl_socket(name)?;
        let mac = sys::if_mac(socket.as_fd(), name).map_err(err)?;
        Ok(Self {
            name: name.to_owned(),
            index,
            mac: MacAddr(mac),
        })
    }

    /// Whether the link is usable: administratively up and running (IFF_RUNNING is the
    /// kernel's operstate `up` or `unknown`, which loopback-like and some virtual devices
    /// report while working). A missing interface is down.
    pub fn is_up(&self) -> bool {
        let Ok(socket) = ioctl_socket(&self.name) else {
            return false;
        };
        sys::ha::if_flags(socket.as_fd(), &self.name).is_ok_and(|f| {
            let want = libc::IFF_UP | libc::IFF_RUNNING;
            f & want == want
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_up_and_a_missing_interface_is_not() {
        let lo = Interface::by_name("lo").unwrap();
        assert_eq!(lo.index, sys::if_index("lo").unwrap());
        assert_eq!(lo.mac, MacAddr([0; 6]));
        assert!(lo.is_up());
        assert!(Interface::by_name("no-such-if0").is_err());
        let gone = Interface {
            name: "no-such-if0".into(),
            ..lo
        };
        assert!(!gone.is_up());
    }
}
