//! Counters (`struct ip_vs_kstats`) and the rate estimator (`ip_vs_est.c`).
//!
//! The estimator runs every 2 seconds. Each rate keeps a fixed-point average updated with
//! `avg += (rate - avg) / 4` where `rate` is the 2-second delta scaled by 2^9 (packets,
//! connections) or 2^4 (bytes); reading divides by 2^10 or 2^5 with rounding, i.e. per second.
//! Those shifts are the kernel's `estimation_timer` and `ip_vs_read_estimator`.

use core::time::Duration;

/// How often the estimator runs (`IPVS_EST_TICK` * `IPVS_EST_NTICKS` = 2 s).
pub const ESTIMATOR_INTERVAL: Duration = Duration::from_secs(2);

/// Cumulative counters of a service, a dest or the whole director (`ipvsadm -L --stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets client -> real server.
    pub inpkts: u64,
    /// Packets real server -> client (seen for NAT and FULLNAT only).
    pub outpkts: u64,
    /// Bytes in (IP length, as the kernel's `skb->len` at the IPVS hook).
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
}

impl Stats {
    #[inline]
    pub(super) fn count_in(&mut self, bytes: usize) {
        self.inpkts = self.inpkts.wrapping_add(1);
        self.inbytes = self.inbytes.wrapping_add(bytes as u64);
    }

    #[inline]
    pub(super) fn count_out(&mut self, bytes: usize) {
        self.outpkts = self.outpkts.wrapping_add(1);
        self.outbytes = self.outbytes.wrapping_add(bytes as u64);
    }
}

/// Rates per second (`ipvsadm -L --rate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets in per second.
    pub inpps: u64,
    /// Packets out per second.
    pub outpps: u64,
    /// Bytes in per second.
    pub inbps: u64,
    /// Bytes out per second.
    pub outbps: u64,
}

/// One estimator (`struct ip_vs_estimator`): the last counters and the scaled averages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Estimator {
    last: Stats,
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

impl Estimator {
    /// One 2-second tick over the current counters.
    pub(super) fn tick(&mut self, s: &Stats) {
        fn avg(avg: &mut i64, now: u64, last: u64, shift: u32) {
            let rate = (now.wrapping_sub(last) as i64) << shift;
            *avg += (rate - *avg) >> 2;
        }
        avg(&mut self.cps, s.conns, self.last.conns, 9);
        avg(&mut self.inpps, s.inpkts, self.last.inpkts, 9);
        avg(&mut self.outpps, s.outpkts, self.last.outpkts, 9);
        avg(&mut self.inbps, s.inbytes, self.last.inbytes, 4);
        avg(&mut self.outbps, s.outbytes, self.last.outbytes, 4);
        self.last = *s;
    }

    /// The rates per second, rounded as `ip_vs_read_estimator` does.
    pub(super) fn rates(&self) -> Rates {
        let r = |v: i64, add: i64, shift: u32| ((v + add) >> shift).max(0) as u64;
        Rates {
            cps: r(self.cps, 0x1ff, 10),
            inpps: r(self.inpps, 0x1ff, 10),
            outpps: r(self.outpps, 0x1ff, 10),
            inbps: r(self.inbps, 0xf, 5),
            outbps: r(self.outbps, 0xf, 5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_converges_to_per_second() {
        // 1000 packets and 1 MB every 2 s: 500 pps and 500000 B/s once converged.
        let mut e = Estimator::default();
        let mut s = Stats::default();
        for _ in 0..60 {
            s.inpkts += 1000;
            s.inbytes += 1_000_000;
            s.conns += 20;
            e.tick(&s);
        }
        let r = e.rates();
        assert_eq!((r.inpps, r.inbps, r.cps, r.outpps), (500, 500_000, 10, 0));
    }

    #[test]
    fn first_tick_is_a_quarter() {
        // avg = (1000 << 9) / 4 = 128000; read (128000 + 511) >> 10 = 125 = 1000/2/4.
        let mut e = Estimator::default();
        e.tick(&Stats {
            inpkts: 1000,
            ..Stats::default()
        });
        assert_eq!(e.rates().inpps, 125);
    }
}
