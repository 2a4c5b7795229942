//! `lvs-router`: the lvs-rs director binary. Thin: argument parsing, wiring, exit codes.
//!
//! One module per subcommand; each exposes an `Args` struct (clap derive) and a
//! `run(args) -> ExitCode`. `adm` takes ipvsadm's own command line, so it bypasses clap; the
//! binary also answers to the names `ipvsadm`, `ipvsadm-save` and `ipvsadm-restore`
//! (multi-call, through symlinks).

mod adm;
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
    /// ipvsadm against the running router: `lvs-router adm -Ln`, `adm -S -n | adm -R`.
    /// Extra options: `--socket PATH`, `--json`. Run `lvs-router adm -h` for ipvsadm's usage.
    #[command(disable_help_flag = true)]
    Adm {
        /// ipvsadm's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    let name = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .unwrap_or_default();
    let rest = argv.split_off(1.min(argv.len()));
    match name.as_str() {
        "ipvsadm" => return adm::run("ipvsadm", rest),
        // The ipvsadm-save / ipvsadm-restore scripts are `ipvsadm -S` / `ipvsadm -R`.
        "ipvsadm-save" => return adm::run("ipvsadm", prepend("-S", rest)),
        "ipvsadm-restore" => return adm::run("ipvsadm", prepend("-R", rest)),
        _ => {}
    }
    // Before clap: ipvsadm's -h, -v and clustered options are not clap's business.
    if rest.first().map(String::as_str) == Some("adm") {
        return adm::run("ipvsadm", rest[1..].to_vec());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Adm { args } => adm::run("ipvsadm", args),
    }
}

fn prepend(first: &str, mut rest: Vec<String>) -> Vec<String> {
    rest.insert(0, first.to_owned());
    rest
}
