//! The VRRP state machine of RFC 5798 section 6.4 (and RFC 3768 section 6.4 for v2), with the
//! receive checks of section 7.1 and keepalived's extensions (preempt_delay, fault on interface
//! down, GARP repeat/delay).

use core::net::IpAddr;
use core::time::Duration;
use std::collections::VecDeque;

use super::config::VrrpConfig;
use super::packet::{MCAST_V4, MCAST_V6, VrrpRepr, VrrpVersion};
use super::{VrrpError, announce};
use crate::time::Instant;

/// Events kept when nobody polls; older ones are dropped first.
const MAX_EVENTS: usize = 64;

/// The protocol states (RFC 5798 section 6.4) plus keepalived's FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpState {
    /// Not started, or shut down.
    Initialize,
    /// Monitoring the master.
    Backup,
    /// Owning the VIPs and advertising.
    Master,
    /// The tracked interface is down: neither sending nor owning.
    Fault,
}

/// What the caller should act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpEvent {
    /// The state changed: take the VIPs on `to == Master`, release them when `from == Master`,
    /// run notify scripts.
    StateChanged {
        /// Previous state.
        from: VrrpState,
        /// New state.
        to: VrrpState,
    },
    /// An advert was dropped (or, for an address list mismatch outside strict mode, counted):
    /// what keepalived logs.
    Rejected {
        /// The sender.
        from: IpAddr,
        /// The check that failed.
        reason: VrrpError,
    },
}

/// A packet [`Vrrp::poll_transmit`] wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transmit {
    /// A VRRP message of `len` bytes for the raw IP socket (protocol 112, TTL 255), from
    /// `src_addr` to `dst`.
    Advert {
        /// Multicast group or unicast peer.
        dst: IpAddr,
        /// Message length.
        len: usize,
    },
    /// A complete Ethernet frame (gratuitous ARP or unsolicited NA) for an AF_PACKET socket.
    Frame {
        /// Frame length.
        len: usize,
    },
}

/// Counters, named after keepalived's `vrrp_stats` where it has one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each field counts what its name says
pub struct VrrpStats {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub priority_zero_rx: u64,
    pub priority_zero_tx: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub truncated: u64,
    pub bad_version: u64,
    pub bad_type: u64,
    pub bad_ttl: u64,
    pub bad_checksum: u64,
    pub bad_auth: u64,
    pub interval_mismatch: u64,
    pub addr_list_mismatch: u64,
    pub other_vrid: u64,
    pub own_adverts: u64,
    pub tx_errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Advert { priority: u8, dst: IpAddr },
    Announce(usize),
}

/// One VRRP instance. See the [module docs](super) for the calling contract.
#[derive(Debug, Clone)]
pub struct Vrrp {
    config: VrrpConfig,
    state: VrrpState,
    master_adver_interval: Duration,
    master_down_timer: Option<Instant>,
    adver_timer: Option<Instant>,
    garp_timer: Option<Instant>,
    preempt_after: Option<Instant>,
    link_up: bool,
    pending: VecDeque<Pending>,
    events: VecDeque<VrrpEvent>,
    stats: VrrpStats,
}

#[path = "machine_io.rs"]
mod io;

impl Vrrp {
    /// A stopped instance; call [`start`](Self::start). Errors: [`VrrpError::Config`].
    pub fn new(config: VrrpConfig) -> Result<Self, VrrpError> {
        config.validate()?;
        Ok(Self {
            master_adver_interval: config.adver_int,
            config,
            state: VrrpState::Initialize,
            master_down_timer: None,
            adver_timer: None,
            garp_timer: None,
            preempt_after: None,
            link_up: true,
            pending: VecDeque::new(),
            events: VecDeque::new(),
            stats: VrrpStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VrrpConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> VrrpState {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> &VrrpStats {
        &self.stats
    }

    /// Master_Adver_Interval: learned from the master's adverts in v3, fixed in v2.
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// Whether the data path should accept packets addressed to the VIPs (RFC 5798 section
    /// 6.4.3: the owner always, others only in Accept_Mode; a director that balances VIP
    /// traffic is configured with accept mode on).
    pub fn accepts_vip_traffic(&self) -> bool {
        self.state == VrrpState::Master && (self.config.accept_mode || self.config.priority == 255)
    }

    /// Skew_Time (RFC 5798 section 6.1). v3: `((256 - Priority) * Master_Adver_Interval) / 256`
    /// in whole centiseconds; v2 (RFC 3768 section 6.1): `(256 - Priority) / 256` seconds.
    pub fn skew_time(&self) -> Duration {
        let p = 256 - u64::from(self.config.priority);
        match self.config.version {
            VrrpVersion::V3 => {
                let cs = self.master_adver_interval.as_millis() as u64 / 10;
                Duration::from_millis(p * cs / 256 * 10)
            }
            VrrpVersion::V2 => Duration::from_nanos(p * 1_000_000_000 / 256),
        }
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_interval + self.skew_time()
    }

    /// Startup event (RFC 5798 section 6.4.1): the owner becomes master at once, everybody
    /// else backup. No effect unless in Initialize; goes to Fault if the link is down.
    pub fn start(&mut self, now: Instant) {
        if self.state != VrrpState::Initialize {
            return;
        }
        if !self.link_up {
            self.set_state(VrrpState::Fault);
        } else if self.config.priority == 255 {
            self.become_master(now);
        } else {
            self.become_backup(now, self.config.adver_int);
        }
    }

    /// Shutdown event: a master resigns with a priority-0 advert (poll it out before closing
    /// the socket) so that the backup takes over after Skew_Time, not Master_Down_Interval.
    pub fn shutdown(&mut self, _now: Instant) {
        if self.state == VrrpState::Master {
            self.queue_adverts(0);
        }
        self.stop_timers();
        self.set_state(VrrpState::Initialize);
    }

    /// Interface tracking: the link (or a tracked interface/script) went down or came up.
    /// Down moves to Fault and gives the VIPs up; up restarts as at startup.
    pub fn handle_link(&mut self, now: Instant, up: bool) {
        self.link_up = up;
        match (up, self.state) {
            (false, VrrpState::Fault | VrrpState::Initialize) => {}
            (false, _) => {
                self.stop_timers();
                self.pending.clear();
                self.set_state(VrrpState::Fault);
            }
            (true, VrrpState::Fault) => {
                self.set_state(VrrpState::Initialize);
                self.start(now);
            }
            (true, _) => {}
        }
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.master_down_timer, self.adver_timer, self.garp_timer]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`: Master_Down_Timer (backup -> master), Adver_Timer (the
    /// periodic advert) and the second announcement burst.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.garp_timer.is_some_and(|t| t <= now) {
            self.garp_timer = None;
            self.queue_announcements();
        }
        match self.state {
            VrrpState::Backup if self.master_down_timer.is_some_and(|t| t <= now) => {
                self.become_master(now);
            }
            VrrpState::Master if self.adver_timer.is_some_and(|t| t <= now) => {
                self.queue_adverts(self.config.priority);
                self.adver_timer = Some(now + self.config.adver_int);
            }
            _ => {}
        }
    }

    /// The next state change or rejection to act on.
    pub fn poll_event(&mut self) -> Option<VrrpEvent> {
        self.events.pop_front()
    }

    /// Writes the next packet to send into `buf` (1,500 bytes always suffice). An item that
    /// does not fit is dropped and counted in `tx_errors`.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(item) = self.pending.pop_front() {
            let written = match item {
                Pending::Advert { priority, dst } => self
                    .advert_repr(priority)
                    .emit(buf, &self.config.src_addr, &dst)
                    .ok()
                    .map(|len| {
                        self.stats.adverts_tx += 1;
                        self.stats.priority_zero_tx += u64::from(priority == 0);
                        Transmit::Advert { dst, len }
                    }),
                Pending::Announce(i) => self.config.vips.get(i).and_then(|vip| {
                    announce::emit(buf, self.config.mac, vip, &self.config.src_addr)
                        .ok()
                        .map(|len| Transmit::Frame { len })
                }),
            };
            match written {
                Some(t) => return Some(t),
                None => self.stats.tx_errors += 1,
            }
        }
        None
    }

    fn advert_repr(&self, priority: u8) -> VrrpRepr {
        VrrpRepr {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            adver_int: self.config.adver_int_units(),
            addrs: self.config.vips.clone(),
            auth: self.config.auth,
        }
    }

    fn queue_adverts(&mut self, priority: u8) {
        if self.config.peers.is_empty() {
            let dst = match self.config.src_addr {
                IpAddr::V4(_) => IpAddr::V4(MCAST_V4),
                IpAddr::V6(_) => IpAddr::V6(MCAST_V6),
            };
            self.pending.push_back(Pending::Advert { priority, dst });
        } else {
            for &dst in &self.config.peers {
                self.pending.push_back(Pending::Advert { priority, dst });
            }
        }
    }

    fn queue_announcements(&mut self) {
        for _ in 0..self.config.garp_repeat {
            for i in 0..self.config.vips.len() {
                self.pending.push_back(Pending::Announce(i));
            }
        }
    }

    /// RFC 5798 section 6.4.1/6.4.2: send an advert, announce the VIPs, arm Adver_Timer.
    fn become_master(&mut self, now: Instant) {
        self.queue_adverts(self.config.priority);
        self.queue_announcements();
        self.garp_timer = (self.config.garp_repeat > 0 && !self.config.garp_delay.is_zero())
            .then(|| now + self.config.garp_delay);
        self.master_down_timer = None;
        self.adver_timer = Some(now + self.config.adver_int);
        self.stats.became_master += 1;
        self.set_state(VrrpState::Master);
    }

    /// Enters Backup with the master's interval (ours at startup): Master_Down_Timer armed.
    fn become_backup(&mut self, now: Instant, master_interval: Duration) {
        if self.state == VrrpState::Master {
            self.stats.released_master += 1;
        }
        self.adver_timer = None;
        self.garp_timer = None;
        self.pending.retain(|p| matches!(p, Pending::Advert { .. }));
        self.master_adver_interval = master_interval;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.preempt_after =
            (!self.config.preempt_delay.is_zero()).then(|| now + self.config.preempt_delay);
        self.set_state(VrrpState::Backup);
    }

    fn stop_timers(&mut self) {
        self.master_down_timer = None;
        self.adver_timer = None;
        self.garp_timer = None;
    }

    fn set_state(&mut self, to: VrrpState) {
        let from = self.state;
        self.state = to;
        if from != to {
            self.push_event(VrrpEvent::StateChanged { from, to });
        }
    }

    fn push_event(&mut self, event: VrrpEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}
