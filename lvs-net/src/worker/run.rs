//! The loop itself (module doc of [`super`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lvs_core::rewrite::{PacketBuf, originate};
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

use super::config::{Route, WorkerConfig, route};
use super::{Action, Counters, FrameHandler, frame_dst_ip, now};
use crate::device::block::{self, FrameMeta};
use crate::device::vnet::{VnetAction, complete_checksum};
use crate::device::{AfPacket, DeviceError, RxHalf, TxHalf};
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
    poller: sys::Poller,
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
        let poller = sys::Poller::new(&rx.iter().map(RxHalf::fd).collect::<Vec<_>>());
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
            poller,
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

    /// Opens `n` workers with the same ports, one after the other on the calling thread, so
    /// fanout member `i` is worker `i` (the kernel numbers members in join order; FULLNAT
    /// local ports and [`crate::device::Steering::Client`] rely on it). Move each onto its own
    /// thread afterwards (`Worker` is `Send` when the handler is).
    pub fn open_group(
        n: usize,
        cfg: &WorkerConfig,
        mut handler: impl FnMut(usize) -> H,
        neigh: &SharedNeighbours,
    ) -> Result<Vec<Self>, DeviceError> {
        (0..n)
            .map(|i| Self::new(cfg, handler(i), Arc::clone(neigh)))
            .collect()
    }

    /// Runs until `stop` is set. I/O errors on send are counted, not returned; the loop only
    /// fails if poll itself fails.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), DeviceError> {
        self.run_with(stop, |_| {})
    }

    /// [`run`](Self::run), calling `between` with the handler after every turn: the place to
    /// apply control-plane commands (`Director::apply`) and drain events (`poll_event`) without
    /// locks on the packet path. A turn lasts at most 100 ms when idle.
    pub fn run_with(
        &mut self,
        stop: &AtomicBool,
        mut between: impl FnMut(&mut H),
    ) -> Result<(), DeviceError> {
        while !stop.load(Ordering::Relaxed) {
            self.turn(MAX_SLEEP)?;
            between(&mut self.handler);
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
            let ifname = self.tx.first().map_or("(no port)", |t| t.ifname.as_str());
            self.poller
                .wait(ms)
                .map_err(|e| DeviceError::new("poll", ifname, e))?;
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
            // The per-frame verdict counters are summed locally and published once per block:
            // one atomic add per counter per block instead of per frame.
            let (mut fwd, mut replies, mut drops, mut passed) = (0u64, 0u64, 0u64, 0u64);
            Counters::inc(&c.rx_frames, metas.len() as u64);
            Counters::inc(&c.rx_bytes, metas.iter().map(|m| m.len as u64).sum());
            for m in metas.iter() {
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
                        fwd += 1;
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
                        replies += 1;
                        let reply = abs.start..abs.start + len.min(abs.len());
                        if let Some(frame) = block.get_mut(reply.clone()) {
                            arp_reply_from_port(frame, tx[p].mac);
                        }
                        out[p].push(reply);
                    }
                    Action::Drop => drops += 1,
                    Action::Pass => passed += 1,
                }
            }
            Counters::inc(&c.forwarded, fwd);
            Counters::inc(&c.replies, replies);
            Counters::inc(&c.handler_drops, drops);
            Counters::inc(&c.passed, passed);
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

/// An ARP reply the handler wrote (the director answers for its VIPs with one MAC, its first
/// interface's) leaves port `p` with that port's MAC as Ethernet source and sender hardware
/// address, so hosts on a server-side link (NAT real servers whose gateway is a floating
/// address) send to a MAC the port receives without promiscuous mode. Other replies are left
/// as they are.
fn arp_reply_from_port(frame: &mut [u8], mac: MacAddr) {
    // Untagged Ethernet/IPv4 ARP reply: ethertype 0x0806, htype 1, ptype 0x0800, op 2.
    if frame.len() >= 42
        && frame[12..14] == [0x08, 0x06]
        && frame[14..18] == [0, 1, 0x08, 0]
        && frame[20..22] == [0, 2]
    {
        frame[6..12].copy_from_slice(&mac.0);
        frame[22..28].copy_from_slice(&mac.0);
    }
}

fn lock(n: &SharedNeighbours) -> std::sync::MutexGuard<'_, neigh::NeighbourCache> {
    // A worker that panicked mid-update leaves a cache that is still consistent (every update
    // is a single insert), so a poisoned lock is used as is.
    n.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    fn arp_replies_take_the_port_mac() {
        let port = MacAddr([2, 0, 0, 0, 0, 0x22]);
        let mut reply = [0u8; 42];
        reply[12..14].copy_from_slice(&[0x08, 0x06]);
        reply[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]);
        reply[6..12].fill(0x11);
        reply[22..28].fill(0x11);
        let mut request = reply;
        request[21] = 1;
        arp_reply_from_port(&mut reply, port);
        assert_eq!(&reply[6..12], &port.0);
        assert_eq!(&reply[22..28], &port.0);
        arp_reply_from_port(&mut request, port);
        assert_eq!(&request[6..12], &[0x11; 6]);
    }

    #[test]
    fn workers_move_to_threads() {
        struct H;
        impl FrameHandler for H {
            fn handle_frame(&mut self, _: Instant, _: usize, _: &mut PacketBuf<'_>) -> Action {
                Action::Pass
            }
        }
        fn assert_send<T: Send>() {}
        assert_send::<Worker<H>>();
    }
}
