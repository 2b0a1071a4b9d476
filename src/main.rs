//! Entry point: parse the command line, run the command, report an error and exit 1.

use std::process::ExitCode;

use clap::Parser;
use modproxy::cli::{Cli, Command, normalize_args};
use modproxy::commands::{self, AdminState};

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let result = match cli.command {
        Command::Generate(args) => commands::generate(args),
        Command::Merge(args) => commands::merge(args),
        Command::Check(args) => commands::check(args),
        Command::Apply(args) => modproxy::apply::apply(args),
        Command::Watch(args) => modproxy::watch::watch(args),
        Command::Withdraw(args) => modproxy::publish::withdraw(args),
        Command::Drain(args) => commands::set_state(args, AdminState::Drain),
        Command::Disable(args) => commands::set_state(args, AdminState::Disabled),
        Command::Enable(args) => commands::set_state(args, AdminState::Active),
        Command::Weight(args) => commands::set_weight(args),
        // Monitoring systems read status's own exit codes; 3 is "unknown".
        Command::Status(args) => {
            return match commands::status(args) {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(commands::STATUS_UNKNOWN)
                }
            };
        }
        Command::Completions { shell } => commands::completions(shell),
        Command::Man { out_dir } => commands::man(out_dir.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`modproxy merge ... | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
