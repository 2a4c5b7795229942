//! AF_PACKET sockets, interface look-ups, batched transmit, poll and setns (packet(7),
//! netdevice(7), sendmmsg(2), setns(2)).

use std::ffi::CString;
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn c_name(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A raw AF_PACKET socket for `protocol` (host order ethertype; `ETH_P_ALL` for every frame).
pub(crate) fn packet_socket(protocol: u16, nonblocking: bool) -> io::Result<OwnedFd> {
    let flags =
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket(2) takes no pointers; the returned fd is owned by nobody else.
    let fd = cvt(unsafe { libc::socket(libc::AF_PACKET, flags, i32::from(protocol.to_be())) })?;
    // SAFETY: `fd` was just created and is valid; OwnedFd takes sole ownership.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The interface index of `name` (if_nametoindex(3)).
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    let c = c_name(name)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// The hardware address of `name` (SIOCGIFHWADDR on any socket of the namespace).
pub(crate) fn if_mac(fd: BorrowedFd<'_>, name: &str) -> io::Result<[u8; 6]> {
    let c = c_name(name)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(c.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: `ifr` is a valid, writable ifreq for the duration of the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) })?;
    // SAFETY: SIOCGIFHWADDR succeeded, so the union holds `ifru_hwaddr`.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

fn sockaddr_ll(ifindex: u32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll
}

/// Binds a packet socket to one interface and protocol.
pub(crate) fn bind_ll(fd: BorrowedFd<'_>, ifindex: u32, protocol: u16) -> io::Result<()> {
    let sll = sockaddr_ll(ifindex, protocol);
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of `len` bytes that outlives the call.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sll).cast(), len) })?;
    Ok(())
}

fn set_opt<T>(fd: RawFd, level: libc::c_int, opt: libc::c_int, val: &T) -> io::Result<()> {
    let len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` points to `len` readable bytes for the duration of the call.
    cvt(unsafe { libc::setsockopt(fd, level, opt, (val as *const T).cast(), len) })?;
    Ok(())
}

/// setsockopt(2) with an `int` value.
pub(crate) fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    set_opt(fd.as_raw_fd(), level, opt, &val)
}

/// Puts the interface in promiscuous mode for as long as the socket lives (PACKET_MR_PROMISC
/// is reference-counted by the kernel and undone on close).
pub(crate) fn add_promisc(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as i32,
        mr_type: libc::PACKET_MR_PROMISC as u16,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    set_opt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_ADD_MEMBERSHIP,
        &mreq,
    )
}

/// Joins fanout group `group` with `mode` (PACKET_FANOUT_* | flags) (packet(7) PACKET_FANOUT).
pub(crate) fn attach_fanout(fd: BorrowedFd<'_>, group: u16, mode: u32) -> io::Result<()> {
    let arg = (u32::from(group) | (mode << 16)) as libc::c_int;
    set_opt(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
}

/// Installs the classic BPF program of a PACKET_FANOUT_CBPF group (PACKET_FANOUT_DATA).
pub(crate) fn set_fanout_cbpf(
    fd: BorrowedFd<'_>,
    prog: &[crate::device::steer::Insn],
) -> io::Result<()> {
    let mut filter: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        filter: filter.as_mut_ptr(),
    };
    // The kernel copies the program during the call; `filter` outlives it.
    set_opt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_FANOUT_DATA,
        &fprog,
    )
}

/// PACKET_STATISTICS of a TPACKET_V3 socket: (packets, drops, queue freezes). Reading resets
/// the kernel's counters.
pub(crate) fn packet_stats(fd: BorrowedFd<'_>) -> io::Result<(u32, u32, u32)> {
    let mut st = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: `st` is writable for `len` bytes and `len` is a valid in/out length.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut st).cast(),
            &mut len,
        )
    })?;
    Ok((st.tp_packets, st.tp_drops, st.tp_freeze_q_cnt))
}

/// A reusable pollfd set: the worker's RX sockets, built once.
#[derive(Debug)]
pub(crate) struct Poller {
    fds: Vec<libc::pollfd>,
}

impl Poller {
    /// Watches `fds` for input. The caller keeps them open for as long as it polls (a closed
    /// fd would only report POLLNVAL).
    pub(crate) fn new(fds: &[BorrowedFd<'_>]) -> Self {
        let fds = fds
            .iter()
            .map(|f| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        Self { fds }
    }

    /// Waits until a socket is readable or `timeout_ms` passes; EINTR is a normal wake-up.
    pub(crate) fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        // SAFETY: `self.fds` holds `len` initialised pollfd entries for the duration of the call.
        let rc = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Reusable iovec/mmsghdr arrays for [`send_batch`] (no allocation per batch once they have
/// grown to the largest batch).
#[derive(Default)]
pub(crate) struct TxScratch {
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in the scratch arrays are only written and read inside one
// `send_batch` call; between calls they are dead values, so moving the scratch to another
// thread cannot create a dangling access.
unsafe impl Send for TxScratch {}

impl core::fmt::Debug for TxScratch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TxScratch")
            .field("capacity", &self.iov.capacity())
            .finish()
    }
}

/// The virtio_net_hdr of a frame sent without offloads (all zero).
static PLAIN_VNET: [u8; 10] = [0; 10];

/// Sends `base[r]` for every `r` in `ranges` with sendmmsg(2) on a bound packet socket. With
/// `vnet`, the socket has `PACKET_VNET_HDR` set and every message starts with a 10-byte
/// virtio_net_hdr: `hdrs[i]` for frame `i`, or all zero (no offload) when `hdrs` is shorter.
/// Returns how many frames the kernel took; stops at the first error after some progress.
pub(crate) fn send_batch(
    fd: BorrowedFd<'_>,
    scratch: &mut TxScratch,
    base: &[u8],
    ranges: &[Range<usize>],
    vnet: bool,
    hdrs: &[[u8; 10]],
) -> io::Result<usize> {
    scratch.iov.clear();
    scratch.msgs.clear();
    let per = if vnet { 2 } else { 1 };
    for (i, r) in ranges.iter().enumerate() {
        if vnet {
            let h = hdrs.get(i).unwrap_or(&PLAIN_VNET);
            scratch.iov.push(libc::iovec {
                iov_base: h.as_ptr().cast_mut().cast(),
                iov_len: h.len(),
            });
        }
        let s = &base[r.clone()];
        scratch.iov.push(libc::iovec {
            iov_base: s.as_ptr().cast_mut().cast(),
            iov_len: s.len(),
        });
    }
    for i in 0..ranges.len() {
        // SAFETY: mmsghdr is plain old data; all-zero is a valid (empty) message.
        let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
        m.msg_hdr.msg_iov = scratch.iov.as_mut_ptr().wrapping_add(i * per);
        m.msg_hdr.msg_iovlen = per;
        scratch.msgs.push(m);
    }
    // `at` walks the messages; a message the kernel refuses on its own (EINVAL, EMSGSIZE: a
    // frame it cannot take) is skipped so it does not hold back the rest of the batch; a full
    // queue (EAGAIN, ENOBUFS) ends the batch.
    let (mut at, mut sent) = (0, 0);
    let mut last_err = None;
    while at < scratch.msgs.len() {
        let rest = &mut scratch.msgs[at..];
        // SAFETY: every mmsghdr points at `per` iovecs of `scratch.iov`, which point into
        // `base`, `hdrs` or the static zero header; all outlive the call and the kernel only
        // reads them.
        let n = unsafe { libc::sendmmsg(fd.as_raw_fd(), rest.as_mut_ptr(), rest.len() as u32, 0) };
        if n <= 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EINVAL | libc::EMSGSIZE | libc::EFAULT) => {
                    at += 1;
                    last_err = Some(e);
                    continue;
                }
                _ => {
                    last_err = Some(e);
                    break;
                }
            }
        }
        at += n as usize;
        sent += n as usize;
    }
    match last_err {
        Some(e) if sent == 0 => Err(e),
        _ => Ok(sent),
    }
}

/// Moves the calling thread into the network namespace at `path` (setns(2) with CLONE_NEWNET).
pub(crate) fn setns_path(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    setns_fd(f.as_fd())
}

/// Moves the calling thread into the network namespace `fd` refers to.
pub(crate) fn setns_fd(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns takes a valid fd (borrowed for the call) and a flag.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}
