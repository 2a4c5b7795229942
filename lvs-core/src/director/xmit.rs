//! The transmitters: TTL, `ip_vs_nat_xmit`, `ip_vs_dr_xmit`, `ip_vs_tunnel_xmit`, FULLNAT
//! (+ MSS clamp and TOA), MAC addressing, and the ICMP errors they originate.

use std::net::IpAddr;

use super::packet::Out;
use super::{Director, DropReason, NextHop, Verdict};
use crate::conn::ForwardMethod;
use crate::conn::tcp::flags as tcpf;
use crate::ipvsadm::{TunnelCsum, TunnelType};
use crate::rewrite::originate::IcmpErrorKind;
use crate::rewrite::tunnel::{self, EncapVerdict, Tunnel, TunnelKind};
use crate::rewrite::{self, ConnAddrs, Layout, PacketBuf, TtlVerdict, toa};
use crate::wire::flow::{self, FrameInfo};

impl Director {
    /// TTL decrement; `Some(drop)` when it expired (time-exceeded queued).
    #[inline]
    pub(super) fn ttl<'a>(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        layout: &Layout,
    ) -> Option<Verdict<'a>> {
        match rewrite::decrement_ttl_at(pkt.frame_mut(), layout) {
            Ok(TtlVerdict::Forward) => None,
            Ok(TtlVerdict::Expired) => {
                self.originate_icmp(pkt.frame(), IcmpErrorKind::TimeExceeded);
                Some(Verdict::Drop(DropReason::TtlExpired))
            }
            Err(e) => Some(Verdict::Drop(DropReason::Rewrite(e))),
        }
    }

    /// Client -> real server: TTL, the method's rewrite, counters, MACs.
    pub(super) fn forward_in<'a>(
        &mut self,
        pkt: &'a mut PacketBuf<'_>,
        info: &FrameInfo,
        addrs: &ConnAddrs,
        out: &Out,
    ) -> Verdict<'a> {
        let layout = match Layout::from_frame_info(pkt.frame(), info) {
            Ok(l) => l,
            Err(e) => return Verdict::Drop(DropReason::Rewrite(e)),
        };
        let ip_len = layout.end() - layout.l3();
        if let Some(v) = self.ttl(pkt, &layout) {
            return v;
        }
        let r = match out.fwd {
            ForwardMethod::Nat => rewrite::nat_in_at(pkt.frame_mut(), &layout, addrs),
            ForwardMethod::FullNat => self.fullnat_in(pkt, &layout, addrs, out),
            ForwardMethod::Dr | ForwardMethod::Local => Ok(()),
            // The tunnel's outer destination is the real server: the next hop is the same.
            ForwardMethod::Tun => match self.encap(pkt, addrs, out.dest) {
                Ok(Some(v)) => return v,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = r {
            return Verdict::Drop(DropReason::Rewrite(e));
        }
        self.count_in(out.svc, out.dest, ip_len);
        self.send(pkt, addrs.daddr, out.mac)
    }

    /// FULLNAT inbound: both ends, MSS clamp on the SYN, TOA in the first data segment.
    fn fullnat_in(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        layout: &Layout,
        addrs: &ConnAddrs,
        out: &Out,
    ) -> Result<(), rewrite::RewriteError> {
        rewrite::fullnat_in_at(pkt.frame_mut(), layout, addrs)?;
        if layout.proto() != 6 {
            return Ok(());
        }
        if out.tcp_flags & tcpf::SYN != 0 {
            let mss = toa::clamped_mss(self.path_mtu, layout.is_ipv6(), addrs.caddr.is_ipv6());
            rewrite::clamp_mss(pkt.frame_mut(), mss)?;
            return Ok(());
        }
        let f = pkt.frame();
        let hdr = usize::from(f[layout.l4() + 12] >> 4) * 4;
        let has_data = layout.end() > layout.l4() + hdr;
        if has_data
            && let Some(id) = out.id
            && !self.toa_pending.is_empty()
            && self.toa_pending.remove(&id)
        {
            // NoOptionSpace: sent without TOA, as DPVS does.
            let _ = toa::insert_toa(pkt, addrs.caddr, addrs.cport)?;
        }
        Ok(())
    }

    /// TUN: wrap the packet; `Ok(Some(drop))` when it is too big with DF (error queued).
    pub(super) fn encap<'a>(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        addrs: &ConnAddrs,
        dest: u32,
    ) -> Result<Option<Verdict<'a>>, rewrite::RewriteError> {
        let cfg = self
            .reg
            .dests
            .get(dest as usize)
            .and_then(Option::as_ref)
            .map(|d| d.tunnel)
            .unwrap_or_default();
        let csum = cfg.csum == TunnelCsum::Csum;
        let kind = match cfg.kind {
            TunnelType::Ipip => TunnelKind::Ipip,
            TunnelType::Gue => TunnelKind::Gue {
                port: cfg.port,
                csum,
                direct: false,
            },
            TunnelType::Gre => TunnelKind::Gre { csum },
        };
        self.ip_ident = self.ip_ident.wrapping_add(1);
        let t = Tunnel {
            kind,
            src: self.own_addr(addrs.daddr).unwrap_or(addrs.vaddr),
            dst: addrs.daddr,
            path_mtu: self.path_mtu,
            ident: self.ip_ident,
        };
        match tunnel::encap(pkt, &t)? {
            EncapVerdict::Encapsulated => Ok(None),
            EncapVerdict::FragNeeded { mtu } => {
                self.originate_icmp(pkt.frame(), IcmpErrorKind::FragNeeded { mtu });
                Ok(Some(Verdict::Drop(DropReason::TooBig)))
            }
            EncapVerdict::PacketTooBig { mtu } => {
                self.originate_icmp(pkt.frame(), IcmpErrorKind::PacketTooBig { mtu });
                Ok(Some(Verdict::Drop(DropReason::TooBig)))
            }
        }
    }

    /// The director's own address of `like`'s family.
    pub(super) fn own_addr(&self, like: IpAddr) -> Option<IpAddr> {
        self.addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == like.is_ipv4())
    }

    /// Queues an ICMP error about `orig` (sent from our address, else the packet's
    /// destination: the VIP it was addressed to).
    pub(super) fn originate_icmp(&mut self, orig: &[u8], kind: IcmpErrorKind) {
        let Ok(info) = flow::extract(orig) else {
            return;
        };
        let from = self
            .own_addr(info.flow.dst_addr)
            .unwrap_or(info.flow.dst_addr);
        self.ip_ident = self.ip_ident.wrapping_add(1);
        let mut buf = [0u8; 1400];
        if let Ok(n) = rewrite::originate::icmp_error(orig, kind, from, self.ip_ident, &mut buf) {
            self.queue_tx(&buf[..n]);
        }
    }

    /// Writes the MACs and hands the frame out.
    #[inline]
    pub(super) fn send<'a>(
        &self,
        pkt: &'a mut PacketBuf<'_>,
        addr: IpAddr,
        mac: Option<crate::wire::MacAddr>,
    ) -> Verdict<'a> {
        let mac = mac.or_else(|| self.neighbours.get(addr));
        let frame = pkt.frame_mut();
        if let Some(m) = mac {
            frame[..6].copy_from_slice(&m.0);
        }
        frame[6..12].copy_from_slice(&self.mac.0);
        Verdict::Forward {
            frame,
            next_hop: NextHop { addr, mac },
        }
    }
}
