//! ICMP: related errors found through the quoted packet (`ip_vs_in_icmp`, `ip_vs_out_icmp`),
//! neighbour discovery, and everything else passed to the host.

use super::packet::conn_addrs;
use super::{Director, DropReason, Verdict};
use crate::conn::{ConnKey, ForwardMethod, OutKey};
use crate::rewrite::{self, PacketBuf, TtlVerdict, icmp};
use crate::time::Instant;
use crate::wire::flow::{Fragment, FrameInfo};
use crate::wire::{IpProtocol, IpVersion};

impl Director {
    pub(super) fn handle_icmp<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut PacketBuf<'_>,
        info: &FrameInfo,
    ) -> Verdict<'a> {
        let Some(msg) = info.icmp else {
            return Verdict::Pass;
        };
        if info.ip_version == IpVersion::Ipv6 && matches!(msg.msg_type, 135 | 136) {
            return self.handle_nd(now, pkt, info.l3_offset, info.l4_offset);
        }
        // Echo and the rest are the host's (LVS-SPEC "ICMP": not balanced traffic).
        if !msg.related {
            return Verdict::Pass;
        }
        let Some(q) = msg.quoted else {
            return Verdict::Pass;
        };
        if q.fragment == Fragment::NonFirst
            || !matches!(
                q.flow.proto,
                IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp
            )
        {
            return Verdict::Pass;
        }
        let rev = q.flow.reversed();
        // About a packet sent toward the client (our NAT reply or a DR/TUN real server's
        // answer): the reversed quote is the connection's in key.
        if let Some(id) = self.conns.lookup_in(&ConnKey::from_flow(&rev)) {
            let Some(c) = self.conns.get(id) else {
                return Verdict::Pass;
            };
            let (addrs, fwd, dest, svc) = (conn_addrs(&c), c.fwd(), c.dest(), c.svc());
            if !self
                .reg
                .dests
                .get(dest as usize)
                .and_then(Option::as_ref)
                .is_some_and(|d| d.live)
            {
                return Verdict::Drop(DropReason::DestDeleted);
            }
            let ip_len = info.l4_end - info.l3_offset;
            if let Some(v) = self.icmp_ttl(pkt) {
                return v;
            }
            let r = match fwd {
                ForwardMethod::Nat => icmp::nat_in(pkt.frame_mut(), &addrs),
                ForwardMethod::FullNat => icmp::fullnat_in(pkt.frame_mut(), &addrs),
                // DR/TUN: the error goes to the real server as it is, by the conn's method.
                ForwardMethod::Tun => match self.encap(pkt, &addrs, dest) {
                    Ok(Some(v)) => return v,
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                },
                _ => Ok(()),
            };
            if let Err(e) = r {
                return Verdict::Drop(DropReason::Rewrite(e));
            }
            self.count_in(svc, dest, ip_len);
            let mac = self
                .reg
                .dests
                .get(dest as usize)
                .and_then(Option::as_ref)
                .and_then(|d| d.mac);
            return self.send(pkt, addrs.daddr, mac);
        }
        // About a packet sent to the real server (NAT/FULLNAT): the reversed quote is the
        // connection's out key.
        if let Some(id) = self.conns.lookup_out(&OutKey::from_flow(&rev)) {
            let Some(c) = self.conns.get(id) else {
                return Verdict::Pass;
            };
            let (addrs, fwd, dest, svc) = (conn_addrs(&c), c.fwd(), c.dest(), c.svc());
            let ip_len = info.l4_end - info.l3_offset;
            if let Some(v) = self.icmp_ttl(pkt) {
                return v;
            }
            let r = match fwd {
                ForwardMethod::FullNat => icmp::fullnat_out(pkt.frame_mut(), &addrs),
                _ => icmp::nat_out(pkt.frame_mut(), &addrs),
            };
            if let Err(e) = r {
                return Verdict::Drop(DropReason::Rewrite(e));
            }
            self.count_out(svc, dest, ip_len);
            return self.send(pkt, addrs.caddr, None);
        }
        Verdict::Pass
    }

    fn icmp_ttl<'a>(&mut self, pkt: &mut PacketBuf<'_>) -> Option<Verdict<'a>> {
        match rewrite::decrement_ttl(pkt.frame_mut()) {
            Ok(TtlVerdict::Forward) => None,
            // No ICMP error about an ICMP error (RFC 1122 3.2.2).
            Ok(TtlVerdict::Expired) => Some(Verdict::Drop(DropReason::TtlExpired)),
            Err(e) => Some(Verdict::Drop(DropReason::Rewrite(e))),
        }
    }
}
