//! Sections to core types, with keepalived's defaults.

use super::*;

fn secs(v: f64, server: &str, kind: &str, field: &str) -> Result<Duration, HealthConfigError> {
    Duration::try_from_secs_f64(v).map_err(|e| HealthConfigError::Check {
        server: server.to_owned(),
        kind: kind.to_owned(),
        reason: format!("{field} = {v}: {e}"),
    })
}

fn parse_service(words: &str) -> Result<ServiceKey, HealthConfigError> {
    match parse_line(&format!("-A {words}")) {
        Ok(Command::AddService(key, _)) => Ok(key),
        _ => Err(HealthConfigError::Service(words.to_owned())),
    }
}

fn parse_dest(service: &ServiceKey, words: &str) -> Result<DestConfig, HealthConfigError> {
    let err = |reason: String| HealthConfigError::Server {
        service: service.to_string(),
        server: words.to_owned(),
        reason,
    };
    match parse_line(&format!("-a {service} {words}")) {
        Ok(Command::AddDest(_, dest)) => Ok(dest),
        Ok(other) => Err(err(format!("not a real server: {other:?}"))),
        Err(e) => Err(err(e.to_string())),
    }
}

impl HealthFile {
    /// The core's configuration.
    pub fn to_core(&self) -> Result<Vec<VirtualServerHealth>, HealthConfigError> {
        self.virtual_server
            .iter()
            .map(VirtualServerSection::to_core)
            .collect()
    }
}

impl VirtualServerSection {
    /// The core's configuration; every real server needs `server`.
    pub fn to_core(&self) -> Result<VirtualServerHealth, HealthConfigError> {
        let service = parse_service(&self.service)?;
        let mut real_servers = Vec::with_capacity(self.real_server.len());
        for rs in &self.real_server {
            let words = rs
                .server
                .as_deref()
                .ok_or_else(|| HealthConfigError::Server {
                    service: self.service.clone(),
                    server: String::new(),
                    reason: "`server` is missing".into(),
                })?;
            let dest = parse_dest(&service, words)?;
            real_servers.push(rs.to_core(dest, self.delay_loop)?);
        }
        let sorry_server = match &self.sorry_server {
            Some(words) => Some(SorryServer {
                dest: parse_dest(&service, words)?,
                inhibit: self.sorry_server_inhibit,
            }),
            None => None,
        };
        Ok(VirtualServerHealth {
            quorum: self.quorum.unwrap_or(1),
            hysteresis: self.hysteresis.unwrap_or(0),
            alpha: self.alpha,
            sorry_server,
            quorum_up: self.quorum_up.clone(),
            quorum_down: self.quorum_down.clone(),
            ..VirtualServerHealth::new(service, real_servers)
        })
    }
}

impl RealServerSection {
    /// The core's configuration for `dest`; `delay_loop` is the virtual server's default.
    pub fn to_core(
        &self,
        dest: DestConfig,
        delay_loop: Option<f64>,
    ) -> Result<RealServerHealth, HealthConfigError> {
        let name = lvs_core::ipvsadm::SocketDisplay(dest.addr, dest.port).to_string();
        let checkers = self
            .check
            .iter()
            .map(|c| c.to_core(&name, delay_loop))
            .collect::<Result<_, _>>()?;
        Ok(RealServerHealth {
            inhibit_on_failure: self.inhibit_on_failure,
            notify_up: self.notify_up.clone(),
            notify_down: self.notify_down.clone(),
            on_failure: match self.on_failure {
                ConnPolicySection::Keep => FailedConnPolicy::KeepUntilEnd,
                ConnPolicySection::Expire => FailedConnPolicy::ExpireNow,
            },
            ..RealServerHealth::new(dest, checkers)
        })
    }
}

impl CheckSection {
    fn to_core(
        &self,
        server: &str,
        vs_delay_loop: Option<f64>,
    ) -> Result<CheckerConfig, HealthConfigError> {
        let kind_name = format!("{:?}", self.kind).to_lowercase();
        let err = |reason: &str| HealthConfigError::Check {
            server: server.to_owned(),
            kind: kind_name.clone(),
            reason: reason.to_owned(),
        };
        let expect = || -> Result<Option<Expect>, HealthConfigError> {
            match (&self.expect, &self.expect_regex) {
                (Some(_), Some(_)) => Err(err("give `expect` or `expect_regex`, not both")),
                (Some(s), None) => Ok(Some(Expect::Substring(s.clone().into_bytes()))),
                (None, Some(r)) => {
                    regex::bytes::Regex::new(r).map_err(|e| err(&format!("expect_regex: {e}")))?;
                    Ok(Some(Expect::Regex(r.clone())))
                }
                (None, None) => Ok(None),
            }
        };
        let send = || self.send.clone().unwrap_or_default().into_bytes();
        let kind = match self.kind {
            CheckType::Tcp => CheckKind::Tcp,
            CheckType::Icmp => CheckKind::Icmp,
            CheckType::Http | CheckType::Https => {
                let http = self.http(&err)?;
                if self.kind == CheckType::Http {
                    CheckKind::Http(http)
                } else {
                    CheckKind::Https(http)
                }
            }
            CheckType::SendExpect => CheckKind::SendExpect {
                send: send(),
                expect: expect()?.ok_or_else(|| err("`expect` or `expect_regex` is required"))?,
            },
            CheckType::Udp => CheckKind::Udp {
                payload: send(),
                expect: expect()?,
            },
            CheckType::Misc => CheckKind::Misc {
                program: self
                    .program
                    .clone()
                    .ok_or_else(|| err("`program` is required"))?,
                dynamic: self.dynamic,
            },
        };
        let mut timing = Timing::keepalived(&kind);
        let s = |v: f64, field: &str| secs(v, server, &kind_name, field);
        if let Some(v) = self.delay_loop.or(vs_delay_loop) {
            timing.delay_loop = s(v, "delay_loop")?;
        }
        if let Some(v) = self.connect_timeout {
            timing.connect_timeout = s(v, "connect_timeout")?;
        }
        if let Some(v) = self.delay_before_retry {
            timing.delay_before_retry = s(v, "delay_before_retry")?;
        }
        if let Some(v) = self.warmup {
            timing.warmup = Some(s(v, "warmup")?);
        }
        if let Some(r) = self.retry {
            timing.retry = r;
        }
        Ok(CheckerConfig {
            kind,
            timing,
            connect_ip: self.connect_ip,
            connect_port: self.connect_port,
        })
    }

    fn http(
        &self,
        err: &dyn Fn(&str) -> HealthConfigError,
    ) -> Result<HttpCheck, HealthConfigError> {
        if self.url.is_empty() {
            return Err(err("at least one `url` is required"));
        }
        let urls = self
            .url
            .iter()
            .map(|u| {
                let [lo, hi] = u.status.unwrap_or([200, 299]);
                let digest = match &u.digest {
                    Some(hex) => {
                        Some(parse_md5(hex).ok_or_else(|| err("digest: 32 hex digits expected"))?)
                    }
                    None => None,
                };
                Ok(UrlCheck {
                    path: u.path.clone(),
                    status: lo..=hi,
                    digest,
                })
            })
            .collect::<Result<_, HealthConfigError>>()?;
        Ok(HttpCheck {
            urls,
            virtualhost: self.virtualhost.clone(),
        })
    }
}

fn parse_md5(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
