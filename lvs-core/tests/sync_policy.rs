//! When the master syncs (`ip_vs_sync_conn_needed` with the default sysctls
//! sync_threshold = 3 50, sync_refresh_period = 0) and how the sender batches.

use core::time::Duration;

use lvs_core::sync::{
    FLUSH_TIME, SyncConn, SyncPolicy, SyncSender, SyncSenderConfig, SyncTrack, decode, flags,
    tcp_state,
};
use lvs_core::time::Instant;
use lvs_core::wire::IpProtocol;

/// Grouped under `sync` so that `cargo test -p lvs-core sync` runs them.
mod sync {
    use super::*;

    fn conn(protocol: IpProtocol, state: u16) -> SyncConn {
        SyncConn {
            protocol,
            caddr: "198.51.100.7".parse().expect("v4"),
            cport: 40000,
            vaddr: "192.0.2.10".parse().expect("v4"),
            vport: 80,
            daddr: "10.0.0.2".parse().expect("v4"),
            dport: 80,
            fwmark: 0,
            flags: flags::DROUTE,
            state,
            timeout: 900,
            seq: None,
            pe: None,
        }
    }

    /// The packet counts 1..=200 at which `needed` says yes, state fixed.
    fn synced_at(policy: &SyncPolicy, c: &SyncConn) -> Vec<u32> {
        let mut track = SyncTrack::default();
        (1..=200)
            .filter(|&p| policy.needed(Instant::from_secs(u64::from(p)), &mut track, c, p, false))
            .collect()
    }

    #[test]
    fn defaults_sync_at_3_then_every_50() {
        let p = SyncPolicy::default();
        let es = conn(IpProtocol::Tcp, tcp_state::ESTABLISHED);
        assert_eq!(synced_at(&p, &es), vec![3, 53, 103, 153]);
        assert_eq!(
            synced_at(&p, &conn(IpProtocol::Udp, 0)),
            vec![3, 53, 103, 153]
        );
        assert!(synced_at(&p, &conn(IpProtocol::Tcp, tcp_state::SYN_RECV)).is_empty());
        let mut one = conn(IpProtocol::Udp, 0);
        one.flags |= flags::ONE_PACKET;
        assert!(synced_at(&p, &one).is_empty());
        let mut tpl = conn(IpProtocol::Tcp, 0);
        tpl.flags |= flags::TEMPLATE;
        assert_eq!(
            synced_at(&p, &tpl).len(),
            200,
            "templates sync on every call"
        );
    }

    #[test]
    fn state_change_out_of_established_syncs_at_once() {
        let p = SyncPolicy::default();
        let mut track = SyncTrack::default();
        let now = Instant::from_secs(1);
        let es = conn(IpProtocol::Tcp, tcp_state::ESTABLISHED);
        assert!(p.needed(now, &mut track, &es, 3, false));
        let fw = conn(IpProtocol::Tcp, tcp_state::FIN_WAIT);
        assert!(p.needed(now, &mut track, &fw, 7, false), "ES -> FIN_WAIT");
        assert!(
            !p.needed(now, &mut track, &fw, 8, false),
            "no change, not a threshold count"
        );
        let tw = conn(IpProtocol::Tcp, tcp_state::TIME_WAIT);
        assert!(p.needed(now, &mut track, &tw, 9, false));
    }

    #[test]
    fn persist_mode_leaves_controlled_conns_to_the_template() {
        let p = SyncPolicy {
            persist_mode: true,
            ..SyncPolicy::default()
        };
        let es = conn(IpProtocol::Tcp, tcp_state::ESTABLISHED);
        assert!(!p.needed(Instant::ZERO, &mut SyncTrack::default(), &es, 3, true));
        assert!(p.needed(Instant::ZERO, &mut SyncTrack::default(), &es, 3, false));
    }

    #[test]
    fn refresh_period_suppresses_unchanged_resyncs() {
        // sync_refresh_period 60 s with sync_period 0: every packet is a candidate; the
        // expiry moves with each packet, so only once the difference reaches
        // min(60 s, max(900 s / 2, 10 s)) = 60 s does it sync again.
        let p = SyncPolicy {
            period: 0,
            refresh_period: Duration::from_secs(60),
            ..SyncPolicy::default()
        };
        let es = conn(IpProtocol::Tcp, tcp_state::ESTABLISHED);
        let mut track = SyncTrack::default();
        let at = |s| Instant::from_secs(s);
        assert!(p.needed(at(100), &mut track, &es, 1, false), "first sync");
        assert!(!p.needed(at(130), &mut track, &es, 2, false));
        assert!(!p.needed(at(159), &mut track, &es, 3, false));
        assert!(p.needed(at(160), &mut track, &es, 4, false), "60 s later");
    }

    #[test]
    fn sender_batches_by_maxlen_and_flushes_after_two_seconds() {
        let mut s = SyncSender::new(SyncSenderConfig {
            syncid: 1,
            maxlen: 100,
        });
        let t0 = Instant::from_secs(10);
        let c = conn(IpProtocol::Tcp, tcp_state::ESTABLISHED);
        for _ in 0..3 {
            s.push(t0, &c).expect("push");
        }
        let mut buf = [0u8; 1500];
        // 8 + 36 + 36 = 80 fits 100; a third entry would make 116.
        let n = s.poll_transmit(&mut buf).expect("first message closed");
        assert_eq!(n, 80);
        assert_eq!(decode(&buf[..n], 1).expect("decodes").conns.len(), 2);
        assert_eq!(s.poll_transmit(&mut buf), None);
        assert_eq!(s.poll_timeout(), Some(t0 + FLUSH_TIME));
        s.handle_timeout(t0 + Duration::from_millis(1999));
        assert_eq!(s.poll_transmit(&mut buf), None);
        s.handle_timeout(t0 + FLUSH_TIME);
        assert_eq!(s.poll_transmit(&mut buf), Some(44));
        assert_eq!(s.poll_timeout(), None);
        assert_eq!((s.stats().conns, s.stats().messages), (3, 2));
    }
}
