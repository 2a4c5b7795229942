//! The IPVS sync codec against messages written out by hand from the kernel's struct layouts
//! (`struct ip_vs_sync_mesg`, `ip_vs_sync_v4`, `ip_vs_sync_v6`, `ip_vs_sync_conn_v0`).

use core::net::IpAddr;

use lvs_core::sync::{
    Decoded, SyncConn, SyncError, SyncPe, SyncSeq, SyncSeqPair, decode, encode_entry, flags,
    tcp_state,
};
use lvs_core::wire::IpProtocol;
use proptest::prelude::*;

/// Grouped under `sync` so that `cargo test -p lvs-core sync` runs them.
mod sync {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn tcp_v4() -> SyncConn {
        SyncConn {
            protocol: IpProtocol::Tcp,
            caddr: ip("198.51.100.7"),
            cport: 40000,
            vaddr: ip("192.0.2.10"),
            vport: 80,
            daddr: ip("10.0.0.2"),
            dport: 8080,
            fwmark: 0,
            flags: flags::DROUTE,
            state: tcp_state::ESTABLISHED,
            timeout: 900,
            seq: None,
            pe: None,
        }
    }

    /// One IPv4 entry, syncid 5.
    const ONE_V4: [u8; 44] = [
        0x00, 0x05, 0x00, 0x2c, 0x01, 0x01, 0x00,
        0x00, // reserved, syncid, size 44, 1 conn, v1
        0x00, 0x06, 0x00, 0x24, // type v4, TCP, version 0 | size 36
        0x00, 0x00, 0x00, 0x03, // flags: DROUTE (HASHED cleared)
        0x00, 0x01, 0x9c, 0x40, // state ESTABLISHED, cport 40000
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark
        0x00, 0x00, 0x03, 0x84, // timeout 900 s
        198, 51, 100, 7, 192, 0, 2, 10, 10, 0, 0, 2, // caddr vaddr daddr
    ];

    #[test]
    fn golden_ipv4_entry() {
        let mut conn = tcp_v4();
        conn.flags |= flags::HASHED;
        let mut buf = [0u8; 36];
        assert_eq!(encode_entry(&conn, &mut buf), Ok(36));
        assert_eq!(&buf[..], &ONE_V4[8..]);
        let d = decode(&ONE_V4, 5).expect("decodes");
        assert_eq!((d.syncid, d.version), (5, 1));
        assert_eq!(d.conns, vec![tcp_v4()]);
        assert_eq!(d.conns[0].backup_flags(), flags::DROUTE | flags::SYNC);
    }

    /// Two entries: IPv4 with seq data and PE options (73 bytes, padded to 76), then IPv6.
    fn two_entries() -> Vec<u8> {
        let mut m = vec![0x00, 0x07, 0x00, 156, 0x02, 0x01, 0x00, 0x00];
        m.extend_from_slice(&[0x00, 0x11, 0x00, 73]); // v4, UDP, size 73
        m.extend_from_slice(&[0x00, 0x00, 0x16, 0x00]); // flags TEMPLATE | IN_SEQ | OUT_SEQ
        m.extend_from_slice(&[0x00, 0x00, 0x13, 0xc4, 0x13, 0xc4, 0x13, 0xc4]); // state 0, 5060 x3
        m.extend_from_slice(&[0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x01, 0x2c]); // fwmark 42, 300 s
        m.extend_from_slice(&[198, 51, 100, 8, 192, 0, 2, 11, 10, 0, 0, 3]);
        m.extend_from_slice(&[1, 24]); // seq data
        for w in [1u32, 2, 3, 4, 5, 6] {
            m.extend_from_slice(&w.to_be_bytes());
        }
        m.extend_from_slice(&[2, 4, 0xca, 0x11, 0x1d, 0x00]); // pe data
        m.extend_from_slice(&[3, 3, b's', b'i', b'p']); // pe name
        m.extend_from_slice(&[0, 0, 0]); // pad to 4
        m.extend_from_slice(&[0x01, 0x06, 0x00, 72]); // v6, TCP, size 72
        m.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0xbb]); // MASQ, FIN_WAIT, 443
        m.extend_from_slice(&[0x01, 0xbb, 0x20, 0xfb, 0x00, 0x00, 0x00, 0x00]); // 443, 8443, fwmark
        m.extend_from_slice(&[0x00, 0x00, 0x00, 0x78]); // 120 s
        for a in ["2001:db8:1::7", "2001:db8::10", "2001:db8:2::2"] {
            if let IpAddr::V6(a) = ip(a) {
                m.extend_from_slice(&a.octets());
            }
        }
        assert_eq!(m.len(), 156);
        m
    }

    fn two_conns() -> Vec<SyncConn> {
        let seq = |a, b, c| SyncSeq {
            init_seq: a,
            delta: b,
            previous_delta: c,
        };
        vec![
            SyncConn {
                protocol: IpProtocol::Udp,
                caddr: ip("198.51.100.8"),
                cport: 5060,
                vaddr: ip("192.0.2.11"),
                vport: 5060,
                daddr: ip("10.0.0.3"),
                dport: 5060,
                fwmark: 42,
                flags: flags::TEMPLATE | flags::SEQ_MASK,
                state: 0,
                timeout: 300,
                seq: Some(SyncSeqPair {
                    in_seq: seq(1, 2, 3),
                    out_seq: seq(4, 5, 6),
                }),
                pe: Some(SyncPe {
                    name: b"sip".to_vec(),
                    data: vec![0xca, 0x11, 0x1d, 0x00],
                }),
            },
            SyncConn {
                protocol: IpProtocol::Tcp,
                caddr: ip("2001:db8:1::7"),
                cport: 443,
                vaddr: ip("2001:db8::10"),
                vport: 443,
                daddr: ip("2001:db8:2::2"),
                dport: 8443,
                fwmark: 0,
                flags: flags::MASQ,
                state: tcp_state::FIN_WAIT,
                timeout: 120,
                seq: None,
                pe: None,
            },
        ]
    }

    #[test]
    fn golden_options_padding_and_ipv6() {
        let msg = two_entries();
        let d = decode(&msg, 0).expect("decodes");
        assert_eq!(d.conns, two_conns());
        assert_eq!((d.skipped.len(), d.error), (0, None));
        // The sender produces the same bytes.
        let mut s = lvs_core::sync::SyncSender::new(lvs_core::sync::SyncSenderConfig {
            syncid: 7,
            maxlen: 1472,
        });
        let now = lvs_core::time::Instant::ZERO;
        for c in two_conns() {
            s.push(now, &c).expect("push");
        }
        s.flush();
        let mut buf = [0u8; 1500];
        let n = s.poll_transmit(&mut buf).expect("a message");
        assert_eq!(&buf[..n], &msg[..]);
        assert_eq!(s.poll_transmit(&mut buf), None);
    }

    #[test]
    fn syncid_filter_and_header_checks() {
        assert_eq!(decode(&ONE_V4, 6), Err(SyncError::OtherSyncId));
        assert!(decode(&ONE_V4, 0).is_ok());
        assert_eq!(decode(&ONE_V4[..3], 0), Err(SyncError::Truncated));
        assert_eq!(decode(&ONE_V4[..43], 0), Err(SyncError::BadSize));
        let mut long = ONE_V4.to_vec();
        long.push(0);
        assert_eq!(decode(&long, 0), Err(SyncError::BadSize));
    }

    #[test]
    fn truncated_and_malformed_entries() {
        let msg = two_entries();
        // Every truncation with a consistent size field fails without a panic.
        for len in 4..msg.len() {
            let mut m = msg[..len].to_vec();
            m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let d = decode(&m, 0);
            if let Ok(d) = d {
                assert!(d.conns.len() < 2, "len {len}");
            }
        }
        let set = |at: usize, v: u8| {
            let mut m = msg.clone();
            m[at] = v;
            decode(&m, 0).expect("header fine")
        };
        assert_eq!(set(8, 2).error, Some(SyncError::BadEntryType));
        // A HASHED bit on the wire is dropped (found by the sync fuzz target).
        assert_eq!(
            set(15, 0x40).conns[0].flags,
            flags::TEMPLATE | flags::SEQ_MASK
        );
        assert_eq!(set(10, 0x10).error, Some(SyncError::BadEntryType)); // entry version 1
        assert_eq!(set(45, 0).error, Some(SyncError::BadOption)); // seq len 0
        assert_eq!(set(45, 23).error, Some(SyncError::BadOption));
        assert_eq!(set(76, 2).error, Some(SyncError::BadOption)); // pe data twice
        assert_eq!(set(77, 17).error, Some(SyncError::BadOption)); // runs past the entry
        // Unknown mandatory option: entry skipped, the next one still read.
        let d = set(76, 9);
        assert_eq!(
            (d.skipped.clone(), d.conns.len()),
            (vec![SyncError::UnknownOption], 1)
        );
        // The same option type marked optional (0x40) is skipped over: PE data then has no name.
        let d = set(76, 0x49);
        assert_eq!(d.skipped, vec![SyncError::BadPe]);
        // A TCP state out of range is skipped.
        // The IPv6 entry starts at 8 + 76: state low byte at +9, protocol at +1.
        let d = set(84 + 9, 11);
        assert_eq!(d.skipped, vec![SyncError::BadProtocolState]);
        let d = set(84 + 1, 0x2f); // protocol 47 (GRE): not balanced
        assert_eq!(d.skipped, vec![SyncError::BadProtocolState]);
    }

    #[test]
    fn version_0_message() {
        // nr_conns 1, syncid 3, size 4 + 24; a MASQ TCP entry in ESTABLISHED.
        let m = [
            1, 3, 0, 28, // header
            0, 6, 0x9c, 0x40, 0x00, 0x50, 0x1f, 0x90, // reserved, TCP, ports
            198, 51, 100, 7, 192, 0, 2, 10, 10, 0, 0, 2, // addresses
            0x00, 0x40, 0x00, 0x01, // flags HASHED (cleared), state 1
        ];
        let d = decode(&m, 3).expect("v0");
        assert_eq!(d.version, 0);
        let mut want = tcp_v4();
        want.flags = flags::MASQ;
        want.timeout = 0;
        assert_eq!(d.conns, vec![want]);
    }

    #[test]
    fn encode_rejects_what_the_kernel_cannot_carry() {
        let mut c = tcp_v4();
        c.daddr = ip("2001:db8::1");
        assert_eq!(encode_entry(&c, &mut [0; 100]), Err(SyncError::Unencodable));
        let mut c = tcp_v4();
        c.pe = Some(SyncPe {
            name: vec![b'x'; 17],
            data: vec![1],
        });
        assert_eq!(encode_entry(&c, &mut [0; 200]), Err(SyncError::Unencodable));
        assert_eq!(
            encode_entry(&tcp_v4(), &mut [0; 35]),
            Err(SyncError::Unencodable)
        );
    }

    fn arb_conn() -> impl Strategy<Value = SyncConn> {
        let addrs = prop_oneof![
            any::<[u32; 3]>().prop_map(|a| a.map(|x| IpAddr::from(x.to_be_bytes()))),
            any::<[u128; 3]>().prop_map(|a| a.map(|x| IpAddr::from(x.to_be_bytes()))),
        ];
        let seq = any::<[u32; 6]>().prop_map(|w| SyncSeqPair {
            in_seq: SyncSeq {
                init_seq: w[0],
                delta: w[1],
                previous_delta: w[2],
            },
            out_seq: SyncSeq {
                init_seq: w[3],
                delta: w[4],
                previous_delta: w[5],
            },
        });
        let pe = (
            proptest::collection::vec(any::<u8>(), 1..=16),
            proptest::collection::vec(any::<u8>(), 1..=255),
        )
            .prop_map(|(name, data)| SyncPe { name, data });
        (
            addrs,
            any::<[u16; 3]>(),
            (any::<u32>(), any::<u32>(), any::<u32>()),
            prop_oneof![Just(6u8), Just(17), Just(132)],
            0u16..11,
            proptest::option::of(seq),
            proptest::option::of(pe),
        )
            .prop_map(
                |(a, p, (fwmark, fl, timeout), proto, state, seq, pe)| SyncConn {
                    protocol: IpProtocol::from(proto),
                    caddr: a[0],
                    cport: p[0],
                    vaddr: a[1],
                    vport: p[1],
                    daddr: a[2],
                    dport: p[2],
                    fwmark,
                    flags: (fl & !flags::HASHED) | if proto == 17 { flags::TEMPLATE } else { 0 },
                    state,
                    timeout,
                    seq,
                    pe,
                },
            )
    }

    proptest! {
        #[test]
        fn decode_encode_roundtrip(conns in proptest::collection::vec(arb_conn(), 1..40), maxlen in 1usize..3000) {
            let mut s = lvs_core::sync::SyncSender::new(lvs_core::sync::SyncSenderConfig { syncid: 9, maxlen });
            let now = lvs_core::time::Instant::ZERO;
            for c in &conns {
                s.push(now, c).expect("encodable");
            }
            s.flush();
            let mut buf = vec![0u8; 70_000];
            let mut got = Vec::new();
            while let Some(n) = s.poll_transmit(&mut buf) {
                let d: Decoded = decode(&buf[..n], 9).expect("decodes");
                prop_assert!(n <= maxlen.max(8 + 400));
                prop_assert_eq!(d.error, None);
                got.extend(d.conns);
            }
            prop_assert_eq!(got, conns);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut b = bytes;
            if b.len() >= 4 {
                let n = b.len() as u16;
                b[2..4].copy_from_slice(&n.to_be_bytes());
            }
            let _ = decode(&b, 0);
        }
    }
}
