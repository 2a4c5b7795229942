//! The main job for now: one client packet through every LVS forwarding method, printed in
//! tcpdump style.
//!
//! A client (203.0.113.7) opens a TCP connection to the virtual service 192.0.2.10:80. The
//! director picked the real server 198.51.100.11 (port 8080 where the method maps ports). Each
//! section shows the frame the director receives and the frame it sends, rewritten in place by
//! `lvs_core::rewrite` exactly as the data path does: the method's rewrite, then the TTL
//! decrement every forwarded packet gets.
//!
//! Run: `cargo run --release --example forwarding_tour`

use std::net::{IpAddr, Ipv4Addr};

use etherparse::{PacketBuilder, PacketBuilderStep, TcpHeader, TcpOptionElement};
use lvs_rs::lvs_core::rewrite::originate::{IcmpErrorKind, icmp_error};
use lvs_rs::lvs_core::rewrite::toa::{ToaVerdict, clamped_mss, insert_toa};
use lvs_rs::lvs_core::rewrite::tunnel::{EncapVerdict, Tunnel, TunnelKind, encap};
use lvs_rs::lvs_core::rewrite::{
    ConnAddrs, PacketBuf, RewriteError, TtlVerdict, clamp_mss, decrement_ttl, dr, fullnat_in,
    fullnat_out, nat_in, nat_out,
};
use lvs_rs::lvs_core::wire::dump::Summary;
use lvs_rs::lvs_core::wire::{Ipv4Packet, MacAddr};

const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const RIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
const DIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const LIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 250);

const GATEWAY_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const DIRECTOR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0d]);
const RS_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);

/// Room the director keeps around each frame so rewrites that grow it (TOA, tunnels) never copy
/// the payload: the Ethernet header moves into the headroom instead.
const HEADROOM: usize = 64;

fn main() -> Result<(), RewriteError> {
    let conn = ConnAddrs {
        caddr: CLIENT.into(),
        cport: 40000,
        vaddr: VIP.into(),
        vport: 80,
        daddr: RIP.into(),
        dport: 8080,
        laddr: LIP.into(),
        lport: 5001,
    };
    let syn = client_syn();
    println!("client -> director (every section starts from this frame):");
    println!("  {}\n", Summary(&syn));

    section("NAT (-m): destination VIP:80 -> RIP:8080, replies back through the director");
    let mut out = syn.clone();
    nat_in(&mut out, &conn)?;
    forward(&mut out, RS_MAC)?;
    println!("  director -> rs     {}", Summary(&out));
    let mut reply = rs_syn_ack(RIP.into(), 8080, CLIENT.into(), 40000);
    println!("  rs -> director     {}", Summary(&reply));
    nat_out(&mut reply, &conn)?;
    forward(&mut reply, GATEWAY_MAC)?;
    println!("  director -> client {}\n", Summary(&reply));

    section("DR (-g): only the MAC addresses change; the real server owns the VIP on lo");
    let mut out = syn.clone();
    dr(&mut out, RS_MAC, DIRECTOR_MAC)?;
    check(decrement_ttl(&mut out)?);
    println!("  director -> rs     {}\n", Summary(&out));

    for (name, kind) in [
        ("ipip", TunnelKind::Ipip),
        (
            "gue, --tun-port 6080 --tun-csum",
            TunnelKind::Gue {
                port: 6080,
                csum: true,
                direct: false,
            },
        ),
        ("gre, --tun-csum", TunnelKind::Gre { csum: true }),
    ] {
        section(&format!(
            "TUN (-i --tun-type {name}): the whole packet inside an outer header"
        ));
        let tunnel = Tunnel {
            kind,
            src: DIP.into(),
            dst: RIP.into(),
            path_mtu: 1500,
            ident: 1,
        };
        let (frame, verdict) = tunnelled(&syn, &tunnel)?;
        println!("  director -> rs     {} ({verdict:?})\n", Summary(&frame));
    }

    section("FULLNAT: CIP:cport -> LIP:lport and VIP:vport -> RIP:dport; MSS leaves room for TOA");
    let mut out = syn.clone();
    fullnat_in(&mut out, &conn)?;
    clamp_mss(&mut out, clamped_mss(1500, false, false))?;
    forward(&mut out, RS_MAC)?;
    println!("  director -> rs     {}", Summary(&out));
    let data = client_data(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    let mut buf = with_headroom(&data);
    let mut pkt = PacketBuf::new(&mut buf, HEADROOM, data.len())?;
    fullnat_in(pkt.frame_mut(), &conn)?;
    let toa = insert_toa(&mut pkt, conn.caddr, conn.cport)?;
    forward(pkt.frame_mut(), RS_MAC)?;
    println!(
        "  first data segment {} (TOA {toa:?})",
        Summary(pkt.frame())
    );
    assert_eq!(toa, ToaVerdict::Inserted);
    let mut reply = rs_syn_ack(RIP.into(), 8080, LIP.into(), 5001);
    println!("  rs -> director     {}", Summary(&reply));
    fullnat_out(&mut reply, &conn)?;
    clamp_mss(&mut reply, clamped_mss(1500, false, false))?;
    forward(&mut reply, GATEWAY_MAC)?;
    println!("  director -> client {}\n", Summary(&reply));

    section("ICMP: a 1500-byte DF packet does not fit an ipip tunnel on a 1500-byte path");
    let big = client_data(&[0x42; 1460]);
    let tunnel = Tunnel {
        kind: TunnelKind::Ipip,
        src: DIP.into(),
        dst: RIP.into(),
        path_mtu: 1500,
        ident: 2,
    };
    let (_, verdict) = tunnelled(&big, &tunnel)?;
    println!("  client -> director {}", Summary(&big));
    if let EncapVerdict::FragNeeded { mtu } = verdict {
        let mut icmp = [0u8; 1600];
        let len = icmp_error(
            &big,
            IcmpErrorKind::FragNeeded { mtu },
            VIP.into(),
            7,
            &mut icmp,
        )?;
        println!("  director -> client {}\n", Summary(&icmp[..len]));
    }

    section("TTL: a packet arriving with TTL 1 is not forwarded; the client hears time-exceeded");
    let mut dying = client_syn_with_ttl(1);
    if decrement_ttl(&mut dying)? == TtlVerdict::Expired {
        let mut icmp = [0u8; 1600];
        let len = icmp_error(
            &dying,
            IcmpErrorKind::TimeExceeded,
            DIP.into(),
            8,
            &mut icmp,
        )?;
        println!("  director -> client {}", Summary(&icmp[..len]));
    }
    Ok(())
}

fn section(title: &str) {
    println!("{title}");
}

/// What the data path does after the method's rewrite: a TTL decrement and the next hop's MAC.
fn forward(frame: &mut [u8], next_hop: MacAddr) -> Result<(), RewriteError> {
    check(decrement_ttl(frame)?);
    frame[0..6].copy_from_slice(&next_hop.0);
    frame[6..12].copy_from_slice(&DIRECTOR_MAC.0);
    Ok(())
}

fn check(verdict: TtlVerdict) {
    assert_eq!(
        verdict,
        TtlVerdict::Forward,
        "the tour's packets start with TTL 64"
    );
}

/// Encapsulates a copy of `frame` (after the TTL decrement, as the director does) and returns
/// the resulting frame.
fn tunnelled(frame: &[u8], tunnel: &Tunnel) -> Result<(Vec<u8>, EncapVerdict), RewriteError> {
    let mut buf = with_headroom(frame);
    let mut pkt = PacketBuf::new(&mut buf, HEADROOM, frame.len())?;
    check(decrement_ttl(pkt.frame_mut())?);
    let verdict = encap(&mut pkt, tunnel)?;
    let out = pkt.frame_mut();
    out[0..6].copy_from_slice(&RS_MAC.0);
    out[6..12].copy_from_slice(&DIRECTOR_MAC.0);
    Ok((out.to_vec(), verdict))
}

fn with_headroom(frame: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + frame.len() + HEADROOM];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    buf
}

fn client_syn() -> Vec<u8> {
    client_syn_with_ttl(64)
}

fn client_syn_with_ttl(ttl: u8) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(GATEWAY_MAC.0, DIRECTOR_MAC.0)
        .ipv4(CLIENT.octets(), VIP.octets(), ttl)
        .tcp(40000, 80, 1_000, 64240)
        .syn()
        .options(&[TcpOptionElement::MaximumSegmentSize(1460)])
        .expect("the MSS option fits");
    build(builder, &[])
}

fn client_data(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(GATEWAY_MAC.0, DIRECTOR_MAC.0)
        .ipv4(CLIENT.octets(), VIP.octets(), 64)
        .tcp(40000, 80, 1_001, 64240)
        .ack(5_001)
        .psh();
    let mut frame = build(builder, payload);
    set_dont_fragment(&mut frame);
    frame
}

fn rs_syn_ack(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Vec<u8> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
        unreachable!("the tour is IPv4")
    };
    let builder = PacketBuilder::ethernet2(RS_MAC.0, DIRECTOR_MAC.0)
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sport, dport, 5_000, 65160)
        .syn()
        .ack(1_001)
        .options(&[TcpOptionElement::MaximumSegmentSize(1460)])
        .expect("the MSS option fits");
    build(builder, &[])
}

fn build(builder: PacketBuilderStep<TcpHeader>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder
        .write(&mut out, payload)
        .expect("writing to a Vec cannot fail");
    out
}

/// Sets DF on the IPv4 header of an Ethernet frame built above, with our own view.
fn set_dont_fragment(frame: &mut [u8]) {
    let mut ip = Ipv4Packet::new_checked(&mut frame[14..]).expect("a valid IPv4 header");
    ip.set_dont_frag(true);
    ip.fill_checksum();
}
