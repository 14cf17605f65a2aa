//! The `cella` binary: turn the command line into a container and its
//! outcome into an exit status. The only place that prints.

use cella::cli::{self, Command};
#[cfg(feature = "oci")]
use cella::oci;
use cella::{container, spec, sys, system};
use std::process::ExitCode;

fn main() -> ExitCode {
    sys::install_panic_guard();
    // A setuid cella would hand every user root's powers (bubblewrap's
    // CVE-2020-5291 class): refuse to run as one.
    if rustix::process::geteuid() != rustix::process::getuid()
        || rustix::process::getegid() != rustix::process::getgid()
    {
        report("cella: refusing to run setuid or setgid: run it as root or as yourself\n");
        return ExitCode::from(125);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Invoked as `runc` (a symlink), cella is runc for every argv.
    #[cfg_attr(not(any(feature = "oci", feature = "manage")), allow(unused_variables))]
    let as_runc = std::env::args_os().next().is_some_and(|a| {
        std::path::Path::new(&a)
            .file_name()
            .is_some_and(|n| n == "runc")
    });
    #[cfg(feature = "manage")]
    if !as_runc && cella::manage::is_manage(&args) {
        let mut emit = |fd: u8, bytes: &[u8]| {
            let to = match fd {
                2 => rustix::stdio::stderr(),
                _ => rustix::stdio::stdout(),
            };
            write_all(to, bytes)
        };
        return match cella::manage::main(args, &mut emit) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                report(&format!("cella: {e}\n"));
                ExitCode::from(125)
            }
        };
    }
    #[cfg(feature = "image")]
    if !as_runc && cella::image::commands::is_image_command(&args) {
        let mut emit = |bytes: &[u8]| write_all(rustix::stdio::stdout(), bytes);
        return match cella::image::commands::main(args, &mut emit) {
            Ok(code) => ExitCode::from(code),
            Err(e) => fail(&e),
        };
    }
    #[cfg(feature = "oci")]
    if (as_runc || oci::is_oci(&args)) && !rustix::process::getpid().is_init() {
        let mut emit = |bytes: &[u8]| write_all(rustix::stdio::stdout(), bytes);
        return match oci::main(args, as_runc, &mut emit) {
            Ok(out) => {
                write_all(rustix::stdio::stdout(), out.stdout.as_bytes());
                for w in &out.warnings {
                    report(&format!("cella: warning: {w}\n"));
                }
                if let Some(e) = &out.failure {
                    report(&format!("cella: {e}\n"));
                }
                ExitCode::from(out.code)
            }
            // A runtime failure of any verb is 125: 126/127 are the
            // payload's to give (podman reads the message, not the code).
            Err(e) => {
                fail(&e);
                ExitCode::from(125)
            }
        };
    }
    let parsed = cli::parse(args);
    // As the machine's first process (an initramfs /init) cella is the init,
    // whatever arguments the kernel passed along (`init --config` is honoured).
    if rustix::process::getpid().is_init() {
        let config = match &parsed {
            Ok(Command::Init { config }) => config.clone(),
            _ => None,
        };
        return ExitCode::from(system::run(config));
    }
    let command = match parsed {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let args = match command {
        Command::Help => return print(cli::USAGE),
        Command::RunHelp => return print(cli::RUN_USAGE),
        Command::InitHelp => return print(cli::help::INIT),
        Command::Version => return print(concat!("cella ", env!("CARGO_PKG_VERSION"), "\n")),
        Command::Run(args) => args,
        Command::Init { config } => return ExitCode::from(system::run(config)),
    };
    let limit = args.memory;
    let mut spec = match spec::build(args) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    for n in &spec.notes {
        report(&format!("cella: {n}\n"));
    }
    for w in &spec.warnings {
        report(&format!("cella: warning: {w}\n"));
    }
    if spec.rootless.is_some() && spec.limits != spec::Limits::default() {
        report(
            "cella: warning: running rootless: this host delegates no cgroup to you, so the \
             cgroup limits (--memory, --pids, --cpus, --cpu-weight, --io-weight) are not applied\n",
        );
        spec.limits = spec::Limits::default();
    }
    if spec.detach {
        #[cfg(feature = "manage")]
        return {
            let name = spec.name.clone();
            match cella::detach::run(spec) {
                Ok(()) => print(&format!("{name}\n")),
                Err(e) => fail(&e),
            }
        };
        #[cfg(not(feature = "manage"))]
        return fail(&cella::error::Error::usage(
            "run -d: this cella was built without the manage feature",
        ));
    }
    let foreground = match container::run(spec) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if foreground.running.reclaimed() {
        report(&format!(
            "cella: removed the cgroup an earlier container named {} left behind (its cella was killed)\n",
            foreground.running.name()
        ));
    }
    let outcome = match foreground.wait() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    if outcome.oom_killed {
        let shown = limit
            .map(|b| format!(" ({})", human(b)))
            .unwrap_or_default();
        report(&format!(
            "cella: container killed by the OOM killer: memory limit{shown} reached\n"
        ));
    }
    if let Some(e) = &outcome.cleanup {
        report(&format!("cella: {e}\n"));
    }
    ExitCode::from(outcome.code)
}

fn print(text: &str) -> ExitCode {
    write_all(rustix::stdio::stdout(), text.as_bytes());
    ExitCode::SUCCESS
}

fn fail(e: &cella::error::Error) -> ExitCode {
    report(&format!("cella: {e}\n"));
    ExitCode::from(e.exit_code())
}

/// One message, one write(2): lines from concurrent containers never mix.
fn report(line: &str) {
    write_all(rustix::stdio::stderr(), line.as_bytes());
}

/// Write all of `bytes`; false if `fd` takes no more (its reader is gone).
fn write_all(fd: rustix::fd::BorrowedFd<'_>, bytes: &[u8]) -> bool {
    cella::input::write_all(fd, bytes).is_ok()
}

/// A byte count the way `--memory` takes it: `16m` rather than `16777216`.
fn human(bytes: u64) -> String {
    for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] {
        if bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}
