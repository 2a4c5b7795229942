//! The sync sockets between two network namespaces: a master sends a batch built by
//! `SyncSender` to 224.0.0.81:8848 with TTL 1, a backup bound to the group decodes it.
//!
//! Each side runs as this test binary re-executed inside its namespace (`ip netns exec`) with
//! `LVS_HA_ROLE` set, so no unsafe `setns` is needed. Needs root; skips otherwise.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lvs_core::sync::{SyncConn, SyncSender, SyncSenderConfig, decode, flags, tcp_state};
use lvs_core::wire::IpProtocol;
use lvs_net::ha::{SyncRecvSocket, SyncSendSocket, SyncSocketConfig};

const SYNCID: u8 = 7;

fn conns() -> Vec<SyncConn> {
    (0..60u16)
        .map(|i| SyncConn {
            protocol: IpProtocol::Tcp,
            caddr: format!("198.51.100.{}", i % 250 + 1).parse().expect("v4"),
            cport: 30000 + i,
            vaddr: "192.0.2.10".parse().expect("v4"),
            vport: 80,
            daddr: "10.0.0.2".parse().expect("v4"),
            dport: 8080,
            fwmark: 0,
            flags: flags::MASQ,
            state: tcp_state::ESTABLISHED,
            timeout: 900,
            seq: None,
            pe: None,
        })
        .collect()
}

fn sh(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect(args[0]);
    assert!(status.success(), "{args:?}");
}

/// Child role: the backup. Prints `GOT <n>` with the number of matching conns decoded.
fn role_recv() {
    let mut config = SyncSocketConfig::new("b0");
    config.syncid = SYNCID;
    let sock = SyncRecvSocket::open(&config).expect("open the backup socket");
    println!("READY");
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < 60 && start.elapsed() < Duration::from_secs(15) {
        if let Some(n) = sock
            .recv(&mut buf, Duration::from_millis(200))
            .expect("recv")
        {
            match decode(&buf[..n], SYNCID) {
                // The master repeats its batch as two messages; a backup that joins between
                // them must start collecting at the beginning of a batch, or it would put the
                // tail of one batch before the head of the next.
                Ok(d) if got.is_empty() && d.conns.first() != conns().first() => {}
                Ok(d) => got.extend(d.conns),
                Err(e) => println!("DECODE {e}"),
            }
        }
    }
    let ok = got == conns();
    println!(
        "GOT {} {}",
        got.len(),
        if ok { "EQUAL" } else { "DIFFERENT" }
    );
}

/// Child role: the master. Sends the batch every 300 ms for 10 s (the backup may join late).
fn role_send() {
    let mut config = SyncSocketConfig::new("a0");
    config.syncid = SYNCID;
    let sock = SyncSendSocket::open(&config).expect("open the master socket");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let mut sender = SyncSender::new(SyncSenderConfig {
            syncid: SYNCID,
            maxlen: config.effective_maxlen(),
        });
        for c in conns() {
            sender
                .push(lvs_core::time::Instant::ZERO, &c)
                .expect("push");
        }
        sender.flush();
        let sent = sock.send_ready(&mut sender).expect("send");
        // 60 entries of 36 bytes in 1,472-byte messages: 40 + 20.
        assert_eq!(sent, 2);
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn ha_sync_multicast_between_namespaces() {
    match std::env::var("LVS_HA_ROLE").as_deref() {
        Ok("recv") => return role_recv(),
        Ok("send") => return role_send(),
        _ => {}
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    if uid.trim_ascii() != b"0" {
        eprintln!("SKIP ha_sync_multicast_between_namespaces: needs root");
        return;
    }
    let (na, nb) = (
        format!("lvssa{}", std::process::id()),
        format!("lvssb{}", std::process::id()),
    );
    struct Cleanup(Vec<String>, Vec<std::process::Child>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for c in &mut self.1 {
                let _ = c.kill();
                let _ = c.wait();
            }
            for ns in &self.0 {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
    let mut guard = Cleanup(vec![na.clone(), nb.clone()], Vec::new());
    for ns in [&na, &nb] {
        sh(&["ip", "netns", "add", ns]);
    }
    sh(&[
        "ip", "link", "add", "a0", "netns", &na, "type", "veth", "peer", "name", "b0", "netns", &nb,
    ]);
    for (ns, dev, addr) in [(&na, "a0", "192.0.2.1/24"), (&nb, "b0", "192.0.2.2/24")] {
        sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    let exe = std::env::current_exe().expect("test exe");
    let spawn = |ns: &str, role: &str| {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(&exe)
            .args([
                "--exact",
                "ha_sync_multicast_between_namespaces",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LVS_HA_ROLE", role)
            .stdout(Stdio::piped())
            .spawn()
            .expect("re-exec the test binary")
    };
    guard.1.push(spawn(&nb, "recv"));
    guard.1.push(spawn(&na, "send"));
    let recv = guard.1.remove(0);
    let out = recv.wait_with_output().expect("backup output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("GOT 60 EQUAL"), "backup decoded:\n{text}");
}
