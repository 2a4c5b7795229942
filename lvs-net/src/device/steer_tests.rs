use super::*;

/// A classic BPF interpreter for the instructions the program uses; `pkt` starts at the
/// network header, `proto` is skb->protocol.
fn run(prog: &[Insn], pkt: &[u8], proto: u16) -> u32 {
    let (mut a, mut x, mut m) = (0u32, 0u32, [0u32; 16]);
    let off = |k: u32, x: u32| (i64::from(k as i32) - NET + i64::from(x)) as usize;
    let mut pc = 0;
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_H_ABS if i.k == AD_PROTOCOL => a = u32::from(proto),
            LD_W_ABS => a = u32::from_be_bytes(pkt[off(i.k, 0)..][..4].try_into().unwrap()),
            LD_H_ABS => {
                a = u32::from(u16::from_be_bytes(
                    pkt[off(i.k, 0)..][..2].try_into().unwrap(),
                ))
            }
            LD_H_IND => {
                a = u32::from(u16::from_be_bytes(
                    pkt[off(i.k, x)..][..2].try_into().unwrap(),
                ))
            }
            LD_B_ABS => a = u32::from(pkt[off(i.k, 0)]),
            LD_IMM => a = i.k,
            AND_K => a &= i.k,
            LDX_B_MSH => x = u32::from(pkt[off(i.k, 0)] & 15) * 4,
            LD_MEM => a = m[i.k as usize],
            ST => m[i.k as usize] = a,
            TAX => x = a,
            XOR_X => a ^= x,
            MUL_K => a = a.wrapping_mul(i.k),
            RSH_K => a >>= i.k,
            JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            JA => pc += i.k as usize,
            RET_A => return a,
            RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

/// The kernel's load-before-store rule for classic BPF scratch memory, as documented for
/// `bpf_check_classic`: every `LD M[k]` must be preceded by a `ST M[k]` on every path, where
/// the validity known at a jump flows to its targets, a jump resets it for the next
/// instruction to what its incoming jumps allow, and a return does not reset it.
fn memory_checked(prog: &[Insn]) -> bool {
    let mut masks = vec![u16::MAX; prog.len() + 1];
    let mut valid: u16 = 0;
    for (pc, i) in prog.iter().enumerate() {
        valid &= masks[pc];
        match i.code {
            ST => valid |= 1 << i.k,
            LD_MEM if valid & (1 << i.k) == 0 => return false,
            JA => {
                masks[pc + 1 + i.k as usize] &= valid;
                valid = u16::MAX;
            }
            JEQ_K => {
                masks[pc + 1 + usize::from(i.jt)] &= valid;
                masks[pc + 1 + usize::from(i.jf)] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    true
}

#[test]
fn the_kernel_accepts_the_memory_use_of_every_shape() {
    for (vips, laddrs) in [
        (ips(&[]), ips(&[])),
        (ips(&["192.0.2.100", "2001:db8::100"]), ips(&[])),
        (ips(&["192.0.2.100"]), ips(&["198.51.100.200"])),
        (ips(&["2001:db8::100"]), ips(&["2001:db8:1::200"])),
        (
            ips(&["192.0.2.100", "2001:db8::100"]),
            ips(&["198.51.100.200", "2001:db8:1::200"]),
        ),
    ] {
        let prog = client_program(&vips, &laddrs).unwrap();
        assert!(memory_checked(&prog), "{vips:?} {laddrs:?}");
    }
}

fn v4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, b"x")
        .unwrap();
    v
}

fn v6(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let s: std::net::Ipv6Addr = src.parse().unwrap();
    let d: std::net::Ipv6Addr = dst.parse().unwrap();
    let mut v = Vec::new();
    etherparse::PacketBuilder::ipv6(s.octets(), d.octets(), 64)
        .tcp(sport, dport, 1, 100)
        .write(&mut v, b"")
        .unwrap();
    v
}

fn ips(s: &[&str]) -> Vec<IpAddr> {
    s.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn both_directions_of_a_nat_connection_steer_alike() {
    let vips = ips(&["192.0.2.100", "192.0.2.101", "2001:db8::100"]);
    let laddrs = ips(&["198.51.100.200", "2001:db8:1::200"]);
    let prog = client_program(&vips, &laddrs).unwrap();
    let (cip, vip, rip) = ([203, 0, 113, 7], [192, 0, 2, 101], [198, 51, 100, 10]);
    let mut residues = [0; 2];
    for cport in 40_000..40_064 {
        let req = run(&prog, &v4(cip, cport, vip, 80), 0x0800);
        let reply = run(&prog, &v4(rip, 8080, cip, cport), 0x0800);
        assert_eq!(req, reply, "cport {cport}");
        residues[(req % 2) as usize] += 1;
    }
    assert!(residues.iter().all(|&n| n > 10), "{residues:?}");
    // IPv6 with TCP.
    let req = run(
        &prog,
        &v6("2001:db8:9::7", 5555, "2001:db8::100", 443),
        0x86dd,
    );
    let reply = run(
        &prog,
        &v6("2001:db8:2::10", 443, "2001:db8:9::7", 5555),
        0x86dd,
    );
    assert_eq!(req, reply);
    let other = run(
        &prog,
        &v6("2001:db8:9::7", 5556, "2001:db8::100", 443),
        0x86dd,
    );
    assert_ne!(req, other);
}

/// Keyed by client address, all of a client's connections (both directions, IPv4 and IPv6)
/// meet on one worker, and different clients still spread.
#[test]
fn client_address_key_keeps_a_client_on_one_worker() {
    let vips = ips(&["192.0.2.100", "2001:db8::100"]);
    let laddrs = ips(&["198.51.100.200"]);
    let prog = client_program_keyed(&vips, &laddrs, SteerKey::ClientAddress).unwrap();
    assert!(memory_checked(&prog));
    let (vip, rip) = ([192, 0, 2, 100], [198, 51, 100, 10]);
    let first = run(&prog, &v4([203, 0, 113, 7], 40_000, vip, 80), 0x0800);
    for cport in 40_001..40_064 {
        assert_eq!(
            run(&prog, &v4([203, 0, 113, 7], cport, vip, 80), 0x0800),
            first
        );
        assert_eq!(
            run(&prog, &v4(rip, 8080, [203, 0, 113, 7], cport), 0x0800),
            first
        );
    }
    let mut residues = [0; 2];
    for last in 1..=64 {
        residues[(run(&prog, &v4([203, 0, 113, last], 40_000, vip, 80), 0x0800) % 2) as usize] += 1;
    }
    assert!(residues.iter().all(|&n| n > 10), "{residues:?}");
    let v6a = run(
        &prog,
        &v6("2001:db8:9::7", 5555, "2001:db8::100", 443),
        0x86dd,
    );
    let v6b = run(
        &prog,
        &v6("2001:db8:9::7", 6666, "2001:db8::100", 443),
        0x86dd,
    );
    assert_eq!(v6a, v6b);
    // The endpoint key (the default) does split them.
    let endpoint = client_program(&vips, &laddrs).unwrap();
    let ports: std::collections::HashSet<u32> = (40_000..40_064)
        .map(|p| run(&endpoint, &v4([203, 0, 113, 7], p, vip, 80), 0x0800) % 2)
        .collect();
    assert_eq!(ports.len(), 2);
}

#[test]
fn fullnat_replies_return_the_local_port() {
    let prog = client_program(
        &ips(&["192.0.2.100"]),
        &ips(&["198.51.100.200", "2001:db8:1::200"]),
    )
    .unwrap();
    assert_eq!(
        run(
            &prog,
            &v4([198, 51, 100, 10], 80, [198, 51, 100, 200], 5003),
            0x0800
        ),
        5003
    );
    assert_eq!(
        run(
            &prog,
            &v6("2001:db8:2::10", 80, "2001:db8:1::200", 6001),
            0x86dd
        ),
        6001
    );
    assert_eq!(run(&prog, &[0u8; 64], 0x0806), 0);
    // ICMP errors from a real server to the local address: the quoted packet's source port.
    let quoted = v4([198, 51, 100, 200], 5003, [198, 51, 100, 10], 80);
    let mut frag_needed = Vec::new();
    etherparse::PacketBuilder::ipv4([198, 51, 100, 10], [198, 51, 100, 200], 64)
        .icmpv4_raw(3, 4, [0, 0, 5, 0xdc])
        .write(&mut frag_needed, &quoted)
        .unwrap();
    assert_eq!(run(&prog, &frag_needed, 0x0800), 5003);
    let quoted = v6("2001:db8:1::200", 6001, "2001:db8:2::10", 80);
    let mut too_big = Vec::new();
    let s: std::net::Ipv6Addr = "2001:db8:2::10".parse().unwrap();
    let d: std::net::Ipv6Addr = "2001:db8:1::200".parse().unwrap();
    etherparse::PacketBuilder::ipv6(s.octets(), d.octets(), 64)
        .icmpv6_raw(2, 0, [0, 0, 5, 0])
        .write(&mut too_big, &quoted)
        .unwrap();
    assert_eq!(run(&prog, &too_big, 0x86dd), 6001);
}

#[test]
fn program_size_limits() {
    assert!(client_program(&[], &[]).is_some());
    let many: Vec<IpAddr> = (0..300u32)
        .map(|i| IpAddr::V4((0xc000_0200 + i).into()))
        .collect();
    // 300 compares jump more than 255 instructions to their target: refused.
    assert!(client_program(&many, &[]).is_none());
    assert!(client_program(&many[..100], &[]).is_some());
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A raw IP packet as the program sees it (from the network header): IPv4 with `options`
/// words of options, or IPv6; the transport header starts with `sport`, `dport`, and a quoted
/// packet follows for the ICMP paths to read.
fn raw_frame(p: &SteerPacket, options: usize, rng: &mut Rng) -> Vec<u8> {
    let mut f = Vec::new();
    match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend([
                0x45 + options as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                64,
                p.protocol,
                0,
                0,
            ]);
            f.extend(s.octets());
            f.extend(d.octets());
            f.extend(std::iter::repeat_n(1u8, 4 * options));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend([0x60, 0, 0, 0, 0, 0, p.protocol, 64]);
            f.extend(s.octets());
            f.extend(d.octets());
        }
        _ => unreachable!(),
    }
    f.extend(p.sport.to_be_bytes());
    f.extend(p.dport.to_be_bytes());
    // The rest of the transport header and a quoted packet: noise.
    f.extend((0..120).map(|_| rng.next() as u8));
    f
}

/// [`program_value`] and [`fanout_member`] give what the program and the kernel's modulo do,
/// for random IPv4 and IPv6 packets to VIPs (client side), to local addresses (FULLNAT
/// replies) and elsewhere (NAT replies), under every key (client networks with random
/// prefixes, IPv4 0..=32, IPv6 0..=128, and a random IPv4 bit pattern) and 1 to 4 members.
#[test]
fn program_value_is_what_the_program_returns() {
    let vips = ips(&[
        "192.0.2.100",
        "192.0.2.101",
        "2001:db8::100",
        "2001:db8::101",
    ]);
    let laddrs = ips(&["198.51.100.200", "2001:db8:1::200"]);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut seen = [[0usize; 3]; 2];
    let mut keys = vec![SteerKey::ClientEndpoint, SteerKey::ClientAddress];
    for n in 0..24 {
        let v4_mask = if n == 0 {
            rng.next() as u32
        } else {
            u32::MAX.checked_shl(32 - rng.below(33) as u32).unwrap_or(0)
        };
        // Every IPv6 word boundary and its neighbours, then random ones.
        let v6_prefix = match [0, 1, 31, 32, 33, 64, 96, 127, 128].get(n) {
            Some(&p) => p,
            None => rng.below(129) as u8,
        };
        keys.push(SteerKey::ClientNetwork {
            v4_mask: v4_mask.into(),
            v6_prefix,
        });
    }
    for key in keys {
        let prog = client_program_keyed(&vips, &laddrs, key).unwrap();
        assert!(memory_checked(&prog), "{key:?}");
        for n in 0..1000 {
            let v6 = n % 2 == 1;
            // An address: a VIP, a local address or a random one of the family.
            let addr = |rng: &mut Rng| -> IpAddr {
                let pool: Vec<IpAddr> = vips
                    .iter()
                    .chain(&laddrs)
                    .filter(|a| a.is_ipv6() == v6)
                    .copied()
                    .collect();
                match rng.below(3) {
                    0 => pool[rng.below(pool.len())],
                    _ if v6 => {
                        IpAddr::V6((u128::from(rng.next()) << 64 | u128::from(rng.next())).into())
                    }
                    _ => IpAddr::V4((rng.next() as u32).into()),
                }
            };
            let icmp = if v6 { 58 } else { 1 };
            let pkt = SteerPacket {
                protocol: [6, 17, 132, icmp][rng.below(4)],
                src: addr(&mut rng),
                sport: rng.next() as u16,
                dst: addr(&mut rng),
                dport: rng.next() as u16,
            };
            let frame = raw_frame(&pkt, if v6 { 0 } else { rng.below(3) }, &mut rng);
            let proto = if v6 { 0x86dd } else { 0x0800 };
            let want = run(&prog, &frame, proto);
            let path = if vips.contains(&pkt.dst) {
                0
            } else if laddrs.contains(&pkt.dst) {
                1
            } else {
                2
            };
            seen[usize::from(v6)][path] += 1;
            match program_value(&vips, &laddrs, key, &pkt) {
                Some(got) => {
                    assert_eq!(got, want, "{key:?} {pkt:?}");
                    for members in 1..=4 {
                        assert_eq!(
                            fanout_member(got, members),
                            (want % members as u32) as usize
                        );
                    }
                }
                None => assert!(path == 1 && pkt.protocol == icmp, "{key:?} {pkt:?}"),
            }
        }
    }
    // Every path was taken often in both families.
    assert!(seen.iter().flatten().all(|&n| n > 300), "{seen:?}");
    assert_eq!(fanout_member(7, 1), 0);
    assert_eq!(fanout_member(7, 4), 3);
}

/// Both directions of a NAT connection give one member, by the userspace function alone.
#[test]
fn program_value_keeps_both_directions_together() {
    let vips = ips(&["192.0.2.100", "2001:db8::100"]);
    for key in [SteerKey::ClientEndpoint, SteerKey::ClientAddress] {
        for (c, v, r) in [
            ("203.0.113.7", "192.0.2.100", "198.51.100.10"),
            ("2001:db8:9::7", "2001:db8::100", "2001:db8:2::10"),
        ] {
            let (c, v, r) = (c.parse().unwrap(), v.parse().unwrap(), r.parse().unwrap());
            for cport in 40_000..40_050 {
                let req = SteerPacket::from_client(6, c, cport, v, 80);
                let reply = SteerPacket {
                    protocol: 6,
                    src: r,
                    sport: 8080,
                    dst: c,
                    dport: cport,
                };
                assert_eq!(
                    program_value(&vips, &[], key, &req),
                    program_value(&vips, &[], key, &reply)
                );
            }
        }
    }
    let mixed = SteerPacket::from_client(
        6,
        "203.0.113.7".parse().unwrap(),
        1,
        "2001:db8::100".parse().unwrap(),
        80,
    );
    assert_eq!(
        program_value(&vips, &[], SteerKey::ClientEndpoint, &mixed),
        None
    );
}

/// Keyed by client network, every client of one network meets on one worker in both
/// directions (IPv4 /24 and IPv6 /64, in the program and in [`program_value`]), clients of
/// different networks still spread, and a /32 key (the mask ignored) splits the network.
#[test]
fn client_network_key_keeps_a_network_on_one_worker() {
    let vips = ips(&["192.0.2.100", "2001:db8::100"]);
    let key = SteerKey::ClientNetwork {
        v4_mask: [255, 255, 255, 0].into(),
        v6_prefix: 64,
    };
    let (vip, rip) = ([192, 0, 2, 100], [198, 51, 100, 10]);
    // The values of a network's clients (to the VIP and the NAT replies to them), and the
    // workers (of 2) they land on.
    let network = |key: SteerKey| {
        let prog = client_program_keyed(&vips, &[], key).unwrap();
        let mut values = std::collections::HashSet::new();
        for last in [10u8, 20, 1, 254] {
            for cport in [40_000, 40_001, 51_234] {
                let c = [198, 51, 100, last];
                for v in [
                    run(&prog, &v4(c, cport, vip, 80), 0x0800),
                    run(&prog, &v4(rip, 8080, c, cport), 0x0800),
                ] {
                    let pkt =
                        SteerPacket::from_client(17, IpAddr::from(c), cport, IpAddr::from(vip), 80);
                    assert_eq!(
                        program_value(&vips, &[], key, &pkt),
                        Some(run(&prog, &v4(c, cport, vip, 80), 0x0800))
                    );
                    values.insert(v % 2);
                }
            }
        }
        let mut v6_values = std::collections::HashSet::new();
        let clients = (1..=8)
            .map(|i| format!("2001:db8:9::{i}"))
            .chain(["2001:db8:9:0:ffff::1".to_string()]);
        for c in clients {
            let c = c.as_str();
            for cport in [5555, 6666] {
                v6_values.insert(run(&prog, &v6(c, cport, "2001:db8::100", 443), 0x86dd) % 2);
                v6_values.insert(run(&prog, &v6("2001:db8:2::10", 443, c, cport), 0x86dd) % 2);
            }
        }
        (values.len(), v6_values.len())
    };
    assert_eq!(network(key), (1, 1));
    // Ignoring the mask splits those clients over both workers.
    assert_eq!(network(SteerKey::ClientAddress), (2, 2));
    // Different networks still spread.
    let prog = client_program_keyed(&vips, &[], key).unwrap();
    let mut residues = [0; 2];
    for third in 0..64u8 {
        residues[(run(&prog, &v4([203, 0, third, 7], 40_000, vip, 80), 0x0800) % 2) as usize] += 1;
    }
    assert!(residues.iter().all(|&n| n > 10), "{residues:?}");
}

/// The key of a rule set's netmasks contains each of them, and says which templates it keeps
/// on one worker.
#[test]
fn keys_for_netmasks() {
    use std::net::Ipv4Addr;
    let host = [Netmask::V4(Ipv4Addr::BROADCAST), Netmask::V6(128)];
    assert_eq!(SteerKey::for_netmasks([]), SteerKey::ClientAddress);
    assert_eq!(SteerKey::for_netmasks(host), SteerKey::ClientAddress);
    let key = SteerKey::for_netmasks([
        Netmask::V4([255, 255, 255, 0].into()),
        Netmask::V4([255, 255, 0, 255].into()),
        Netmask::V6(128),
        Netmask::V6(56),
    ]);
    assert_eq!(
        key,
        SteerKey::ClientNetwork {
            v4_mask: [255, 255, 0, 0].into(),
            v6_prefix: 56
        }
    );
    for (m, grouped) in [
        (Netmask::V4(Ipv4Addr::BROADCAST), true),
        (Netmask::V4([255, 255, 0, 0].into()), true),
        (Netmask::V4([255, 0, 0, 0].into()), false),
        (Netmask::V4([0, 255, 255, 255].into()), false),
        (Netmask::V6(128), true),
        (Netmask::V6(56), true),
        (Netmask::V6(48), false),
    ] {
        assert_eq!(key.groups(m), grouped, "{m:?}");
    }
    assert!(host.iter().all(|&m| SteerKey::ClientAddress.groups(m)));
    assert!(!SteerKey::ClientAddress.groups(Netmask::V6(64)));
    assert!(!SteerKey::ClientEndpoint.groups(Netmask::V4(Ipv4Addr::BROADCAST)));
}
