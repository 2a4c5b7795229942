//! `lvs-router simulate [FILE|-]`: runs a simulate script (see
//! `lvs_core::service::simulate` for the grammar) and prints one line per `flow`.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use lvs_core::service::simulate::Simulator;

/// Arguments of `simulate`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Script to run; `-` or nothing reads standard input.
    file: Option<PathBuf>,
}

/// Streams the script line by line: output appears as the lines run, and the first refused line
/// ends the run with `error: line N: ...` on stderr and exit status 1.
pub(crate) fn run(args: &Args) -> ExitCode {
    let input: Box<dyn BufRead> = match args.file.as_deref() {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(io::BufReader::new(f)),
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let mut sim = Simulator::new();
    let mut out = io::stdout().lock();
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: reading the script: {e}");
                return ExitCode::FAILURE;
            }
        };
        match sim.feed(&line) {
            Ok(Some(text)) => {
                if writeln!(out, "{text}").is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = out.flush();
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
