//! `lvs-router`: the lvs-rs director binary. Thin: argument parsing, wiring, exit codes.

use clap::{Parser, Subcommand};

/// A userspace Linux Virtual Server director.
#[derive(Parser, Debug)]
#[command(name = "lvs-router", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {}

fn main() {
    let cli = Cli::parse();
    match cli.command {}
}
