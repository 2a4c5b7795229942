//! The loop itself (module doc of [`super`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lvs_core::rewrite::{PacketBuf, originate};
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

use super::{Action, Counters, FrameHandler, frame_dst_ip, now};
use crate::device::block::{self, FrameMeta};
use crate::device::vnet::{VnetAction, complete_checksum};
use crate::device::{AfPacket, AfPacketConfig, DeviceError, RxHalf, TxHalf};
use crate::neigh::{self, Lookup, SharedNeighbours};
use crate::sys;

/// Ring blocks handled per port before timers and the other ports get a turn.
const BLOCKS_PER_TURN: usize = 8;
/// Frames waiting for ARP/ND, over all next hops (the kernel's unres_qlen is per neighbour;
/// one small bound is enough here because the director's own cache hides most misses).
const PENDING_CAP: usize = 256;
/// Neighbour retries and ring statistics run at this period.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// Longest sleep, so a stop request is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// One interface of a worker.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// The AF_PACKET set-up.
    pub device: AfPacketConfig,
    /// Source address of ARP requests on this port (0.0.0.0, an ARP probe, when `None`).
    pub ipv4: Option<Ipv4Addr>,
    /// Source address of neighbour solicitations on this port (`::` when `None`).
    pub ipv6: Option<Ipv6Addr>,
}

/// A route: next hops inside `net/prefix` leave through `port`, via `gateway` if set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Network address.
    pub net: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Port index.
    pub port: usize,
    /// Gateway to resolve instead of the next hop itself.
    pub gateway: Option<IpAddr>,
}

impl Route {
    fn matches(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(n.to_bits()) << 96,
                u128::from(i.to_bits()) << 96,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            _ => return false,
        };
        let p = u32::from(self.prefix.min(bits));
        p == 0 || (a ^ b) >> (128 - p) == 0
    }
}

/// A worker's configuration.
#[derive(Clone, Debug, Default)]
pub struct WorkerConfig {
    /// Its interfaces (port index = position).
    pub ports: Vec<PortConfig>,
    /// Routes, longest prefix wins; a next hop no route matches is on-link on the port the
    /// frame came in on.
    pub routes: Vec<Route>,
}

struct Pending {
    port: usize,
    ip: IpAddr,
    frame: Vec<u8>,
}

/// One data-plane thread's state (module doc of [`super`]).
pub struct Worker<H> {
    rx: Vec<RxHalf>,
    tx: Vec<TxHalf>,
    addrs: Vec<(Option<Ipv4Addr>, Option<Ipv6Addr>)>,
    routes: Vec<Route>,
    handler: H,
    neigh: SharedNeighbours,
    counters: Arc<Counters>,
    metas: Vec<FrameMeta>,
    out: Vec<Vec<Range<usize>>>,
    pending: Vec<Pending>,
    orig: Vec<u8>,
    requests: Vec<IpAddr>,
    next_housekeeping: Instant,
}

impl<H> core::fmt::Debug for Worker<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("ports", &self.tx)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<H: FrameHandler> Worker<H> {
    /// Opens every port's sockets. Workers of one director share `neigh` and use the same
    /// fanout group per port.
    pub fn new(
        cfg: &WorkerConfig,
        handler: H,
        neigh: SharedNeighbours,
    ) -> Result<Self, DeviceError> {
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for p in &cfg.ports {
            let d = AfPacket::open(&p.device)?;
            rx.push(d.rx);
            tx.push(d.tx);
        }
        let mut routes = cfg.routes.clone();
        routes.sort_by_key(|r| core::cmp::Reverse(r.prefix));
        Ok(Self {
            out: vec![Vec::new(); tx.len()],
            rx,
            tx,
            addrs: cfg.ports.iter().map(|p| (p.ipv4, p.ipv6)).collect(),
            routes,
            handler,
            neigh,
            counters: Arc::default(),
            metas: Vec::new(),
            pending: Vec::new(),
            orig: vec![0; 2048],
            requests: Vec::new(),
            next_housekeeping: Instant::ZERO,
        })
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably (control-plane changes between iterations).
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Ends the worker (closing its sockets) and returns the handler.
    pub fn into_handler(self) -> H {
        self.handler
    }

    /// The MAC of port `port`.
    pub fn mac(&self, port: usize) -> Option<MacAddr> {
        self.tx.get(port).map(|t| t.mac)
    }

    /// Announces `vips` on every port: a gratuitous ARP (IPv4) or an unsolicited neighbour
    /// advertisement (IPv6) each, as a director does on start and after failover.
    pub fn announce(&mut self, vips: &[IpAddr]) -> Result<(), DeviceError> {
        let mut buf = [0u8; 128];
        for t in &mut self.tx {
            for vip in vips {
                let n = match vip {
                    IpAddr::V4(a) => originate::gratuitous_arp(&mut buf, t.mac, *a),
                    IpAddr::V6(a) => originate::unsolicited_na(&mut buf, t.mac, *a, *a),
                };
                if let Ok(n) = n {
                    t.send_ranges(&buf, core::slice::from_ref(&(0..n)))?;
                    Counters::inc(&self.counters.tx_frames, 1);
                }
            }
        }
        Ok(())
    }

    /// Runs until `stop` is set. I/O errors on send are counted, not returned; the loop only
    /// fails if poll itself fails.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), DeviceError> {
        while !stop.load(Ordering::Relaxed) {
            self.turn(MAX_SLEEP)?;
        }
        Ok(())
    }

    /// One iteration: drain the rings, run timers, send originated frames, then sleep up to
    /// `max_wait` if nothing arrived.
    pub fn turn(&mut self, max_wait: Duration) -> Result<(), DeviceError> {
        let t = now();
        let mut busy = false;
        for p in 0..self.rx.len() {
            busy |= self.drain_port(p, t);
        }
        let t = now();
        if self.handler.poll_timeout().is_some_and(|d| d <= t) {
            self.handler.handle_timeout(t);
        }
        self.originated(t);
        if !self.pending.is_empty() {
            self.flush_pending(t);
        }
        if t >= self.next_housekeeping {
            self.housekeeping(t);
        }
        if !busy {
            let wake = [
                self.handler.poll_timeout(),
                Some(self.next_housekeeping),
                Some(t + max_wait),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(t);
            let ms = (wake - t).as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let fds: Vec<BorrowedFd<'_>> = self.rx.iter().map(RxHalf::fd).collect();
            sys::poll_in(&fds, ms).map_err(|e| DeviceError::new("poll", &self.tx[0].ifname, e))?;
        }
        Ok(())
    }

    fn drain_port(&mut self, p: usize, now: Instant) -> bool {
        let Self {
            rx,
            tx,
            addrs,
            routes,
            handler,
            neigh,
            counters,
            metas,
            out,
            pending,
            ..
        } = self;
        let c = &**counters;
        let mut any = false;
        for _ in 0..BLOCKS_PER_TURN {
            let vnet = rx[p].vnet_hdr;
            let Some(block) = rx[p].ring.current() else {
                break;
            };
            any = true;
            block::parse_block(block, vnet, metas);
            out.iter_mut().for_each(Vec::clear);
            for m in metas.iter() {
                Counters::inc(&c.rx_frames, 1);
                Counters::inc(&c.rx_bytes, m.len as u64);
                if m.len < m.wire_len {
                    Counters::inc(&c.drop_truncated, 1);
                    continue;
                }
                let buf = &mut block[m.buf.clone()];
                if let Some(h) = &m.vnet {
                    match complete_checksum(h, &mut buf[m.start..m.start + m.len]) {
                        VnetAction::Pass => {}
                        VnetAction::Completed => Counters::inc(&c.csum_completed, 1),
                        VnetAction::RefuseGso => {
                            Counters::inc(&c.drop_gso, 1);
                            continue;
                        }
                        VnetAction::BadOffsets => {
                            Counters::inc(&c.drop_bad_vnet, 1);
                            continue;
                        }
                    }
                }
                if let Some((ip, mac)) = neigh::learn_from(&buf[m.start..m.start + m.len]) {
                    lock(neigh).learn(now, ip, mac);
                }
                let Ok(mut pkt) = PacketBuf::new(buf, m.start, m.len) else {
                    Counters::inc(&c.drop_buffer, 1);
                    continue;
                };
                let action = handler.handle_frame(now, p, &mut pkt);
                let start = m.buf.start + pkt.start();
                let abs = start..start + pkt.len();
                match action {
                    Action::Forward { next_hop, mac } => {
                        Counters::inc(&c.forwarded, 1);
                        let (q, nh) = route(routes, next_hop, p);
                        let Some(frame) = block.get_mut(abs.clone()).filter(|f| f.len() >= 14)
                        else {
                            Counters::inc(&c.drop_buffer, 1);
                            continue;
                        };
                        frame[6..12].copy_from_slice(&tx[q].mac.0);
                        if mac.is_some() {
                            out[q].push(abs);
                            continue;
                        }
                        let lookup = lock(neigh).lookup(now, nh);
                        match lookup {
                            Lookup::Hit(mac) | Lookup::Refresh(mac) => {
                                frame[..6].copy_from_slice(&mac.0);
                                out[q].push(abs);
                            }
                            Lookup::Miss { .. } => {
                                if pending.len() < PENDING_CAP {
                                    pending.push(Pending {
                                        port: q,
                                        ip: nh,
                                        frame: frame.to_vec(),
                                    });
                                    Counters::inc(&c.neigh_queued, 1);
                                } else {
                                    Counters::inc(&c.drop_neigh_queue, 1);
                                }
                            }
                            Lookup::Failed => Counters::inc(&c.drop_neigh_failed, 1),
                        }
                        if matches!(lookup, Lookup::Refresh(_) | Lookup::Miss { request: true }) {
                            send_request(&mut tx[q], addrs[q], nh, c);
                        }
                    }
                    Action::Reply { len } => {
                        Counters::inc(&c.replies, 1);
                        out[p].push(abs.start..abs.start + len.min(abs.len()));
                    }
                    Action::Drop => Counters::inc(&c.handler_drops, 1),
                    Action::Pass => Counters::inc(&c.passed, 1),
                }
            }
            for (t, ranges) in tx.iter_mut().zip(out.iter()) {
                send_counted(t, block, ranges, c);
            }
            rx[p].ring.release();
        }
        any
    }

    fn originated(&mut self, now: Instant) {
        while let Some(n) = self.handler.poll_transmit(now, &mut self.orig) {
            Counters::inc(&self.counters.originated, 1);
            let f = &self.orig[..n.min(self.orig.len())];
            let q = frame_dst_ip(f).map_or(0, |ip| route(&self.routes, ip, 0).0);
            send_counted(
                &mut self.tx[q],
                f,
                core::slice::from_ref(&(0..f.len())),
                &self.counters,
            );
        }
    }

    fn flush_pending(&mut self, now: Instant) {
        let mut cache = lock(&self.neigh);
        let (tx, c) = (&mut self.tx, &*self.counters);
        self.pending.retain_mut(|p| match cache.lookup(now, p.ip) {
            Lookup::Hit(mac) | Lookup::Refresh(mac) => {
                p.frame[..6].copy_from_slice(&mac.0);
                send_counted(
                    &mut tx[p.port],
                    &p.frame,
                    core::slice::from_ref(&(0..p.frame.len())),
                    c,
                );
                false
            }
            Lookup::Miss { .. } => true,
            Lookup::Failed => {
                Counters::inc(&c.drop_neigh_failed, 1);
                false
            }
        });
    }

    fn housekeeping(&mut self, now: Instant) {
        self.next_housekeeping = now + HOUSEKEEPING;
        self.requests.clear();
        lock(&self.neigh).poll_requests(now, &mut self.requests);
        for i in 0..self.requests.len() {
            let ip = self.requests[i];
            let (q, _) = route(&self.routes, ip, 0);
            send_request(&mut self.tx[q], self.addrs[q], ip, &self.counters);
        }
        let mut total = crate::device::RingStats::default();
        for r in &mut self.rx {
            if let Ok(s) = r.ring_stats() {
                total.packets += s.packets;
                total.drops += s.drops;
                total.freezes += s.freezes;
            }
        }
        Counters::set(&self.counters.ring_packets, total.packets);
        Counters::set(&self.counters.ring_drops, total.drops);
        Counters::set(&self.counters.ring_freezes, total.freezes);
    }
}

fn lock(n: &SharedNeighbours) -> std::sync::MutexGuard<'_, neigh::NeighbourCache> {
    // A worker that panicked mid-update leaves a cache that is still consistent (every update
    // is a single insert), so a poisoned lock is used as is.
    n.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The port and the address to resolve for `next_hop`.
fn route(routes: &[Route], next_hop: IpAddr, default_port: usize) -> (usize, IpAddr) {
    routes
        .iter()
        .find(|r| r.matches(next_hop))
        .map_or((default_port, next_hop), |r| {
            (r.port, r.gateway.unwrap_or(next_hop))
        })
}

fn send_counted(t: &mut TxHalf, base: &[u8], ranges: &[Range<usize>], c: &Counters) {
    if ranges.is_empty() {
        return;
    }
    let sent = t.send_ranges(base, ranges).unwrap_or(0);
    Counters::inc(&c.tx_frames, sent as u64);
    Counters::inc(&c.tx_errors, (ranges.len() - sent) as u64);
}

fn send_request(
    t: &mut TxHalf,
    addrs: (Option<Ipv4Addr>, Option<Ipv6Addr>),
    ip: IpAddr,
    c: &Counters,
) {
    let mut buf = [0u8; 128];
    let n = match ip {
        IpAddr::V4(a) => {
            neigh::arp_request(&mut buf, t.mac, addrs.0.unwrap_or(Ipv4Addr::UNSPECIFIED), a)
        }
        IpAddr::V6(a) => neigh::neighbour_solicitation(
            &mut buf,
            t.mac,
            addrs.1.unwrap_or(Ipv6Addr::UNSPECIFIED),
            a,
        ),
    };
    if let Some(n) = n {
        Counters::inc(&c.neigh_requests, 1);
        send_counted(t, &buf, core::slice::from_ref(&(0..n)), c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_gateway() {
        let mut routes = vec![
            Route {
                net: "0.0.0.0".parse().unwrap(),
                prefix: 0,
                port: 1,
                gateway: Some("192.0.2.254".parse().unwrap()),
            },
            Route {
                net: "198.51.100.0".parse().unwrap(),
                prefix: 24,
                port: 2,
                gateway: None,
            },
        ];
        routes.sort_by_key(|r| core::cmp::Reverse(r.prefix));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            route(&routes, ip("198.51.100.7"), 0),
            (2, ip("198.51.100.7"))
        );
        assert_eq!(route(&routes, ip("203.0.113.1"), 0), (1, ip("192.0.2.254")));
        assert_eq!(route(&routes, ip("2001:db8::1"), 3), (3, ip("2001:db8::1")));
    }
}
