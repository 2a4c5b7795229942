//! The IPVS sync transport: UDP multicast, configured like
//! `ipvsadm --start-daemon master|backup --mcast-interface --mcast-group --mcast-port
//! --mcast-ttl --syncid --sync-maxlen` (the kernel's `make_send_sock` / `make_receive_sock`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lvs_core::sync::{DEFAULT_GROUP_V4, DEFAULT_PORT, DEFAULT_TTL, SyncSender, clamp_maxlen};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::sys;
use super::{HaError, Interface, no_packet_yet};

/// Sync daemon parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSocketConfig {
    /// `--mcast-interface`.
    pub iface: String,
    /// `--mcast-group` (default 224.0.0.81).
    pub group: IpAddr,
    /// `--mcast-port` (default 8848).
    pub port: u16,
    /// `--mcast-ttl` (default 1).
    pub ttl: u32,
    /// `--syncid` (0: the backup accepts any).
    pub syncid: u8,
    /// `--sync-maxlen` (0: MTU 1500 less headers).
    pub maxlen: usize,
}

impl SyncSocketConfig {
    /// The kernel defaults on `iface`.
    pub fn new(iface: &str) -> Self {
        Self {
            iface: iface.to_owned(),
            group: IpAddr::V4(DEFAULT_GROUP_V4),
            port: DEFAULT_PORT,
            ttl: DEFAULT_TTL,
            syncid: 0,
            maxlen: 0,
        }
    }

    /// `maxlen` after the kernel's clamping.
    pub fn effective_maxlen(&self) -> usize {
        clamp_maxlen(self.maxlen, self.group.is_ipv6())
    }

    fn domain(&self) -> Domain {
        if self.group.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        }
    }

    /// A UDP socket of the group's family bound to the interface (SO_BINDTODEVICE), with the
    /// interface; `reuse_addr` sets SO_REUSEADDR first.
    fn device_socket(&self, reuse_addr: bool) -> Result<(Socket, Interface), HaError> {
        let name = self.iface.as_str();
        let iface = Interface::by_name(name)?;
        let socket = Socket::new(self.domain(), Type::DGRAM, Some(Protocol::UDP))
            .map_err(HaError::socket("socket", name))?;
        if reuse_addr {
            socket
                .set_reuse_address(true)
                .map_err(HaError::socket("SO_REUSEADDR", name))?;
        }
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(HaError::socket("SO_BINDTODEVICE", name))?;
        Ok((socket, iface))
    }
}

/// The master's socket: connected to the group, loopback off, the configured TTL.
#[derive(Debug)]
pub struct SyncSendSocket {
    socket: Socket,
    iface: String,
}

impl SyncSendSocket {
    /// Opens and connects the socket.
    pub fn open(config: &SyncSocketConfig) -> Result<Self, HaError> {
        let name = config.iface.as_str();
        let (socket, iface) = config.device_socket(false)?;
        if config.group.is_ipv6() {
            socket
                .set_multicast_if_v6(iface.index)
                .map_err(HaError::socket("IPV6_MULTICAST_IF", name))?;
            socket
                .set_multicast_loop_v6(false)
                .map_err(HaError::socket("IPV6_MULTICAST_LOOP", name))?;
            socket
                .set_multicast_hops_v6(config.ttl)
                .map_err(HaError::socket("IPV6_MULTICAST_HOPS", name))?;
        } else {
            socket
                .set_multicast_loop_v4(false)
                .map_err(HaError::socket("IP_MULTICAST_LOOP", name))?;
            socket
                .set_multicast_ttl_v4(config.ttl)
                .map_err(HaError::socket("IP_MULTICAST_TTL", name))?;
        }
        let scope = if config.group.is_ipv6() {
            iface.index
        } else {
            0
        };
        let to = match config.group {
            IpAddr::V4(g) => SocketAddr::from((g, config.port)),
            IpAddr::V6(g) => SocketAddr::V6(std::net::SocketAddrV6::new(g, config.port, 0, scope)),
        };
        socket
            .connect(&SockAddr::from(to))
            .map_err(HaError::socket("connect to the sync group", name))?;
        Ok(Self {
            socket,
            iface: name.to_owned(),
        })
    }

    /// Sends one message.
    pub fn send(&self, message: &[u8]) -> Result<(), HaError> {
        self.socket
            .send(message)
            .map(|_| ())
            .map_err(HaError::socket("send sync message", &self.iface))
    }

    /// Sends every message `sender` has ready; returns how many.
    pub fn send_ready(&self, sender: &mut SyncSender) -> Result<usize, HaError> {
        let mut buf = vec![0u8; 65536];
        let mut sent = 0;
        while let Some(n) = sender.poll_transmit(&mut buf) {
            self.send(&buf[..n])?;
            sent += 1;
        }
        Ok(sent)
    }
}

/// The backup's socket: bound to the group and port on the interface, group joined.
#[derive(Debug)]
pub struct SyncRecvSocket {
    socket: Socket,
    iface: String,
}

impl SyncRecvSocket {
    /// Opens, binds and joins.
    pub fn open(config: &SyncSocketConfig) -> Result<Self, HaError> {
        let name = config.iface.as_str();
        let (socket, iface) = config.device_socket(true)?;
        socket
            .bind(&SockAddr::from(SocketAddr::new(config.group, config.port)))
            .map_err(HaError::socket("bind the sync group", name))?;
        match config.group {
            IpAddr::V4(g) => socket
                .join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(iface.index))
                .map_err(HaError::socket("join the sync group", name))?,
            IpAddr::V6(g) => socket
                .join_multicast_v6(&g, iface.index)
                .map_err(HaError::socket("join the sync group", name))?,
        }
        Ok(Self {
            socket,
            iface: name.to_owned(),
        })
    }

    /// Waits at most `timeout` for a datagram; `Ok(None)` on timeout. Pass the bytes to
    /// [`lvs_core::sync::decode`].
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, HaError> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(HaError::socket("SO_RCVTIMEO", &self.iface))?;
        match sys::recv_from(&self.socket, buf) {
            Ok((n, _)) => Ok(Some(n)),
            Err(e) if no_packet_yet(&e) => Ok(None),
            Err(e) => Err(HaError::socket("receive sync message", &self.iface)(e)),
        }
    }
}
