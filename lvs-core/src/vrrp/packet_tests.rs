use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// v2, VRID 51, priority 100, 192.0.2.100, PASS "secret", 1 s. Checksum 0x7b19 computed with a
/// separate RFC 1071 script (Python `struct` sum, end-around carry, complement).
const V2: [u8; 20] = [
    0x21, 51, 100, 1, 1, 1, 0x7b, 0x19, 192, 0, 2, 100, b's', b'e', b'c', b'r', b'e', b't', 0, 0,
];
/// v3 over IPv4 192.0.2.1 > 224.0.0.18, VRID 51, priority 100, 100 cs, 192.0.2.100; checksum
/// 0x0572 over the pseudo-header and message (same script).
const V3_V4: [u8; 12] = [0x31, 51, 100, 1, 0, 100, 0x05, 0x72, 192, 0, 2, 100];
/// v3 over IPv6 fe80::1 > ff02::12, VRID 51, priority 200, 100 cs, 2001:db8::100; checksum 0xd98e.
const V3_V6: [u8; 24] = [
    0x31, 51, 200, 1, 0, 100, 0xd9, 0x8e, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0,
];

#[test]
fn v2_golden() {
    let p = VrrpPacket::new_checked(&V2[..], Family::V4).unwrap();
    assert_eq!(p.version(), VrrpVersion::V2);
    assert_eq!((p.msg_type(), p.vrid(), p.priority()), (1, 51, 100));
    assert_eq!(p.adver_int(), 1);
    assert_eq!(p.auth(), Some(VrrpAuth::simple(b"secret")));
    assert_eq!(p.addrs().collect::<Vec<_>>(), vec![ip("192.0.2.100")]);
    // v2 ignores the IP addresses: any pair verifies.
    assert!(p.verify_checksum(&ip("10.0.0.1"), &ip("10.0.0.2")));
    let repr = VrrpRepr::parse(&p);
    let mut out = [0u8; 20];
    assert_eq!(
        repr.emit(&mut out, &ip("10.0.0.1"), &ip("224.0.0.18")),
        Ok(20)
    );
    assert_eq!(out, V2);
}

#[test]
fn v3_ipv4_golden() {
    let repr = VrrpRepr {
        version: VrrpVersion::V3,
        vrid: 51,
        priority: 100,
        adver_int: 100,
        addrs: vec![ip("192.0.2.100")],
        auth: VrrpAuth::None,
    };
    let (src, dst) = (ip("192.0.2.1"), ip("224.0.0.18"));
    let mut out = [0u8; 12];
    assert_eq!(repr.emit(&mut out, &src, &dst), Ok(12));
    assert_eq!(out, V3_V4);
    let p = VrrpPacket::new_checked(&out[..], Family::V4).unwrap();
    assert!(p.verify_checksum(&src, &dst));
    assert!(!p.verify_checksum(&ip("192.0.2.2"), &dst));
    assert_eq!(p.auth(), None);
    assert_eq!(VrrpRepr::parse(&p), repr);
}

#[test]
fn v3_ipv6_golden() {
    let (src, dst) = (ip("fe80::1"), ip("ff02::12"));
    let p = VrrpPacket::new_checked(&V3_V6[..], Family::V6).unwrap();
    assert!(p.verify_checksum(&src, &dst));
    assert_eq!(p.addr(0), Some(ip("2001:db8::100")));
    assert_eq!(p.addr(1), None);
    let mut out = [0u8; 24];
    VrrpRepr::parse(&p).emit(&mut out, &src, &dst).unwrap();
    assert_eq!(out, V3_V6);
}

#[test]
fn rejects_truncated_and_bad_versions() {
    for len in 0..V2.len() {
        assert_eq!(
            VrrpPacket::new_checked(&V2[..len], Family::V4),
            Err(VrrpError::Truncated)
        );
    }
    for len in 0..V3_V6.len() {
        assert!(VrrpPacket::new_checked(&V3_V6[..len], Family::V6).is_err());
    }
    // Interpreted as IPv6 the v3 IPv4 message is short of its 16-byte address.
    assert_eq!(
        VrrpPacket::new_checked(&V3_V4[..], Family::V6),
        Err(VrrpError::Truncated)
    );
    assert_eq!(
        VrrpPacket::new_checked(&V2[..], Family::V6),
        Err(VrrpError::BadVersion)
    );
    for version in [0u8, 1, 4, 15] {
        let mut b = V3_V4;
        b[0] = (version << 4) | 1;
        assert_eq!(
            VrrpPacket::new_checked(&b[..], Family::V4),
            Err(VrrpError::BadVersion)
        );
    }
    // Trailing link padding is accepted and not summed.
    let mut padded = V3_V4.to_vec();
    padded.extend_from_slice(&[0xaa; 6]);
    let p = VrrpPacket::new_checked(&padded[..], Family::V4).unwrap();
    assert!(p.verify_checksum(&ip("192.0.2.1"), &ip("224.0.0.18")));
}

#[test]
fn emit_errors() {
    let mut repr = VrrpRepr {
        version: VrrpVersion::V3,
        vrid: 1,
        priority: 1,
        adver_int: 100,
        addrs: vec![ip("192.0.2.1"), ip("2001:db8::1")],
        auth: VrrpAuth::None,
    };
    let mut out = [0u8; 64];
    let (s, d) = (ip("192.0.2.1"), ip("224.0.0.18"));
    assert_eq!(repr.emit(&mut out, &s, &d), Err(VrrpError::BadAddrList));
    repr.addrs.truncate(1);
    assert_eq!(repr.emit(&mut out[..11], &s, &d), Err(VrrpError::Truncated));
    // The interval keeps its 12 bits and the reserved nibble stays zero.
    repr.adver_int = 0xffff;
    repr.emit(&mut out, &s, &d).unwrap();
    assert_eq!(&out[4..6], &[0x0f, 0xff]);
}

#[test]
fn auth_variants() {
    assert_eq!(
        VrrpAuth::simple(b"a-very-long-password"),
        VrrpAuth::Simple(*b"a-very-l")
    );
    let mut b = V2;
    b[4] = 7;
    let p = VrrpPacket::new_checked(&b[..], Family::V4).unwrap();
    assert_eq!(p.auth(), Some(VrrpAuth::Unknown(7, *b"secret\0\0")));
}
