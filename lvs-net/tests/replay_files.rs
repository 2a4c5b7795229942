//! `replay_files`: two capture files merged by timestamp, the rules file, the output file, and
//! the errors naming the file at fault. Frames are built with etherparse.

use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;
use lvs_core::replay::Frame;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use lvs_net::pcap::{LinkMacs, PcapSink, read_capture};
use lvs_net::replay::{DEFAULT_MAC, DEFAULT_PEER_MAC, ReplayOptions, replay_files};

const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 1];
const RULES: &str = "-A -u 192.0.2.10:53 -s rr\n-a -u 192.0.2.10:53 -r 172.16.0.2:5353 -m -w 1\n";

fn udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(from.0, to.0, ttl)
        .udp(from.1, to.1)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn secs(s: u64) -> Instant {
    Instant::from_nanos((1_700_000_000 + s) * 1_000_000_000)
}

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lvs-replay-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write_pcap(&self, name: &str, frames: &[Frame]) -> PathBuf {
        let mut sink = PcapSink::new(Vec::new(), false).unwrap();
        for f in frames {
            sink.write(f).unwrap();
        }
        self.write(name, &sink.finish().unwrap())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> Vec<Frame> {
    let macs = LinkMacs {
        local: DEFAULT_MAC,
        peer: DEFAULT_PEER_MAC,
    };
    read_capture(&std::fs::read(path).unwrap()[..], macs)
        .unwrap()
        .frames
}

#[test]
fn two_captures_are_merged_by_timestamp() {
    let dir = Scratch::new("merge");
    let (client, vip, rip) = (
        ([203, 0, 113, 2], 40000),
        ([192, 0, 2, 10], 53),
        ([172, 16, 0, 2], 5353),
    );
    let dir_mac = DEFAULT_MAC.octets();
    // The client side holds the first request and a second one long after; the server side
    // holds the reply in between. Merged, the reply is translated between the two requests
    // (read in file order it would come last, at a time before the second request).
    let client_side = dir.write_pcap(
        "client.pcap",
        &[
            Frame::new(secs(0), udp(CLIENT_MAC, dir_mac, client, vip, 64, b"q1")),
            Frame::new(secs(1000), udp(CLIENT_MAC, dir_mac, client, vip, 64, b"q2")),
        ],
    );
    let server_side = dir.write_pcap(
        "server.pcap",
        &[Frame::new(
            secs(10),
            udp(SERVER_MAC, dir_mac, rip, client, 64, b"a1"),
        )],
    );
    let rules = dir.write("rules", RULES.as_bytes());
    let out = dir.0.join("out.pcap");
    let options = ReplayOptions {
        neighbours: vec![
            ([172, 16, 0, 2].into(), MacAddr(SERVER_MAC)),
            ([203, 0, 113, 2].into(), MacAddr(CLIENT_MAC)),
        ],
        ..ReplayOptions::default()
    };
    let report = replay_files(&[client_side, server_side], &rules, &out, &options).unwrap();
    let s = &report.summary;
    assert_eq!(
        (s.frames_in, s.forwarded, s.passed, s.dropped_total()),
        (3, 3, 0, 0),
        "{s}"
    );
    let expected = [
        Frame::new(secs(0), udp(dir_mac, SERVER_MAC, client, rip, 63, b"q1")),
        Frame::new(secs(10), udp(dir_mac, CLIENT_MAC, vip, client, 63, b"a1")),
        Frame::new(secs(1000), udp(dir_mac, SERVER_MAC, client, rip, 63, b"q2")),
    ];
    assert_eq!(read(&out), expected);
}

#[test]
fn errors_name_the_file_and_what_is_wrong() {
    let dir = Scratch::new("errors");
    let good = dir.write_pcap("good.pcap", &[]);
    let rules = dir.write("rules", RULES.as_bytes());
    let out = dir.0.join("out.pcap");
    let opts = ReplayOptions::default();
    let err = |inputs: &[PathBuf], rules: &Path| {
        replay_files(inputs, rules, &out, &opts)
            .unwrap_err()
            .to_string()
    };

    let bad = dir.write("bad.pcap", b"this is not a capture file");
    let msg = err(&[good.clone(), bad.clone()], &rules);
    assert!(
        msg.starts_with(&format!("{}: not a pcap file: ", bad.display())),
        "{msg}"
    );

    let missing = dir.0.join("missing.pcap");
    let msg = err(std::slice::from_ref(&missing), &rules);
    assert!(
        msg.starts_with(&format!("{}: opening: ", missing.display())),
        "{msg}"
    );

    let bad_rules = dir.write(
        "bad-rules",
        b"-A -u 192.0.2.10:53 -s rr\n-a -u 192.0.2.10:53 -r 172.16.0.2 -w x\n",
    );
    let msg = err(std::slice::from_ref(&good), &bad_rules);
    assert!(
        msg.starts_with(&format!("{}: line 2: ", bad_rules.display())),
        "{msg}"
    );

    let twice = dir.write(
        "twice",
        b"-A -u 192.0.2.10:53 -s rr\n\n-A -u 192.0.2.10:53 -s rr\n",
    );
    assert_eq!(
        err(&[good], &twice),
        format!("{}: line 3: Service already exists", twice.display())
    );
}
