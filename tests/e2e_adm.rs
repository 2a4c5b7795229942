//! `lvs-router adm --socket PATH` against a running `lvs-router run` (`control_socket` in its
//! TOML): the listing of the loaded rules in ipvsadm's exact format, a dest added over the
//! socket (listed, and traffic still flows), a refused command (ipvsadm's text, non-zero exit,
//! listing unchanged), `-S`, a SIGHUP reload replacing the stored rules, and the socket file
//! removed at exit. Also: `--nosort` lists dests newest first (the kernel's list order) while
//! the default sorts; `-Lnc` lists the client's connections after traffic; `-Z` resets the
//! `--stats` counters; `--set` shows in `-L --timeout`, survives a later socket change and
//! goes with a SIGHUP reload; the Prometheus endpoint (`metrics_listen`) answers a plain GET
//! with non-zero series after traffic. Lab: tests/e2e/cluster.rs.
//! Needs root (or `unshare -Urn`) and the Debian packages in `e2e::PACKAGES`.

mod e2e;

use std::path::Path;

use e2e::adm;
use e2e::client::http_get;
use e2e::cluster::{CLIENT, Cluster, one_arm_toml, rip};

const METRICS: &str = "127.0.0.1:19642";

/// `GET /metrics` from inside the director's namespace.
fn scrape(lab: &Cluster) -> String {
    let body = lab
        .director
        .thread(|| http_get(METRICS.parse().unwrap(), "/metrics"))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("scrape: {e}\n{}", lab.router_log()));
    String::from_utf8(body).expect("metrics are UTF-8")
}

/// The value of the sample `series` (name with labels, as printed) in a scrape.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The `--stats` columns (Conns InPkts OutPkts InBytes OutBytes) of every service and dest
/// line of an `-Ln --stats --exact` listing.
fn stats_rows(listing: &str) -> Vec<Vec<u64>> {
    listing
        .lines()
        .filter(|l| l.starts_with("TCP ") || l.starts_with("  -> 1"))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols[cols.len() - 5..]
                .iter()
                .map(|c| c.parse().unwrap_or_else(|_| panic!("{l}")))
                .collect()
        })
        .collect()
}

fn listing(sock: &Path) -> String {
    let (ok, out, err) = adm(sock, &["-Ln"]);
    assert!(ok, "adm -Ln: {err}");
    out
}

/// The listing without the connection counts (dest lines cut after the weight), for after
/// traffic went through.
fn config_of(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|l| match l.strip_prefix("  -> ") {
            Some(rest) if !rest.starts_with("RemoteAddress") => rest
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            _ => l.to_owned(),
        })
        .collect()
}

const HEAD: &str = "IP Virtual Server version 1.2.1 (size=4096)\n\
                    Prot LocalAddress:Port Scheduler Flags\n  \
                    -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                    TCP  192.0.2.10:80 rr\n";

#[test]
fn adm_over_the_control_socket() {
    if e2e::unavailable("adm_over_the_control_socket") {
        return;
    }
    let mut lab = Cluster::build("adm");
    let sock = lab.dir().join("ctl.sock");
    let rules = format!(
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r {}:8080 -m -w 1\n\
         -a -t 192.0.2.10:80 -r {}:8080 -m -w 2\n",
        rip(1),
        rip(2)
    );
    let extra = format!(
        "conn_budget = 4096\ncontrol_socket = \"{}\"\nmetrics_listen = \"{METRICS}\"",
        sock.display()
    );
    lab.start_router(&rules, &one_arm_toml(&extra));
    let log = |lab: &Cluster| lab.router_log();

    // ipvsadm sorts dests by default (address, then port); --nosort below shows the kernel order.
    let loaded = format!(
        "{HEAD}  -> 172.16.0.11:8080             Masq    1      0          0         \n  \
         -> 172.16.0.12:8080             Masq    2      0          0         \n"
    );
    assert_eq!(listing(&sock), loaded, "{}", log(&lab));

    let (ok, _, err) = adm(
        &sock,
        &["-a", "-t", "192.0.2.10:80", "-r", "172.16.0.13:8080", "-m"],
    );
    assert!(ok, "adm -a: {err}\n{}", log(&lab));
    let added = format!(
        "{HEAD}  -> 172.16.0.11:8080             Masq    1      0          0         \n  \
         -> 172.16.0.12:8080             Masq    2      0          0         \n  \
         -> 172.16.0.13:8080             Masq    1      0          0         \n"
    );
    assert_eq!(listing(&sock), added, "{}", log(&lab));
    // --nosort: the kernel's list order, newest first (list_add_rcu at the head); the default
    // listing above is ipvsadm's sorted one.
    let (ok, nosort, err) = adm(&sock, &["-Ln", "--nosort"]);
    assert!(ok, "adm -Ln --nosort: {err}");
    assert_eq!(
        nosort,
        format!(
            "{HEAD}  -> 172.16.0.13:8080             Masq    1      0          0         \n  \
             -> 172.16.0.12:8080             Masq    2      0          0         \n  \
             -> 172.16.0.11:8080             Masq    1      0          0         \n"
        )
    );

    // A dest of a service that does not exist: ipvsadm's text, non-zero exit, no change.
    let (ok, out, err) = adm(
        &sock,
        &["-a", "-t", "192.0.2.10:81", "-r", "172.16.0.13:80", "-m"],
    );
    assert!(!ok, "a dest of a missing service was accepted: {out}");
    assert_eq!(err, "Service not defined\n");
    assert_eq!(listing(&sock), added);
    // -Z of a service that does not exist is refused.
    let (ok, _, err) = adm(&sock, &["-Z", "-t", "192.0.2.10:81"]);
    assert!(!ok && !err.is_empty(), "-Z of a missing service: {err}");

    let (ok, saved, err) = adm(&sock, &["-S", "-n"]);
    assert!(ok, "adm -S: {err}");
    assert!(
        saved.contains("-a -t 192.0.2.10:80 -r 172.16.0.13:8080 -m -w 1"),
        "{saved}"
    );

    // Three requests over rr: every dest, the new one included, answers.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let body = lab
            .curl("http://192.0.2.10/id")
            .unwrap_or_else(|e| panic!("curl: {e}\n{}", log(&lab)));
        seen.push(String::from_utf8_lossy(&body).trim().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["rs1", "rs2", "rs3"], "{}", log(&lab));

    // -Lnc: the three connections of the client, in ipvsadm's row format.
    let (ok, conns, err) = adm(&sock, &["-Lnc"]);
    assert!(ok, "adm -Lnc: {err}");
    let mut lines = conns.lines();
    assert_eq!(lines.next(), Some("IPVS connection entries"), "{conns}");
    assert_eq!(
        lines.next(),
        Some("pro expire state       source             virtual            destination")
    );
    let mut dests = Vec::new();
    for row in lines {
        let c: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(c.len(), 6, "{row}");
        // Byte for byte the shape the core renders: `%-3s %-6s %-11s %-18s %-18s %s`.
        assert_eq!(
            row,
            format!(
                "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
                c[0], c[1], c[2], c[3], c[4], c[5]
            )
        );
        assert_eq!(c[0], "TCP");
        assert!(c[1].len() == 5 && c[1].as_bytes()[2] == b':', "{row}");
        assert!(c[3].starts_with(&format!("{CLIENT}:")), "{row}");
        assert_eq!(c[4], "192.0.2.10:80");
        dests.push(c[5].to_owned());
    }
    dests.sort();
    assert_eq!(
        dests,
        ["172.16.0.11:8080", "172.16.0.12:8080", "172.16.0.13:8080"],
        "{conns}"
    );

    // Metrics after traffic: a plain GET, non-zero series.
    let text = scrape(&lab);
    let svc = "service=\"tcp/192.0.2.10:80\"";
    assert_eq!(
        sample(&text, &format!("lvs_service_connections_total{{{svc}}}")),
        Some(3),
        "{text}"
    );
    assert!(
        sample(
            &text,
            &format!("lvs_service_packets_total{{{svc},direction=\"in\"}}")
        ) > Some(0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("lvs_dest_connections_total{{{svc},dest=\"172.16.0.13:8080\"}}")
        ),
        Some(1),
        "{text}"
    );
    assert!(
        sample(&text, "lvs_worker_forwarded_total{worker=\"0\"}") > Some(0),
        "{text}"
    );

    // -Z resets the counters --stats shows (the connections' last packets have arrived by
    // the time the client's requests returned; wait a little for stragglers anyway).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stats = |sock: &Path| {
        let (ok, out, err) = adm(sock, &["-Ln", "--stats", "--exact"]);
        assert!(ok, "adm --stats: {err}");
        stats_rows(&out)
    };
    let before = stats(&sock);
    assert_eq!(before.len(), 4, "{before:?}");
    assert_eq!(before[0][0], 3, "service Conns before -Z: {before:?}");
    let (ok, _, err) = adm(&sock, &["-Z"]);
    assert!(ok, "adm -Z: {err}\n{}", log(&lab));
    let after = stats(&sock);
    assert!(
        after.iter().all(|r| r.iter().all(|&v| v == 0)),
        "counters after -Z: {after:?}"
    );
    let text = scrape(&lab);
    assert_eq!(
        sample(&text, &format!("lvs_service_connections_total{{{svc}}}")),
        Some(0),
        "{text}"
    );
    // -Z of one service is accepted too.
    let (ok, _, err) = adm(&sock, &["-Z", "-t", "192.0.2.10:80"]);
    assert!(ok, "adm -Z -t: {err}");

    // --set: shown by -L --timeout, kept by a later socket change, gone with a SIGHUP reload.
    let timeout = |sock: &Path| {
        let (ok, out, err) = adm(sock, &["-L", "--timeout"]);
        assert!(ok, "adm -L --timeout: {err}");
        out
    };
    // `-e` of a dest of the VIP:80 service (masquerading) with a new weight.
    let edit = |dest: &str, weight: &str| {
        let args = ["-e", "-t", "192.0.2.10:80", "-r", dest, "-m", "-w", weight];
        let (ok, _, err) = adm(&sock, &args);
        assert!(ok, "adm -e: {err}");
    };
    assert_eq!(timeout(&sock), "Timeout (tcp tcpfin udp): 900 120 300\n");
    let (ok, _, err) = adm(&sock, &["--set", "100", "0", "50"]);
    assert!(ok, "adm --set: {err}\n{}", log(&lab));
    assert_eq!(timeout(&sock), "Timeout (tcp tcpfin udp): 100 120 50\n");
    edit("172.16.0.13:8080", "1");
    assert_eq!(timeout(&sock), "Timeout (tcp tcpfin udp): 100 120 50\n");

    // SIGHUP re-reads the rules file: the socket's change is gone, the stored rules follow
    // (a later -a builds on the reloaded rules, not on the old ones).
    lab.reload(&rules);
    assert_eq!(
        config_of(&listing(&sock)),
        config_of(&loaded),
        "{}",
        log(&lab)
    );
    assert_eq!(timeout(&sock), "Timeout (tcp tcpfin udp): 900 120 300\n");
    edit("172.16.0.12:8080", "5");
    assert_eq!(
        config_of(&listing(&sock)),
        config_of(&loaded.replace("Masq    2 ", "Masq    5 ")),
        "{}",
        log(&lab)
    );

    assert_eq!(lab.stop_router(), Some(0), "{}", log(&lab));
    assert!(!sock.exists(), "socket file left behind");
    let closed = lab
        .director
        .thread(|| http_get(METRICS.parse().unwrap(), "/metrics"))
        .join()
        .unwrap();
    assert!(closed.is_err(), "metrics still served after exit");
}
