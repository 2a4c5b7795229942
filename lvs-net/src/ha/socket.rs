//! The VRRP raw socket and the AF_PACKET socket for announcements.

use std::net::{IpAddr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use lvs_core::vrrp::{MCAST_V4, MCAST_V6};
use lvs_core::wire::{IpProtocol, Ipv4Repr};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::sys;
use super::{HaError, Interface, no_packet_yet};

const IPPROTO_VRRP: i32 = 112;
/// keepalived's TOS for adverts (IPTOS_PREC_INTERNETCONTROL).
const TOS_INTERNETCONTROL: u8 = 0xc0;

/// One received packet, as [`lvs_core::vrrp::Vrrp`] takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// IPv4: the whole packet with its header is in `buf[..len]`: pass it to
    /// [`Vrrp::handle_ip_packet`](lvs_core::vrrp::Vrrp::handle_ip_packet).
    Ipv4 {
        /// Packet length.
        len: usize,
    },
    /// IPv6: the VRRP message is in `buf[..len]` (raw IPv6 sockets strip the header); pass it
    /// to [`Vrrp::handle_advert`](lvs_core::vrrp::Vrrp::handle_advert).
    Ipv6 {
        /// Source address.
        src: IpAddr,
        /// Destination: the group in multicast mode, our address in unicast mode.
        dst: IpAddr,
        /// Hop limit from `IPV6_HOPLIMIT`, 0 if the kernel gave none (fails the 255 check).
        hop_limit: u8,
        /// Message length.
        len: usize,
    },
}

/// Raw IP protocol 112 on one interface: joined to the VRRP group, adverts sent with TTL /
/// hop limit 255 (RFC 5798 section 5.1.1.3), multicast loopback off.
#[derive(Debug)]
pub struct VrrpSocket {
    iface: Interface,
    src: IpAddr,
    multicast: bool,
    recv: Socket,
    /// IPv6 only: a second socket bound to the link-local source (binding the receiving one
    /// would filter out packets to the group).
    send6: Option<Socket>,
}

impl VrrpSocket {
    /// Opens the socket(s) on `iface` sending from `src` (IPv6: its link-local address).
    /// `multicast`: join 224.0.0.18 / ff02::12 (false for unicast peers only).
    pub fn open(iface: &Interface, src: IpAddr, multicast: bool) -> Result<Self, HaError> {
        let name = iface.name.as_str();
        let domain = if src.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let proto = Some(Protocol::from(IPPROTO_VRRP));
        let recv =
            Socket::new(domain, Type::RAW, proto).map_err(HaError::socket("socket", name))?;
        recv.bind_device(Some(name.as_bytes()))
            .map_err(HaError::socket("SO_BINDTODEVICE", name))?;
        let mut send6 = None;
        match src {
            IpAddr::V4(_) => {
                // We write the IP header ourselves: source, TTL 255 and TOS exactly as keepalived.
                recv.set_header_included_v4(true)
                    .map_err(HaError::socket("IP_HDRINCL", name))?;
                recv.set_multicast_loop_v4(false)
                    .map_err(HaError::socket("IP_MULTICAST_LOOP", name))?;
                if multicast {
                    let index = InterfaceIndexOrAddress::Index(iface.index);
                    recv.join_multicast_v4_n(&MCAST_V4, &index)
                        .map_err(HaError::socket("join 224.0.0.18", name))?;
                }
            }
            IpAddr::V6(src6) => {
                recv.set_recv_hoplimit_v6(true)
                    .map_err(HaError::socket("IPV6_RECVHOPLIMIT", name))?;
                recv.set_multicast_loop_v6(false)
                    .map_err(HaError::socket("IPV6_MULTICAST_LOOP", name))?;
                if multicast {
                    recv.join_multicast_v6(&MCAST_V6, iface.index)
                        .map_err(HaError::socket("join ff02::12", name))?;
                }
                let s = Socket::new(domain, Type::RAW, proto)
                    .map_err(HaError::socket("socket", name))?;
                s.bind_device(Some(name.as_bytes()))
                    .map_err(HaError::socket("SO_BINDTODEVICE", name))?;
                let scope = if src6.is_unicast_link_local() {
                    iface.index
                } else {
                    0
                };
                s.bind(&SockAddr::from(SocketAddrV6::new(src6, 0, 0, scope)))
                    .map_err(HaError::socket("bind source", name))?;
                s.set_multicast_hops_v6(255)
                    .map_err(HaError::socket("IPV6_MULTICAST_HOPS", name))?;
                s.set_unicast_hops_v6(255)
                    .map_err(HaError::socket("IPV6_UNICAST_HOPS", name))?;
                s.set_multicast_if_v6(iface.index)
                    .map_err(HaError::socket("IPV6_MULTICAST_IF", name))?;
                s.set_multicast_loop_v6(false)
                    .map_err(HaError::socket("IPV6_MULTICAST_LOOP", name))?;
                send6 = Some(s);
            }
        }
        Ok(Self {
            iface: iface.clone(),
            src,
            multicast,
            recv,
            send6,
        })
    }

    /// Sends one VRRP message (what `poll_transmit` wrote) to `dst`.
    pub fn send(&self, dst: IpAddr, message: &[u8]) -> Result<(), HaError> {
        let name = self.iface.name.as_str();
        match (self.src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst4)) => {
                let header = Ipv4Repr {
                    src_addr: src,
                    dst_addr: dst4,
                    next_header: IpProtocol::Vrrp,
                    payload_len: message.len(),
                    hop_limit: 255,
                    ident: 0, // the kernel fills it in for IP_HDRINCL
                    dont_frag: false,
                    dscp_ecn: TOS_INTERNETCONTROL,
                };
                let mut packet = vec![0u8; 20 + message.len()];
                header.emit(&mut packet).map_err(|e| {
                    HaError::socket("build IPv4 header", name)(std::io::Error::other(e))
                })?;
                packet[20..].copy_from_slice(message);
                let to = SockAddr::from(SocketAddrV4::new(dst4, 0));
                self.recv
                    .send_to(&packet, &to)
                    .map_err(HaError::socket("send advert", name))?;
            }
            (IpAddr::V6(_), IpAddr::V6(dst6)) => {
                let scope = if is_link_scope(&dst6) {
                    self.iface.index
                } else {
                    0
                };
                let to = SockAddr::from(SocketAddrV6::new(dst6, 0, 0, scope));
                let sock = self.send6.as_ref().unwrap_or(&self.recv);
                sock.send_to(message, &to)
                    .map_err(HaError::socket("send advert", name))?;
            }
            _ => {
                return Err(HaError::socket("send advert", name)(std::io::Error::other(
                    "address family mismatch",
                )));
            }
        }
        Ok(())
    }

    /// Waits at most `timeout` (at least 1 ms) for a packet. `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<Received>, HaError> {
        let name = self.iface.name.as_str();
        self.recv
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(HaError::socket("SO_RCVTIMEO", name))?;
        let result = match self.src {
            IpAddr::V4(_) => sys::recv_from(&self.recv, buf).map(|(len, _)| Received::Ipv4 { len }),
            IpAddr::V6(_) => sys::recv_with_hoplimit(&self.recv, buf).map(|(len, from, hop)| {
                let src = from
                    .as_socket_ipv6()
                    .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |a| IpAddr::V6(*a.ip()));
                let dst = if self.multicast {
                    IpAddr::V6(MCAST_V6)
                } else {
                    self.src
                };
                Received::Ipv6 {
                    src,
                    dst,
                    hop_limit: hop.unwrap_or(0),
                    len,
                }
            }),
        };
        match result {
            Ok(r) => Ok(Some(r)),
            Err(e) if no_packet_yet(&e) => Ok(None),
            Err(e) => Err(HaError::socket("receive advert", name)(e)),
        }
    }
}

fn is_link_scope(addr: &Ipv6Addr) -> bool {
    addr.is_unicast_link_local() || (addr.is_multicast() && addr.segments()[0] & 0x000f == 2)
}

/// An AF_PACKET socket that sends complete Ethernet frames (gratuitous ARP, unsolicited NA)
/// out of one interface.
#[derive(Debug)]
pub struct LinkSocket {
    iface: Interface,
    socket: Socket,
    to: SockAddr,
}

impl LinkSocket {
    /// Opens a send-only packet socket (protocol 0: it receives nothing).
    pub fn open(iface: &Interface) -> Result<Self, HaError> {
        let name = iface.name.as_str();
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)
            .map_err(HaError::socket("AF_PACKET socket", name))?;
        let to = sys::link_addr(iface.index).map_err(HaError::socket("sockaddr_ll", name))?;
        Ok(Self {
            iface: iface.clone(),
            socket,
            to,
        })
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> Result<(), HaError> {
        self.socket
            .send_to(frame, &self.to)
            .map(|_| ())
            .map_err(HaError::socket("send frame", &self.iface.name))
    }
}
