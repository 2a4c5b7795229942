//! The receive path: RFC 5798 section 7.1 checks in keepalived's order, then the per-state
//! advert handling of section 6.4.2 (Backup) and 6.4.3 (Master).

use core::net::IpAddr;
use core::time::Duration;

use super::{Vrrp, VrrpEvent, VrrpState};
use crate::time::Instant;
use crate::vrrp::VrrpError;
use crate::vrrp::packet::{Family, TYPE_ADVERTISEMENT, VrrpPacket, VrrpVersion};
use crate::wire::{IpProtocol, Ipv4Packet, Ipv6Packet};

impl Vrrp {
    /// A whole received IP packet (IPv4 with its header, as a raw IPv4 socket delivers it, or
    /// IPv6 with its fixed header). Extracts source, destination and TTL, then
    /// [`handle_advert`](Self::handle_advert). IPv6 extension headers are not walked:
    /// VRRP packets carry none.
    pub fn handle_ip_packet(&mut self, now: Instant, packet: &[u8]) -> Result<(), VrrpError> {
        let (src, dst, ttl, payload) = match packet.first().map(|b| b >> 4) {
            Some(4) => {
                let ip = Ipv4Packet::new_checked(packet).map_err(|_| VrrpError::NotVrrp)?;
                if ip.protocol() != IpProtocol::Vrrp || ip.is_fragment() {
                    return Err(VrrpError::NotVrrp);
                }
                let (s, d) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
                let body = packet.get(ip.header_len()..usize::from(ip.total_len()));
                (s, d, ip.ttl(), body.ok_or(VrrpError::NotVrrp)?)
            }
            Some(6) => {
                let ip = Ipv6Packet::new_checked(packet).map_err(|_| VrrpError::NotVrrp)?;
                if ip.next_header() != IpProtocol::Vrrp {
                    return Err(VrrpError::NotVrrp);
                }
                let (s, d) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
                let body = packet.get(ip.header_len()..ip.total_len());
                (s, d, ip.hop_limit(), body.ok_or(VrrpError::NotVrrp)?)
            }
            _ => return Err(VrrpError::NotVrrp),
        };
        self.handle_advert(now, src, dst, ttl, payload)
    }

    /// A received VRRP message (the IP payload) with the IP source, destination and TTL / hop
    /// limit. Adverts for other VRIDs are ignored (`Ok`, counted in `other_vrid`); every failed
    /// check is counted, queued as [`VrrpEvent::Rejected`] and returned.
    pub fn handle_advert(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        payload: &[u8],
    ) -> Result<(), VrrpError> {
        match self.check(src, dst, ttl, payload) {
            Ok(None) => Ok(()),
            Ok(Some((priority, interval))) => {
                self.stats.adverts_rx += 1;
                self.stats.priority_zero_rx += u64::from(priority == 0);
                self.on_advert(now, src, priority, interval);
                Ok(())
            }
            Err(reason) => {
                let counter = match reason {
                    VrrpError::Truncated => &mut self.stats.truncated,
                    VrrpError::BadVersion => &mut self.stats.bad_version,
                    VrrpError::BadType => &mut self.stats.bad_type,
                    VrrpError::BadTtl => &mut self.stats.bad_ttl,
                    VrrpError::BadChecksum => &mut self.stats.bad_checksum,
                    VrrpError::BadAuth => &mut self.stats.bad_auth,
                    VrrpError::IntervalMismatch => &mut self.stats.interval_mismatch,
                    _ => &mut self.stats.addr_list_mismatch,
                };
                *counter += 1;
                self.push_event(VrrpEvent::Rejected { from: src, reason });
                Err(reason)
            }
        }
    }

    /// `Ok(None)`: not for us; `Ok(Some((priority, Max Adver Int)))`: a valid advert.
    fn check(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        payload: &[u8],
    ) -> Result<Option<(u8, Duration)>, VrrpError> {
        let family = Family::of(&self.config.src_addr);
        if Family::of(&src) != family {
            return Ok(None);
        }
        let packet = VrrpPacket::new_checked(payload, family)?;
        if packet.vrid() != self.config.vrid {
            self.stats.other_vrid += 1;
            return Ok(None);
        }
        if src == self.config.src_addr {
            // Our own multicast looped back (keepalived ignores these too).
            self.stats.own_adverts += 1;
            return Ok(None);
        }
        if ttl != 255 {
            return Err(VrrpError::BadTtl);
        }
        if packet.version() != self.config.version {
            return Err(VrrpError::BadVersion);
        }
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(VrrpError::BadType);
        }
        if !packet.verify_checksum(&src, &dst) {
            return Err(VrrpError::BadChecksum);
        }
        let interval = match self.config.version {
            VrrpVersion::V2 => {
                if packet.auth() != Some(self.config.auth) {
                    return Err(VrrpError::BadAuth);
                }
                if packet.adver_int() != self.config.adver_int_units() {
                    return Err(VrrpError::IntervalMismatch);
                }
                self.config.adver_int
            }
            VrrpVersion::V3 => match packet.adver_int() {
                0 => return Err(VrrpError::IntervalMismatch),
                cs => Duration::from_millis(u64::from(cs) * 10),
            },
        };
        // keepalived logs a differing address list and goes on unless told to be strict;
        // the address owner (255) and a resigning master (0) are checked alike.
        let same = usize::from(packet.addr_count()) == self.config.vips.len()
            && self
                .config
                .vips
                .iter()
                .all(|v| packet.addrs().any(|a| a == *v));
        if !same {
            if self.config.strict_addrs {
                return Err(VrrpError::BadAddrList);
            }
            self.stats.addr_list_mismatch += 1;
            self.push_event(VrrpEvent::Rejected {
                from: src,
                reason: VrrpError::BadAddrList,
            });
        }
        Ok(Some((packet.priority(), interval)))
    }

    fn on_advert(&mut self, now: Instant, src: IpAddr, priority: u8, interval: Duration) {
        let local = self.config.priority;
        match self.state {
            VrrpState::Backup => {
                if priority == 0 {
                    // The master resigned: take over after Skew_Time only.
                    self.master_down_timer = Some(now + self.skew_time());
                    return;
                }
                let delaying = self.preempt_after.is_some_and(|t| now < t);
                if !self.config.preempt || priority >= local || delaying {
                    if self.config.version == VrrpVersion::V3 {
                        self.master_adver_interval = interval;
                    }
                    self.master_down_timer = Some(now + self.master_down_interval());
                }
                // Otherwise discard: Master_Down_Timer runs out and we preempt.
            }
            VrrpState::Master => {
                if priority == 0 {
                    // Another master resigned; assert ourselves at once.
                    self.queue_adverts(local);
                    self.adver_timer = Some(now + self.config.adver_int);
                } else if priority > local || (priority == local && src > self.config.src_addr) {
                    let learned = match self.config.version {
                        VrrpVersion::V3 => interval,
                        VrrpVersion::V2 => self.config.adver_int,
                    };
                    self.become_backup(now, learned);
                }
            }
            VrrpState::Initialize | VrrpState::Fault => {}
        }
    }
}
