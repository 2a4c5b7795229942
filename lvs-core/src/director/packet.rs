//! The per-packet path of established connections: `ip_vs_in` / `ip_vs_out` after the
//! connection lookup, and the transmitters (`ip_vs_nat_xmit`, `ip_vs_dr_xmit`,
//! `ip_vs_tunnel_xmit`, FULLNAT). Nothing here allocates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::event::{ConnSummary, Event};
use super::stats::Stats;
use super::{Director, DropReason, Verdict};
use crate::conn::sctp::{self, SctpEvent, SctpState};
use crate::conn::tcp::flags as tcpf;
use crate::conn::{
    Conn, ConnFlags, ConnId, ConnRef, CounterChange, Direction, FlowHint, ForwardMethod, TcpState,
};
use crate::rewrite::{self, ConnAddrs, Layout, PacketBuf, toa};
use crate::sched::{ConnKind, DestId};
use crate::service::Scheduled;
use crate::time::Instant;
use crate::wire::flow::{self, Fragment, FrameInfo};
use crate::wire::{IpProtocol, WireError};

/// The addresses of a live connection, for the rewriters.
#[inline]
pub(super) fn conn_addrs(c: &ConnRef<'_>) -> ConnAddrs {
    ConnAddrs {
        caddr: c.caddr(),
        cport: c.cport(),
        vaddr: c.vaddr(),
        vport: c.vport(),
        daddr: c.daddr(),
        dport: c.dport(),
        laddr: c.laddr(),
        lport: c.lport(),
    }
}

/// The TCP flags byte of a frame whose TCP header the flow extraction validated; for SCTP
/// the packet's chunk event ([`sctp::event_byte`]), which [`Director::track`] takes in the
/// same place.
#[inline]
pub(super) fn tcp_flags(frame: &[u8], info: &FrameInfo) -> u8 {
    match info.flow.proto {
        IpProtocol::Tcp => frame.get(info.l4_offset + 13).copied().unwrap_or(0),
        IpProtocol::Sctp => sctp::event_byte(frame.get(info.l4_offset..info.l4_end).unwrap_or(&[])),
        _ => 0,
    }
}

/// A segment that may open a connection: SYN without ACK or RST (`is_new_conn`).
#[inline]
pub(super) const fn is_syn_only(flags: u8) -> bool {
    flags & tcpf::SYN != 0 && flags & (tcpf::ACK | tcpf::RST) == 0
}

/// `is_new_conn`: a TCP segment that may open a connection (SYN only, as
/// `tcp_conn_schedule` here takes no other), or an SCTP INIT (`flags` is the chunk event).
#[inline]
fn is_new_conn(proto: IpProtocol, flags: u8) -> bool {
    match proto {
        IpProtocol::Tcp => is_syn_only(flags),
        IpProtocol::Sctp => flags == SctpEvent::Init as u8,
        _ => false,
    }
}

/// How a packet leaves: what [`Director::forward`] needs besides the frame.
pub(super) struct Out {
    pub(super) fwd: ForwardMethod,
    /// The real server's MAC when the neighbour cache knows it.
    pub(super) mac: Option<crate::wire::MacAddr>,
    pub(super) dest: u32,
    pub(super) svc: u32,
    pub(super) tcp_flags: u8,
    pub(super) id: Option<ConnId>,
}

impl Director {
    #[inline(always)]
    pub(super) fn packet<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        hint: FlowHint,
    ) -> Verdict<'a> {
        // The common frame first: its established packets never build a `FrameInfo`.
        if let Some(v4) = super::fastpath::extract_v4(pkt.frame()) {
            let (p, s, sp, d, dp) = (v4.proto, v4.src, v4.sport, v4.dst, v4.dport);
            let found = self
                .conns
                .resolve_v4(hint, p, s, sp, d, dp)
                .or_else(|| self.conns.lookup_v4(p, s, sp, d, dp));
            if let Some((id, dir, c)) = found {
                let hit = super::fastpath::Hit::of(&c, dir);
                if let Some(next_hop) =
                    self.established_v4(now, pkt.frame_mut(), &v4, id, dir, &hit)
                {
                    return Verdict::Forward {
                        frame: pkt.frame_mut(),
                        next_hop,
                    };
                }
                return self.conn(now, pkt, &v4.info(), id, dir);
            }
            return self.new_conn(now, pkt, &v4.info());
        }
        let info = match flow::extract(pkt.frame()) {
            Ok(i) => i,
            Err(WireError::NotIp) => return self.handle_arp(pkt),
            Err(e) => return Verdict::Drop(DropReason::Malformed(e)),
        };
        let info = &info;
        match info.flow.proto {
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp => {}
            IpProtocol::Icmp | IpProtocol::Icmpv6 => return self.handle_icmp(now, pkt, info),
            _ => return Verdict::Pass,
        }
        if info.fragment != Fragment::None {
            let ours = self.reg.vips.contains(&info.flow.dst_addr)
                || self.vips.contains(&info.flow.dst_addr);
            return if ours {
                Verdict::Drop(DropReason::Fragment)
            } else {
                Verdict::Pass
            };
        }
        if let Some((id, dir)) = self.conns.lookup_flow(&info.flow) {
            return self.conn(now, pkt, info, id, dir);
        }
        self.new_conn(now, pkt, info)
    }

    /// A packet of a known connection, in direction `dir`.
    fn conn<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        info: &FrameInfo,
        id: ConnId,
        dir: Direction,
    ) -> Verdict<'a> {
        if dir == Direction::Out {
            self.conn_out(now, pkt, info, id)
        } else {
            self.conn_in(now, pkt, info, id)
        }
    }

    /// A client packet of a known connection.
    fn conn_in<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        info: &FrameInfo,
        id: ConnId,
    ) -> Verdict<'a> {
        let Some(c) = self.conns.get(id) else {
            return Verdict::Pass;
        };
        let flags = tcp_flags(pkt.frame(), info);
        let (dest, svc, fwd, state) = (c.dest(), c.svc(), c.fwd(), c.tcp_state());
        let sctp_closed =
            info.flow.proto == IpProtocol::Sctp && c.state() == SctpState::Closed as u8;
        let addrs = conn_addrs(&c);
        let no_output = c.flags().contains(ConnFlags::NO_OUTPUT);
        let (live, weight, mac) = self
            .reg
            .dests
            .get(dest as usize)
            .and_then(Option::as_ref)
            .map_or((false, 0, None), |d| (d.live, d.weight, d.mac));
        // A new connection on an old one's client port (`ip_vs_in_hook`, kernel 5.16+): only
        // for a connection no persistence template controls (`!cp->control`; such a packet
        // keeps the old connection, or meets the dest check below). A dest of weight 0 with
        // `expire_nodest_conn` reschedules whatever `conn_reuse_mode` says; otherwise
        // `conn_reuse_mode` != 0 and `is_new_conn_expected` must hold. The kernel's special
        // cases for a connection that controls others (`n_control`: FTP control, not
        // modelled) and for a packet with a confirmed conntrack entry have no counterpart.
        if self.new_conn_may_reuse(info.flow.proto, flags, state, sctp_closed, no_output)
            || (self.sysctls.expire_nodest_conn
                && live
                && weight == 0
                && is_new_conn(info.flow.proto, flags))
        {
            let controlled = !self.templates_of.is_empty() && self.templates_of.contains_key(&id);
            if !controlled {
                self.expire_now(id, now);
                return self.new_conn(now, pkt, info);
            }
        }
        if !live {
            // IP_VS_DEST_F_AVAILABLE cleared: drop silently, without re-arming the timer.
            // With `expire_nodest_conn` the connection goes at once and a packet that may
            // open a connection is scheduled afresh (kernel 5.9+, no old conntrack entry);
            // any other packet is dropped.
            if self.sysctls.expire_nodest_conn {
                self.expire_now(id, now);
                if is_new_conn(info.flow.proto, flags) || info.flow.proto == IpProtocol::Udp {
                    return self.new_conn(now, pkt, info);
                }
            }
            return Verdict::Drop(DropReason::DestDeleted);
        }
        self.track(now, id, info.flow.proto, Direction::In, flags, dest);
        if self.sync.is_some() {
            self.sync_after_in(now, id);
        }
        let out = Out {
            fwd,
            mac,
            dest,
            svc,
            tcp_flags: flags,
            id: Some(id),
        };
        self.forward_in(pkt, info, &addrs, &out)
    }

    /// `conn_reuse_mode` != 0 and `is_new_conn_expected`: a SYN on a TIME_WAIT or CLOSE
    /// connection, or with bit 1 on a FIN_WAIT one that saw no reply (DR/TUN); an INIT on a
    /// CLOSED association.
    #[inline]
    fn new_conn_may_reuse(
        &self,
        proto: IpProtocol,
        flags: u8,
        state: Option<TcpState>,
        sctp_closed: bool,
        no_output: bool,
    ) -> bool {
        let mode = self.sysctls.conn_reuse_mode;
        if mode == 0 || !is_new_conn(proto, flags) {
            return false;
        }
        match proto {
            IpProtocol::Tcp => {
                matches!(state, Some(TcpState::TimeWait | TcpState::Close))
                    || (mode & 2 != 0 && state == Some(TcpState::FinWait) && no_output)
            }
            IpProtocol::Sctp => sctp_closed,
            _ => false,
        }
    }

    /// A real-server reply of a NAT or FULLNAT connection (`ip_vs_out` + `handle_response`).
    fn conn_out<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        info: &FrameInfo,
        id: ConnId,
    ) -> Verdict<'a> {
        let Some(c) = self.conns.get(id) else {
            return Verdict::Pass;
        };
        let flags = tcp_flags(pkt.frame(), info);
        let (dest, svc, fwd) = (c.dest(), c.svc(), c.fwd());
        let addrs = conn_addrs(&c);
        self.track(now, id, info.flow.proto, Direction::Out, flags, dest);
        let layout = match Layout::from_frame_info(pkt.frame(), info) {
            Ok(l) => l,
            Err(e) => return Verdict::Drop(DropReason::Rewrite(e)),
        };
        let ip_len = layout.end() - layout.l3();
        if let Some(v) = self.ttl(pkt, &layout) {
            return v;
        }
        let frame = pkt.frame_mut();
        let r = match fwd {
            ForwardMethod::FullNat => {
                rewrite::fullnat_out_at(frame, &layout, &addrs).and_then(|()| {
                    if flags & tcpf::SYN != 0 {
                        let mss = toa::clamped_mss(
                            self.path_mtu,
                            layout.is_ipv6(),
                            addrs.caddr.is_ipv6(),
                        );
                        rewrite::clamp_mss(frame, mss).map(|_| ())
                    } else {
                        Ok(())
                    }
                })
            }
            _ => rewrite::nat_out_at(frame, &layout, &addrs),
        };
        if let Err(e) = r {
            return Verdict::Drop(DropReason::Rewrite(e));
        }
        self.count_out(svc, dest, ip_len);
        self.send(pkt, addrs.caddr, None)
    }

    /// The state machine and timer of one packet, and the dest counters it moves.
    #[inline(always)]
    pub(super) fn track(
        &mut self,
        now: Instant,
        id: ConnId,
        proto: IpProtocol,
        dir: Direction,
        flags: u8,
        dest: u32,
    ) {
        if self.sysctls.drop_entry != 0 && dir == Direction::In {
            self.conns.note_in_packet(id);
        }
        let templates = !self.templates_of.is_empty();
        let before = if templates {
            self.conns.get(id).map(|c| c.state())
        } else {
            None
        };
        match proto {
            IpProtocol::Tcp => {
                let secure = self.defense.secure_tcp;
                if let Some(ch) = self
                    .conns
                    .track_tcp(id, now, dir, flags, secure, &self.timeouts)
                    && ch != CounterChange::None
                {
                    self.count_change(now, dest, ch);
                }
            }
            IpProtocol::Udp => {
                self.conns.touch(id, now, self.timeouts.udp());
            }
            IpProtocol::Sctp => {
                let event = SctpEvent::from_u8(flags);
                if let Some(ch) = self.conns.track_sctp(id, now, dir, event, &self.timeouts) {
                    self.count_change(now, dest, ch);
                }
            }
            _ => {
                let t = self.timeouts.tcp(TcpState::Established);
                self.conns.touch(id, now, t);
            }
        }
        if templates {
            self.assure_template(id, proto, dir, before);
        }
    }

    /// Moves a connection between its dest's active and inactive counters.
    #[inline(never)]
    pub(super) fn count_change(&mut self, now: Instant, dest: u32, ch: CounterChange) {
        if ch == CounterChange::None {
            return;
        }
        let Some(d) = self.reg.dests.get(dest as usize).and_then(Option::as_ref) else {
            return;
        };
        let key = self.reg.svcs[d.svc as usize].key;
        let activate = ch == CounterChange::Activate;
        if d.live {
            // By id: the service table's dest index, no scan by address.
            self.services.conn_state_changed(DestId(dest), activate);
            return;
        }
        // A deleted dest in the trash still counts its connections (replies keep flowing and
        // moving states, as `set_tcp_state` does on any `cp->dest`); the service table reaches
        // trashed dests only through bind/unbind. Bind first so the dest never drops to zero
        // and out of the trash in between.
        let s = Scheduled {
            service: key,
            dest: DestId(dest),
            daddr: d.addr,
            dport: d.port,
            template: None,
            one_packet: false,
        };
        let (new, old) = if activate {
            (ConnKind::Active, ConnKind::Inactive)
        } else {
            (ConnKind::Inactive, ConnKind::Active)
        };
        self.services.bind_conn(&s, new);
        self.services.unbind_conn(&s, old, now);
    }

    #[inline]
    pub(super) fn count_in(&mut self, svc: u32, dest: u32, bytes: usize) {
        self.count(svc, dest, bytes, Stats::count_in);
    }

    #[inline]
    pub(super) fn count_out(&mut self, svc: u32, dest: u32, bytes: usize) {
        self.count(svc, dest, bytes, Stats::count_out);
    }

    /// One packet of `bytes` on the global, service and dest counters (`add` is
    /// [`Stats::count_in`] or [`Stats::count_out`]).
    #[inline(always)]
    fn count(&mut self, svc: u32, dest: u32, bytes: usize, add: impl Fn(&mut Stats, usize)) {
        add(&mut self.global, bytes);
        if let Some(s) = self.reg.svcs.get_mut(svc as usize) {
            add(&mut s.stats, bytes);
        }
        if let Some(d) = self
            .reg
            .dests
            .get_mut(dest as usize)
            .and_then(Option::as_mut)
        {
            add(&mut d.stats, bytes);
        }
    }

    /// Removes a connection now (`ip_vs_conn_expire_now`) and releases its dest and template.
    pub(super) fn expire_now(&mut self, id: ConnId, now: Instant) {
        if let Some(conn) = self.conns.remove(id) {
            self.unbind(id, &conn, now);
        }
    }

    /// `ip_vs_unbind_dest` + `ip_vs_control_del` for a connection that left the table.
    pub(super) fn unbind(&mut self, id: ConnId, conn: &Conn, now: Instant) {
        let template = if self.templates_of.is_empty() {
            None
        } else {
            self.templates_of.remove(&id)
        };
        if !self.toa_pending.is_empty() {
            self.toa_pending.remove(&id);
        }
        if self.sync.is_some() {
            self.sync_forget(id);
        }
        let kind = if conn.flags.contains(ConnFlags::INACTIVE) {
            ConnKind::Inactive
        } else {
            ConnKind::Active
        };
        let Some(svc) = self.reg.svcs.get(conn.svc as usize) else {
            return;
        };
        let s = Scheduled {
            service: svc.key,
            dest: DestId(conn.dest),
            daddr: conn.daddr,
            dport: conn.dport,
            template,
            one_packet: false,
        };
        self.services.unbind_conn(&s, kind, now);
        self.conn_event(Event::ConnExpired, conn);
    }
}

/// An event's view of a connection.
pub(super) fn summary(c: &Conn) -> ConnSummary {
    ConnSummary {
        proto: c.proto,
        client: (c.caddr, c.cport),
        virt: (c.vaddr, c.vport),
        dest: (c.daddr, c.dport),
    }
}

/// The unspecified address of `like`'s family.
pub(super) fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}
