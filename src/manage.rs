//! Containers managed by name, as docker users do (no daemon): `ps`,
//! `logs`, `stop`, `rm`, `wait`, `inspect`, `attach`, over the state store. They act on every
//! container the store holds, `cella run` ones and OCI ones.
//!
//! Where docker's and runc's habits collide, the OCI meaning is kept for
//! every argv an orchestrator passes (see `cella --help`): `ps ID` is
//! runc's (the container's processes); `ps` alone, or with `-a`, is this
//! module's table.

use crate::cgroup::sleep_ms;
use crate::error::{Error, Result};
use crate::store::{self, Kind, Record, Status};
use crate::{detach, logs};
use lexopt::prelude::*;
use rustix::process::{Pid, Signal};
use std::ffi::OsString;
use std::path::Path;

/// The verbs this module owns.
const VERBS: &str = "logs stop rm wait inspect attach";

/// Whether `args` (without argv[0]) is one of these verbs.
pub fn is_manage(args: &[OsString]) -> bool {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return false;
    };
    // `ps` with a container id is runc's.
    crate::cli::among(VERBS, first)
        || (first == "ps"
            && args[1..]
                .iter()
                .all(|a| a.to_str().is_some_and(|a| a.starts_with('-'))))
}

use crate::cli::lex;

fn name_of(v: OsString) -> Result<String> {
    v.into_string()
        .map_err(|_| Error::usage("a container name must be valid UTF-8"))
}

/// Run a verb, handing what it prints to `emit` with the descriptor it
/// goes to (`main` writes it out; false: nobody reads any more); returns
/// the exit status.
pub fn main(args: Vec<OsString>, emit: &mut dyn FnMut(u8, &[u8]) -> bool) -> Result<u8> {
    let root = store::default_root();
    let mut p = lexopt::Parser::from_args(args);
    let verb = match p.next().map_err(lex)? {
        Some(Value(v)) => name_of(v)?,
        _ => return Err(Error::usage("no command given")),
    };
    let rest: Vec<OsString> = p.raw_args().map_err(lex)?.collect();
    if crate::cli::help::asks_help(&rest) {
        let text = crate::cli::help::help(&verb).unwrap_or_default();
        let _ = emit(1, text.as_bytes());
        return Ok(0);
    }
    let mut p = lexopt::Parser::from_args(rest);
    let mut all = false;
    let mut quiet = false;
    let mut force = false;
    let mut follow = false;
    let mut timestamps = false;
    let mut tail: Option<usize> = None;
    let mut grace: Option<u64> = None;
    let mut names = Vec::new();
    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Short('a') | Long("all") if verb == "ps" => all = true,
            Short('q') | Long("quiet") if verb == "ps" => quiet = true,
            Short('f') | Long("force") if verb == "rm" => force = true,
            Short('f') | Long("follow") if verb == "logs" => follow = true,
            Short('t') | Long("timestamps") if verb == "logs" => timestamps = true,
            Short('n') | Long("tail") if verb == "logs" => {
                // docker's `all` (its default) is every line.
                let v = p.value().map_err(lex)?;
                tail = match v.to_str() {
                    Some("all") => None,
                    v => Some(v.and_then(|s| s.parse().ok()).ok_or_else(|| {
                        Error::usage("--tail: expected a number of lines or all")
                    })?),
                };
            }
            Short('t') | Long("time") if verb == "stop" => {
                let v = p.value().map_err(lex)?;
                grace = Some(
                    v.to_str()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| Error::usage("--time: expected a number of seconds"))?,
                );
            }
            Value(v) if verb != "ps" => names.push(name_of(v)?),
            other => return Err(lex(other.unexpected())),
        }
    }
    if verb == "ps" {
        let _ = emit(1, ps(&root, all, quiet).as_bytes());
        return Ok(0);
    }
    if names.is_empty() {
        return Err(Error::usage(format!("usage: cella {verb} NAME...")));
    }
    if verb == "attach" {
        let [name] = &names[..] else {
            return Err(Error::usage("usage: cella attach NAME"));
        };
        return attach(&root, name, &mut |bytes| emit(1, bytes));
    }
    if verb == "inspect" {
        // One JSON array of them all, as docker's.
        let mut out = String::from("[");
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(inspect(&root, name)?.trim_end());
        }
        out.push_str("]\n");
        let _ = emit(1, out.as_bytes());
        return Ok(0);
    }
    for name in &names {
        match verb.as_str() {
            "logs" => logs(&root, name, tail, follow, timestamps, emit)?,
            "stop" => {
                stop(&root, name, grace)?;
                let _ = emit(1, format!("{name}\n").as_bytes());
            }
            "rm" => {
                rm(&root, name, force)?;
                let _ = emit(1, format!("{name}\n").as_bytes());
            }
            _ => {
                // As docker's: the status is printed, the verb succeeds.
                let c = wait(&root, name)?;
                let _ = emit(1, format!("{c}\n").as_bytes());
            }
        }
    }
    Ok(0)
}

/// docker's status words: `running`, `paused`, `created`, `exited (N)`.
fn status_text(r: &Record, status: Status) -> String {
    match (status, r.exit_code) {
        (Status::Stopped, Some(code)) => format!("exited ({code})"),
        (Status::Stopped, None) => "exited".into(),
        (s, _) => s.name().into(),
    }
}

/// The containers, running ones (`all`: every one), as a table.
fn ps(root: &Path, all: bool, quiet: bool) -> String {
    crate::net::sweep(root);
    let mut out = String::new();
    if !quiet {
        out.push_str("NAME\tSTATUS\tPID\tCREATED\tPORTS\tCOMMAND\n");
    }
    for id in store::ids(root) {
        let Ok(r) = Record::load(root, &id) else {
            continue;
        };
        let status = r.status(root);
        if status == Status::Stopped && !all {
            continue;
        }
        if quiet {
            out.push_str(&id);
            out.push('\n');
            continue;
        }
        let pid = if status == Status::Stopped { 0 } else { r.pid };
        let ports: Vec<String> = r
            .network
            .iter()
            .flat_map(|n| n.ports.iter().map(store::Port::shown))
            .collect();
        out.push_str(&format!(
            "{id}\t{}\t{pid}\t{}\t{}\t{}\n",
            status_text(&r, status),
            r.created,
            ports.join(", "),
            crate::error::escaped(&r.command)
        ));
    }
    out
}

/// The container's log (a `cella run -d` container's output): each line on
/// the descriptor it was written to, with `timestamps` after its time;
/// with `follow`, until it ends.
fn logs(
    root: &Path,
    name: &str,
    tail: Option<usize>,
    follow: bool,
    timestamps: bool,
    emit: &mut dyn FnMut(u8, &[u8]) -> bool,
) -> Result<()> {
    let r = Record::load(root, name)?;
    // Its record says whether it has a log: a look for the file could
    // fall between a rotation's rename and the new file.
    if !recorded_options(&r).detach {
        return Err(Error::usage(format!(
            "{name} keeps no log (only `cella run -d` containers do)"
        )));
    }
    let (mut log, records) = logs::LogReader::whole(&store::dir(root, name));
    let shown = match tail {
        Some(n) => logs::last_lines(&records, n),
        None => records,
    };
    let mut printer = logs::Printer::new(timestamps);
    if !printer.print(&shown, emit) || !follow {
        return Ok(());
    }
    loop {
        let running = r.alive() && Record::load(root, name).is_ok_and(|now| now.alive());
        let records = log.read_new();
        if !printer.print(&records, emit) {
            // The reader went away (`logs -f | head`).
            return Ok(());
        }
        if !running {
            return Ok(());
        }
        // Straight on while it writes: a reader that falls a whole log
        // file behind (1 MiB) loses that file to the rotation after.
        if records.is_empty() {
            sleep_ms(100);
        }
    }
}

/// SIGTERM to PID 1, `grace` seconds, then SIGKILL to everything left in
/// the container: docker's `stop`.
fn stop(root: &Path, name: &str, grace: Option<u64>) -> Result<()> {
    let _serial = store::lock(root, name);
    stop_locked(root, name, grace)
}

/// [`stop`], the container's lock already held. The signal and, unless
/// given, the grace are the container's `--stop-signal` and
/// `--stop-timeout` (SIGTERM and 10 s by default), as docker's.
fn stop_locked(root: &Path, name: &str, grace: Option<u64>) -> Result<()> {
    let r = Record::load(root, name)?;
    if !r.alive() {
        return Ok(());
    }
    let (signal, timeout) = stop_settings(&r);
    let grace = grace.unwrap_or(timeout);
    if let Some(pid) = Pid::from_raw(r.pid) {
        // A paused container takes no signal until thawed.
        if r.cgroup.frozen() {
            let _ = r.cgroup.freeze(false);
        }
        let _ = rustix::process::kill_process(pid, signal);
    }
    for _ in 0..grace.saturating_mul(10) {
        if !r.alive() {
            break;
        }
        sleep_ms(100);
    }
    r.kill();
    // Its supervisor (or foreground cella) cleans up once PID 1 is gone:
    // stopped means cleaned up (cgroup, rules, record), as docker's stop.
    for _ in 0..200 {
        if !store::owned(root, name) {
            break;
        }
        sleep_ms(50);
    }
    Ok(())
}

/// A `cella run` container's `--stop-signal` and `--stop-timeout`, from
/// its recorded options.
fn stop_settings(r: &Record) -> (Signal, u64) {
    let args = recorded_options(r);
    let signal = args
        .stop_signal
        .and_then(Signal::from_named_raw)
        .unwrap_or(Signal::TERM);
    (signal, args.stop_timeout.unwrap_or(10))
}

/// A `cella run` container's options as it was run with them (an OCI
/// container's: the defaults).
fn recorded_options(r: &Record) -> crate::cli::RunArgs {
    let mut argv: Vec<std::ffi::OsString> = vec!["run".into()];
    argv.extend(r.options.iter().map(Into::into));
    argv.extend(["--".into(), "true".into()]);
    match crate::cli::parse(argv) {
        Ok(crate::cli::Command::Run(a)) if r.kind == Kind::Run => a,
        _ => crate::cli::RunArgs::default(),
    }
}

/// ctrl-P ctrl-Q: leave the container running, as docker's attach.
const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// `cella attach NAME`: this terminal on a `run -d -t` container's pty,
/// until it ends (its exit status is ours) or ctrl-P ctrl-Q. Typed input
/// goes to the pty when it was run with `-i`; the window size follows
/// ours; its output is what its supervisor logs from now on.
fn attach(root: &Path, name: &str, emit: &mut dyn FnMut(&[u8]) -> bool) -> Result<u8> {
    use crate::error::{Ctx, Step};
    use rustix::event::{PollFd, PollFlags, Timespec};
    use rustix::fd::AsFd;
    let r = Record::load(root, name)?;
    if !r.alive() {
        return Err(Error::usage(format!(
            "cannot attach to {name}: it is not running"
        )));
    }
    let dir = store::dir(root, name);
    let said = std::fs::read_to_string(dir.join(detach::TERMINAL)).unwrap_or_default();
    let mut fields = said.split_whitespace().map(|f| f.parse::<i32>().ok());
    let (Some(Some(supervisor)), Some(Some(fd))) = (fields.next(), fields.next()) else {
        return Err(Error::usage(format!(
            "cannot attach to {name}: it has no terminal (run -d -t gives it one)"
        )));
    };
    let pidfd = rustix::process::pidfd_open(
        Pid::from_raw(supervisor).ok_or_else(|| Error::usage("bad supervisor pid"))?,
        rustix::process::PidfdFlags::empty(),
    )
    .ctx_at(Step::Console, name)?;
    let master =
        rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
            .ctx_at(Step::Console, name)?;
    if !rustix::termios::isatty(&master) {
        return Err(Error::usage(format!(
            "cannot attach to {name}: its terminal is gone"
        )));
    }
    let input = recorded_options(&r).interactive;
    let stdin = rustix::stdio::stdin();
    let _raw = crate::console::Raw::enter(stdin);
    let mut log = logs::LogReader::at_end(&dir);
    let mut size = None;
    let mut after_ctrl_p = false;
    let mut stdin_open = true;
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    let mut buf = [0u8; 4096];
    loop {
        // The window size, followed.
        if let Ok(now) = rustix::termios::tcgetwinsize(stdin)
            && Some((now.ws_row, now.ws_col)) != size
        {
            size = Some((now.ws_row, now.ws_col));
            let _ = rustix::termios::tcsetwinsize(&master, now);
        }
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        let ready = stdin_open && matches!(rustix::event::poll(&mut fds, Some(&tick)), Ok(1..));
        if !stdin_open {
            sleep_ms(20);
        }
        if ready {
            let n = match rustix::io::read(stdin, &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    0
                }
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n + 1);
            for &b in &buf[..n] {
                if after_ctrl_p {
                    after_ctrl_p = false;
                    if b == DETACH_KEYS[1] {
                        let _ = emit(b"\r\n");
                        return Ok(0);
                    }
                    out.push(DETACH_KEYS[0]);
                }
                if b == DETACH_KEYS[0] {
                    after_ctrl_p = true;
                } else {
                    out.push(b);
                }
            }
            if input {
                let _ = crate::input::write_all(master.as_fd(), &out);
            }
        }
        // Its output, as the supervisor logs it.
        let bytes = logs::text(&log.read_new());
        if !bytes.is_empty() && !emit(&bytes) {
            return Ok(0);
        }
        if !Record::load(root, name).is_ok_and(|now| now.alive()) {
            // Its status, once the supervisor has recorded it (`--rm`: the
            // record goes, and there is none to give).
            let code = wait(root, name).unwrap_or(0);
            let _ = emit(&logs::text(&log.read_new()));
            return Ok(code as u8);
        }
    }
}

/// Remove a container that has ended (`force`: stop it first, at once).
fn rm(root: &Path, name: &str, force: bool) -> Result<()> {
    let _serial = store::lock(root, name);
    let r = Record::load(root, name)?;
    if r.alive() {
        if !force {
            return Err(Error::usage(format!(
                "cannot remove container {name}: it is running (stop it first, or use -f)"
            )));
        }
        stop_locked(root, name, Some(0))?;
    }
    // Its cgroup goes with it, and whatever PID 1 left there, as `delete`
    // does; a supervised container's own cella may be removing it at the
    // same time (what either leaves, the next start's sweep removes).
    r.cgroup.kill_all();
    match r.kind {
        Kind::Oci => r.cgroup.remove()?,
        Kind::Run => {
            let _ = r.cgroup.remove();
        }
    }
    store::remove_dir(root, name)?;
    Ok(())
}

/// The container's record and description as JSON: for a `cella run`
/// container its options as typed, for an OCI one its saved config.json.
#[cfg(feature = "oci")]
fn inspect(root: &Path, name: &str) -> Result<String> {
    use crate::json::write_str;
    let r = Record::load(root, name)?;
    let status = r.status(root);
    let mut s = String::from("{\"Name\":");
    write_str(&mut s, &r.id);
    s.push_str(",\"Kind\":");
    s.push_str(match r.kind {
        Kind::Run => "\"run\"",
        Kind::Oci => "\"oci\"",
    });
    s.push_str(",\"Status\":");
    write_str(&mut s, &status_text(&r, status));
    let pid = if status == Status::Stopped { 0 } else { r.pid };
    s.push_str(&format!(",\"Pid\":{pid}"));
    if let Some(code) = r.exit_code {
        s.push_str(&format!(",\"ExitCode\":{code}"));
    }
    for (key, value) in [
        ("Created", &r.created),
        ("Finished", &r.finished),
        ("Command", &r.command),
    ] {
        s.push_str(&format!(",\"{key}\":"));
        write_str(&mut s, value);
    }
    s.push_str(",\"Rootfs\":");
    write_str(&mut s, &r.rootfs.to_string_lossy());
    s.push_str(",\"Cgroups\":[");
    for (i, dir) in r.cgroup.paths().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_str(&mut s, &dir.to_string_lossy());
    }
    s.push(']');
    match r.kind {
        Kind::Run => {
            s.push_str(",\"Options\":[");
            for (i, o) in r.options.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                write_str(&mut s, o);
            }
            s.push(']');
        }
        Kind::Oci => {
            s.push_str(",\"Bundle\":");
            write_str(&mut s, &r.bundle.to_string_lossy());
            // The saved config, as it was given (it is JSON already).
            let cfg = crate::input::read(&store::dir(root, name).join("config.json"), 4 << 20)?;
            s.push_str(",\"Config\":");
            s.push_str(String::from_utf8_lossy(&cfg).trim());
        }
    }
    s.push_str("}\n");
    Ok(s)
}

#[cfg(not(feature = "oci"))]
fn inspect(_root: &Path, name: &str) -> Result<String> {
    Err(Error::usage(format!(
        "inspect {name}: this cella was built without the oci feature (no JSON)"
    )))
}

/// Block until the container ends; its exit status.
fn wait(root: &Path, name: &str) -> Result<i32> {
    // (A record about to go, `--rm` or a foreground run's, keeps how it
    // ended for us.)
    let _waiting = store::wait_on(root, name);
    loop {
        let r = Record::load(root, name)?;
        if !r.alive() {
            // A detached container's supervisor records the status once it
            // has cleaned up.
            if let Some(code) = r.exit_code {
                return Ok(code);
            }
            if !store::owned(root, name) {
                return Err(Error::usage(format!(
                    "{name} has ended, and its exit status was not recorded (only `cella run -d` containers keep it)"
                )));
            }
        }
        sleep_ms(50);
    }
}
