//! `lvs-router`: the lvs-rs director binary. Thin: argument parsing, wiring, exit codes.
//!
//! One module per subcommand; each exposes an `Args` struct (clap derive) and a
//! `run(args) -> ExitCode`. `config`, `engine` and `listing` are shared by `run` and `demo`.
//! `adm` takes ipvsadm's own command line, so it bypasses clap; the binary also answers to the
//! names `ipvsadm`, `ipvsadm-save` and `ipvsadm-restore` (multi-call, through symlinks).

mod adm;
mod bench;
mod config;
mod control;
mod demo;
mod engine;
mod ha;
mod health;
mod host;
mod listing;
mod realserver;
mod replay;
mod run;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A userspace Linux Virtual Server director.
#[derive(Parser, Debug)]
#[command(name = "lvs-router", version, about)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay ipvsadm commands and flows in virtual time and print where each flow goes.
    Simulate(simulate::Args),
    /// Run pcap captures through the director in capture time; write what it transmits.
    Replay(replay::Args),
    /// Run the director on real interfaces (ipvsadm-save rules + a TOML file).
    Run(run::Args),
    /// Build a namespace cluster, balance a few thousand HTTP requests over it, tear it down.
    Demo(demo::Args),
    /// Real-server side: TUN decapsulation into a TUN device holding the VIP, or DR settings.
    Realserver(realserver::Args),
    /// The namespace benchmark against the kernel and HAProxy (runs tests/bench/bench.py).
    #[command(disable_help_flag = true)]
    Bench(bench::Args),
    /// ipvsadm against the running router: `lvs-router adm -Ln`, `adm -S -n | adm -R`.
    /// Extra options: `--socket PATH`, `--json`. Run `lvs-router adm -h` for ipvsadm's usage.
    #[command(disable_help_flag = true)]
    Adm {
        /// ipvsadm's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal: logs in files and journals stay greppable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
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
    init_logs(cli.verbose);
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Realserver(args) => realserver::run(&args),
        Command::Adm { args } => adm::run("ipvsadm", args),
        Command::Bench(args) => bench::run(&args),
    }
}

fn prepend(first: &str, mut rest: Vec<String>) -> Vec<String> {
    rest.insert(0, first.to_owned());
    rest
}
