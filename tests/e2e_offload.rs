//! Bulk TCP through `lvs-router run` with the kernel's offloads ON everywhere (TSO/GSO on every
//! veth, checksum offload on): the director receives GSO super-frames with partial checksums,
//! rewrites their headers once and sends them on with a virtio_net_hdr for the kernel to
//! segment (lvs_net::device::vnet). Uploads and a download through NAT (IPv4 and IPv6) and
//! FULLNAT must arrive byte for byte; through TUN (ipip) the director cuts the trains into
//! segments in software before encapsulating them. Lab: tests/e2e/cluster.rs.

mod e2e;

use std::net::SocketAddr;

use e2e::checks::{start_decapsulators, transfers};
use e2e::client::{sha256, upload};
use e2e::cluster::{Cluster, one_arm_toml, rip, rip6};

const LIP: &str = "172.16.0.100";

fn rules() -> String {
    let mut r = String::from("# ipvsadm-save -n\n");
    r.push_str("-A -t 192.0.2.10:80 -s rr\n-A -t 192.0.2.10:9000 -s rr\n");
    r.push_str("-A -t [2001:db8:2::10]:9000 -s rr\n-A -t 192.0.2.10:9100 -s rr\n");
    r.push_str(&format!("-a -t 192.0.2.10:80 -r {}:8080 -m -w 1\n", rip(1)));
    r.push_str(&format!(
        "-a -t 192.0.2.10:9000 -r {}:9000 -m -w 1\n",
        rip(2)
    ));
    r.push_str(&format!(
        "-a -t [2001:db8:2::10]:9000 -r [{}]:9000 -m -w 1\n",
        rip6(3)
    ));
    // FULLNAT: an -m dest of a service with a [[fullnat]] pool.
    r.push_str(&format!(
        "-a -t 192.0.2.10:9100 -r {}:9000 -m -w 1\n",
        rip(1)
    ));
    r
}

fn pool() -> String {
    format!(
        "\n[[fullnat]]\nservice = \"-t 192.0.2.10:9100\"\nladdrs = [\"{LIP}\"]\nports = \"20000-60000\"\n"
    )
}

/// TSO/GSO and checksum offload on, on both ends of every link (the lab's veth helper turns
/// them off), so the bridge passes trains through and the director's tap sees them whole.
fn offloads_on(lab: &Cluster) {
    let on = |n: &e2e::Node, dev: &str| {
        // Exit status ignored: ethtool fails when one of the features is fixed on.
        let _ = n.try_cmd(&["ethtool", "-K", dev, "tso", "on", "gso", "on", "tx", "on"]);
    };
    on(&lab.client, "c0");
    on(&lab.director, "d0");
    for s in &lab.servers {
        on(s, "e0");
    }
    for p in ["pc", "pd", "p1", "p2", "p3"] {
        on(&lab.sw, p);
    }
    assert!(
        lab.client
            .sh("ethtool -k c0")
            .contains("tcp-segmentation-offload: on"),
        "TSO did not turn on"
    );
}

#[test]
fn bulk_tcp_with_offloads_on() {
    if e2e::unavailable("bulk_tcp_with_offloads_on") {
        return;
    }
    let lab = Cluster::build("gso");
    // The lab's veth helper turns TSO/GSO off; this test wants them on, on both ends of every
    // link, so the bridge passes trains through and the director's tap sees them whole.
    offloads_on(&lab);
    let mut lab = lab;
    lab.start_router(&rules(), &one_arm_toml(&pool()));

    let big = lab.served("big");
    let want = sha256(&big);
    let client = lab.client.thread(move || {
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        [
            upload(sa("192.0.2.10:9000"), &big),
            upload(sa("[2001:db8:2::10]:9000"), &big),
            upload(sa("192.0.2.10:9100"), &big),
        ]
    });
    let ups = client.join().unwrap();
    let log = lab.router_log();
    for (what, up) in ["NAT v4", "NAT v6", "FULLNAT v4"].iter().zip(ups) {
        let up = up.unwrap_or_else(|e| panic!("{what} upload: {e}\n{log}"));
        assert!(up.ends_with(&want), "{what}: upload digest {up}\n{log}");
    }
    // The other direction: the real server's trains through the NAT reply path.
    let got = lab
        .curl("http://192.0.2.10/big")
        .unwrap_or_else(|e| panic!("download: {e}\n{}", lab.router_log()));
    assert_eq!(got.len(), 10 << 20);
    assert_eq!(sha256(&got), want, "download digest");
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}

/// TUN with offloads on: a train cannot be encapsulated whole, so the worker segments it in
/// software first (`Director::gso_whole` is false for TUN connections); the segments then get
/// the usual tunnel MTU treatment (fragmentation needed, the client's cached MTU shrinks).
#[test]
fn tun_with_offloads_on() {
    if e2e::unavailable("tun_with_offloads_on") {
        return;
    }
    let mut lab = Cluster::build("gsotun");
    start_decapsulators(&mut lab, &["192.0.2.10"], None);
    offloads_on(&lab);
    lab.start_router(&e2e::checks::rules("-i", false), &one_arm_toml(""));
    transfers(&lab, "192.0.2.10");
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
