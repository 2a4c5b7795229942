//! ICMP: related errors found through the quoted packet (`ip_vs_in_icmp`, `ip_vs_out_icmp`),
//! neighbour discovery, everything else passed to the host; and `ip_vs_leave`, the port
//! unreachable a client gets when its service has no usable real server.

use super::packet::conn_addrs;
use super::{Director, DropReason, Verdict};
use crate::conn::{ConnKey, ForwardMethod, OutKey};
use crate::ipvsadm::ServiceKey;
use crate::rewrite::originate::{self, IcmpErrorKind};
use crate::rewrite::{self, PacketBuf, TtlVerdict, icmp};
use crate::service::NewConn;
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

/// The kernel's `FTPPORT`.
const FTP_PORT: u16 = 21;
/// The kernel's `FTPDATA`.
const FTP_DATA_PORT: u16 = 20;

/// The global ICMP error budget of `icmp_global_allow`: `icmp_msgs_per_sec` (1000) refills a
/// bucket of `icmp_msgs_burst` (50) tokens. The per-destination `icmp_ratelimit` bucket is
/// not kept (it would need a table keyed by client address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IcmpLimit {
    tokens: u32,
    last: Option<Instant>,
}

impl IcmpLimit {
    /// Messages per second.
    pub(super) const PER_SEC: u64 = 1000;
    /// Burst.
    pub(super) const BURST: u32 = 50;

    pub(super) const fn new() -> Self {
        Self {
            tokens: Self::BURST,
            last: None,
        }
    }

    /// Takes a token at `now`, refilling by the time since the last refill.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        let last = *self.last.get_or_insert(now);
        let elapsed = now.saturating_duration_since(last).as_nanos();
        let add = elapsed * u128::from(Self::PER_SEC) / 1_000_000_000;
        if add > 0 {
            let tokens = u128::from(self.tokens) + add;
            self.tokens = u32::try_from(tokens.min(u128::from(Self::BURST))).unwrap_or(Self::BURST);
            // Keep the remainder: advance `last` by the time the added tokens stand for.
            let used = add * 1_000_000_000 / u128::from(Self::PER_SEC);
            self.last = Some(last + core::time::Duration::from_nanos(used as u64));
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

impl Default for IcmpLimit {
    fn default() -> Self {
        Self::new()
    }
}

impl Director {
    /// `ip_vs_leave`: a packet that may start a connection found its service but no usable
    /// dest (none, all quiesced or overloaded, or the persistence template's dest unusable).
    ///
    /// As the kernel: a packet from client port 20 (active FTP data) and a port-21 (FTP)
    /// service reached on another port pass to the host ("not ipvs job to decide"), a
    /// service with a persistence engine drops silently; otherwise the client gets ICMP port unreachable
    /// (ICMPv6 port unreachable), sent from the address it contacted and rate-limited as
    /// [`IcmpLimit`], and the packet is dropped ([`DropReason::NoDest`]). The kernel's
    /// `cache_bypass` sysctl (off by default) is not offered.
    pub(super) fn leave<'a>(&mut self, now: Instant, frame: &[u8], nc: &NewConn) -> Verdict<'a> {
        let Some(&key) = self.services.find_service(nc) else {
            return Verdict::Pass;
        };
        // ip_vs_schedule's "ignored" cases: an active FTP data connection (client port 20)
        // is not scheduled but accepted; a persistence engine that cannot key the packet
        // drops it silently.
        if nc.cport == FTP_DATA_PORT {
            return Verdict::Pass;
        }
        if self
            .services
            .service(&key)
            .is_some_and(|s| s.config().pe.is_some())
        {
            return Verdict::Drop(DropReason::NoDest);
        }
        if let ServiceKey::Inet { port: FTP_PORT, .. } = key
            && nc.dport != FTP_PORT
        {
            return Verdict::Pass;
        }
        if self.icmp_limit.allow(now) {
            self.ip_ident = self.ip_ident.wrapping_add(1);
            let mut buf = [0u8; 1400];
            if let Ok(n) = originate::icmp_error(
                frame,
                IcmpErrorKind::PortUnreachable,
                nc.daddr,
                self.ip_ident,
                &mut buf,
            ) {
                self.queue_tx(&buf[..n]);
            }
        }
        Verdict::Drop(DropReason::NoDest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_limit_is_a_token_bucket() {
        let mut l = IcmpLimit::new();
        let t0 = Instant::from_secs(10);
        let burst = (0..100).filter(|_| l.allow(t0)).count();
        assert_eq!(burst, 50);
        // 1000/s: one token per millisecond, 2.5 ms gives two and keeps half a token.
        let t1 = t0 + core::time::Duration::from_micros(2500);
        assert_eq!((0..10).filter(|_| l.allow(t1)).count(), 2);
        let t2 = t1 + core::time::Duration::from_micros(500);
        assert_eq!((0..10).filter(|_| l.allow(t2)).count(), 1);
        // A long pause refills the burst, no more.
        let t3 = t2 + core::time::Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| l.allow(t3)).count(), 50);
    }
}
