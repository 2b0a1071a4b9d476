//! Entry point: parse the command line, run the command, report an error and exit 1.

use std::process::ExitCode;

use clap::Parser;
use modproxy::cli::{Cli, Command, normalize_args};
use modproxy::commands;

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let result = match cli.command {
        Command::Generate(args) => commands::generate(args),
        Command::Merge(args) => commands::merge(args),
        Command::Check(args) => commands::check(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
