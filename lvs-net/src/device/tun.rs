//! Multi-queue TUN devices (`IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE`) for routed set-ups and the
//! real-server side of TUN forwarding.
//!
//! Built on the `tun-rs` crate (maintained; `tun-tap` is not and still pulls tokio-core): with
//! default features off it costs libc, nix, bytes, log and ahash, opens one fd per queue
//! (`try_clone` re-issues TUNSETIFF with IFF_MULTI_QUEUE) and exposes the raw fd for poll. No
//! `sys/tun.rs` was needed. Offloads (`IFF_VNET_HDR`) stay off: like the AF_PACKET path the
//! director works on single packets (see [`super::vnet`]).

use std::os::fd::{AsRawFd, RawFd};

use tun_rs::{DeviceBuilder, SyncDevice};

use super::DeviceError;

/// One queue of a TUN device: read and write whole IP packets.
pub struct TunQueue {
    dev: SyncDevice,
    name: String,
}

impl core::fmt::Debug for TunQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunQueue")
            .field("name", &self.name)
            .field("fd", &self.dev.as_raw_fd())
            .finish()
    }
}

/// Creates (or attaches to) TUN device `name` with `queues` queues; each queue goes to one
/// worker. The device is set up (`ip link set up`) by the caller, which also owns addresses and
/// routes.
pub fn open_tun(name: &str, queues: usize) -> Result<Vec<TunQueue>, DeviceError> {
    let first = DeviceBuilder::new()
        .name(name)
        .multi_queue(queues > 1)
        .build_sync()
        .map_err(|e| DeviceError::new("TUNSETIFF", name, e))?;
    let mut out = Vec::with_capacity(queues);
    for _ in 1..queues {
        let q = first
            .try_clone()
            .map_err(|e| DeviceError::new("TUNSETIFF (queue)", name, e))?;
        out.push(TunQueue {
            dev: q,
            name: name.to_owned(),
        });
    }
    out.insert(
        0,
        TunQueue {
            dev: first,
            name: name.to_owned(),
        },
    );
    Ok(out)
}

impl TunQueue {
    /// Reads one packet (blocking unless [`set_nonblocking`](Self::set_nonblocking)).
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, DeviceError> {
        self.dev
            .recv(buf)
            .map_err(|e| DeviceError::new("TUN read", &self.name, e))
    }

    /// Writes one packet.
    pub fn send(&self, pkt: &[u8]) -> Result<usize, DeviceError> {
        self.dev
            .send(pkt)
            .map_err(|e| DeviceError::new("TUN write", &self.name, e))
    }

    /// Switches the queue's fd to non-blocking mode.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), DeviceError> {
        self.dev
            .set_nonblocking(on)
            .map_err(|e| DeviceError::new("TUN O_NONBLOCK", &self.name, e))
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl AsRawFd for TunQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}
