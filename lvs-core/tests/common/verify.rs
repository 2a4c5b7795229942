//! An independent checksum and length verifier: its own RFC 1071 word loop, and etherparse for
//! the outer structure. It recurses into IP-in-IP, GRE and GUE (UDP port [`GUE_PORT`]) and into
//! packets quoted by ICMP errors (header checksum only: quotes are truncated).

use etherparse::SlicedPacket;

/// The UDP port the tests use for GUE.
pub const GUE_PORT: u16 = 6080;

fn sum(data: &[u8]) -> u32 {
    let mut s = 0u32;
    for (i, b) in data.iter().enumerate() {
        s += if i % 2 == 0 {
            u32::from(*b) << 8
        } else {
            u32::from(*b)
        };
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

fn ok(s: u32) -> bool {
    let mut s = s;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

fn pseudo(p: &[u8], v6: bool, proto: u8, len: usize) -> u32 {
    let (a, n) = if v6 { (8, 32) } else { (12, 8) };
    sum(&p[a..a + n]) + u32::from(proto) + (len as u32 >> 16) + (len as u32 & 0xffff)
}

/// Verifies an Ethernet frame: etherparse accepts it, and every checksum in it is right.
pub fn verify_frame(frame: &[u8]) -> Result<(), String> {
    SlicedPacket::from_ethernet(frame).map_err(|e| format!("etherparse: {e:?}"))?;
    let mut at = 12;
    let mut et = u16::from_be_bytes([frame[12], frame[13]]);
    if et == 0x8100 || et == 0x88a8 {
        at = 16;
        et = u16::from_be_bytes([frame[16], frame[17]]);
    }
    match et {
        0x0800 | 0x86dd => verify_ip(&frame[at + 2..], false),
        0x0806 => Ok(()),
        _ => Err(format!("ethertype {et:#x}")),
    }
}

/// Verifies an IP packet (exactly its length, unless `quoted`).
pub fn verify_ip(p: &[u8], quoted: bool) -> Result<(), String> {
    let v6 = p[0] >> 4 == 6;
    let (hl, total, proto) = if v6 {
        (40, 40 + usize::from(u16::from_be_bytes([p[4], p[5]])), p[6])
    } else {
        let hl = usize::from(p[0] & 15) * 4;
        if !ok(sum(&p[..hl])) {
            return Err("IPv4 header checksum".into());
        }
        (hl, usize::from(u16::from_be_bytes([p[2], p[3]])), p[9])
    };
    if quoted {
        return Ok(());
    }
    if total != p.len() {
        return Err(format!("IP length {total} != {}", p.len()));
    }
    let l4 = &p[hl..];
    let ps = pseudo(p, v6, proto, l4.len());
    match proto {
        6 => (ok(ps + sum(l4)))
            .then_some(())
            .ok_or("TCP checksum".into()),
        17 => {
            let c = u16::from_be_bytes([l4[6], l4[7]]);
            if c == 0 && v6 {
                return Err("UDP over IPv6 with zero checksum".into());
            }
            if c != 0 && !ok(ps + sum(l4)) {
                return Err("UDP checksum".into());
            }
            if u16::from_be_bytes([l4[2], l4[3]]) == GUE_PORT {
                let g = &l4[8..];
                return match g[0] >> 6 {
                    0 => verify_ip(&g[4 + usize::from(g[0] & 31) * 4..], false),
                    1 => verify_ip(g, false),
                    _ => Err("GUE version".into()),
                };
            }
            Ok(())
        }
        1 | 58 => {
            let s = if v6 { ps + sum(l4) } else { sum(l4) };
            if !ok(s) {
                return Err("ICMP checksum".into());
            }
            let is_err = if v6 {
                (1..=4).contains(&l4[0])
            } else {
                matches!(l4[0], 3 | 4 | 11)
            };
            if is_err {
                verify_ip(&l4[8..], true)
            } else {
                Ok(())
            }
        }
        4 | 41 => verify_ip(l4, false),
        47 => {
            let csum = l4[0] & 0x80 != 0;
            if csum && !ok(sum(l4)) {
                return Err("GRE checksum".into());
            }
            verify_ip(&l4[if csum { 8 } else { 4 }..], false)
        }
        _ => Ok(()),
    }
}

/// The RFC 1071 checksum of `data` (test-side implementation).
pub fn csum(data: &[u8]) -> u16 {
    let mut s = sum(data);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
