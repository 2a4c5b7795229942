//! The configuration of one VRRP instance and its range checks.

use core::net::IpAddr;
use core::time::Duration;

use super::VrrpError;
use super::packet::{Family, VrrpAuth, VrrpVersion};
use crate::wire::MacAddr;

/// Announcements per VIP on becoming master (keepalived `garp_master_repeat`).
pub const DEFAULT_GARP_REPEAT: u32 = 5;
/// Delay of the second burst of announcements (keepalived `garp_master_delay`).
pub const DEFAULT_GARP_DELAY: Duration = Duration::from_secs(5);

/// Configuration of one virtual router instance (keepalived's `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpConfig {
    /// Protocol version; v2 is IPv4 only.
    pub version: VrrpVersion,
    /// Virtual router identifier, 1..=255.
    pub vrid: u8,
    /// 1..=254, or 255 for the address owner (starts as master at once).
    pub priority: u8,
    /// Advertisement_Interval: v3 10 ms steps up to 40.95 s; v2 whole seconds up to 255.
    pub adver_int: Duration,
    /// The primary address adverts are sent from (IPv6: the link-local address). It breaks
    /// priority ties (RFC 5798 section 6.4.3) and is in the v3 checksum.
    pub src_addr: IpAddr,
    /// The virtual addresses, all of `src_addr`'s family.
    pub vips: Vec<IpAddr>,
    /// Unicast peers; empty means multicast to 224.0.0.18 / ff02::12.
    pub peers: Vec<IpAddr>,
    /// Preempt_Mode: a backup with a higher priority takes over from a lower master.
    pub preempt: bool,
    /// keepalived `preempt_delay`: after entering backup, lower-priority masters are tolerated
    /// this long before preempting.
    pub preempt_delay: Duration,
    /// Accept_Mode (RFC 5798 section 6.1): a non-owner master accepts traffic for the VIPs.
    pub accept_mode: bool,
    /// v2 authentication (keepalived `authentication { auth_type PASS }`); ignored for v3.
    pub auth: VrrpAuth,
    /// The interface's MAC, source of the announcements.
    pub mac: MacAddr,
    /// Gratuitous ARPs / unsolicited NAs per VIP in each burst; 0 sends none.
    pub garp_repeat: u32,
    /// Delay of the second burst after becoming master; zero sends one burst only.
    pub garp_delay: Duration,
    /// Drop adverts whose address list differs from ours (keepalived only logs by default).
    pub strict_addrs: bool,
}

impl VrrpConfig {
    /// An instance with keepalived's defaults for everything else: 1 s interval, multicast,
    /// preempt on without delay, accept mode off, no auth, 5 announcements twice 5 s apart.
    pub fn new(
        version: VrrpVersion,
        vrid: u8,
        priority: u8,
        src_addr: IpAddr,
        vips: Vec<IpAddr>,
    ) -> Self {
        Self {
            version,
            vrid,
            priority,
            adver_int: Duration::from_secs(1),
            src_addr,
            vips,
            peers: Vec::new(),
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: false,
            auth: VrrpAuth::None,
            mac: MacAddr::ZERO,
            garp_repeat: DEFAULT_GARP_REPEAT,
            garp_delay: DEFAULT_GARP_DELAY,
            strict_addrs: false,
        }
    }

    /// The advert interval in the packet's unit: centiseconds (v3) or seconds (v2).
    pub(super) fn adver_int_units(&self) -> u16 {
        match self.version {
            VrrpVersion::V3 => u16::try_from(self.adver_int.as_millis() / 10).unwrap_or(u16::MAX),
            VrrpVersion::V2 => u16::try_from(self.adver_int.as_secs()).unwrap_or(u16::MAX),
        }
    }

    pub(super) fn validate(&self) -> Result<(), VrrpError> {
        let family = Family::of(&self.src_addr);
        let units = self.adver_int_units();
        let checks = [
            (self.vrid != 0, "vrid must be 1..=255"),
            (self.priority != 0, "priority must be 1..=255"),
            (
                !self.vips.is_empty() && self.vips.len() <= 255,
                "1..=255 vips",
            ),
            (
                self.vips
                    .iter()
                    .chain(&self.peers)
                    .all(|a| Family::of(a) == family),
                "vips and peers must have the family of src_addr",
            ),
            (
                self.version == VrrpVersion::V3 || family == Family::V4,
                "VRRP v2 is IPv4 only",
            ),
            (
                match self.version {
                    VrrpVersion::V3 => (1..=0x0fff).contains(&units),
                    VrrpVersion::V2 => (1..=255).contains(&units),
                },
                "adver_int out of range (v3 10ms..40.95s, v2 1..255s)",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(VrrpError::Config(why)),
            None => Ok(()),
        }
    }
}
