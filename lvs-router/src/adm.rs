//! `lvs-router adm <ipvsadm args>` (also run as `ipvsadm`, `ipvsadm-save`, `ipvsadm-restore`
//! through a symlink): ipvsadm 1.31's command line against a running router's control socket.
//!
//! Parsing, listing and saving are `lvs_core::ipvsadm`'s; this file only moves words and text.
//! Options of our own are taken out before ipvsadm sees the words: `--socket PATH` (default
//! `$LVS_ROUTER_SOCKET`, then `/run/lvs-router.sock`), `--json` (listings as JSON) and
//! `--health` (with or without `-L`/`-n`: the health checkers' listing, one line per checker;
//! `lvs-router run` with `[[health.virtual_server]]` sections), and
//! `--state FILE`, which runs without a router against a director of its own loaded from FILE
//! (`ipvsadm -S` lines; a missing file is an empty table) and writes changes back in the same
//! form (so, as with `ipvsadm -S`, thresholds and `--set` timeouts are not kept).
//!
//! Differences from ipvsadm, on purpose: `-R` applies all lines or none (ipvsadm applies lines
//! up to the first failure); names without `-n` come from `/etc/hosts` and `/etc/services`
//! only (no DNS, so a listing never hangs on a resolver).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use lvs_core::director::{Director, DirectorConfig};
use lvs_core::ipvsadm::apply_batch;
use lvs_core::ipvsadm::{
    AdmCommand, AdmState, ListFormat, ListMode, NumericResolver, Resolver, VERSION_TEXT, list_all,
    list_conns, list_daemon, list_service, list_timeout, parse_adm_args, restore_lines, save,
    usage,
};
use lvs_core::time::Instant;
use lvs_net::ctl::names::FileResolver;
use lvs_net::ctl::{
    ControlTarget, DEFAULT_SOCKET, DirectorTarget, PROTOCOL_VERSION, Request, RequestBody,
    ResponseBody, call, respond,
};

/// How long to wait for the router (a connection listing can be large).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the output goes and with which status.
struct Outcome {
    stdout: String,
    stderr: String,
    code: u8,
}

impl Outcome {
    fn ok(stdout: String) -> Self {
        Self {
            stdout,
            stderr: String::new(),
            code: 0,
        }
    }

    fn fail(stderr: String, code: u8) -> Self {
        Self {
            stdout: String::new(),
            stderr,
            code,
        }
    }
}

/// Runs one ipvsadm invocation; `program` is what error texts call the program.
pub(crate) fn run(program: &str, mut args: Vec<String>) -> ExitCode {
    let mut socket = std::env::var_os("LVS_ROUTER_SOCKET")
        .map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from);
    let mut json = false;
    let mut health = false;
    let mut state_file = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--json" {
            json = true;
            args.remove(i);
        } else if args[i] == "--health" {
            health = true;
            args.remove(i);
        } else if args[i] == "--socket" && i + 1 < args.len() {
            socket = PathBuf::from(args.remove(i + 1));
            args.remove(i);
        } else if args[i] == "--state" && i + 1 < args.len() {
            state_file = Some(PathBuf::from(args.remove(i + 1)));
            args.remove(i);
        } else if let Some(p) = args[i].strip_prefix("--socket=") {
            socket = PathBuf::from(p);
            args.remove(i);
        } else {
            i += 1;
        }
    }
    let ctx = Ctx {
        program,
        socket,
        json,
        health,
        state_file,
    };
    let out = ctx.invoke(&args);
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(out.code)
}

struct Ctx<'a> {
    program: &'a str,
    socket: PathBuf,
    json: bool,
    health: bool,
    state_file: Option<PathBuf>,
}

impl Ctx<'_> {
    fn invoke(&self, args: &[String]) -> Outcome {
        // `ipvsadm` alone lists everything with names.
        let cmd = if args.is_empty() {
            AdmCommand::List {
                mode: ListMode::All,
                format: ListFormat::default(),
            }
        } else {
            match parse_adm_args(args) {
                Ok(c) => c,
                Err(e) => return Outcome::fail(e.stderr_text(self.program), e.exit_code()),
            }
        };
        if self.health {
            return match cmd {
                AdmCommand::List { .. } => self.health_listing(),
                _ => Outcome::fail(format!("{}: --health goes with -L only\n", self.program), 2),
            };
        }
        match cmd {
            AdmCommand::Help => Outcome::ok(usage(self.program)),
            AdmCommand::Version => Outcome::ok(VERSION_TEXT.to_owned()),
            AdmCommand::List { mode, format } => self.list(mode, &format),
            AdmCommand::Save { numeric } => self.with_state(false, |state| {
                let res = resolver(numeric);
                Outcome::ok(save(state, numeric, res.as_ref()))
            }),
            AdmCommand::Restore => self.restore(),
            AdmCommand::StartDaemon(config) => self.send(RequestBody::StartDaemon(config)),
            AdmCommand::StopDaemon(master) => self.send(RequestBody::StopDaemon(master)),
            _ => self.send(RequestBody::Apply {
                commands: vec![args.to_vec()],
            }),
        }
    }

    /// `-R`: every line parsed here first (ipvsadm stops at the first bad line with its
    /// error), then the whole batch in one request.
    fn restore(&self) -> Outcome {
        let mut input = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut input) {
            return Outcome::fail(format!("reading stdin: {e}\n"), 2);
        }
        let lines = restore_lines(&input);
        for words in &lines {
            match parse_adm_args(words) {
                Ok(AdmCommand::Restore) => {
                    // restore_table refuses to recurse with the usage hint.
                    return Outcome::fail(
                        format!(
                            "Try `{p} -h' or '{p} --help' for more information.\n",
                            p = self.program
                        ),
                        255,
                    );
                }
                Ok(_) => {}
                Err(e) => return Outcome::fail(e.stderr_text(self.program), e.exit_code()),
            }
        }
        self.send(RequestBody::Apply { commands: lines })
    }

    fn list(&self, mode: ListMode, format: &ListFormat) -> Outcome {
        self.with_state(mode == ListMode::Conns, |state| {
            let res = resolver(format.numeric);
            let res = res.as_ref();
            match mode {
                ListMode::Conns if self.json => json(&state.conns),
                ListMode::Conns => Outcome::ok(list_conns(&state.conns, format, res)),
                ListMode::Service(key) => match state.service(&key) {
                    None => Outcome::fail("No such service\n".into(), 1),
                    Some(svc) if self.json => json(svc),
                    Some(svc) => Outcome::ok(list_service(svc, format, res)),
                },
                ListMode::Timeout if self.json => json(&serde_json::json!({
                    "tcp": state.timeouts.0,
                    "tcpfin": state.timeouts.1,
                    "udp": state.timeouts.2,
                })),
                ListMode::Timeout => Outcome::ok(list_timeout(state.timeouts)),
                ListMode::Daemon if self.json => json(&state.daemons),
                ListMode::Daemon => Outcome::ok(list_daemon(&state.daemons)),
                _ if self.json => json(state),
                _ => Outcome::ok(list_all(state, format, res)),
            }
        })
    }

    /// `--health`: the router's health listing, as text or (`--json`) a JSON string.
    fn health_listing(&self) -> Outcome {
        match self.call(RequestBody::Health) {
            Ok(ResponseBody::Health(text)) if self.json => json(&text),
            Ok(ResponseBody::Health(text)) => Outcome::ok(text),
            Ok(other) => {
                Outcome::fail(format!("unexpected answer from the router: {other:?}\n"), 2)
            }
            Err(out) => out,
        }
    }

    fn with_state(&self, conns: bool, f: impl FnOnce(&AdmState) -> Outcome) -> Outcome {
        match self.call(RequestBody::Get { conns }) {
            Ok(ResponseBody::State(state)) => f(&state),
            Ok(other) => {
                Outcome::fail(format!("unexpected answer from the router: {other:?}\n"), 2)
            }
            Err(out) => out,
        }
    }

    fn send(&self, body: RequestBody) -> Outcome {
        match self.call(body) {
            Ok(_) => Outcome::ok(String::new()),
            Err(out) => out,
        }
    }

    fn call(&self, body: RequestBody) -> Result<ResponseBody, Outcome> {
        let request = Request {
            version: PROTOCOL_VERSION,
            body,
        };
        if let Some(file) = &self.state_file {
            return local_call(file, request);
        }
        match call(&self.socket, &request, TIMEOUT) {
            // ipvsadm's words when it cannot reach IPVS (exit 2).
            Err(e) => Err(Outcome::fail(
                format!(
                    "Can't initialize ipvs: {e}\nAre you sure that lvs-router is running and \
                     listening on {}?\n",
                    self.socket.display()
                ),
                2,
            )),
            Ok(response) => response
                .result
                .map_err(|f| Outcome::fail(format!("{}\n", f.message), f.exit_code)),
        }
    }
}

/// `--state FILE`: the request answered by a director loaded from FILE; a change is saved back.
fn local_call(file: &Path, request: Request) -> Result<ResponseBody, Outcome> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Outcome::fail(format!("{}: {e}\n", file.display()), 2)),
    };
    let mut loaded = Vec::new();
    for words in restore_lines(&text) {
        match parse_adm_args(&words) {
            Ok(c) => loaded.push(c),
            Err(e) => return Err(Outcome::fail(format!("{}: {e}\n", file.display()), 2)),
        }
    }
    // The kernel's default connection hash size, for the `(size=4096)` header.
    let mut director = Director::new(DirectorConfig {
        conn_budget: 4096,
        ..DirectorConfig::default()
    });
    if let Err(e) = apply_batch(&mut director, &loaded, Instant::ZERO) {
        return Err(Outcome::fail(format!("{}: {e}\n", file.display()), 2));
    }
    let director = Mutex::new(director);
    let target = DirectorTarget {
        director: &director,
        now: || Instant::ZERO,
    };
    let changes = matches!(request.body, RequestBody::Apply { .. });
    let body = respond(request, &target)
        .result
        .map_err(|f| Outcome::fail(format!("{}\n", f.message), f.exit_code))?;
    if changes {
        let state = target.state(false);
        if let Err(e) = std::fs::write(file, save(&state, true, &NumericResolver)) {
            return Err(Outcome::fail(format!("{}: {e}\n", file.display()), 2));
        }
    }
    Ok(body)
}

fn resolver(numeric: bool) -> Box<dyn Resolver> {
    if numeric {
        Box::new(NumericResolver)
    } else {
        Box::new(FileResolver::system())
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Outcome {
    match serde_json::to_string_pretty(value) {
        Ok(s) => Outcome::ok(s + "\n"),
        Err(e) => Outcome::fail(format!("{e}\n"), 2),
    }
}
