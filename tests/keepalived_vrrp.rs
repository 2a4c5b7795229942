//! Interoperability with keepalived 2.2 (Debian's package): in two network namespaces on one
//! veth link, keepalived and our `vrrp` example elect, preempt and hand over to each other in
//! both roles, for VRRP v3 (IPv4, IPv6) and v2 (IPv4, simple password). keepalived must log no
//! protocol complaint. Needs root (network namespaces) and `keepalived` installed.

mod e2e;

use std::time::Duration;

use e2e::keepalived::{Lab, can_run};
use e2e::wait_for as wait_until;

/// Bound for an election: Master_Down_Interval is under 4 s at a 1 s interval; the margin
/// covers process start-up and a loaded machine.
const ELECTION: Duration = Duration::from_secs(20);
/// Bound for a hand-over after a priority-0 advert (Skew_Time, under 1 s).
const HANDOVER: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    V3Ipv4,
    V2Ipv4,
    V3Ipv6,
    /// v3 over IPv4 to unicast peers (keepalived `unicast_peer`), no multicast group.
    V3Ipv4Unicast,
}

impl Flavour {
    fn vip(self) -> &'static str {
        match self {
            Self::V3Ipv6 => "2001:db8::100",
            _ => "192.0.2.100",
        }
    }

    fn keepalived_conf(self, priority: u8) -> String {
        let (version, auth, prefix) = match self {
            Self::V3Ipv4 => (3, "", 32),
            Self::V2Ipv4 => (
                2,
                "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n",
                32,
            ),
            Self::V3Ipv6 => (3, "", 128),
            Self::V3Ipv4Unicast => (
                3,
                "  unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2\n  }\n",
                32,
            ),
        };
        format!(
            "global_defs {{\n  router_id lvs_interop\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface ka0\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int 1\n  version {version}\n{auth}  \
             virtual_ipaddress {{\n    {vip}/{prefix}\n  }}\n}}\n",
            vip = self.vip()
        )
    }

    fn our_args(self, lab: &Lab, priority: u8) -> Vec<String> {
        let src = match self {
            Self::V3Ipv6 => lab.link_local(&lab.ours.name, "rs0"),
            _ => "192.0.2.2".to_owned(),
        };
        let mut args: Vec<String> = ["--src", &src, "--vrid", "51", "--vip", self.vip()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--priority".into(), priority.to_string()]);
        if self == Self::V2Ipv4 {
            args.extend(["--version", "2", "--auth-pass", "s3cret"].map(String::from));
        }
        if self == Self::V3Ipv4Unicast {
            args.extend(["--peer", "192.0.2.1"].map(String::from));
        }
        args
    }
}

fn start_ours(lab: &mut Lab, flavour: Flavour, priority: u8) {
    let args = flavour.our_args(lab, priority);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.start_ours(&refs);
}

/// keepalived must not have complained about anything we sent.
fn assert_no_complaints(lab: &Lab) {
    let log = lab.keepalived_log();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            ["invalid", "bad", "mismatch", "ttl"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "keepalived complained: {bad:#?}\n{}",
        lab.logs()
    );
}

/// keepalived is master first; we start with a higher priority and preempt it; we resign and
/// keepalived takes over after Skew_Time.
fn ours_preempts_then_resigns(tag: &str, flavour: Flavour) {
    if !can_run(tag) {
        return;
    }
    let mut lab = Lab::new(tag);
    let vip = flavour.vip();
    lab.start_keepalived(&flavour.keepalived_conf(100));
    let (ka, ours) = (lab.ka.name.clone(), lab.ours.name.clone());
    let marker = lab.dir().join("notified-master");
    assert!(
        wait_until(ELECTION, || lab.has_vip(&ka, vip)),
        "keepalived alone did not become master\n{}",
        lab.logs()
    );
    let mut args = flavour.our_args(&lab, 150);
    args.extend([
        "--notify-master".into(),
        format!("touch {}", marker.display()),
    ]);
    lab.start_ours(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        wait_until(ELECTION, || lab.has_vip(&ours, vip)
            && !lab.has_vip(&ka, vip)),
        "we did not preempt keepalived\n{}",
        lab.logs()
    );
    assert!(
        wait_until(HANDOVER, || marker.exists()),
        "notify_master did not run"
    );
    assert!(
        lab.keepalived_log().contains("higher priority 150"),
        "{}",
        lab.logs()
    );
    lab.stop_ours();
    assert!(
        wait_until(HANDOVER, || lab.has_vip(&ka, vip)),
        "keepalived did not take over after our resignation\n{}",
        lab.logs()
    );
    assert!(!lab.has_vip(&ours, vip), "we kept the VIP after stopping");
    assert!(
        lab.keepalived_log().contains("priority 0 advertisement"),
        "keepalived did not see our priority-0 advert\n{}",
        lab.logs()
    );
    assert_no_complaints(&lab);
}

/// We are master first; keepalived starts with a higher priority and preempts us; it stops
/// (resigning) and we take over.
fn keepalived_preempts_then_resigns(tag: &str, flavour: Flavour) {
    if !can_run(tag) {
        return;
    }
    let mut lab = Lab::new(tag);
    let vip = flavour.vip();
    let (ka, ours) = (lab.ka.name.clone(), lab.ours.name.clone());
    start_ours(&mut lab, flavour, 100);
    assert!(
        wait_until(ELECTION, || lab.has_vip(&ours, vip)),
        "we did not become master alone\n{}",
        lab.logs()
    );
    lab.start_keepalived(&flavour.keepalived_conf(150));
    assert!(
        wait_until(ELECTION, || lab.has_vip(&ka, vip)
            && !lab.has_vip(&ours, vip)),
        "keepalived did not preempt us\n{}",
        lab.logs()
    );
    assert!(
        lab.ours_log().contains("Master -> Backup"),
        "{}",
        lab.logs()
    );
    lab.stop_keepalived();
    assert!(
        wait_until(HANDOVER, || lab.has_vip(&ours, vip)),
        "we did not take over after keepalived resigned\n{}",
        lab.logs()
    );
    if flavour != Flavour::V3Ipv6 {
        // Our gratuitous ARPs moved the VIP to our MAC in keepalived's neighbour table.
        let mac = lab.mac(&ours, "rs0");
        assert!(
            wait_until(HANDOVER, || lab.neighbour(&ka, vip).as_deref()
                == Some(mac.as_str())),
            "no gratuitous ARP for {vip} from {mac}: {:?}\n{}",
            lab.neighbour(&ka, vip),
            lab.logs()
        );
    }
    assert_eq!(
        lab.ours_log().matches("Backup -> Master").count(),
        2,
        "{}",
        lab.logs()
    );
    assert_no_complaints(&lab);
    lab.stop_ours();
    let ours_log = lab.ours_log();
    assert!(
        !ours_log.contains("REJECTED"),
        "we rejected keepalived's adverts\n{ours_log}"
    );
}

#[test]
fn keepalived_v3_ipv4_we_preempt_and_resign() {
    ours_preempts_then_resigns("a", Flavour::V3Ipv4);
}

#[test]
fn keepalived_v3_ipv4_it_preempts_and_resigns() {
    keepalived_preempts_then_resigns("b", Flavour::V3Ipv4);
}

#[test]
fn keepalived_v2_ipv4_we_preempt_and_resign() {
    ours_preempts_then_resigns("c", Flavour::V2Ipv4);
}

#[test]
fn keepalived_v2_ipv4_it_preempts_and_resigns() {
    keepalived_preempts_then_resigns("d", Flavour::V2Ipv4);
}

#[test]
fn keepalived_v3_ipv6_we_preempt_and_resign() {
    ours_preempts_then_resigns("e", Flavour::V3Ipv6);
}

#[test]
fn keepalived_v3_ipv6_it_preempts_and_resigns() {
    keepalived_preempts_then_resigns("f", Flavour::V3Ipv6);
}

#[test]
fn keepalived_v3_ipv4_unicast_we_preempt_and_resign() {
    ours_preempts_then_resigns("g", Flavour::V3Ipv4Unicast);
}

#[test]
fn keepalived_v3_ipv4_unicast_it_preempts_and_resigns() {
    keepalived_preempts_then_resigns("h", Flavour::V3Ipv4Unicast);
}
