//! Fuzz target: rewriters that change the length (TOA, tunnel encap/decap) and originated
//! packets, over a buffer with seed-chosen head- and tailroom (see `rewrite_check.rs`).
#![no_main]

#[path = "rewrite_check.rs"]
mod check;

use lvs_core::rewrite::originate::{IcmpErrorKind, icmp_error};
use lvs_core::rewrite::toa::{ToaVerdict, insert_toa};
use lvs_core::rewrite::tunnel::{EncapVerdict, Tunnel, TunnelKind, encap};
use lvs_core::rewrite::{PacketBuf, decap};
use lvs_core::wire::IpVersion;

const GUE_PORT: u16 = 6080;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seed, mut frame) = check::split(data);
    let normalized = check::normalize(&mut frame);
    let v6 = normalized.is_some_and(|(i, _)| i.ip_version == IpVersion::Ipv6);
    let k = check::conn(&seed, v6);
    let head = usize::from(seed[74] % 80);
    let tail = usize::from(seed[75] % 40);
    let mut buf = vec![0u8; head + frame.len() + tail];
    let reset = |buf: &mut Vec<u8>| {
        buf.fill(0);
        buf[head..head + frame.len()].copy_from_slice(&frame);
    };

    // Decapsulation of arbitrary bytes: no panic, and the inner range lies in the frame.
    if let Ok(inner) = decap::inner(&frame, Some(GUE_PORT)) {
        assert!(inner.range.end <= frame.len() && inner.range.start < inner.range.end);
    }

    // TOA with a seed-chosen client of either family.
    reset(&mut buf);
    let mut p = PacketBuf::new(&mut buf, head, frame.len()).expect("in range");
    let client = if seed[76] & 1 == 0 {
        k.caddr
    } else {
        check::conn(&seed, !v6).caddr
    };
    match insert_toa(&mut p, client, k.cport) {
        Ok(ToaVerdict::Inserted) => {
            if let Some((_, filled)) = normalized {
                check::assert_valid(p.frame(), filled, "toa");
            }
            let back = lvs_core::rewrite::toa::read_toa(p.frame()).expect("parses");
            assert_eq!(back, Some((client, k.cport)));
        }
        Ok(ToaVerdict::NoOptionSpace) | Err(_) => {
            assert_eq!(p.frame(), &frame[..], "toa: refused but changed");
        }
    }

    // Encapsulation then decapsulation is the identity (up to Ethernet padding).
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
    reset(&mut buf);
    let mut p = PacketBuf::new(&mut buf, head, frame.len()).expect("in range");
    match encap(&mut p, &t) {
        Ok(EncapVerdict::Encapsulated) => {
            let info = lvs_core::wire::flow::extract(p.frame()).expect("outer parses");
            assert_eq!(info.l4_end, p.len(), "outer length");
            let inner = decap::decap(&mut p, Some(GUE_PORT)).expect("decap of our encap");
            // Encapsulation keeps the IP packet and drops Ethernet padding.
            let l3 = if frame[12..14] == [0x81, 0] { 18 } else { 14 };
            let ip_len = if frame[l3] >> 4 == 6 {
                40 + usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]))
            } else {
                usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]))
            };
            let orig_end = l3 + ip_len;
            assert_eq!(p.frame(), &frame[..orig_end], "encap/decap identity");
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

    // Originated ICMP errors about the frame are valid and within the RFC size limits.
    let mut out = [0u8; 1600];
    let kinds = [
        IcmpErrorKind::TimeExceeded,
        IcmpErrorKind::FragNeeded { mtu },
        IcmpErrorKind::PacketTooBig {
            mtu: u32::from(mtu),
        },
    ];
    for kind in kinds {
        if let Ok(n) = icmp_error(&frame, kind, k.vaddr, 9, &mut out) {
            let (_, filled) = check::normalize(&mut out[..n].to_vec()).expect("parses");
            check::assert_valid(&out[..n], filled, "icmp_error");
            let l3 = if out[12] == 0x81 { 18 } else { 14 };
            assert!(n - l3 <= if v6 { 1280 } else { 576 });
        }
    }
});
