//! `lvs-router bench [ARGS]`: runs the namespace benchmark, `tests/bench/bench.py` of the
//! source tree this binary was built from, with this binary as the director
//! (`--binary`, unless ARGS name one). Everything else is the script's: see its `--help` and
//! the README's Benchmark section.
//!
//! ```text
//! cargo run --release -p lvs-router -- bench            # the full run, ~15 min
//! cargo run --release -p lvs-router -- bench --quick --paths nat,dnat
//! ```

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Arguments of `bench`: passed to the script unchanged.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// bench.py's arguments (`--quick`, `--paths`, `--loads`, `--runs`, `--seconds`, ...).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The script, found from the source tree at build time.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/bench/bench.py")
}

/// Replaces this process with `python3 bench.py --binary SELF ARGS`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let script = script();
    if !script.exists() {
        eprintln!(
            "error: {} not found: `lvs-router bench` runs from a source checkout",
            script.display()
        );
        return ExitCode::from(2);
    }
    let mut cmd = Command::new("python3");
    cmd.arg(&script);
    if !args
        .args
        .iter()
        .any(|a| a == "--binary" || a.starts_with("--binary="))
    {
        match std::env::current_exe() {
            Ok(me) => {
                cmd.arg("--binary").arg(me);
            }
            Err(e) => {
                eprintln!("error: cannot find this binary's path: {e}");
                return ExitCode::from(2);
            }
        }
    }
    cmd.args(&args.args);
    let err = cmd.exec();
    eprintln!("error: python3 {}: {err}", script.display());
    ExitCode::from(2)
}
