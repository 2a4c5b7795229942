//! Fuzz target: TOA insertion and MSS clamping over a buffer with seed-chosen head- and
//! tailroom (see `rewrite_check.rs`).
#![no_main]

#[path = "rewrite_check.rs"]
mod check;

use lvs_core::rewrite::toa::{ToaVerdict, insert_toa, read_toa};
use lvs_core::rewrite::{PacketBuf, clamp_mss};
use lvs_core::wire::IpVersion;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seed, mut frame) = check::split(data);
    let normalized = check::normalize(&mut frame);
    let v6 = normalized.is_some_and(|(i, _)| i.ip_version == IpVersion::Ipv6);
    let k = check::conn(&seed, v6);
    let head = usize::from(seed[74] % 80);
    let tail = usize::from(seed[75] % 40);
    let mut buf = vec![0u8; head + frame.len() + tail];
    buf[head..head + frame.len()].copy_from_slice(&frame);
    let mut p = PacketBuf::new(&mut buf, head, frame.len()).expect("in range");
    // A client of either family: DPVS puts IPv6 TOA into IPv4 packets for NAT64.
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
            assert_eq!(read_toa(p.frame()), Ok(Some((client, k.cport))));
        }
        Ok(ToaVerdict::NoOptionSpace) | Err(_) => {
            assert_eq!(p.frame(), &frame[..], "toa: refused but changed");
        }
    }
    if let Some((_, filled)) = normalized {
        let mss = u16::from_be_bytes([seed[72], seed[73]]);
        check::run(&frame, filled, "clamp_mss", |f| {
            clamp_mss(f, mss).map(|_| ())
        });
    }
});
