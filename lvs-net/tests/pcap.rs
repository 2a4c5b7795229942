//! pcap reading and writing, against file bytes laid out by hand from the format's definition
//! (pcap-savefile(5), Linux cooked headers from pcap-linktype(7)) and frames built by etherparse.

use etherparse::PacketBuilder;
use lvs_core::replay::Frame;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use lvs_net::pcap::{LinkMacs, PcapError, PcapSink, read_capture};

const LOCAL: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const MACS: LinkMacs = LinkMacs {
    local: LOCAL,
    peer: PEER,
};

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv4([203, 0, 113, 2], [192, 0, 2, 10], 64)
        .udp(40000, 53);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn ipv4_packet(payload: &[u8]) -> Vec<u8> {
    udp_frame(payload)[14..].to_vec()
}

/// A little-endian pcap file header (magic a1b2c3d4 = microseconds, a1b23c4d = nanoseconds).
fn file_header(magic: u32, linktype: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&magic.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

fn record(file: &mut Vec<u8>, sec: u32, frac: u32, data: &[u8], orig_len: u32) {
    for field in [sec, frac, data.len() as u32, orig_len] {
        file.extend_from_slice(&field.to_le_bytes());
    }
    file.extend_from_slice(data);
}

#[test]
fn reads_a_hand_written_microsecond_file() {
    let frame = udp_frame(b"hello");
    let mut file = file_header(0xa1b2_c3d4, 1);
    record(
        &mut file,
        1_700_000_000,
        250_000,
        &frame,
        frame.len() as u32,
    );
    // A record cut by the snap length: kept as captured.
    record(
        &mut file,
        1_700_000_001,
        7,
        &frame[..40],
        frame.len() as u32,
    );
    let capture = read_capture(&file[..], MACS).unwrap();
    assert!(!capture.nanosecond);
    assert_eq!(
        capture.frames,
        [
            Frame::new(
                Instant::from_nanos(1_700_000_000_250_000_000),
                frame.clone()
            ),
            Frame::new(
                Instant::from_nanos(1_700_000_001_000_007_000),
                frame[..40].to_vec()
            ),
        ]
    );
}

#[test]
fn round_trip_keeps_frames_and_timestamps() {
    let frames = vec![
        Frame::new(
            Instant::from_nanos(1_700_000_000_123_456_789),
            udp_frame(b"one"),
        ),
        Frame::new(
            Instant::from_nanos(1_700_000_002_000_000_001),
            udp_frame(b"two!"),
        ),
    ];
    for nanosecond in [false, true] {
        let mut sink = PcapSink::new(Vec::new(), nanosecond).unwrap();
        for frame in &frames {
            sink.write(frame).unwrap();
        }
        assert_eq!(sink.written(), 2);
        let bytes = sink.finish().unwrap();
        // Native-endian header: magic, 2.4, snaplen 262144, link type 1.
        let magic: u32 = if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        assert_eq!(bytes[..4], magic.to_ne_bytes());
        assert_eq!(bytes[16..20], 262_144u32.to_ne_bytes());
        assert_eq!(bytes[20..24], 1u32.to_ne_bytes());
        let back = read_capture(&bytes[..], MACS).unwrap();
        assert_eq!(back.nanosecond, nanosecond);
        let expected: Vec<Frame> = frames
            .iter()
            .map(|f| {
                let ns = f.at.as_nanos();
                let ns = if nanosecond { ns } else { ns - ns % 1000 };
                Frame::new(Instant::from_nanos(ns), f.data.clone())
            })
            .collect();
        assert_eq!(back.frames, expected);
    }
}

#[test]
fn linux_cooked_v1_becomes_ethernet_and_outgoing_is_skipped() {
    let ip = ipv4_packet(b"x");
    let sll = |packet_type: u16, addr: &[u8]| {
        let mut h = Vec::new();
        h.extend_from_slice(&packet_type.to_be_bytes());
        h.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
        h.extend_from_slice(&(addr.len() as u16).to_be_bytes());
        let mut padded = addr.to_vec();
        padded.resize(8, 0);
        h.extend_from_slice(&padded);
        h.extend_from_slice(&0x0800u16.to_be_bytes());
        h.extend_from_slice(&ip);
        h
    };
    let mut file = file_header(0xa1b2_c3d4, 113);
    let host = sll(0, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    record(&mut file, 10, 0, &host, host.len() as u32);
    let out = sll(4, &[0x11; 6]);
    record(&mut file, 11, 0, &out, out.len() as u32);
    let bcast = sll(1, &[]);
    record(&mut file, 12, 0, &bcast, bcast.len() as u32);
    let capture = read_capture(&file[..], MACS).unwrap();
    assert_eq!(capture.skipped_outgoing, 1);
    assert_eq!(capture.frames.len(), 2);
    let mut expected = vec![
        0x02, 0, 0, 0, 0, 0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x08, 0x00,
    ];
    expected.extend_from_slice(&ip);
    assert_eq!(capture.frames[0].data, expected);
    let mut expected = vec![0xff; 6];
    expected.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00]);
    expected.extend_from_slice(&ip);
    assert_eq!(capture.frames[1].data, expected);
}

#[test]
fn linux_cooked_v2_and_raw_ip_become_ethernet() {
    let ip = ipv4_packet(b"y");
    let mut sll2 = Vec::new();
    sll2.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol
    sll2.extend_from_slice(&[0, 0]); // reserved
    sll2.extend_from_slice(&3u32.to_be_bytes()); // ifindex
    sll2.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    sll2.extend_from_slice(&[0, 6]); // PACKET_HOST, address length
    sll2.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0]);
    sll2.extend_from_slice(&ip);
    let mut file = file_header(0xa1b2_c3d4, 276);
    record(&mut file, 1, 0, &sll2, sll2.len() as u32);
    let frames = read_capture(&file[..], MACS).unwrap().frames;
    assert_eq!(
        frames[0].data[..14],
        [2, 0, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 8, 0]
    );
    assert_eq!(frames[0].data[14..], ip[..]);

    let mut file = file_header(0xa1b2_c3d4, 101);
    record(&mut file, 1, 0, &ip, ip.len() as u32);
    let frames = read_capture(&file[..], MACS).unwrap().frames;
    assert_eq!(
        frames[0].data[..14],
        [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0]
    );
    assert_eq!(frames[0].data[14..], ip[..]);
}

fn error_text(bytes: &[u8]) -> String {
    let err: PcapError = read_capture(bytes, MACS).unwrap_err();
    err.to_string()
}

#[test]
fn malformed_files_give_clear_errors() {
    assert_eq!(
        error_text(b""),
        "not a pcap file: shorter than a pcap header"
    );
    assert!(error_text(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("not a pcap file: "));
    assert!(
        error_text(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).starts_with("not a pcap file: pcapng: ")
    );
    assert_eq!(
        error_text(&file_header(0xa1b2_c3d4, 105)),
        "link type 105 is not supported (Ethernet, Linux cooked v1/v2 and raw IP are)"
    );

    let frame = udp_frame(b"z");
    let mut file = file_header(0xa1b2_c3d4, 1);
    record(&mut file, 1, 0, &frame, frame.len() as u32);
    let full = file.clone();
    record(&mut file, 2, 0, &frame, frame.len() as u32);
    file.truncate(file.len() - 5);
    assert_eq!(
        error_text(&file),
        "frame 2 (at byte offset 83): file ends inside the record"
    );

    let mut file = full.clone();
    record(&mut file, 2, 0, &frame, 10);
    assert_eq!(
        error_text(&file),
        "frame 2 (at byte offset 83): captured length 43 exceeds the original length 10"
    );

    let mut file = full;
    record(&mut file, 2, 1_000_000, &frame, frame.len() as u32);
    assert_eq!(
        error_text(&file),
        "frame 2 (at byte offset 83): timestamp fraction is not below one second"
    );
}

/// A pcapng block (little-endian): type, total length, body padded to 4, total length.
fn ng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut padded = body.to_vec();
    padded.resize(body.len().div_ceil(4) * 4, 0);
    let total = (12 + padded.len()) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&padded);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

/// Section header: byte-order magic, version 1.0, section length unknown (-1), no options.
fn ng_section() -> Vec<u8> {
    let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0, 0, 0]);
    body.extend_from_slice(&(-1i64).to_le_bytes());
    ng_block(0x0a0d_0d0a, &body)
}

/// Interface description: link type, snaplen 0, optionally `if_tsresol` (code 9), then
/// `opt_endofopt`.
fn ng_interface(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    if let Some(r) = tsresol {
        body.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0]);
    }
    body.extend_from_slice(&[0, 0, 0, 0]);
    ng_block(1, &body)
}

/// Enhanced packet: interface, 64-bit timestamp (high, low), lengths, data.
fn ng_packet(interface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    let mut body = interface.to_le_bytes().to_vec();
    body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    ng_block(6, &body)
}

#[test]
fn reads_pcapng_with_per_interface_clocks_and_link_types() {
    let frame = udp_frame(b"ng");
    let ip = ipv4_packet(b"ng");
    let mut file = ng_section();
    // Interface 0: Ethernet, default resolution (microseconds). Interface 1: raw IP, ns.
    file.extend(ng_interface(1, None));
    file.extend(ng_interface(101, Some(9)));
    file.extend(ng_packet(0, 1_700_000_000_250_000, &frame));
    file.extend(ng_packet(1, 1_700_000_001_000_000_007, &ip));
    let capture = read_capture(&file[..], MACS).unwrap();
    assert!(capture.nanosecond);
    let mut from_raw = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
    from_raw.extend_from_slice(&ip);
    assert_eq!(
        capture.frames,
        [
            Frame::new(Instant::from_nanos(1_700_000_000_250_000_000), frame),
            Frame::new(Instant::from_nanos(1_700_000_001_000_000_007), from_raw),
        ]
    );

    let mut file = ng_section();
    file.extend(ng_interface(1, None));
    file.extend(ng_packet(3, 0, &udp_frame(b"x")));
    assert_eq!(
        error_text(&file),
        "block 3: packet of undeclared interface 3"
    );
    let mut file = ng_section();
    file.extend(ng_interface(105, None));
    assert_eq!(
        error_text(&file),
        "link type 105 is not supported (Ethernet, Linux cooked v1/v2 and raw IP are)"
    );
}
