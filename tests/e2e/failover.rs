//! The failover lab: two `lvs-router run` directors with VRRP and connection sync, NAT real
//! servers behind them, a DR real server and a client in front.
//!
//! ```text
//!   client  c0 203.0.113.2/24, 192.0.2.0/24 on-link (the VIPs are ARPed for on the link)
//!   d1, d2  e0 203.0.113.11|12/24 (VRRP, vrid 51, prio 150|100), e1 172.16.0.11|12/24 (sync)
//!           VIPs 192.0.2.10 (NAT), 192.0.2.20 (DR) and 172.16.0.1, the NAT real servers'
//!           gateway, all owned by whichever director is VRRP master (as with kernel LVS-NAT
//!           HA, where keepalived moves the gateway address with the VIPs)
//!   rs1,rs2 e0 172.16.0.21|22/24, default via 172.16.0.1           (inside bridge bri)
//!   rd      e0 203.0.113.31/24, 192.0.2.20 on lo, arp_ignore        (client bridge brc)
//!   sw      the bridges brc and bri
//! ```
//!
//! Every namespace is held by a process ([`super::Node`]), so nothing outlives the test.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::cluster::spawn_server;
use super::{Node, Scratch, adm, attach, bridge, read_log, router_bin};

/// The NAT VIP.
pub const VIP_NAT: &str = "192.0.2.10";
/// The DR VIP.
pub const VIP_DR: &str = "192.0.2.20";
/// VRRP advert interval of both directors.
pub const ADVERT_MS: u64 = 500;
/// Priorities of d1 and d2.
pub const PRIORITY: [u8; 2] = [150, 100];
/// d1's preempt delay: time for its sync backup daemon to receive the connections back.
pub const PREEMPT_DELAY_MS: u64 = 4000;

/// The rules both directors load.
pub const RULES: &str = "\
-A -t 192.0.2.10:9002 -s rr
-a -t 192.0.2.10:9002 -r 172.16.0.21:9002 -m -w 1
-a -t 192.0.2.10:9002 -r 172.16.0.22:9002 -m -w 1
-A -t 192.0.2.10:80 -s rr
-a -t 192.0.2.10:80 -r 172.16.0.21:80 -m -w 1
-a -t 192.0.2.10:80 -r 172.16.0.22:80 -m -w 1
-A -t 192.0.2.20:9002 -s rr
-a -t 192.0.2.20:9002 -r 203.0.113.31:9002 -g -w 1
-A -t 192.0.2.20:80 -s rr
-a -t 192.0.2.20:80 -r 203.0.113.31:80 -g -w 1
";

/// The lab. Field order is drop order: processes and namespaces before the scratch dir.
pub struct Lab {
    pub client: Node,
    /// d1, d2.
    pub directors: [Node; 2],
    pub servers: Vec<Node>,
    pub sw: Node,
    /// The routers' pids (None when not running).
    pub routers: [Option<u32>; 2],
    /// Log file of each director's current router process.
    pub logs: [String; 2],
    pub scratch: Scratch,
}

/// Master_Down_Interval of a backup with `priority` (RFC 5798: 3 x interval + skew).
pub fn master_down_interval(priority: u8) -> Duration {
    let adv = Duration::from_millis(ADVERT_MS);
    adv * 3 + adv * u32::from(256 - u16::from(priority)) / 256
}

impl Lab {
    /// Builds the namespaces and links and starts the real servers (module doc).
    pub fn build(tag: &str) -> Self {
        let scratch = Scratch::new(tag);
        let dir = scratch.0.clone();
        let sw = Node::new(&format!("{tag}-sw"), &dir);
        // No STP listening delay, no multicast snooping surprises for VRRP and sync.
        bridge(&sw, "brc");
        bridge(&sw, "bri");
        let client = Node::new(&format!("{tag}-cl"), &dir);
        attach(&client, "c0", &sw, "pc", "brc");
        client.ip("addr add 203.0.113.2/24 dev c0");
        client.ip("route add 192.0.2.0/24 dev c0");
        let directors = [1, 2].map(|i| {
            let d = Node::new(&format!("{tag}-d{i}"), &dir);
            attach(&d, "e0", &sw, &format!("pd{i}c"), "brc");
            attach(&d, "e1", &sw, &format!("pd{i}i"), "bri");
            d.ip(&format!("addr add 203.0.113.1{i}/24 dev e0"));
            d.ip(&format!("addr add 172.16.0.1{i}/24 dev e1"));
            d
        });
        let bin = router_bin().to_str().unwrap().to_owned();
        let mut servers = Vec::new();
        for (name, addr) in [("rs1", "172.16.0.21"), ("rs2", "172.16.0.22"), ("rd", "")] {
            let mut s = Node::new(&format!("{tag}-{name}"), &dir);
            if addr.is_empty() {
                attach(&s, "e0", &sw, "prd", "brc");
                s.ip("addr add 203.0.113.31/24 dev e0");
                s.sh(&format!("{bin} realserver --dr --apply --vip {VIP_DR}"));
            } else {
                attach(&s, "e0", &sw, &format!("p{name}"), "bri");
                s.ip(&format!("addr add {addr}/24 dev e0"));
                s.ip("route add default via 172.16.0.1");
            }
            let root = dir.join(format!("www-{name}"));
            fs::create_dir_all(&root).unwrap();
            fs::write(root.join("id"), name).unwrap();
            spawn_server(&mut s, name, &root, &[VIP_DR]);
            servers.push(s);
        }
        fs::write(dir.join("rules"), RULES).unwrap();
        Self {
            client,
            directors,
            servers,
            sw,
            routers: [None, None],
            logs: [String::new(), String::new()],
            scratch,
        }
    }

    /// The scratch directory.
    pub fn dir(&self) -> PathBuf {
        self.scratch.0.clone()
    }

    /// Director `i`'s (0 or 1) control socket.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.dir().join(format!("d{}.sock", i + 1))
    }

    /// Director `i`'s TOML.
    fn toml(&self, i: usize) -> String {
        let n = i + 1;
        format!(
            "addrs = [\"172.16.0.1{n}\"]
vips = [\"{VIP_NAT}\", \"{VIP_DR}\", \"172.16.0.1\"]
workers = 2
control_socket = \"{sock}\"

[[interface]]
name = \"e0\"
role = \"client\"
ipv4 = \"203.0.113.1{n}\"

[[interface]]
name = \"e1\"
role = \"server\"
ipv4 = \"172.16.0.1{n}\"

[[route]]
to = \"203.0.113.0/24\"
interface = \"e0\"

[[route]]
to = \"172.16.0.0/24\"
interface = \"e1\"

[vrrp]
interface = \"e0\"
vrid = 51
priority = {prio}
advert_int_ms = {ADVERT_MS}
preempt_delay_ms = {PREEMPT_DELAY_MS}
garp_repeat = 3
garp_delay_ms = 2000

[sync]
interface = \"e1\"
syncid = 51
period = 10
",
            sock = self.socket(i).display(),
            prio = PRIORITY[i],
        )
    }

    /// Starts `lvs-router run` on director `i`; waits for its data plane.
    pub fn start(&mut self, i: usize) {
        let dir = self.dir();
        let cfg = dir.join(format!("d{}.toml", i + 1));
        fs::write(&cfg, self.toml(i)).unwrap();
        let runs = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref().is_ok_and(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("d{}-", i + 1))
                })
            })
            .count();
        let log = format!("d{}-{}.log", i + 1, runs + 1);
        let bin = router_bin().to_str().unwrap().to_owned();
        let rules = dir.join("rules");
        let pid = self.directors[i].spawn_ready(
            &[
                &bin,
                "-v",
                "run",
                "--rules",
                rules.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
            ],
            &log,
            "data plane started",
            Duration::from_secs(20),
        );
        self.routers[i] = Some(pid);
        self.logs[i] = log;
    }

    /// Director `i`'s current log.
    pub fn log(&self, i: usize) -> String {
        read_log(&self.dir().join(&self.logs[i]))
    }

    /// Whether director `i`'s log says it entered VRRP state `state` (`Master`, `Backup`) at
    /// least `times` times.
    pub fn entered(&self, i: usize, state: &str, times: usize) -> bool {
        self.log(i)
            .lines()
            .filter(|l| l.contains("VRRP state changed") && l.contains(&format!("to={state}")))
            .count()
            >= times
    }

    /// `lvs-router adm --socket ... ARGS` against director `i`: success and stdout + stderr.
    pub fn try_adm(&self, i: usize, args: &str) -> (bool, String) {
        let (ok, out, err) = self.adm_split(i, args);
        (ok, out + &err)
    }

    /// `lvs-router adm --socket ... ARGS` against director `i`: stdout.
    pub fn adm(&self, i: usize, args: &str) -> String {
        let (ok, out, err) = self.adm_split(i, args);
        assert!(ok, "adm {args} on d{}: {out}{err}", i + 1);
        out
    }

    fn adm_split(&self, i: usize, args: &str) -> (bool, String, String) {
        adm(
            &self.socket(i),
            &args.split_whitespace().collect::<Vec<_>>(),
        )
    }
}
