//! The server side, run by the router's control thread.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use lvs_core::director::Director;
use lvs_core::ipvsadm::{
    AdmCommand, AdmState, BatchError, DaemonConfig, apply_batch, parse_adm_args,
};
use lvs_core::time::Instant;

use super::proto::{
    CtlFailure, MAX_REQUEST, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody,
    read_frame, write_frame,
};

/// Where the router listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/lvs-router.sock";

/// How long one client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// ipvsadm's exit status for a command the kernel refused (`return -1` from main).
const KERNEL_REFUSAL: u8 = 255;

/// What the control server drives. The router implements it over however it shares its
/// director(s); [`DirectorTarget`] is the implementation for one `Mutex<Director>`.
pub trait ControlTarget {
    /// Applies a batch of table commands, `-Z` and `--set`, all or nothing. With several
    /// directors (one per worker) apply to each with [`apply_batch`] under their locks.
    fn apply(&self, commands: &[AdmCommand]) -> Result<(), BatchError>;

    /// The state for listings, with the connection table when `conns`.
    fn state(&self, conns: bool) -> AdmState;

    /// `--start-daemon`. The default refuses: connection sync is the HA module's.
    fn start_daemon(&self, _config: &DaemonConfig) -> Result<(), String> {
        Err("Protocol not available".into())
    }

    /// `--stop-daemon`; `ipvsadm` says "No daemon is running" when there is none.
    fn stop_daemon(&self, _master: bool) -> Result<(), String> {
        Err("No daemon is running".into())
    }

    /// `-L --health`: the health listing. The default refuses: no checkers run.
    fn health(&self) -> Result<String, String> {
        Err("no health checks are configured".into())
    }
}

/// [`ControlTarget`] for a single director behind a mutex; `now` reads the router's clock.
pub struct DirectorTarget<'a, F: Fn() -> Instant> {
    /// The director.
    pub director: &'a Mutex<Director>,
    /// The clock the data plane uses.
    pub now: F,
}

impl<F: Fn() -> Instant> ControlTarget for DirectorTarget<'_, F> {
    fn apply(&self, commands: &[AdmCommand]) -> Result<(), BatchError> {
        let mut d = self.director.lock().unwrap_or_else(|p| p.into_inner());
        apply_batch(&mut d, commands, (self.now)())
    }

    fn state(&self, conns: bool) -> AdmState {
        let d = self.director.lock().unwrap_or_else(|p| p.into_inner());
        AdmState::from_director(&d, conns.then(|| (self.now)()))
    }
}

/// [`ControlTarget`] for one director per worker (the `director` module's N-worker design):
/// a batch is checked and applied on the first director, then applied to the others, all
/// under every lock so no worker sees a half-applied batch; listings add the workers up
/// ([`AdmState::merge`]).
pub struct WorkersTarget<'a, F: Fn() -> Instant> {
    /// The workers' directors, same configuration each.
    pub directors: &'a [Mutex<Director>],
    /// The clock the data plane uses.
    pub now: F,
}

impl<F: Fn() -> Instant> ControlTarget for WorkersTarget<'_, F> {
    fn apply(&self, commands: &[AdmCommand]) -> Result<(), BatchError> {
        let mut guards: Vec<_> = self
            .directors
            .iter()
            .map(|d| d.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let now = (self.now)();
        let mut iter = guards.iter_mut();
        if let Some(first) = iter.next() {
            apply_batch(first, commands, now)?;
        }
        for d in iter {
            // Same configuration as the first, so the same batch passes.
            apply_batch(d, commands, now)?;
        }
        Ok(())
    }

    fn state(&self, conns: bool) -> AdmState {
        let now = conns.then(|| (self.now)());
        let mut states = self
            .directors
            .iter()
            .map(|d| AdmState::from_director(&d.lock().unwrap_or_else(|p| p.into_inner()), now));
        let mut total = states.next().unwrap_or_default();
        for s in states {
            total.merge(&s);
        }
        total
    }
}

/// A listening control socket. Dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    owner: u32,
}

impl ControlServer {
    /// Listens on `path` with mode 0600. A stale socket file (no one listening) is replaced;
    /// a live one is an `AddrInUse` error.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Ok(meta) = fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a router already listens on {}", path.display()),
                ));
            }
            fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            owner: rustix::process::geteuid().as_raw(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves clients one after the other, forever. Call it from the control thread.
    /// Returns only on an `accept` error that is not transient.
    pub fn serve(&self, target: &dyn ControlTarget) -> io::Result<()> {
        loop {
            match self.serve_one(target) {
                Ok(()) => {}
                // A client that went away before accept, or a signal: keep serving.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Accepts one client and answers its request. A client that misbehaves (bad frame,
    /// timeout) is dropped without failing the server; only `accept` errors are returned.
    pub fn serve_one(&self, target: &dyn ControlTarget) -> io::Result<()> {
        let (mut stream, _) = self.listener.accept()?;
        // Per-client failures are the client's problem: it sees the connection close.
        let _ = self.handle(&mut stream, target);
        Ok(())
    }

    fn handle(&self, stream: &mut UnixStream, target: &dyn ControlTarget) -> io::Result<()> {
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        let uid = rustix::net::sockopt::socket_peercred(&*stream)?
            .uid
            .as_raw();
        let response = if uid != 0 && uid != self.owner {
            // Answer without reading: the request of a stranger is not even parsed.
            Response {
                version: PROTOCOL_VERSION,
                result: Err(failure(
                    "Permission denied (you must be root)".into(),
                    None,
                    2,
                )),
            }
        } else {
            respond(read_frame(stream, MAX_REQUEST)?, target)
        };
        write_frame(stream, &response)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The answer to one request, without any socket: what the server sends back, and what
/// `lvs-router adm --state FILE` uses to run against a director of its own.
pub fn respond(request: Request, target: &dyn ControlTarget) -> Response {
    let result = if request.version == PROTOCOL_VERSION {
        dispatch(request.body, target)
    } else {
        Err(failure(
            format!(
                "control protocol version {} not supported (server speaks {PROTOCOL_VERSION})",
                request.version
            ),
            None,
            2,
        ))
    };
    Response {
        version: PROTOCOL_VERSION,
        result,
    }
}

fn failure(message: String, index: Option<usize>, exit_code: u8) -> CtlFailure {
    CtlFailure {
        message,
        index,
        exit_code,
    }
}

fn dispatch(body: RequestBody, target: &dyn ControlTarget) -> Result<ResponseBody, CtlFailure> {
    match body {
        RequestBody::Apply { commands } => {
            let mut parsed = Vec::with_capacity(commands.len());
            for (i, words) in commands.iter().enumerate() {
                let cmd = parse_adm_args(words).map_err(|e| {
                    failure(
                        e.stderr_text("ipvsadm").trim_end().to_owned(),
                        Some(i),
                        e.exit_code(),
                    )
                })?;
                parsed.push(cmd);
            }
            target
                .apply(&parsed)
                .map_err(|e| failure(e.to_string(), Some(e.index()), KERNEL_REFUSAL))?;
            Ok(ResponseBody::Applied)
        }
        RequestBody::Get { conns } => Ok(ResponseBody::State(Box::new(target.state(conns)))),
        RequestBody::StartDaemon(config) => target
            .start_daemon(&config)
            .map(|()| ResponseBody::Applied)
            .map_err(|m| failure(m, None, KERNEL_REFUSAL)),
        RequestBody::StopDaemon(master) => target
            .stop_daemon(master)
            .map(|()| ResponseBody::Applied)
            .map_err(|m| failure(m, None, KERNEL_REFUSAL)),
        RequestBody::Health => target
            .health()
            .map(ResponseBody::Health)
            .map_err(|m| failure(m, None, 1)),
    }
}
