//! Checks for the VRRP and IPVS sync decoders (`fuzz_targets/vrrp.rs`, `fuzz_targets/sync.rs`).

use std::net::IpAddr;

use lvs_core::sync::{self, SyncSender, SyncSenderConfig};
use lvs_core::time::Instant;
use lvs_core::vrrp::{Family, Vrrp, VrrpConfig, VrrpPacket, VrrpRepr, VrrpState, VrrpVersion};

use crate::{V4, V6};

/// VRRP: the view never panics, a parsed repr re-emits to a message that parses to the same
/// repr and verifies, and a state machine fed the bytes (as an IP packet and as a payload)
/// neither panics nor leaves its states.
pub fn check_vrrp(data: &[u8]) {
    for (family, src, dst) in [
        (Family::V4, V4, IpAddr::V4(lvs_core::vrrp::MCAST_V4)),
        (Family::V6, V6, IpAddr::V6(lvs_core::vrrp::MCAST_V6)),
    ] {
        if let Ok(packet) = VrrpPacket::new_checked(data, family) {
            let _ = (
                packet.msg_type(),
                packet.checksum(),
                packet.auth(),
                packet.adver_int(),
            );
            assert!(packet.message_len() <= data.len());
            let repr = VrrpRepr::parse(&packet);
            assert_eq!(repr.addrs.len(), usize::from(packet.addr_count()));
            let mut out = vec![0u8; repr.buffer_len()];
            let len = repr
                .emit(&mut out, &src, &dst)
                .expect("a parsed repr emits");
            let again = VrrpPacket::new_checked(&out[..len], family).expect("emitted parses");
            assert!(again.verify_checksum(&src, &dst));
            let mut back = VrrpRepr::parse(&again);
            if repr.version == VrrpVersion::V3 {
                back.auth = repr.auth;
            }
            assert_eq!(back, repr);
        }
    }
    let config = VrrpConfig::new(
        VrrpVersion::V3,
        51,
        100,
        V4,
        vec!["192.0.2.100".parse().expect("v4")],
    );
    let mut vrrp = Vrrp::new(config).expect("valid config");
    vrrp.start(Instant::ZERO);
    let _ = vrrp.handle_ip_packet(Instant::from_millis(1), data);
    let _ = vrrp.handle_advert(
        Instant::from_millis(2),
        "192.0.2.9".parse().expect("v4"),
        IpAddr::V4(lvs_core::vrrp::MCAST_V4),
        255,
        data,
    );
    vrrp.handle_timeout(Instant::from_secs(10));
    let mut buf = [0u8; 1500];
    while vrrp
        .poll_transmit(Instant::from_secs(10), &mut buf)
        .is_some()
    {}
    assert!(matches!(
        vrrp.state(),
        VrrpState::Backup | VrrpState::Master
    ));
}

/// Sync: `decode` never panics; every decoded connection re-encodes, and a message built from
/// them decodes to the same connections.
pub fn check_sync(data: &[u8]) {
    let Ok(decoded) = sync::decode(data, 0) else {
        return;
    };
    let mut sender = SyncSender::new(SyncSenderConfig {
        syncid: decoded.syncid,
        maxlen: 1472,
    });
    let mut expected = Vec::new();
    for conn in &decoded.conns {
        // v0 entries and kernel entries may carry what v1 cannot (e.g. PE data over 255 is
        // impossible, but mixed state is fine); only re-encodable ones are compared.
        if sender.push(Instant::ZERO, conn).is_ok() {
            expected.push(conn.clone());
        }
    }
    sender.flush();
    let mut buf = vec![0u8; 70_000];
    let mut got = Vec::new();
    while let Some(n) = sender.poll_transmit(&mut buf) {
        let again = sync::decode(&buf[..n], decoded.syncid).expect("our message decodes");
        assert_eq!(again.error, None);
        got.extend(again.conns);
    }
    assert_eq!(got, expected);
}
