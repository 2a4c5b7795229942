//! The VRRP state machine in virtual time: pairs of instances on a lossless simulated link.
//! Expected instants are worked out by hand from RFC 5798 section 6.1 (v3 integer centiseconds:
//! Skew_Time = (256 - prio) * interval_cs / 256, Master_Down = 3 * interval + skew).

use core::net::IpAddr;
use core::time::Duration;

use lvs_core::time::Instant;
use lvs_core::vrrp::{
    Transmit, Vrrp, VrrpAuth, VrrpConfig, VrrpError, VrrpEvent, VrrpState, VrrpVersion,
};

/// Grouped under `vrrp` so that `cargo test -p lvs-core vrrp` runs them.
mod vrrp {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn config(prio: u8, src: &str) -> VrrpConfig {
        VrrpConfig::new(VrrpVersion::V3, 51, prio, ip(src), vec![ip("192.0.2.100")])
    }

    /// Nodes on one link; every advert reaches every other running node with TTL 255.
    struct Net {
        nodes: Vec<Vrrp>,
        up: Vec<bool>,
        frames: Vec<usize>,
        now: Instant,
    }

    impl Net {
        fn new(configs: Vec<VrrpConfig>) -> Self {
            let n = configs.len();
            let nodes = configs
                .into_iter()
                .map(|c| Vrrp::new(c).expect("valid config"))
                .collect();
            Self {
                nodes,
                up: vec![false; n],
                frames: vec![0; n],
                now: Instant::ZERO,
            }
        }

        fn start(&mut self, i: usize) {
            self.up[i] = true;
            self.nodes[i].start(self.now);
            self.flush();
        }

        fn stop(&mut self, i: usize) {
            self.nodes[i].shutdown(self.now);
            self.flush();
            self.up[i] = false;
        }

        fn flush(&mut self) {
            let mut buf = [0u8; 1500];
            for i in 0..self.nodes.len() {
                while let Some(tx) = self.nodes[i].poll_transmit(self.now, &mut buf) {
                    match tx {
                        Transmit::Frame { .. } => self.frames[i] += 1,
                        Transmit::Advert { dst, len } => {
                            let src = self.nodes[i].config().src_addr;
                            for j in (0..self.nodes.len()).filter(|&j| j != i && self.up[j]) {
                                let r = self.nodes[j].handle_advert(
                                    self.now,
                                    src,
                                    dst,
                                    255,
                                    &buf[..len],
                                );
                                assert_eq!(r, Ok(()));
                            }
                        }
                    }
                }
            }
        }

        /// Runs timers up to `end`; returns the instant each state change of node `watch` happened.
        fn run_until(&mut self, end: Instant) {
            loop {
                self.flush();
                let next = (0..self.nodes.len())
                    .filter(|&i| self.up[i])
                    .filter_map(|i| self.nodes[i].poll_timeout())
                    .min();
                match next {
                    Some(t) if t <= end => {
                        self.now = t;
                        for i in (0..self.nodes.len()).filter(|&i| self.up[i]) {
                            if self.nodes[i].poll_timeout().is_some_and(|d| d <= t) {
                                self.nodes[i].handle_timeout(t);
                            }
                        }
                    }
                    _ => break,
                }
            }
            self.now = end;
        }

        /// Runs until node `i` reaches `state`, at most until `limit`; returns when.
        fn run_until_state(&mut self, i: usize, state: VrrpState, limit: Instant) -> Instant {
            while self.nodes[i].state() != state {
                let next = (0..self.nodes.len())
                    .filter(|&n| self.up[n])
                    .filter_map(|n| self.nodes[n].poll_timeout())
                    .min()
                    .expect("a timer is armed");
                assert!(next <= limit, "node {i} not {state:?} by {limit:?}");
                self.run_until(next);
            }
            self.now
        }

        fn state(&self, i: usize) -> VrrpState {
            self.nodes[i].state()
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn startup_backup_then_master_after_master_down_interval() {
        let mut net = Net::new(vec![config(100, "192.0.2.1")]);
        net.start(0);
        assert_eq!(net.state(0), VrrpState::Backup);
        // skew = 156 * 100 / 256 = 60 cs; Master_Down = 300 + 60 cs.
        assert_eq!(
            net.nodes[0].master_down_interval(),
            Duration::from_millis(3600)
        );
        assert_eq!(net.nodes[0].poll_timeout(), Some(ms(3600)));
        assert_eq!(
            net.run_until_state(0, VrrpState::Master, ms(10_000)),
            ms(3600)
        );
        let events: Vec<_> = std::iter::from_fn(|| net.nodes[0].poll_event()).collect();
        let changed = |from, to| VrrpEvent::StateChanged { from, to };
        assert_eq!(
            events,
            vec![
                changed(VrrpState::Initialize, VrrpState::Backup),
                changed(VrrpState::Backup, VrrpState::Master)
            ]
        );
        assert_eq!(net.frames[0], 5, "first burst of 5 gratuitous ARPs");
        net.run_until(ms(3600 + 5000));
        assert_eq!(net.frames[0], 10, "second burst garp_delay later");
        // One advert at takeover, then one per second.
        assert_eq!(net.nodes[0].stats().adverts_tx, 6);
    }

    #[test]
    fn owner_starts_as_master_at_once() {
        let mut net = Net::new(vec![config(255, "192.0.2.1"), config(100, "192.0.2.2")]);
        net.start(1);
        net.start(0);
        assert_eq!(net.state(0), VrrpState::Master);
        assert!(net.nodes[0].accepts_vip_traffic(), "owner accepts");
        net.run_until(ms(3600));
        assert_eq!(net.state(1), VrrpState::Backup);
        assert_eq!(net.state(0), VrrpState::Master);
    }

    #[test]
    fn higher_priority_preempts() {
        let mut net = Net::new(vec![config(100, "192.0.2.1"), config(200, "192.0.2.2")]);
        net.start(0);
        net.run_until_state(0, VrrpState::Master, ms(3600));
        net.run_until(ms(5000));
        net.start(1);
        // B discards A's lower-priority adverts: master after its own Master_Down_Interval,
        // 300 + 56 * 100 / 256 = 321 cs.
        assert_eq!(
            net.run_until_state(1, VrrpState::Master, ms(20_000)),
            ms(8210)
        );
        assert_eq!(
            net.state(0),
            VrrpState::Backup,
            "A yields at B's first advert"
        );
        net.run_until(ms(30_000));
        assert_eq!(net.state(1), VrrpState::Master);
        assert_eq!(net.state(0), VrrpState::Backup);
    }

    #[test]
    fn no_preempt_keeps_the_lower_master() {
        let mut b = config(200, "192.0.2.2");
        b.preempt = false;
        let mut net = Net::new(vec![config(100, "192.0.2.1"), b]);
        net.start(0);
        net.run_until(ms(5000));
        net.start(1);
        net.run_until(ms(60_000));
        assert_eq!(net.state(0), VrrpState::Master);
        assert_eq!(net.state(1), VrrpState::Backup);
    }

    #[test]
    fn preempt_delay_postpones_takeover() {
        let mut b = config(200, "192.0.2.2");
        b.preempt_delay = Duration::from_secs(10);
        let mut net = Net::new(vec![config(100, "192.0.2.1"), b]);
        net.start(0);
        net.run_until(ms(5000));
        net.start(1);
        // Adverts at 5.6, 6.6, ... keep B quiet until 15 s; the first one after (15.6 s) is
        // discarded and the timer armed at 14.6 s (+3.21 s) fires at 17.81 s.
        assert_eq!(
            net.run_until_state(1, VrrpState::Master, ms(30_000)),
            ms(17_810)
        );
    }

    #[test]
    fn resign_hands_over_after_skew_time() {
        let mut net = Net::new(vec![config(200, "192.0.2.1"), config(100, "192.0.2.2")]);
        net.start(0);
        net.start(1);
        net.run_until_state(0, VrrpState::Master, ms(4000));
        net.run_until(ms(10_000));
        net.stop(0);
        assert_eq!(net.nodes[1].stats().priority_zero_rx, 1);
        // Skew_Time of priority 100 at 100 cs: 60 cs.
        assert_eq!(
            net.run_until_state(1, VrrpState::Master, ms(20_000)),
            ms(10_600)
        );
    }

    #[test]
    fn v3_backup_learns_the_masters_interval() {
        let mut a = config(200, "192.0.2.1");
        a.adver_int = Duration::from_secs(2);
        let mut net = Net::new(vec![a, config(100, "192.0.2.2")]);
        net.start(0);
        net.start(1);
        net.run_until_state(0, VrrpState::Master, ms(10_000));
        net.run_until(ms(20_000));
        assert_eq!(net.nodes[1].master_adver_interval(), Duration::from_secs(2));
        // 3 * 200 + 156 * 200 / 256 (= 121) cs.
        assert_eq!(
            net.nodes[1].master_down_interval(),
            Duration::from_millis(7210)
        );
        net.up[0] = false; // A dies silently
        let last_advert = ms(20_000).max(net.now);
        let took = net.run_until_state(1, VrrpState::Master, ms(40_000));
        assert!(took - last_advert <= Duration::from_millis(7210));
        assert!(took - last_advert > Duration::from_millis(5210));
    }

    #[test]
    fn equal_priority_higher_address_wins() {
        let mut net = Net::new(vec![config(100, "192.0.2.1"), config(100, "192.0.2.2")]);
        net.start(0);
        net.start(1);
        net.run_until(ms(30_000));
        assert_eq!(net.state(1), VrrpState::Master);
        assert_eq!(net.state(0), VrrpState::Backup);
    }

    #[test]
    fn fault_gives_up_and_recovers() {
        let mut net = Net::new(vec![config(100, "192.0.2.1")]);
        net.start(0);
        net.run_until_state(0, VrrpState::Master, ms(4000));
        while net.nodes[0].poll_event().is_some() {}
        net.nodes[0].handle_link(net.now, false);
        assert_eq!(net.state(0), VrrpState::Fault);
        assert_eq!(net.nodes[0].poll_timeout(), None);
        assert_eq!(
            net.nodes[0].poll_event(),
            Some(VrrpEvent::StateChanged {
                from: VrrpState::Master,
                to: VrrpState::Fault
            })
        );
        net.nodes[0].handle_link(net.now, true);
        assert_eq!(net.state(0), VrrpState::Backup);
    }

    #[test]
    fn v2_with_password() {
        let cfg = |prio, src| {
            let mut c = VrrpConfig::new(VrrpVersion::V2, 7, prio, ip(src), vec![ip("192.0.2.7")]);
            c.auth = VrrpAuth::simple(b"secret");
            c
        };
        let mut net = Net::new(vec![cfg(150, "192.0.2.1"), cfg(100, "192.0.2.2")]);
        net.start(1);
        net.start(0);
        // v2 skew: (256 - 150) / 256 s = 414.0625 ms; 3 s + that.
        let t = net.run_until_state(0, VrrpState::Master, ms(10_000));
        assert_eq!(t, Instant::from_nanos(3_414_062_500));
        net.run_until(ms(20_000));
        assert_eq!(net.state(1), VrrpState::Backup);
    }

    /// Builds an advert from `src` as a `prio` master of VRID 51 would send it.
    fn advert(version: VrrpVersion, prio: u8, src: &str, auth: VrrpAuth) -> Vec<u8> {
        let repr = lvs_core::vrrp::VrrpRepr {
            version,
            vrid: 51,
            priority: prio,
            adver_int: if version == VrrpVersion::V2 { 1 } else { 100 },
            addrs: vec![ip("192.0.2.100")],
            auth,
        };
        let mut buf = vec![0u8; 64];
        let n = repr
            .emit(&mut buf, &ip(src), &ip("224.0.0.18"))
            .expect("emit");
        buf.truncate(n);
        buf
    }

    #[test]
    fn bad_adverts_are_dropped_and_counted() {
        let mut v = Vrrp::new(config(100, "192.0.2.1")).expect("config");
        v.start(Instant::ZERO);
        let (src, dst) = (ip("192.0.2.9"), ip("224.0.0.18"));
        let good = advert(VrrpVersion::V3, 200, "192.0.2.9", VrrpAuth::None);
        let t = ms(1000);
        assert_eq!(
            v.handle_advert(t, src, dst, 254, &good),
            Err(VrrpError::BadTtl)
        );
        let mut bad = good.clone();
        bad[6] ^= 1;
        assert_eq!(
            v.handle_advert(t, src, dst, 255, &bad),
            Err(VrrpError::BadChecksum)
        );
        assert_eq!(
            v.handle_advert(t, src, dst, 255, &good[..9]),
            Err(VrrpError::Truncated)
        );
        let v2 = advert(VrrpVersion::V2, 200, "192.0.2.9", VrrpAuth::None);
        assert_eq!(
            v.handle_advert(t, src, dst, 255, &v2),
            Err(VrrpError::BadVersion)
        );
        let mut other = good.clone();
        other[1] = 52;
        assert_eq!(v.handle_advert(t, src, dst, 255, &other), Ok(()));
        let s = *v.stats();
        assert_eq!(
            (
                s.bad_ttl,
                s.bad_checksum,
                s.truncated,
                s.bad_version,
                s.other_vrid
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(s.adverts_rx, 0);
        // None of them re-armed Master_Down_Timer.
        assert_eq!(v.poll_timeout(), Some(ms(3600)));
        assert_eq!(v.handle_advert(t, src, dst, 255, &good), Ok(()));
        assert_eq!(v.poll_timeout(), Some(ms(4600)));
    }

    #[test]
    fn v2_auth_and_interval_checked() {
        let mut c = VrrpConfig::new(
            VrrpVersion::V2,
            51,
            100,
            ip("192.0.2.1"),
            vec![ip("192.0.2.100")],
        );
        c.auth = VrrpAuth::simple(b"secret");
        let mut v = Vrrp::new(c).expect("config");
        v.start(Instant::ZERO);
        let (src, dst) = (ip("192.0.2.9"), ip("224.0.0.18"));
        let wrong = advert(
            VrrpVersion::V2,
            200,
            "192.0.2.9",
            VrrpAuth::simple(b"secreT"),
        );
        assert_eq!(
            v.handle_advert(ms(1), src, dst, 255, &wrong),
            Err(VrrpError::BadAuth)
        );
        let none = advert(VrrpVersion::V2, 200, "192.0.2.9", VrrpAuth::None);
        assert_eq!(
            v.handle_advert(ms(1), src, dst, 255, &none),
            Err(VrrpError::BadAuth)
        );
        let mut slow = advert(
            VrrpVersion::V2,
            200,
            "192.0.2.9",
            VrrpAuth::simple(b"secret"),
        );
        slow[5] = 2;
        // Recompute the v2 checksum by hand (RFC 1071) so only the interval is wrong.
        slow[6..8].fill(0);
        let sum = slow
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum::<u32>();
        let folded = (sum & 0xffff) + (sum >> 16);
        slow[6..8].copy_from_slice(&(!(folded as u16)).to_be_bytes());
        assert_eq!(
            v.handle_advert(ms(1), src, dst, 255, &slow),
            Err(VrrpError::IntervalMismatch)
        );
        assert_eq!((v.stats().bad_auth, v.stats().interval_mismatch), (2, 1));
    }

    #[test]
    fn address_list_mismatch_counted_then_strict_drops() {
        let mut c = config(100, "192.0.2.1");
        c.vips.push(ip("192.0.2.101"));
        let mut v = Vrrp::new(c.clone()).expect("config");
        v.start(Instant::ZERO);
        let (src, dst) = (ip("192.0.2.9"), ip("224.0.0.18"));
        let one = advert(VrrpVersion::V3, 200, "192.0.2.9", VrrpAuth::None);
        assert_eq!(v.handle_advert(ms(1), src, dst, 255, &one), Ok(()));
        assert_eq!(v.stats().addr_list_mismatch, 1);
        assert!(matches!(
            v.poll_event(),
            Some(VrrpEvent::StateChanged { .. })
        ));
        assert_eq!(
            v.poll_event(),
            Some(VrrpEvent::Rejected {
                from: src,
                reason: VrrpError::BadAddrList
            })
        );
        c.strict_addrs = true;
        let mut strict = Vrrp::new(c).expect("config");
        strict.start(Instant::ZERO);
        assert_eq!(
            strict.handle_advert(ms(1), src, dst, 255, &one),
            Err(VrrpError::BadAddrList)
        );
    }

    #[test]
    fn handle_ip_packet_reads_the_ip_header() {
        let mut v = Vrrp::new(config(100, "192.0.2.1")).expect("config");
        v.start(Instant::ZERO);
        let body = advert(VrrpVersion::V3, 200, "192.0.2.9", VrrpAuth::None);
        let mut pkt = vec![0u8; 20 + body.len()];
        let hdr = lvs_core::wire::Ipv4Repr {
            src_addr: "192.0.2.9".parse().expect("v4"),
            dst_addr: "224.0.0.18".parse().expect("v4"),
            next_header: lvs_core::wire::IpProtocol::Vrrp,
            payload_len: body.len(),
            hop_limit: 255,
            ident: 0,
            dont_frag: false,
            dscp_ecn: 0xc0,
        };
        hdr.emit(&mut pkt).expect("ip");
        pkt[20..].copy_from_slice(&body);
        assert_eq!(v.handle_ip_packet(ms(1), &pkt), Ok(()));
        assert_eq!(v.stats().adverts_rx, 1);
        pkt[8] = 1; // TTL 1 (header checksum is not re-checked by a raw socket reader)
        assert_eq!(v.handle_ip_packet(ms(1), &pkt), Err(VrrpError::BadTtl));
        assert_eq!(
            v.handle_ip_packet(ms(1), &pkt[..10]),
            Err(VrrpError::NotVrrp)
        );
    }

    #[test]
    fn config_is_validated() {
        let bad = [
            VrrpConfig::new(
                VrrpVersion::V3,
                0,
                100,
                ip("192.0.2.1"),
                vec![ip("192.0.2.100")],
            ),
            VrrpConfig::new(
                VrrpVersion::V3,
                1,
                0,
                ip("192.0.2.1"),
                vec![ip("192.0.2.100")],
            ),
            VrrpConfig::new(VrrpVersion::V3, 1, 100, ip("192.0.2.1"), vec![]),
            VrrpConfig::new(
                VrrpVersion::V2,
                1,
                100,
                ip("fe80::1"),
                vec![ip("2001:db8::1")],
            ),
            VrrpConfig::new(
                VrrpVersion::V3,
                1,
                100,
                ip("fe80::1"),
                vec![ip("192.0.2.100")],
            ),
        ];
        for c in bad {
            assert!(matches!(Vrrp::new(c), Err(VrrpError::Config(_))));
        }
        let mut c = config(100, "192.0.2.1");
        c.adver_int = Duration::from_secs(41);
        assert!(Vrrp::new(c).is_err());
    }
}

/// Unicast peers: one advert per peer instead of one to the group.
#[test]
fn vrrp_unicast_peers_get_one_advert_each() {
    let ip = |s: &str| -> IpAddr { s.parse().expect("address") };
    let mut c = VrrpConfig::new(
        VrrpVersion::V3,
        51,
        255,
        ip("192.0.2.1"),
        vec![ip("192.0.2.100")],
    );
    c.peers = vec![ip("192.0.2.2"), ip("192.0.2.3")];
    c.garp_repeat = 0;
    let mut v = Vrrp::new(c).expect("config");
    v.start(Instant::ZERO);
    let mut buf = [0u8; 1500];
    let mut dsts = Vec::new();
    while let Some(tx) = v.poll_transmit(Instant::ZERO, &mut buf) {
        if let Transmit::Advert { dst, .. } = tx {
            dsts.push(dst);
        }
    }
    assert_eq!(dsts, vec![ip("192.0.2.2"), ip("192.0.2.3")]);
}
