//! keepalived `MISC_CHECK`: an external program run by `sh -c`, killed at the timeout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lvs_core::health::CheckOutcome;

/// How often a running program is polled: std has no `wait` with a timeout.
const POLL: Duration = Duration::from_millis(10);

/// Runs `program`: exit 0 is up, 1 down; with `dynamic` (`misc_dynamic`) 2..=255 is up with
/// weight `status - 2`; any other status, a signal or the timeout is down.
pub(crate) fn run(program: &str, dynamic: bool, deadline: Instant) -> CheckOutcome {
    let down = |reason: String| CheckOutcome::Down { reason };
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(program)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return down(format!("spawn `{program}`: {e}")),
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // The program overran connect_timeout: keepalived kills it and counts a failure.
                let _ = child.kill();
                let _ = child.wait();
                return down(format!("`{program}`: timeout"));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return down(format!("wait `{program}`: {e}")),
        }
    };
    match status.code() {
        Some(0) => CheckOutcome::Up { weight: None },
        Some(code @ 2..=255) if dynamic => CheckOutcome::Up {
            weight: Some(u32::try_from(code - 2).unwrap_or(0)),
        },
        Some(code) => down(format!("`{program}`: exit {code}")),
        None => down(format!("`{program}`: killed by a signal")),
    }
}
