//! The `zonetp` command.
//!
//! Exit status: 0 success, 1 an error (one line on stderr naming the object
//! and the cause), 2 a usage error.

mod output;
mod timeout_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::Format;

/// Zone-based conntrack timeout policies for Linux, compatible with Open vSwitch.
///
/// `zonetp timeout ...` manages the kernel's cttimeout objects directly (what
/// `nfct timeout` does). Run `zonetp help COMMAND` for each command's manual.
#[derive(Parser)]
#[command(name = "zonetp", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Kernel cttimeout objects in this network namespace (like `nfct timeout`).
    #[command(subcommand)]
    Timeout(timeout_cmd::TimeoutCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Timeout(cmd) => timeout_cmd::run(cmd, cli.format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonetp: {e}");
            ExitCode::from(1)
        }
    }
}
