//! The Prometheus endpoint (`--metrics ADDR`): a tiny HTTP/1.0 server thread answering
//! `GET /metrics` with the text exposition format 0.0.4.
//!
//! The format is written by hand: it is a few lines per family (`# HELP`, `# TYPE`, samples
//! with escaped label values), and a crate such as `prometheus-client` would add a registry of
//! live metric objects that the director's snapshot model does not need. [`render`] is pure:
//! one scrape is one [`DirectorSnapshot`] plus the health checker's view.
//!
//! Families: `lvs_connections`, `lvs_connection_budget`, `lvs_templates`,
//! `lvs_{service,dest}_connections_total`, `..._packets_total{direction}`,
//! `..._bytes_total{direction}`, `..._connections_per_second`,
//! `..._packets_per_second{direction}`, `..._bytes_per_second{direction}`, `lvs_dest_weight`,
//! `lvs_dest_active_connections`, `lvs_dest_inactive_connections`,
//! `lvs_dest_persistent_connections`, `lvs_drops_total{reason}`, `lvs_dest_up` for the
//! dests the health checker reports on, and `lvs_worker_*_total{worker}` for the data-plane
//! workers' counters ([`render_workers`]).

use core::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lvs_core::director::{Director, DirectorSnapshot, Rates, Stats};
use lvs_core::ipvsadm::{ServiceKey, SocketDisplay};

use crate::worker::CountersSnapshot;

/// One dest's health as the health checker sees it (`lvs_dest_up`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestHealth {
    /// The service ([`service_label`] makes the label).
    pub service: ServiceKey,
    /// The dest `addr:port` ([`SocketDisplay`]).
    pub dest: SocketDisplay,
    /// The last check passed.
    pub up: bool,
}

impl DestHealth {
    /// One entry per dest of the health listing's rows (one row per checker): up while every
    /// checker of the dest is up, as the health monitor's `alive`.
    pub fn from_rows(rows: &[lvs_core::health::HealthRow]) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for r in rows {
            let dest = SocketDisplay(r.dest.ip(), r.dest.port());
            match out
                .iter_mut()
                .find(|h| h.service == r.service && h.dest == dest)
            {
                Some(h) => h.up &= r.up,
                None => out.push(Self {
                    service: r.service,
                    dest,
                    up: r.up,
                }),
            }
        }
        out
    }
}

/// What a scrape reads.
pub trait MetricsSource: Send + Sync {
    /// The director's counters, rates and drops now.
    fn snapshot(&self) -> DirectorSnapshot;
    /// The health checkers' verdicts; none by default.
    fn health(&self) -> Vec<DestHealth> {
        Vec::new()
    }
    /// The data-plane workers' counters, in worker order ([`render_workers`]); none by
    /// default.
    fn workers(&self) -> Vec<CountersSnapshot> {
        Vec::new()
    }
}

/// A borrowed source (a decorator such as a health overlay can wrap a reference).
impl<T: MetricsSource + ?Sized> MetricsSource for &T {
    fn snapshot(&self) -> DirectorSnapshot {
        (**self).snapshot()
    }

    fn health(&self) -> Vec<DestHealth> {
        (**self).health()
    }

    fn workers(&self) -> Vec<CountersSnapshot> {
        (**self).workers()
    }
}

impl MetricsSource for Mutex<Director> {
    fn snapshot(&self) -> DirectorSnapshot {
        self.lock().unwrap_or_else(|p| p.into_inner()).snapshot()
    }
}

/// The `service` label: `tcp/192.0.2.1:80`, `udp/[2001:db8::1]:53`, `fwm/7`, `fwm6/7`.
pub fn service_label(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => format!(
            "{}/{}",
            protocol.name().to_ascii_lowercase(),
            SocketDisplay(*addr, *port)
        ),
        ServiceKey::Fwmark { mark, af } => match af {
            lvs_core::ipvsadm::AddressFamily::Inet => format!("fwm/{mark}"),
            lvs_core::ipvsadm::AddressFamily::Inet6 => format!("fwm6/{mark}"),
        },
    }
}

/// Label value escaping of the text format: backslash, double quote, newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Counters and rates of services and dests, family by family.
type Row = (Vec<(&'static str, String)>, Stats, Rates);
type DestGauge = fn(&lvs_core::director::DestSnapshot) -> u64;

fn traffic(f: &mut Family<'_>, scope: &str, rows: &[Row]) {
    let labels = |l: &[(&'static str, String)], extra: Option<(&'static str, &'static str)>| {
        let mut v: Vec<(&'static str, String)> = l.to_vec();
        if let Some((k, x)) = extra {
            v.push((k, x.to_owned()));
        }
        v
    };
    let emit = |f: &mut Family<'_>, name: &str, l: Vec<(&'static str, String)>, value: u64| {
        let refs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        f.sample(name, &refs, value);
    };
    let name = format!("lvs_{scope}_connections_total");
    f.head(&name, "counter", "Connections scheduled.");
    for (l, s, _) in rows {
        emit(f, &name, labels(l, None), s.conns);
    }
    let name = format!("lvs_{scope}_packets_total");
    f.head(&name, "counter", "Packets forwarded, by direction.");
    for (l, s, _) in rows {
        emit(f, &name, labels(l, Some(("direction", "in"))), s.inpkts);
        emit(f, &name, labels(l, Some(("direction", "out"))), s.outpkts);
    }
    let name = format!("lvs_{scope}_bytes_total");
    f.head(&name, "counter", "Bytes forwarded, by direction.");
    for (l, s, _) in rows {
        emit(f, &name, labels(l, Some(("direction", "in"))), s.inbytes);
        emit(f, &name, labels(l, Some(("direction", "out"))), s.outbytes);
    }
    let name = format!("lvs_{scope}_connections_per_second");
    f.head(&name, "gauge", "Connection rate (2 s estimator).");
    for (l, _, r) in rows {
        emit(f, &name, labels(l, None), r.cps);
    }
    let name = format!("lvs_{scope}_packets_per_second");
    f.head(&name, "gauge", "Packet rate (2 s estimator), by direction.");
    for (l, _, r) in rows {
        emit(f, &name, labels(l, Some(("direction", "in"))), r.inpps);
        emit(f, &name, labels(l, Some(("direction", "out"))), r.outpps);
    }
    let name = format!("lvs_{scope}_bytes_per_second");
    f.head(&name, "gauge", "Byte rate (2 s estimator), by direction.");
    for (l, _, r) in rows {
        emit(f, &name, labels(l, Some(("direction", "in"))), r.inbps);
        emit(f, &name, labels(l, Some(("direction", "out"))), r.outbps);
    }
}

/// The exposition text of one scrape.
pub fn render(snap: &DirectorSnapshot, health: &[DestHealth]) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.head("lvs_connections", "gauge", "Connections in the table.");
    f.sample("lvs_connections", &[], snap.conns as u64);
    f.head(
        "lvs_connection_budget",
        "gauge",
        "Capacity of the connection table.",
    );
    f.sample("lvs_connection_budget", &[], snap.conn_budget as u64);
    f.head("lvs_templates", "gauge", "Persistence templates.");
    f.sample("lvs_templates", &[], snap.templates as u64);
    let svc_rows: Vec<Row> = snap
        .services
        .iter()
        .map(|s| (vec![("service", service_label(&s.key))], s.stats, s.rates))
        .collect();
    traffic(&mut f, "service", &svc_rows);
    let dest_rows: Vec<Row> = snap
        .services
        .iter()
        .flat_map(|s| {
            let svc = service_label(&s.key);
            s.dests.iter().map(move |d| {
                (
                    vec![
                        ("service", svc.clone()),
                        ("dest", SocketDisplay(d.addr, d.port).to_string()),
                    ],
                    d.stats,
                    d.rates,
                )
            })
        })
        .collect();
    traffic(&mut f, "dest", &dest_rows);
    let gauges: [(&str, &str, DestGauge); 4] = [
        ("lvs_dest_weight", "Weight (0 = quiesced).", |d| {
            d.weight.max(0) as u64
        }),
        ("lvs_dest_active_connections", "ActiveConn.", |d| {
            u64::from(d.active_conns)
        }),
        ("lvs_dest_inactive_connections", "InActConn.", |d| {
            u64::from(d.inactive_conns)
        }),
        (
            "lvs_dest_persistent_connections",
            "Templates pointing at the dest.",
            |d| u64::from(d.persist_conns),
        ),
    ];
    for (name, help, get) in gauges {
        f.head(name, "gauge", help);
        for s in &snap.services {
            let svc = service_label(&s.key);
            for d in &s.dests {
                let dest = SocketDisplay(d.addr, d.port).to_string();
                f.sample(name, &[("service", &svc), ("dest", &dest)], get(d));
            }
        }
    }
    f.head("lvs_drops_total", "counter", "Frames dropped, by reason.");
    for (reason, n) in snap.drops.iter() {
        f.sample("lvs_drops_total", &[("reason", reason)], n);
    }
    if !health.is_empty() {
        f.head(
            "lvs_dest_up",
            "gauge",
            "1 when the last health check passed.",
        );
        for h in health {
            let svc = service_label(&h.service);
            let dest = h.dest.to_string();
            f.sample(
                "lvs_dest_up",
                &[("service", &svc), ("dest", &dest)],
                u64::from(h.up),
            );
        }
    }
    out
}

/// The per-worker families: `lvs_worker_<counter>_total{worker="i"}` for every
/// [`CountersSnapshot`] field (frames and bytes received, transmitted, forwarded, dropped by
/// the data plane before the director, ring statistics).
pub fn render_workers(workers: &[CountersSnapshot]) -> String {
    let mut out = String::new();
    let Some(first) = workers.first() else {
        return out;
    };
    let mut f = Family { out: &mut out };
    for (i, (name, _)) in first.iter().enumerate() {
        let family = format!("lvs_worker_{name}_total");
        f.head(&family, "counter", &format!("Worker counter {name}."));
        for (w, c) in workers.iter().enumerate() {
            let value = c.iter().nth(i).map_or(0, |(_, v)| v);
            f.sample(&family, &[("worker", &w.to_string())], value);
        }
    }
    out
}

/// A bound metrics listener answered by the caller's thread, for sources that borrow (a
/// scoped thread in `lvs-router run`): [`MetricsServer::serve_one`] in a loop, and a
/// connection to [`MetricsServer::local_addr`] wakes it to stop.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks one).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("metrics: bind {addr}: {e}")))?;
        Ok(Self { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts one client and answers it (a broken scrape is the scraper's problem); only
    /// `accept` errors are returned.
    pub fn serve_one(&self, source: &dyn MetricsSource) -> io::Result<()> {
        let (stream, _) = self.listener.accept()?;
        let _ = answer(stream, source);
        Ok(())
    }
}

/// Serves `GET /metrics` on `addr` from a new thread; returns the bound address (port 0 picks
/// one) and the thread. Clients are answered one at a time with a 5 s I/O timeout.
pub fn spawn(
    addr: SocketAddr,
    source: Arc<dyn MetricsSource>,
) -> io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("metrics: bind {addr}: {e}")))?;
    let local = listener.local_addr()?;
    let handle = std::thread::Builder::new()
        .name("lvs-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // A broken scrape is the scraper's problem; keep serving.
                let _ = answer(stream, source.as_ref());
            }
        })?;
    Ok((local, handle))
}

fn answer(mut stream: TcpStream, source: &dyn MetricsSource) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(16 * 1024);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers: nothing in them changes the answer.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body) = if method == "GET" && (path == "/metrics" || path.starts_with("/metrics?"))
    {
        let mut body = render(&source.snapshot(), &source.health());
        body.push_str(&render_workers(&source.workers()));
        ("200 OK", body)
    } else {
        ("404 Not Found", "try /metrics\n".to_owned())
    };
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::director::DirectorConfig;
    use lvs_core::ipvsadm::parse_line;
    use lvs_core::time::Instant;

    fn director() -> Mutex<Director> {
        let mut d = Director::new(DirectorConfig {
            conn_budget: 1000,
            ..DirectorConfig::default()
        });
        for l in [
            "-A -t 192.0.2.1:80",
            "-a -t 192.0.2.1:80 -r 10.0.0.1 -m -w 3",
            "-A -f 7 -6",
        ] {
            d.apply(&parse_line(l).unwrap(), Instant::ZERO).unwrap();
        }
        Mutex::new(d)
    }

    #[test]
    fn render_writes_every_family_with_labels() {
        let mut snap = director().snapshot();
        snap.services[0].stats.inpkts = 12;
        snap.services[0].dests[0].rates.outbps = 34;
        let health = [DestHealth {
            service: snap.services[0].key,
            dest: SocketDisplay("10.0.0.1".parse().unwrap(), 80),
            up: true,
        }];
        let text = render(&snap, &health);
        for line in [
            "# TYPE lvs_connections gauge\nlvs_connections 0\n",
            "lvs_connection_budget 1000\n",
            "# TYPE lvs_service_packets_total counter\n",
            "lvs_service_packets_total{service=\"tcp/192.0.2.1:80\",direction=\"in\"} 12\n",
            "lvs_service_connections_total{service=\"fwm6/7\"} 0\n",
            "lvs_dest_bytes_per_second{service=\"tcp/192.0.2.1:80\",dest=\"10.0.0.1:80\",direction=\"out\"} 34\n",
            "lvs_dest_weight{service=\"tcp/192.0.2.1:80\",dest=\"10.0.0.1:80\"} 3\n",
            "# TYPE lvs_drops_total counter\n",
            "lvs_dest_up{service=\"tcp/192.0.2.1:80\",dest=\"10.0.0.1:80\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // Every sample line belongs to a family declared before it.
        let mut declared = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_owned());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{l}");
            }
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn worker_counters_are_one_family_each_with_a_worker_label() {
        let a = CountersSnapshot {
            rx_frames: 5,
            forwarded: 4,
            ..CountersSnapshot::default()
        };
        let b = CountersSnapshot {
            rx_frames: 7,
            ..CountersSnapshot::default()
        };
        let text = render_workers(&[a, b]);
        for line in [
            "# TYPE lvs_worker_rx_frames_total counter\n",
            "lvs_worker_rx_frames_total{worker=\"0\"} 5\nlvs_worker_rx_frames_total{worker=\"1\"} 7\n",
            "lvs_worker_forwarded_total{worker=\"0\"} 4\n",
            "lvs_worker_forwarded_total{worker=\"1\"} 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(render_workers(&[]), "");
    }

    #[test]
    fn a_bound_server_answers_from_a_borrowing_thread() {
        let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let d = director();
        std::thread::scope(|s| {
            s.spawn(|| server.serve_one(&d).unwrap());
            let mut c = TcpStream::connect(addr).unwrap();
            write!(c, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut body = String::new();
            c.read_to_string(&mut body).unwrap();
            assert!(
                body.contains("lvs_dest_weight{service=\"tcp/192.0.2.1:80\""),
                "{body}"
            );
        });
    }

    #[test]
    fn scrape_over_http() {
        let (addr, _thread) = spawn("127.0.0.1:0".parse().unwrap(), Arc::new(director())).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            body
        };
        let ok = get("/metrics");
        assert!(ok.starts_with("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4"));
        assert!(ok.contains("\r\n\r\n# HELP lvs_connections "));
        assert!(get("/").starts_with("HTTP/1.0 404"));
    }

    #[test]
    fn a_dest_is_up_while_all_its_checkers_are() {
        use lvs_core::health::HealthRow;
        let key = director().snapshot().services[0].key;
        let row = |dest: &str, checker, up| HealthRow {
            service: key,
            dest: dest.parse().unwrap(),
            checker,
            up,
            last: "-".into(),
            fails: 0,
            since: Duration::ZERO,
        };
        let rows = [
            row("10.0.0.1:80", "TCP_CHECK", true),
            row("10.0.0.1:80", "HTTP_GET", false),
            row("10.0.0.2:80", "TCP_CHECK", true),
        ];
        let h = DestHealth::from_rows(&rows);
        assert_eq!(
            h.iter()
                .map(|h| (h.dest.to_string(), h.up))
                .collect::<Vec<_>>(),
            [
                ("10.0.0.1:80".to_owned(), false),
                ("10.0.0.2:80".to_owned(), true)
            ]
        );
        assert!(
            render(&director().snapshot(), &h)
                .contains("lvs_dest_up{service=\"tcp/192.0.2.1:80\",dest=\"10.0.0.2:80\"} 1\n")
        );
    }
}
