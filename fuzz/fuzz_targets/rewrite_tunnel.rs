//! Fuzz target: tunnel encapsulation (ipip, GUE, GRE) and decapsulation over a buffer with
//! seed-chosen head- and tailroom; encap then decap must be the identity (see
//! `rewrite_check.rs`).
#![no_main]

#[path = "rewrite_check.rs"]
mod check;

use lvs_core::rewrite::tunnel::{EncapVerdict, Tunnel, TunnelKind, encap};
use lvs_core::rewrite::{PacketBuf, decap};

const GUE_PORT: u16 = 6080;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seed, mut frame) = check::split(data);
    check::normalize(&mut frame);
    // Decapsulation of arbitrary bytes: no panic, and the inner range lies in the frame.
    if let Ok(inner) = decap::inner(&frame, Some(GUE_PORT)) {
        assert!(inner.range.end <= frame.len() && inner.range.start < inner.range.end);
    }
    let kind = match seed[77] % 6 {
        0 => TunnelKind::Ipip,
        1 => TunnelKind::Gue {
            port: GUE_PORT,
            csum: false,
            direct: false,
        },
        2 => TunnelKind::Gue {
            port: GUE_PORT,
            csum: true,
            direct: false,
        },
        3 => TunnelKind::Gue {
            port: GUE_PORT,
            csum: true,
            direct: true,
        },
        4 => TunnelKind::Gre { csum: false },
        _ => TunnelKind::Gre { csum: true },
    };
    let outer = check::conn(&seed, seed[78] & 1 == 1);
    let mtu = u16::from_be_bytes([seed[78], seed[79]]);
    let t = Tunnel {
        kind,
        src: outer.laddr,
        dst: outer.daddr,
        path_mtu: mtu,
        ident: 1,
    };
    let head = usize::from(seed[74] % 80);
    let tail = usize::from(seed[75] % 40);
    let mut buf = vec![0u8; head + frame.len() + tail];
    buf[head..head + frame.len()].copy_from_slice(&frame);
    let mut p = PacketBuf::new(&mut buf, head, frame.len()).expect("in range");
    match encap(&mut p, &t) {
        Ok(EncapVerdict::Encapsulated) => {
            let info = lvs_core::wire::flow::extract(p.frame()).expect("outer parses");
            assert_eq!(info.l4_end, p.len(), "outer length");
            let inner = decap::decap(&mut p, Some(GUE_PORT)).expect("decap of our encap");
            // Encapsulation keeps the IP packet and drops Ethernet padding.
            // One 802.1Q (0x8100) or 802.1ad (0x88a8) tag, as wire::ethernet accepts.
            let l3 = if frame[12..14] == [0x81, 0] || frame[12..14] == [0x88, 0xa8] {
                18
            } else {
                14
            };
            let ip_len = if frame[l3] >> 4 == 6 {
                40 + usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]))
            } else {
                usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]))
            };
            assert_eq!(p.frame(), &frame[..l3 + ip_len], "encap/decap identity");
            assert_eq!(inner.range.end, p.len());
        }
        Ok(EncapVerdict::FragNeeded { mtu: m }) => {
            assert!(m < mtu.max(1) || mtu < 28);
            assert_eq!(p.frame(), &frame[..]);
        }
        Ok(EncapVerdict::PacketTooBig { mtu: m }) => {
            assert!(m >= 1280);
            assert_eq!(p.frame(), &frame[..]);
        }
        Err(_) => assert_eq!(p.frame(), &frame[..], "encap: error but changed"),
    }
});
