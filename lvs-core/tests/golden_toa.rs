//! Golden tables for TOA insertion and MSS clamping (FULLNAT client-address delivery).

mod common;

use std::net::IpAddr;

use common::{MAC_DIR, MAC_RS, assert_frame, ip, ip_builder};
use lvs_core::rewrite::toa::{ToaVerdict, clamped_mss, insert_toa, read_toa};
use lvs_core::rewrite::{PacketBuf, RewriteError, clamp_mss};

/// A TCP segment `src -> dst` with raw TCP options and payload, built by etherparse.
fn tcp(src: (IpAddr, u16), dst: (IpAddr, u16), syn: bool, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let t = ip_builder(MAC_DIR, MAC_RS, src.0, dst.0, 63)
        .tcp(src.1, dst.1, 7, 1000)
        .ack(9);
    let t = if syn { t.syn() } else { t };
    let mut out = Vec::new();
    t.options_raw(opts)
        .unwrap()
        .write(&mut out, payload)
        .unwrap();
    out
}

/// The DPVS TOA bytes, written out by hand from the documented layout.
fn toa_bytes(caddr: IpAddr, cport: u16) -> Vec<u8> {
    let mut v = vec![254, 0];
    v.extend_from_slice(&cport.to_be_bytes());
    match caddr {
        IpAddr::V4(a) => v.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => v.extend_from_slice(&a.octets()),
    }
    v[1] = v.len() as u8;
    v
}

const TS_OPTS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];

#[test]
fn toa_golden() {
    let cases = [
        ("v4-in-v4", "172.16.0.254", "172.16.0.2", "198.51.100.7"),
        ("v6-in-v6", "fd00::fe", "fd00::2", "2001:db8::7"),
        ("v6-in-v4", "172.16.0.254", "172.16.0.2", "2001:db8::7"),
    ];
    for (name, l, d, c) in cases {
        let (l, d, c) = ((ip(l), 5001), (ip(d), 8080), (ip(c), 40123));
        for opts in [&[][..], &TS_OPTS[..], &[2, 4, 5, 0xb4, 0, 0, 0, 0][..]] {
            for payload in [&b"hello"[..], b"", &[0xabu8; 1400][..]] {
                let input = tcp(l, d, false, opts, payload);
                let mut want_opts = toa_bytes(c.0, c.1);
                want_opts.extend_from_slice(opts);
                let want = tcp(l, d, false, &want_opts, payload);
                // Headroom only, tailroom only, both.
                for (head, tail) in [(32, 0), (0, 32), (32, 32)] {
                    let mut buf = vec![0u8; head + input.len() + tail];
                    buf[head..head + input.len()].copy_from_slice(&input);
                    let mut pkt = PacketBuf::new(&mut buf, head, input.len()).unwrap();
                    assert_eq!(insert_toa(&mut pkt, c.0, c.1), Ok(ToaVerdict::Inserted));
                    let case = format!("toa-{name}-{}-{}-{head}-{tail}", opts.len(), payload.len());
                    assert_frame(&case, &input, pkt.frame(), &want);
                    assert_eq!(read_toa(pkt.frame()), Ok(Some(c)));
                }
            }
        }
    }
}

#[test]
fn toa_refusals() {
    let (l, d, c) = ((ip("10.0.0.1"), 1), (ip("10.0.0.2"), 2), ip("192.0.2.1"));
    // 36 bytes of options + 8 > 40: no room in the TCP header.
    let full = tcp(l, d, false, &[1u8; 36], b"x");
    let mut buf = full.clone();
    buf.resize(full.len() + 64, 0);
    let mut pkt = PacketBuf::new(&mut buf, 0, full.len()).unwrap();
    assert_eq!(insert_toa(&mut pkt, c, 9), Ok(ToaVerdict::NoOptionSpace));
    assert_eq!(pkt.frame(), &full[..]);
    // 32 bytes of options fit exactly.
    let fits = tcp(l, d, false, &[1u8; 32], b"x");
    let mut buf = fits.clone();
    buf.resize(fits.len() + 8, 0);
    let mut pkt = PacketBuf::new(&mut buf, 0, fits.len()).unwrap();
    assert_eq!(insert_toa(&mut pkt, c, 9), Ok(ToaVerdict::Inserted));
    // No head- or tailroom.
    let mut buf = fits.clone();
    let mut pkt = PacketBuf::new(&mut buf, 0, fits.len()).unwrap();
    assert_eq!(insert_toa(&mut pkt, c, 9), Err(RewriteError::NoRoom));
    assert_eq!(pkt.frame(), &fits[..]);
    assert_eq!(read_toa(&fits), Ok(None));
}

#[test]
fn mss_clamp_golden() {
    let (a, b) = ((ip("198.51.100.7"), 40123), (ip("192.0.2.110"), 80));
    let mss = |m: u16| {
        let [h, l] = m.to_be_bytes();
        [2, 4, h, l, 1, 3, 3, 7, 4, 2, 1, 1]
    };
    let want_mss = clamped_mss(1500, false, false);
    assert_eq!(want_mss, 1452);
    assert_eq!(clamped_mss(1500, true, true), 1420);
    let input = tcp(a, b, true, &mss(1460), b"");
    let want = tcp(a, b, true, &mss(1452), b"");
    let mut got = input.clone();
    assert_eq!(clamp_mss(&mut got, want_mss), Ok(true));
    assert_frame("mss-clamp", &input, &got, &want);
    // Already small enough, or not a SYN: unchanged.
    let mut got = tcp(a, b, true, &mss(1400), b"");
    assert_eq!(clamp_mss(&mut got, want_mss), Ok(false));
    let mut got = tcp(a, b, false, &mss(1460), b"");
    assert_eq!(clamp_mss(&mut got, want_mss), Ok(false));
    // A malformed option length is reported.
    let mut bad = tcp(a, b, true, &[3, 9, 0, 0], b"");
    assert_eq!(
        clamp_mss(&mut bad, want_mss),
        Err(RewriteError::BadTransportHeader)
    );
}

/// Found by fuzzing: an MSS option at an odd offset (after a 9-byte option) sums byte-swapped.
#[test]
fn mss_clamp_odd_offset() {
    let (a, b) = ((ip("198.51.100.7"), 40123), (ip("192.0.2.110"), 80));
    let opts = |m: u16| {
        let [h, l] = m.to_be_bytes();
        [8, 9, 0, 0, 0, 1, 0, 0, 0, 2, 4, h, l, 0, 0, 0]
    };
    let input = tcp(a, b, true, &opts(2560), b"");
    let want = tcp(a, b, true, &opts(1400), b"");
    let mut got = input.clone();
    assert_eq!(clamp_mss(&mut got, 1400), Ok(true));
    assert_frame("mss-clamp-odd", &input, &got, &want);
}

/// Found by fuzzing: a refused growth must not even drop the Ethernet padding.
#[test]
fn toa_no_room_keeps_padding() {
    let (l, d) = ((ip("10.0.0.1"), 1), (ip("10.0.0.2"), 2));
    let mut f = tcp(l, d, false, &[], b"");
    f.resize(f.len() + 6, 0xee);
    let orig = f.clone();
    let n = f.len();
    let mut pkt = PacketBuf::new(&mut f, 0, n).unwrap();
    assert_eq!(
        insert_toa(&mut pkt, ip("192.0.2.1"), 9),
        Err(RewriteError::NoRoom)
    );
    assert_eq!(pkt.frame(), &orig[..]);
}
