//! `lvs-router`: the lvs-rs director binary. Thin: argument parsing, wiring, exit codes.
//!
//! One module per subcommand; each exposes an `Args` struct (clap derive) and a
//! `run(args) -> ExitCode`.

mod replay;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A userspace Linux Virtual Server director.
#[derive(Parser, Debug)]
#[command(name = "lvs-router", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay ipvsadm commands and flows in virtual time and print where each flow goes.
    Simulate(simulate::Args),
    /// Run pcap captures through the director in capture time; write what it transmits.
    Replay(replay::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Replay(args) => replay::run(&args),
    }
}
