//! A packet that matches no connection: service lookup, the checks before scheduling
//! (`tcp_conn_schedule`, `ip_vs_todrop`), `ip_vs_schedule`, `ip_vs_conn_new`.

use super::classifier::classify;
use super::event::Event;
use super::fastpath::{self, Hit};
use super::packet::{Out, is_syn_only, tcp_flags, unspecified};
use super::{Director, DropReason, Verdict};
use crate::conn::{Conn, ConnError, ConnFlags, ConnId, Direction, ForwardMethod, OutKey, Timeouts};
use crate::ipvsadm::Protocol;
use crate::rewrite::{ConnAddrs, PacketBuf};
use crate::sched::ConnKind;
use crate::service::NewConn;
use crate::time::Instant;
use crate::wire::IpProtocol;
use crate::wire::flow::FrameInfo;

impl Director {
    pub(super) fn new_conn<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        info: &FrameInfo,
    ) -> Verdict<'a> {
        let flow = info.flow;
        let Some(protocol) = Protocol::from_number(u8::from(flow.proto)) else {
            return Verdict::Pass;
        };
        let fwmark = if self.fwmark_rules.is_empty() {
            0
        } else {
            classify(&self.fwmark_rules, &flow)
        };
        let nc = NewConn {
            protocol,
            caddr: flow.src_addr,
            cport: flow.src_port,
            daddr: flow.dst_addr,
            dport: flow.dst_port,
            fwmark,
        };
        let flags = tcp_flags(pkt.frame(), info);
        let may_start = match protocol {
            // tcp_conn_schedule: only a SYN schedules (sloppy_tcp off).
            Protocol::Tcp => is_syn_only(flags),
            // sctp_conn_schedule: only an INIT chunk (sloppy_sctp off).
            Protocol::Sctp => pkt.frame().get(info.l4_offset + 12) == Some(&1),
            Protocol::Udp => true,
        };
        // The service lookup is paid twice only off the common path: a packet for no service
        // is the host's own traffic and passes, whatever else is wrong with it.
        if !may_start {
            return if self.services.find_service(&nc).is_some() {
                Verdict::Drop(DropReason::NotSyn)
            } else {
                Verdict::Pass
            };
        }
        let full = self.table_full();
        if self.defense.drop_rate != 0 || full {
            if self.services.find_service(&nc).is_none() {
                return Verdict::Pass;
            }
            if self.defense.todrop() {
                return Verdict::Drop(DropReason::DefenseDropPacket);
            }
            if full {
                return Verdict::Drop(DropReason::TableFull);
            }
        }
        let Some(s) = self.services.schedule(&nc, now) else {
            return self.leave(now, pkt.frame(), &nc);
        };
        let Some(d) = self
            .reg
            .dests
            .get(s.dest.0 as usize)
            .and_then(Option::as_ref)
        else {
            return Verdict::Drop(DropReason::NoDest);
        };
        let (fwd, u_threshold, svc, mac) = (d.fwd, d.u_threshold, d.svc, d.mac);
        let (laddr, lport) = if fwd == ForwardMethod::FullNat {
            match self.alloc_local(svc, flow.proto, s.daddr, s.dport) {
                Some(l) => l,
                None => return Verdict::Drop(DropReason::NoLocalPort),
            }
        } else {
            (unspecified(s.daddr), 0)
        };
        let addrs = ConnAddrs {
            caddr: flow.src_addr,
            cport: flow.src_port,
            vaddr: flow.dst_addr,
            vport: flow.dst_port,
            daddr: s.daddr,
            dport: s.dport,
            laddr,
            lport,
        };
        let dest = s.dest.0;
        let mut out = Out {
            fwd,
            mac,
            dest,
            svc,
            tcp_flags: flags,
            id: None,
        };
        if s.one_packet {
            // -o: the connection would be created and freed around this one datagram; only
            // the counters see it.
            self.count_conn(svc, dest);
            return self.forward_in(pkt, info, &addrs, &out);
        }
        // Scheduling may have created a template that took the budget's last entry.
        if self.table_full() {
            return Verdict::Drop(DropReason::TableFull);
        }
        let conn = Conn {
            proto: flow.proto,
            fwd,
            caddr: addrs.caddr,
            cport: addrs.cport,
            vaddr: addrs.vaddr,
            vport: addrs.vport,
            daddr: addrs.daddr,
            dport: addrs.dport,
            laddr,
            lport,
            state: 0,
            flags: ConnFlags::empty(),
            svc,
            dest,
            control: None,
            expires: now,
        };
        let id = match self.conns.insert(&conn, now, Timeouts::NEW_CONN_SECS) {
            Ok(id) => id,
            Err(ConnError::Full { .. }) => return Verdict::Drop(DropReason::TableFull),
            // Exists cannot happen after a failed lookup; a family mismatch is a config error
            // (mixed-family tunnels).
            Err(_) => return Verdict::Drop(DropReason::NoDest),
        };
        self.bind(id, &s, &conn, u_threshold);
        self.count_conn(svc, dest);
        self.track(now, id, flow.proto, Direction::In, flags, dest);
        if self.sync.is_some() {
            self.sync_after_in(now, id);
        }
        out.id = Some(id);
        // The common frame of a NAT or DR connection takes the fast path's transmit (same
        // bytes and counters as `forward_in`; a TTL of 1 goes there for its ICMP error).
        if fastpath::enabled()
            && fastpath::is_plain_v4(info)
            && fastpath::forwards_in(fwd)
            && addrs.daddr.is_ipv4()
            && info.hop_limit > 1
        {
            let hit = Hit::to_dest(fwd, svc, dest, addrs.daddr, addrs.dport);
            let nat = fwd == ForwardMethod::Nat;
            let ip_len = info.l4_end - info.l3_offset;
            let frame = pkt.frame_mut();
            let next_hop =
                self.forward_v4(frame, flow.proto, ip_len, Direction::In, nat, &hit, mac);
            return Verdict::Forward {
                frame: pkt.frame_mut(),
                next_hop,
            };
        }
        self.forward_in(pkt, info, &addrs, &out)
    }

    /// `ip_vs_bind_dest` and `ip_vs_control_add` for a new connection.
    fn bind(&mut self, id: ConnId, s: &crate::service::Scheduled, conn: &Conn, u_threshold: u32) {
        let was_overloaded = u_threshold != 0 && self.dest_overloaded(s);
        self.services.bind_conn(s, ConnKind::Inactive);
        if let Some(t) = s.template {
            self.templates_of.insert(id, t);
        }
        if conn.fwd == ForwardMethod::FullNat && conn.proto == IpProtocol::Tcp {
            self.toa_pending.insert(id);
        }
        if u_threshold != 0 && !was_overloaded && self.dest_overloaded(s) {
            self.push_event(Event::DestOverloaded {
                service: s.service,
                dest: (conn.daddr, self.dest_port(conn.dest)),
            });
        }
        self.conn_event(Event::ConnCreated, conn);
    }

    fn dest_overloaded(&self, s: &crate::service::Scheduled) -> bool {
        self.services
            .live_dest(s.dest)
            .is_some_and(|d| d.overloaded)
    }

    fn dest_port(&self, dest: u32) -> u16 {
        self.reg
            .dests
            .get(dest as usize)
            .and_then(Option::as_ref)
            .map_or(0, |d| d.port)
    }

    fn count_conn(&mut self, svc: u32, dest: u32) {
        self.global.conns += 1;
        if let Some(s) = self.reg.svcs.get_mut(svc as usize) {
            s.stats.conns += 1;
        }
        if let Some(d) = self
            .reg
            .dests
            .get_mut(dest as usize)
            .and_then(Option::as_mut)
        {
            d.stats.conns += 1;
        }
    }

    /// A free FULLNAT `(laddr, lport)` toward `daddr:dport`: the pool's addresses of the
    /// dest's family in turn, ports of this director's [`PortShare`](super::PortShare) from a
    /// moving cursor, skipping pairs whose reply key is taken (DPVS allocates the same way per
    /// local address).
    fn alloc_local(
        &mut self,
        svc: u32,
        proto: IpProtocol,
        daddr: std::net::IpAddr,
        dport: u16,
    ) -> Option<(std::net::IpAddr, u16)> {
        let pi = self.reg.svcs.get(svc as usize)?.fullnat?;
        let pool = self.fullnat.get(pi)?;
        let cur = self.cursors.get_mut(pi)?;
        let share = pool.share;
        let (Some(first), hi) = (share.first_in(&pool.ports), *pool.ports.end()) else {
            return None;
        };
        if pool.laddrs.is_empty() {
            return None;
        }
        if !(first..=hi).contains(&cur.next_port) || !share.contains(cur.next_port) {
            cur.next_port = first;
        }
        let step = share.count.max(1);
        let span = share.len_in(&pool.ports);
        // Bounded probing: a pool that is this full is exhausted for practical purposes.
        let tries = (span * pool.laddrs.len()).min(4096);
        for _ in 0..tries {
            let laddr = pool.laddrs[cur.next_addr % pool.laddrs.len()];
            let lport = cur.next_port;
            match cur.next_port.checked_add(step) {
                Some(next) if next <= hi => cur.next_port = next,
                _ => {
                    cur.next_port = first;
                    cur.next_addr = cur.next_addr.wrapping_add(1);
                }
            }
            if laddr.is_ipv4() != daddr.is_ipv4() {
                continue;
            }
            let key = OutKey {
                proto,
                daddr,
                dport,
                addr: laddr,
                port: lport,
            };
            if self.conns.lookup_out(&key).is_none() {
                return Some((laddr, lport));
            }
        }
        None
    }
}
