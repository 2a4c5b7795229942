//! The loop itself (module doc of [`super`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lvs_core::rewrite::{PacketBuf, originate, partial};
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

use super::config::{Route, WorkerConfig, route};
use super::{Action, Counters, FrameHandler, PREFETCH_BATCH, frame_dst_ip, now};
use crate::device::block::{self, FrameMeta};
use crate::device::vnet::{F_NEEDS_CSUM, VNET_HDR_LEN, VnetAction, VnetHdr, prepare};
use crate::device::{AfPacket, DeviceError, HEADROOM, RxHalf, TxHalf};
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
    vnet: [u8; VNET_HDR_LEN],
}

/// Next hops remembered per ring block (linear search; a director talks to a few).
const NH_CACHE: usize = 8;

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
    out: Vec<TxList>,
    seg_out: Vec<TxList>,
    seg_buf: Vec<u8>,
    seg_ranges: Vec<Range<usize>>,
    nh_cache: Vec<(IpAddr, MacAddr)>,
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
        mut handler: H,
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
        handler.set_port_macs(&tx.iter().map(|t| t.mac).collect::<Vec<_>>());
        let mut routes = cfg.routes.clone();
        routes.sort_by_key(|r| core::cmp::Reverse(r.prefix));
        Ok(Self {
            out: vec![TxList::default(); tx.len()],
            seg_out: vec![TxList::default(); tx.len()],
            seg_buf: vec![0; SEG_BUF],
            seg_ranges: Vec::new(),
            nh_cache: Vec::with_capacity(NH_CACHE),
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
            seg_out,
            seg_buf,
            seg_ranges,
            pending,
            nh_cache,
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
            out.iter_mut().for_each(TxList::clear);
            nh_cache.clear();
            let mut fwd = Fwd {
                tx,
                addrs,
                routes,
                neigh,
                c,
                pending,
                nh_cache,
                now,
                tally: Tally::default(),
            };
            Counters::inc(&c.rx_frames, metas.len() as u64);
            Counters::inc(&c.rx_bytes, metas.iter().map(|m| m.len as u64).sum());
            for chunk in metas.chunks(PREFETCH_BATCH) {
                if chunk.len() > 1 {
                    let mut frames: [&[u8]; PREFETCH_BATCH] = [&[]; PREFETCH_BATCH];
                    for (f, m) in frames.iter_mut().zip(chunk) {
                        let s = m.buf.start + m.start;
                        *f = block.get(s..s + m.len).unwrap_or(&[]);
                    }
                    handler.prefetch(&frames[..chunk.len()]);
                }
                for m in chunk {
                    if m.len < m.wire_len {
                        Counters::inc(&c.drop_truncated, 1);
                        continue;
                    }
                    let mut gso = None;
                    if let Some(h) = &m.vnet {
                        let frame =
                            &mut block[m.buf.start + m.start..m.buf.start + m.start + m.len];
                        match prepare(h, frame) {
                            VnetAction::Pass => {}
                            VnetAction::Completed => Counters::inc(&c.csum_completed, 1),
                            VnetAction::Gso => gso = Some(*h),
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
                    let frame = &block[m.buf.start + m.start..m.buf.start + m.start + m.len];
                    if let Some((ip, mac)) = neigh::learn_from(frame) {
                        lock(fwd.neigh).learn(now, ip, mac);
                    }
                    if let Some(h) = gso
                        && !handler.gso_whole(p, frame)
                    {
                        // Cut the train here and hand the segments in one by one; they live in
                        // `seg_buf`, so they are sent before the next train reuses it.
                        seg_out.iter_mut().for_each(TxList::clear);
                        seg_ranges.clear();
                        let slot = HEADROOM + SEG_HEADERS + usize::from(h.gso_size);
                        if partial::segment(
                            frame,
                            usize::from(h.gso_size),
                            seg_buf,
                            slot,
                            HEADROOM,
                            seg_ranges,
                        )
                        .is_err()
                        {
                            Counters::inc(&c.drop_gso, 1);
                            continue;
                        }
                        Counters::inc(&c.gso_segmented, 1);
                        for r in seg_ranges.iter() {
                            let s = r.start / slot * slot;
                            let buf = &mut seg_buf[s..s + slot];
                            fwd.handle(handler, p, buf, s, r.start - s, r.len(), None, seg_out);
                        }
                        for (t, l) in fwd.tx.iter_mut().zip(seg_out.iter()) {
                            send_counted(t, seg_buf, l, c);
                        }
                        continue;
                    }
                    if gso.is_some() {
                        Counters::inc(&c.gso_whole, 1);
                    }
                    let buf = &mut block[m.buf.clone()];
                    fwd.handle(handler, p, buf, m.buf.start, m.start, m.len, gso, out);
                }
            }
            fwd.tally.publish(c);
            for (t, l) in tx.iter_mut().zip(out.iter()) {
                send_counted(t, block, l, c);
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
            send_plain(
                &mut self.tx[q],
                f,
                core::slice::from_ref(&(0..f.len())),
                &[],
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
                send_plain(
                    &mut tx[p.port],
                    &p.frame,
                    core::slice::from_ref(&(0..p.frame.len())),
                    core::slice::from_ref(&p.vnet),
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

/// Bytes of headers a software-cut segment may carry in front of its payload (Ethernet, VLAN,
/// IPv6 with extension headers, TCP with options) plus what a tunnel adds at the back.
const SEG_HEADERS: usize = 384;
/// The software segmentation buffer: a 64 KiB train in segments of any size down to ~500
/// bytes, each in its own slot with headroom.
const SEG_BUF: usize = 256 << 10;

/// Frames to send out of one port: ranges into the buffer they live in. When the port's TX
/// socket has PACKET_VNET_HDR, each range starts with the frame's virtio_net_hdr, written
/// into the headroom right in front of the frame ([`queue`]): one iovec per message instead
/// of two (the profile showed `copy_msghdr_from_user` at ~4 % of the worker's time).
#[derive(Clone, Debug, Default)]
struct TxList {
    ranges: Vec<Range<usize>>,
}

impl TxList {
    fn clear(&mut self) {
        self.ranges.clear();
    }
}

/// Queues `buf[rel]` (which sits at `base` in the send buffer) on `out`, behind `hdr` written
/// into its headroom when the socket takes virtio headers. `false` when the headroom is too
/// small for the header (cannot happen with the ring's reserve: see `device::HEADROOM`).
#[inline]
fn queue(
    buf: &mut [u8],
    base: usize,
    rel: Range<usize>,
    vnet: bool,
    hdr: &VnetHdr,
    out: &mut TxList,
) -> bool {
    if !vnet {
        out.ranges.push(base + rel.start..base + rel.end);
        return true;
    }
    let Some(h) = rel
        .start
        .checked_sub(VNET_HDR_LEN)
        .and_then(|s| buf.get_mut(s..rel.start))
    else {
        return false;
    };
    h.copy_from_slice(&hdr.to_bytes());
    out.ranges
        .push(base + rel.start - VNET_HDR_LEN..base + rel.end);
    true
}

/// Verdict counts of one block, published with one atomic add each.
#[derive(Default)]
struct Tally {
    fwd: u64,
    replies: u64,
    drops: u64,
    passed: u64,
}

impl Tally {
    fn publish(&self, c: &Counters) {
        Counters::inc(&c.forwarded, self.fwd);
        Counters::inc(&c.replies, self.replies);
        Counters::inc(&c.handler_drops, self.drops);
        Counters::inc(&c.passed, self.passed);
    }
}

/// What the per-frame path needs besides the frame: split borrows of the worker.
struct Fwd<'a> {
    tx: &'a mut [TxHalf],
    addrs: &'a [(Option<Ipv4Addr>, Option<Ipv6Addr>)],
    routes: &'a [Route],
    neigh: &'a SharedNeighbours,
    c: &'a Counters,
    pending: &'a mut Vec<Pending>,
    /// Next hops resolved during this block: one lock and hash look-up per next hop and block
    /// instead of per frame.
    nh_cache: &'a mut Vec<(IpAddr, MacAddr)>,
    now: Instant,
    tally: Tally,
}

impl Fwd<'_> {
    /// Hands the frame `buf[start..start + len]` (`buf` sits at `base` in the buffer the
    /// ranges in `out` refer to) to the handler and queues the result. `gso`: the frame is a
    /// partial GSO train, sent on with a GSO header.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn handle<H: FrameHandler>(
        &mut self,
        handler: &mut H,
        p: usize,
        buf: &mut [u8],
        base: usize,
        start: usize,
        len: usize,
        gso: Option<VnetHdr>,
        out: &mut [TxList],
    ) {
        let c = self.c;
        let Ok(mut pkt) = PacketBuf::new(buf, start, len) else {
            Counters::inc(&c.drop_buffer, 1);
            return;
        };
        let action = handler.handle_frame(self.now, p, &mut pkt);
        let rel = pkt.start()..pkt.start() + pkt.len();
        match action {
            Action::Forward { next_hop, mac } => {
                self.tally.fwd += 1;
                let Some(frame) = buf.get_mut(rel.clone()).filter(|f| f.len() >= 14) else {
                    Counters::inc(&c.drop_buffer, 1);
                    return;
                };
                let hdr = match gso {
                    None => VnetHdr::PLAIN,
                    // The rewrite moved addresses (and maybe the TCP header's length): the
                    // partial sum is recomputed for what goes out. An encapsulated train cannot
                    // be described (TUN is segmented before, see `gso_whole`).
                    Some(h) => match partial::refresh_pseudo_header(frame) {
                        Ok(at) => VnetHdr {
                            flags: F_NEEDS_CSUM,
                            gso_type: h.gso_type,
                            hdr_len: at.hdr_len,
                            gso_size: h.gso_size,
                            csum_start: at.csum_start,
                            csum_offset: at.csum_offset,
                        },
                        Err(_) => {
                            Counters::inc(&c.drop_gso, 1);
                            return;
                        }
                    },
                };
                self.forward(buf, base, rel, p, next_hop, mac, &hdr, out);
            }
            Action::Reply { len } => {
                self.tally.replies += 1;
                let r = rel.start..rel.start + len.min(rel.len());
                if !queue(
                    buf,
                    base,
                    r,
                    self.tx[p].vnet_hdr,
                    &VnetHdr::PLAIN,
                    &mut out[p],
                ) {
                    Counters::inc(&c.drop_buffer, 1);
                }
            }
            Action::Drop => self.tally.drops += 1,
            Action::Pass => self.tally.passed += 1,
        }
    }

    /// Routes the forwarded frame `buf[rel]` (`buf` sits at `base` in the send buffer), writes
    /// its MACs and queues it behind `hdr`, or parks it until its next hop resolves.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn forward(
        &mut self,
        buf: &mut [u8],
        base: usize,
        rel: Range<usize>,
        p: usize,
        next_hop: IpAddr,
        mac: Option<MacAddr>,
        hdr: &VnetHdr,
        out: &mut [TxList],
    ) {
        let c = self.c;
        let (q, nh) = route(self.routes, next_hop, p);
        let vnet = self.tx[q].vnet_hdr;
        buf[rel.start + 6..rel.start + 12].copy_from_slice(&self.tx[q].mac.0);
        let dst = match mac {
            Some(_) => None,
            None => match self.nh_cache.iter().find(|(ip, _)| *ip == nh) {
                Some(&(_, m)) => Some(m),
                None => match self.resolve(&buf[rel.clone()], q, nh, hdr) {
                    Some(m) => Some(m),
                    None => return,
                },
            },
        };
        if let Some(m) = dst {
            buf[rel.start..rel.start + 6].copy_from_slice(&m.0);
        }
        if !queue(buf, base, rel, vnet, hdr, &mut out[q]) {
            Counters::inc(&c.drop_buffer, 1);
        }
    }

    /// The slow path of [`forward`](Self::forward): asks the shared neighbour cache (a hit is
    /// remembered for the rest of the block) and returns the MAC, or parks a copy of `frame`
    /// until the next hop resolves and returns `None`.
    #[cold]
    fn resolve(&mut self, frame: &[u8], q: usize, nh: IpAddr, hdr: &VnetHdr) -> Option<MacAddr> {
        let c = self.c;
        let lookup = lock(self.neigh).lookup(self.now, nh);
        let mut found = None;
        match lookup {
            Lookup::Hit(m) | Lookup::Refresh(m) => {
                if matches!(lookup, Lookup::Hit(_)) && self.nh_cache.len() < NH_CACHE {
                    self.nh_cache.push((nh, m));
                }
                found = Some(m);
            }
            Lookup::Miss { .. } => {
                if self.pending.len() < PENDING_CAP {
                    self.pending.push(Pending {
                        port: q,
                        ip: nh,
                        frame: frame.to_vec(),
                        vnet: hdr.to_bytes(),
                    });
                    Counters::inc(&c.neigh_queued, 1);
                } else {
                    Counters::inc(&c.drop_neigh_queue, 1);
                }
            }
            Lookup::Failed => Counters::inc(&c.drop_neigh_failed, 1),
        }
        if matches!(lookup, Lookup::Refresh(_) | Lookup::Miss { request: true }) {
            send_request(&mut self.tx[q], self.addrs[q], nh, c);
        }
        found
    }
}

fn lock(n: &SharedNeighbours) -> std::sync::MutexGuard<'_, neigh::NeighbourCache> {
    // A worker that panicked mid-update leaves a cache that is still consistent (every update
    // is a single insert), so a poisoned lock is used as is.
    n.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a [`TxList`] (its ranges carry their virtio headers already, see [`queue`]).
fn send_counted(t: &mut TxHalf, base: &[u8], l: &TxList, c: &Counters) {
    if l.ranges.is_empty() {
        return;
    }
    let sent = t.send_prefixed(base, &l.ranges).unwrap_or(0);
    Counters::inc(&c.tx_frames, sent as u64);
    Counters::inc(&c.tx_errors, (l.ranges.len() - sent) as u64);
}

fn send_plain(
    t: &mut TxHalf,
    base: &[u8],
    ranges: &[Range<usize>],
    hdrs: &[[u8; VNET_HDR_LEN]],
    c: &Counters,
) {
    if ranges.is_empty() {
        return;
    }
    let sent = t.send_with_vnet(base, ranges, hdrs).unwrap_or(0);
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
        send_plain(t, &buf, core::slice::from_ref(&(0..n)), &[], c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
