//! Read access to a connection in the table.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::key::{Conn, Entry};
use super::{ConnFlags, ConnId, DestCounter, ForwardMethod, TcpState};
use crate::time::Instant;
use crate::wire::IpProtocol;

/// A borrowed view of a live connection ([`ConnTable::get`](super::ConnTable::get)).
#[derive(Clone, Copy, Debug)]
pub struct ConnRef<'a>(Inner<'a>);

#[derive(Clone, Copy, Debug)]
enum Inner<'a> {
    V4(&'a Entry<Ipv4Addr>),
    V6(&'a Entry<Ipv6Addr>),
}

macro_rules! each {
    ($self:expr, |$e:ident| $body:expr) => {
        match $self.0 {
            Inner::V4($e) => $body,
            Inner::V6($e) => $body,
        }
    };
}

impl<'a> ConnRef<'a> {
    pub(super) const fn v4(e: &'a Entry<Ipv4Addr>) -> Self {
        Self(Inner::V4(e))
    }

    pub(super) const fn v6(e: &'a Entry<Ipv6Addr>) -> Self {
        Self(Inner::V6(e))
    }

    /// Protocol.
    #[inline]
    pub fn proto(&self) -> IpProtocol {
        IpProtocol::from(each!(self, |e| e.meta.proto))
    }

    /// Forwarding method.
    #[inline]
    pub fn fwd(&self) -> ForwardMethod {
        ForwardMethod::from_u8(each!(self, |e| e.meta.fwd))
    }

    /// Client address.
    #[inline]
    pub fn caddr(&self) -> IpAddr {
        each!(self, |e| e.caddr.into())
    }

    /// Client port.
    #[inline]
    pub fn cport(&self) -> u16 {
        each!(self, |e| e.meta.cport)
    }

    /// Virtual address.
    #[inline]
    pub fn vaddr(&self) -> IpAddr {
        each!(self, |e| e.vaddr.into())
    }

    /// Virtual port.
    #[inline]
    pub fn vport(&self) -> u16 {
        each!(self, |e| e.meta.vport)
    }

    /// Real server address.
    #[inline]
    pub fn daddr(&self) -> IpAddr {
        each!(self, |e| e.daddr.into())
    }

    /// Real server port.
    #[inline]
    pub fn dport(&self) -> u16 {
        each!(self, |e| e.meta.dport)
    }

    /// FULLNAT local address.
    #[inline]
    pub fn laddr(&self) -> IpAddr {
        each!(self, |e| e.laddr.into())
    }

    /// FULLNAT local port.
    #[inline]
    pub fn lport(&self) -> u16 {
        each!(self, |e| e.meta.lport)
    }

    /// The SCTP state, for an SCTP connection.
    pub fn sctp_state(&self) -> Option<super::SctpState> {
        (self.proto() == IpProtocol::Sctp)
            .then(|| super::SctpState::from_u8(self.state()))
            .flatten()
    }

    /// Raw protocol state (a [`TcpState`] or [`SctpState`](super::SctpState) number).
    #[inline]
    pub fn state(&self) -> u8 {
        each!(self, |e| e.meta.state)
    }

    /// The TCP state, for a TCP connection.
    pub fn tcp_state(&self) -> Option<TcpState> {
        (self.proto() == IpProtocol::Tcp)
            .then(|| TcpState::from_u8(self.state()))
            .flatten()
    }

    /// The state column of `ipvsadm -Lc` (`ip_vs_state_name`): templates `NONE` (or
    /// `ASSURED`), TCP and SCTP their state names, UDP `UDP`, fwmark-template protocol 0 `NONE`, and `ERR!`
    /// for a state or protocol without a name.
    pub fn state_name(&self) -> &'static str {
        let state = self.state();
        if self.flags().contains(ConnFlags::TEMPLATE) {
            return match state {
                0 => "NONE",
                1 => "ASSURED",
                _ => "ERR!",
            };
        }
        match (self.proto(), state) {
            (IpProtocol::Tcp, s) => TcpState::from_u8(s).map_or("ERR!", TcpState::name),
            (IpProtocol::Udp, 0) => "UDP",
            (IpProtocol::Sctp, s) => {
                super::SctpState::from_u8(s).map_or("ERR!", super::SctpState::name)
            }
            (p, _) if u8::from(p) == 0 => "NONE",
            _ => "ERR!",
        }
    }

    /// Client packets seen (saturating at 255; counted only while the `drop_entry`
    /// defense is configured, see [`ConnTable::note_in_packet`](super::ConnTable::note_in_packet)).
    pub fn in_pkts(&self) -> u8 {
        each!(self, |e| e.meta.in_pkts)
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> ConnFlags {
        ConnFlags::from_bits_truncate(each!(self, |e| e.meta.flags.bits()))
    }

    /// The dest counter this connection is in now.
    pub fn dest_counter(&self) -> DestCounter {
        DestCounter::of(self.flags())
    }

    /// Owning service.
    #[inline]
    pub fn svc(&self) -> u32 {
        each!(self, |e| e.meta.svc)
    }

    /// Owning dest.
    #[inline]
    pub fn dest(&self) -> u32 {
        each!(self, |e| e.meta.dest)
    }

    /// The controlling template.
    pub fn control(&self) -> Option<ConnId> {
        self.to_conn().control
    }

    /// Number of connections this entry controls (templates).
    pub fn n_control(&self) -> u32 {
        each!(self, |e| e.meta.n_control)
    }

    /// Deadline (whole seconds).
    pub fn expires(&self) -> Instant {
        Instant::from_secs(u64::from(each!(self, |e| e.meta.expires)))
    }

    /// The owned form.
    pub fn to_conn(&self) -> Conn {
        each!(self, |e| e.conn())
    }
}

/// A mutable view of a live connection ([`ConnTable::get_mut`](super::ConnTable::get_mut)).
///
/// The key fields, the template flag and the deadline are not writable here: they place the
/// entry in the indexes and the timer wheel (use [`ConnTable::touch`](super::ConnTable::touch)
/// for the deadline, remove + insert for a new key).
#[derive(Debug)]
pub struct ConnMut<'a>(InnerMut<'a>);

#[derive(Debug)]
enum InnerMut<'a> {
    V4(&'a mut Entry<Ipv4Addr>),
    V6(&'a mut Entry<Ipv6Addr>),
}

impl<'a> ConnMut<'a> {
    pub(super) const fn v4(e: &'a mut Entry<Ipv4Addr>) -> Self {
        Self(InnerMut::V4(e))
    }

    pub(super) const fn v6(e: &'a mut Entry<Ipv6Addr>) -> Self {
        Self(InnerMut::V6(e))
    }

    /// Read access.
    pub fn get(&self) -> ConnRef<'_> {
        match &self.0 {
            InnerMut::V4(e) => ConnRef::v4(e),
            InnerMut::V6(e) => ConnRef::v6(e),
        }
    }

    fn meta(&mut self) -> &mut super::key::Meta {
        match &mut self.0 {
            InnerMut::V4(e) => &mut e.meta,
            InnerMut::V6(e) => &mut e.meta,
        }
    }

    /// Sets the raw protocol state (e.g. from a sync message, or LISTEN for an FTP data
    /// connection as `ip_vs_tcp_conn_listen`). Counters are the caller's business.
    pub fn set_state(&mut self, state: u8) {
        self.meta().state = state;
    }

    /// Sets the owning service.
    pub fn set_svc(&mut self, svc: u32) {
        self.meta().svc = svc;
    }

    /// Sets the owning dest (a rebind); the caller moves the dest counters.
    pub fn set_dest(&mut self, dest: u32) {
        self.meta().dest = dest;
    }

    /// Sets flags other than [`ConnFlags::TEMPLATE`] (ignored: it selects the key space).
    pub fn insert_flags(&mut self, flags: ConnFlags) {
        let mut f = flags;
        f.remove(ConnFlags::TEMPLATE);
        self.meta()
            .flags
            .insert(ConnFlags::from_bits_truncate(f.bits()));
    }

    /// Clears flags other than [`ConnFlags::TEMPLATE`].
    pub fn remove_flags(&mut self, flags: ConnFlags) {
        let mut f = ConnFlags::from_bits_truncate(flags.bits());
        f.remove(ConnFlags::TEMPLATE);
        self.meta().flags.remove(f);
    }
}
