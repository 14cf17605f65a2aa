//! The `cella` binary: turn the command line into a container and its
//! outcome into an exit status. The only place that prints.

use cella::cli::{self, Command};
use cella::{container, spec, sys};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    sys::install_panic_guard();
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let args = match command {
        Command::Help => return print(cli::USAGE),
        Command::RunHelp => return print(cli::RUN_USAGE),
        Command::Version => return print(concat!("cella ", env!("CARGO_PKG_VERSION"), "\n")),
        Command::Run(args) => args,
    };
    let limit = args.memory;
    let outcome = match spec::build(args).and_then(|spec| container::run(&spec)) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    if outcome.oom_killed {
        let shown = limit.map(|b| format!(" of {} bytes", b)).unwrap_or_default();
        eprintln!("cella: container killed by the OOM killer: memory limit{shown} reached");
    }
    if let Some(e) = &outcome.cleanup {
        eprintln!("cella: {e}");
    }
    ExitCode::from(outcome.code)
}

fn print(text: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn fail(e: &cella::error::Error) -> ExitCode {
    eprintln!("cella: {e}");
    ExitCode::from(e.exit_code())
}
