//! Runs the real `lvs-router replay` binary on a capture built with etherparse.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use etherparse::PacketBuilder;
use lvs_core::replay::Frame;
use lvs_core::time::Instant;
use lvs_net::pcap::{LinkMacs, PcapSink, read_capture};

const RULES: &str = "# ipvsadm-save -n\n-A -u 192.0.2.10:53 -s rr\n-a -u 192.0.2.10:53 -r 172.16.0.2:5353 -m -w 1\n";

fn udp(to: [u8; 4], dport: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0xc1, 0, 0, 0, 1], [2, 0, 0, 0, 0, 1])
        .ipv4([203, 0, 113, 2], to, 64)
        .udp(40000, dport)
        .write(&mut out, b"q")
        .unwrap();
    out
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("lvs-router-replay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn replay(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvs-router"))
        .arg("replay")
        .args(args)
        .output()
        .expect("run lvs-router")
}

#[test]
fn replays_a_capture_and_prints_the_summary() {
    let dir = scratch("ok");
    let (rules, input, out) = (
        dir.0.join("rules"),
        dir.0.join("in.pcap"),
        dir.0.join("out.pcap"),
    );
    std::fs::write(&rules, RULES).unwrap();
    let mut sink = PcapSink::new(Vec::new(), false).unwrap();
    let t = Instant::from_secs(1_700_000_000);
    sink.write(&Frame::new(t, udp([192, 0, 2, 10], 53)))
        .unwrap();
    sink.write(&Frame::new(t, udp([192, 0, 2, 99], 53)))
        .unwrap();
    std::fs::write(&input, sink.finish().unwrap()).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_lvs-router"))
        .args([
            "replay",
            "--neighbour",
            "172.16.0.2=02:5e:00:00:00:01",
            "--rules",
        ])
        .args([&rules, Path::new("--out"), &out, &input])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "frames in: 2\nframes out: 1 (forwarded 1, replies 0, originated 0)\n\
         passed to the host: 1\ndropped: 0\n"
    );
    let macs = LinkMacs {
        local: lvs_net::replay::DEFAULT_MAC,
        peer: lvs_net::replay::DEFAULT_PEER_MAC,
    };
    let frames = read_capture(&std::fs::read(&out).unwrap()[..], macs)
        .unwrap()
        .frames;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].at, t);
    // Sent by the director's default MAC to the --neighbour MAC of the real server.
    assert_eq!(
        frames[0].data[..12],
        [2, 0x5e, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1]
    );
}

#[test]
fn a_malformed_capture_fails_with_its_name() {
    let dir = scratch("bad");
    let (rules, input, out) = (
        dir.0.join("rules"),
        dir.0.join("in.pcap"),
        dir.0.join("out.pcap"),
    );
    std::fs::write(&rules, RULES).unwrap();
    std::fs::write(&input, [0xd4, 0xc3, 0xb2]).unwrap();
    let output = replay(&[
        Path::new("--rules"),
        &rules,
        Path::new("--out"),
        &out,
        &input,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: {}: not a pcap file: shorter than a pcap header\n",
            input.display()
        )
    );
}

#[test]
fn a_bad_mac_is_refused_by_the_argument_parser() {
    let output = Command::new(env!("CARGO_BIN_EXE_lvs-router"))
        .args([
            "replay",
            "--rules",
            "r",
            "--out",
            "o",
            "--mac",
            "02:00:00:00:00",
            "in.pcap",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad MAC address \"02:00:00:00:00\""),
        "{stderr}"
    );
}
