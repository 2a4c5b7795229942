//! Drives one [`Vrrp`] instance with the monotonic clock: adverts in and out, timers, link
//! tracking, VIP ownership and keepalived-style notify scripts.

use std::net::IpAddr;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lvs_core::time::Instant;
use lvs_core::vrrp::{Transmit, Vrrp, VrrpConfig, VrrpEvent, VrrpState};

use super::{HaError, Interface, LinkSocket, Received, VipOwner, VrrpSocket};

/// How often the loop wakes without traffic, to look at the stop flag and the link state.
const POLL: Duration = Duration::from_millis(100);

/// Programs run on transitions, like keepalived's `notify_master` / `notify_backup` /
/// `notify_fault`: each a command line split on whitespace, run without waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// Run on entering MASTER.
    pub master: Option<String>,
    /// Run on entering BACKUP.
    pub backup: Option<String>,
    /// Run on entering FAULT.
    pub fault: Option<String>,
}

/// A VRRP instance on real sockets.
pub struct VrrpRunner<O: VipOwner> {
    vrrp: Vrrp,
    iface: Interface,
    socket: VrrpSocket,
    link: LinkSocket,
    owner: O,
    notify: Notify,
    epoch: std::time::Instant,
    children: Vec<Child>,
    link_up: bool,
}

impl<O: VipOwner> VrrpRunner<O> {
    /// Opens the sockets on `iface`. `config.mac` is filled in from the interface.
    pub fn new(
        iface: &str,
        mut config: VrrpConfig,
        owner: O,
        notify: Notify,
    ) -> Result<Self, HaError> {
        let iface = Interface::by_name(iface)?;
        config.mac = iface.mac;
        let socket = VrrpSocket::open(&iface, config.src_addr, config.peers.is_empty())?;
        let link = LinkSocket::open(&iface)?;
        let vrrp = Vrrp::new(config)?;
        Ok(Self {
            vrrp,
            link_up: true,
            iface,
            socket,
            link,
            owner,
            notify,
            epoch: std::time::Instant::now(),
            children: Vec::new(),
        })
    }

    /// The instance (state, counters).
    pub fn vrrp(&self) -> &Vrrp {
        &self.vrrp
    }

    fn now(&self) -> Instant {
        let nanos = self.epoch.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Runs until `stop` is set, then resigns (priority 0 advert) and releases the VIPs.
    /// `on_event` sees every event first (for logging). Socket errors on send are reported
    /// through `on_error` and do not stop the loop: the peer's timers handle lost adverts.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        mut on_event: impl FnMut(&VrrpEvent),
        mut on_error: impl FnMut(&HaError),
    ) -> Result<(), HaError> {
        let mut buf = vec![0u8; 65536];
        self.vrrp.start(self.now());
        while !stop.load(Ordering::Relaxed) {
            self.pump(&mut on_event, &mut on_error);
            let now = self.now();
            let wait = self
                .vrrp
                .poll_timeout()
                .map_or(POLL, |t| t.saturating_duration_since(now).min(POLL));
            match self.socket.recv(&mut buf, wait)? {
                Some(Received::Ipv4 { len }) => {
                    let _ = self.vrrp.handle_ip_packet(self.now(), &buf[..len]);
                }
                Some(Received::Ipv6 {
                    src,
                    dst,
                    hop_limit,
                    len,
                }) => {
                    let _ = self
                        .vrrp
                        .handle_advert(self.now(), src, dst, hop_limit, &buf[..len]);
                }
                None => {}
            }
            let now = self.now();
            if self.vrrp.poll_timeout().is_some_and(|t| t <= now) {
                self.vrrp.handle_timeout(now);
            }
            let up = self.iface.is_up();
            if up != self.link_up {
                self.link_up = up;
                self.vrrp.handle_link(now, up);
            }
            self.children
                .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        }
        self.vrrp.shutdown(self.now());
        self.pump(&mut on_event, &mut on_error);
        Ok(())
    }

    /// Sends what the core queued and acts on its events.
    fn pump(&mut self, on_event: &mut impl FnMut(&VrrpEvent), on_error: &mut impl FnMut(&HaError)) {
        let mut buf = [0u8; 1500];
        while let Some(tx) = self.vrrp.poll_transmit(self.now(), &mut buf) {
            let sent = match tx {
                Transmit::Advert { dst, len } => self.socket.send(dst, &buf[..len]),
                Transmit::Frame { len } => self.link.send(&buf[..len]),
            };
            if let Err(e) = sent {
                on_error(&e);
            }
        }
        while let Some(event) = self.vrrp.poll_event() {
            on_event(&event);
            if let VrrpEvent::StateChanged { from, to } = event
                && let Err(e) = self.transition(from, to)
            {
                on_error(&e);
            }
        }
    }

    fn transition(&mut self, from: VrrpState, to: VrrpState) -> Result<(), HaError> {
        let vips: Vec<IpAddr> = self.vrrp.config().vips.clone();
        if from == VrrpState::Master {
            self.owner.release(&vips)?;
        }
        if to == VrrpState::Master {
            self.owner.take(&vips)?;
        }
        let script = match to {
            VrrpState::Master => self.notify.master.clone(),
            VrrpState::Backup => self.notify.backup.clone(),
            VrrpState::Fault => self.notify.fault.clone(),
            VrrpState::Initialize => None,
        };
        if let Some(line) = script {
            let mut words = line.split_whitespace();
            if let Some(program) = words.next() {
                let child =
                    Command::new(program)
                        .args(words)
                        .spawn()
                        .map_err(|e| HaError::Command {
                            command: line.clone(),
                            detail: e.to_string(),
                        })?;
                self.children.push(child);
            }
        }
        Ok(())
    }
}
