//! The unsafe corner of the HA sockets: receiving into initialised buffers, reading the IPv6
//! hop limit from ancillary data, and the `sockaddr_ll` of an AF_PACKET send. Everything else
//! goes through socket2's safe API.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{MaybeUninitSlice, MsgHdrMut, SockAddr, SockAddrStorage, Socket};

/// Views an initialised byte buffer as the `MaybeUninit` buffer socket2's receive calls take.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and the callee (a recv into this buffer)
    // only ever writes initialised bytes, so the buffer stays initialised for the caller.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// `recvfrom` into `buf`.
pub(crate) fn recv_from(sock: &Socket, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    sock.recv_from(as_uninit(buf))
}

/// `recvmsg` on an IPv6 socket with `IPV6_RECVHOPLIMIT` on: payload length, source and the
/// hop limit the packet arrived with (RFC 3542 section 6.3).
pub(crate) fn recv_with_hoplimit(
    sock: &Socket,
    buf: &mut [u8],
) -> io::Result<(usize, SockAddr, Option<u8>)> {
    let mut addr = SockAddr::from(SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::UNSPECIFIED,
        0,
        0,
        0,
    )));
    let mut control = [MaybeUninit::new(0u8); 128];
    let (len, control_len) = {
        let mut bufs = [MaybeUninitSlice::new(as_uninit(buf))];
        let mut msg = MsgHdrMut::new()
            .with_addr(&mut addr)
            .with_buffers(&mut bufs)
            .with_control(&mut control);
        let len = sock.recvmsg(&mut msg, 0)?;
        (len, msg.control_len())
    };
    // SAFETY: every element was initialised to 0 above and the kernel only writes bytes.
    let control = control.map(|b| unsafe { b.assume_init() });
    let hop = parse_hoplimit(&control[..control_len.min(control.len())]);
    Ok((len, addr, hop))
}

/// Finds `IPV6_HOPLIMIT` in a control buffer (Linux `struct cmsghdr`: `size_t len, int level,
/// int type`, data aligned to `size_t`). Plain byte parsing: no unsafe needed.
fn parse_hoplimit(control: &[u8]) -> Option<u8> {
    const WORD: usize = std::mem::size_of::<usize>();
    let header = WORD + 8;
    let mut at = 0;
    while at + header <= control.len() {
        let len = usize::from_ne_bytes(control[at..at + WORD].try_into().ok()?);
        let level = i32::from_ne_bytes(control[at + WORD..at + WORD + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(control[at + WORD + 4..at + WORD + 8].try_into().ok()?);
        if len < header {
            return None;
        }
        if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT {
            let data = control.get(at + header..at + header + 4)?;
            let hop = i32::from_ne_bytes(data.try_into().ok()?);
            return u8::try_from(hop).ok();
        }
        at += len.div_ceil(WORD) * WORD;
    }
    None
}

/// The link-layer address an AF_PACKET socket sends a complete Ethernet frame to: the
/// interface index is all that matters for `SOCK_RAW` (packet(7)).
pub(crate) fn link_addr(ifindex: u32) -> io::Result<SockAddr> {
    let ifindex = i32::try_from(ifindex).map_err(|_| io::Error::other("ifindex out of range"))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_ll, and an all-zero
    // sockaddr_ll is valid; we only set plain integer fields.
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds an initialised sockaddr_ll of `len` bytes.
    Ok(unsafe { SockAddr::new(storage, len) })
}

/// The interface flags of `name` (SIOCGIFFLAGS on any socket of the calling thread's network
/// namespace; sysfs would show the namespace it was mounted in instead).
pub(crate) fn if_flags(fd: std::os::fd::BorrowedFd<'_>, name: &str) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    if name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: `ifr` is a valid, writable ifreq for the duration of the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS succeeded, so the union holds `ifru_flags`.
    Ok(i32::from(unsafe { ifr.ifr_ifru.ifru_flags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hoplimit_cmsg() {
        let word = std::mem::size_of::<usize>();
        let mut c = vec![0u8; word + 8 + 8];
        c[..word].copy_from_slice(&(word + 8 + 4).to_ne_bytes());
        c[word..word + 4].copy_from_slice(&libc::IPPROTO_IPV6.to_ne_bytes());
        c[word + 4..word + 8].copy_from_slice(&libc::IPV6_HOPLIMIT.to_ne_bytes());
        c[word + 8..word + 12].copy_from_slice(&255i32.to_ne_bytes());
        assert_eq!(parse_hoplimit(&c), Some(255));
        assert_eq!(parse_hoplimit(&c[..word + 8]), None);
        c[word + 4] ^= 1;
        assert_eq!(parse_hoplimit(&c), None);
    }
}
