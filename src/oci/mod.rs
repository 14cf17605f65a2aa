//! cella as an OCI runtime: the runc-compatible command line that podman
//! (through conmon) and containerd (through its runc shim) drive.
//!
//! `cella [global flags] VERB [flags] ID ...`. This module owns the verb
//! table and the flags; `config` reads bundles, `plan` turns a config into
//! the child's work, `create`/`child` make the container, `lifecycle` and
//! `exec` act on it, `state` records it between verbs.

mod agent;
pub mod cgroups;
pub mod config;
pub mod create;
mod decode;
mod events;
pub mod exec;
pub mod hooks;
pub mod lifecycle;
pub mod log;
pub mod plan;
pub mod resources;
mod seccomp_config;
mod spec;
pub mod state;

use crate::error::{Error, Result};
use lexopt::prelude::*;
use rustix::fd::AsFd;
use std::ffi::OsString;
use std::path::PathBuf;

/// Verbs only the OCI command line has (`run` is shared with cella's own).
const VERBS: &str = concat!(
    "create start state kill delete exec list ps pause resume update spec features ",
    "events",
);
const GLOBAL_FLAGS: &str = "--root --log --log-format --debug --systemd-cgroup --rootless --criu";
/// `run` options that only OCI `run` has: their presence selects it
/// (`-d`/`--detach` both have: docker's meaning wins, see `cella --help`).
const OCI_RUN_FLAGS: &str = concat!(
    "--bundle -b --pid-file --console-socket --preserve-fds --no-pivot ",
    "--no-new-keyring --keep",
);

/// Whether `args` (without argv[0]) is an OCI runtime invocation.
pub fn is_oci(args: &[OsString]) -> bool {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return false;
    };
    let flag = first.split('=').next().unwrap_or(first);
    if among(GLOBAL_FLAGS, flag) || among(VERBS, first) {
        return true;
    }
    first == "run"
        && args[1..]
            .iter()
            .filter_map(|a| a.to_str())
            .take_while(|a| a.starts_with('-') && *a != "--")
            .any(|a| among(OCI_RUN_FLAGS, a.split('=').next().unwrap_or(a)))
}

/// What `main` prints and returns.
pub struct Output {
    pub stdout: String,
    pub code: u8,
    /// What went wrong without failing the verb (a poststart or poststop
    /// hook): `main` prints each on stderr.
    pub warnings: Vec<Error>,
    /// A failure with an exit code of its own (docker's 126 or 127 for an
    /// `exec` into a `cella run` container): `main` prints it.
    pub failure: Option<Error>,
}

impl Output {
    fn ok(stdout: String) -> Output {
        Output {
            stdout,
            code: 0,
            warnings: Vec::new(),
            failure: None,
        }
    }

    fn warned(warnings: Vec<Error>) -> Output {
        Output {
            warnings,
            ..Output::ok(String::new())
        }
    }
}

struct Globals {
    root: PathBuf,
    /// `--rootless true|false`; `None`: auto.
    rootless: Option<bool>,
}

/// `--rootless` as given, else runc's rule for `auto`: not root, or (cgroup
/// v1) root of a user namespace.
fn rootless(given: Option<bool>) -> bool {
    given.unwrap_or_else(|| {
        !rustix::process::geteuid().is_root()
            || (crate::cgroup::detect(std::path::Path::new(crate::cgroup::ROOT))
                != Some(crate::cgroup::Layout::V2)
                && crate::store::in_user_namespace())
    })
}

use crate::cli::{among, lex};

#[inline(never)]
fn val(p: &mut lexopt::Parser, what: &str) -> Result<String> {
    text(p.value().map_err(lex)?, what)
}

#[inline(never)]
fn path_val(p: &mut lexopt::Parser) -> Result<PathBuf> {
    Ok(PathBuf::from(p.value().map_err(lex)?))
}

#[inline(never)]
fn num_val(p: &mut lexopt::Parser, what: &str) -> Result<u64> {
    number(p.value().map_err(lex)?, what)
}

fn text(v: OsString, what: &str) -> Result<String> {
    v.into_string()
        .map_err(|_| Error::usage(format!("{what}: not valid UTF-8")))
}

fn number(v: OsString, what: &str) -> Result<u64> {
    let s = text(v, what)?;
    s.parse()
        .map_err(|_| Error::usage(format!("{what}: '{s}' is not a number")))
}

/// Run an OCI verb. Errors are also appended to `--log`. `as_runc`: cella
/// was invoked under the name `runc`, and every argv has runc's meaning.
/// Run the OCI verb of `args`; what a verb reports as it goes (`events`)
/// is handed to `emit`, the rest returned.
pub fn main(
    args: Vec<OsString>,
    as_runc: bool,
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Output> {
    let result = dispatch(args, as_runc, emit);
    if let Err(e) = &result {
        log::error(&e.to_string());
    }
    result
}

fn dispatch(
    args: Vec<OsString>,
    as_runc: bool,
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Output> {
    // An orchestrator puts global options before the verb; without any
    // (and not invoked as runc), a verb both worlds have takes docker's
    // habits where they differ.
    let docker_habits = !as_runc
        && args
            .first()
            .and_then(|a| a.to_str())
            .is_some_and(|a| !a.starts_with('-'));
    let mut p = lexopt::Parser::from_args(args);
    let mut g = Globals {
        root: crate::store::default_root(),
        rootless: None,
    };
    let mut log_file = None;
    let mut log_json = false;
    let mut debug = false;
    let verb = loop {
        match p.next().map_err(lex)? {
            Some(Long("root")) => g.root = path_val(&mut p)?,
            Some(Long("log")) => log_file = Some(path_val(&mut p)?),
            Some(Long("log-format")) => {
                log_json = match val(&mut p, "--log-format")?.as_str() {
                    "json" => true,
                    "text" => false,
                    other => {
                        return Err(Error::usage(format!(
                            "--log-format: unknown format '{other}' (text or json)"
                        )));
                    }
                }
            }
            Some(Long("debug")) => debug = true,
            Some(Long("systemd-cgroup")) => {
                return Err(Error::usage(
                    "--systemd-cgroup: cella manages cgroups itself (cgroupfs); run podman with --cgroup-manager cgroupfs",
                ));
            }
            Some(Long("rootless")) => {
                g.rootless = match val(&mut p, "--rootless")?.as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    "auto" => None,
                    other => {
                        return Err(Error::usage(format!(
                            "--rootless: '{other}' is not true, false or auto"
                        )));
                    }
                }
            }
            Some(Long("criu")) => {
                let _ = p.value();
            }
            Some(Value(v)) => break text(v, "command")?,
            Some(other) => return Err(lex(other.unexpected())),
            None => return Err(Error::usage("no command given (see 'cella --help')")),
        }
    };
    if let Some(f) = log_file {
        log::configure(f, log_json, debug);
    }
    let rest: Vec<OsString> = p.raw_args().map_err(lex)?.collect();
    if crate::cli::help::asks_help(&rest) {
        return match crate::cli::help::help(&verb) {
            Some(text) => Ok(Output::ok(text)),
            None => Err(Error::usage(format!(
                "unknown command '{verb}' (see 'cella --help')"
            ))),
        };
    }
    log::debug(|| {
        let args: Vec<_> = rest.iter().map(|a| a.to_string_lossy()).collect();
        format!("{verb} {} (root {})", args.join(" "), g.root.display())
    });
    let mut p = lexopt::Parser::from_args(rest);
    match verb.as_str() {
        "create" => {
            let a = parse_create(&mut p, &g, false)?.0;
            let ignored = create::create(&a)?.warnings;
            Ok(Output::warned(ignored))
        }
        "run" => {
            let (a, detach) = parse_create(&mut p, &g, true)?;
            run(&a, detach)
        }
        "start" => {
            let id = only_id(&mut p, "start")?;
            Ok(Output::warned(lifecycle::start(&g.root, &id)?))
        }
        "state" => {
            let id = only_id(&mut p, "state")?;
            Ok(Output::ok(lifecycle::print_state(&g.root, &id)?))
        }
        "kill" => {
            let mut all = false;
            let mut pos = Vec::new();
            let mut signal = None;
            while let Some(arg) = p.next().map_err(lex)? {
                match arg {
                    Long("all") | Short('a') => all = true,
                    Long("signal") | Short('s') => signal = Some(val(&mut p, "--signal")?),
                    Value(v) => pos.push(text(v, "kill")?),
                    other => return Err(lex(other.unexpected())),
                }
            }
            let (id, sig) = match pos.as_slice() {
                // runc's default is TERM, docker's KILL.
                [id] => (
                    id.clone(),
                    signal.unwrap_or_else(|| if docker_habits { "KILL" } else { "TERM" }.into()),
                ),
                [id, sig] if signal.is_none() => (id.clone(), sig.clone()),
                _ => return Err(Error::usage("usage: kill [--all] ID [SIGNAL]")),
            };
            // Signal 0, as kill(2) takes it: is the container alive?
            let sig = match sig.as_str() {
                "0" => None,
                name => Some(lifecycle::parse_signal(name)?),
            };
            lifecycle::kill(&g.root, &id, sig, all)?;
            Ok(Output::ok(String::new()))
        }
        "delete" => {
            let mut force = false;
            let mut id = None;
            while let Some(arg) = p.next().map_err(lex)? {
                match arg {
                    Long("force") | Short('f') => force = true,
                    Value(v) if id.is_none() => id = Some(text(v, "delete")?),
                    other => return Err(lex(other.unexpected())),
                }
            }
            let id = id.ok_or_else(|| Error::usage("usage: delete [--force] ID"))?;
            Ok(Output::warned(lifecycle::delete(&g.root, &id, force)?))
        }
        "exec" => {
            let a = parse_exec(&mut p)?;
            exec::exec(&g.root, &a)
        }
        "list" => {
            let (mut json, mut quiet) = (false, false);
            while let Some(arg) = p.next().map_err(lex)? {
                match arg {
                    Long("format") | Short('f') => json = format(&mut p)?,
                    Long("quiet") | Short('q') => quiet = true,
                    other => return Err(lex(other.unexpected())),
                }
            }
            Ok(Output::ok(lifecycle::list(&g.root, json, quiet)))
        }
        "ps" => {
            let mut json = false;
            let mut id = None;
            let mut ps_args = Vec::new();
            while let Some(arg) = p.next().map_err(lex)? {
                match arg {
                    Long("format") | Short('f') => json = format(&mut p)?,
                    Value(v) => {
                        id = Some(text(v, "ps")?);
                        // After the id, everything is ps(1)'s (`-- -o pid,comm`).
                        for a in p.raw_args().map_err(lex)? {
                            let a = text(a, "ps")?;
                            if a != "--" || !ps_args.is_empty() {
                                ps_args.push(a);
                            }
                        }
                    }
                    other => return Err(lex(other.unexpected())),
                }
            }
            let id = id.ok_or_else(|| Error::usage("usage: ps [--format json] ID"))?;
            Ok(Output::ok(lifecycle::ps(&g.root, &id, json, &ps_args)?))
        }
        "pause" | "resume" => {
            let id = only_id(&mut p, &verb)?;
            lifecycle::pause(&g.root, &id, verb == "pause")?;
            Ok(Output::ok(String::new()))
        }
        "update" => {
            let (id, r) = parse_update(&mut p)?;
            let ignored = r.ignored.iter().map(|w| Error::usage(w.clone())).collect();
            lifecycle::update(&g.root, &id, r)?;
            Ok(Output::warned(ignored))
        }
        "spec" => {
            let mut bundle = PathBuf::from(".");
            let mut rootless = false;
            while let Some(arg) = p.next().map_err(lex)? {
                match arg {
                    Long("bundle") | Short('b') => bundle = path_val(&mut p)?,
                    Long("rootless") => rootless = true,
                    other => return Err(lex(other.unexpected())),
                }
            }
            let v2 = crate::cgroup::detect(std::path::Path::new(crate::cgroup::ROOT))
                == Some(crate::cgroup::Layout::V2);
            let caller = rootless.then(|| {
                (
                    rustix::process::geteuid().as_raw(),
                    rustix::process::getegid().as_raw(),
                )
            });
            let file = bundle.join("config.json");
            // Never over an existing one (as runc), nor through a link.
            let out = rustix::fs::open(
                &file,
                rustix::fs::OFlags::WRONLY
                    | rustix::fs::OFlags::CREATE
                    | rustix::fs::OFlags::EXCL
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::from_raw_mode(0o666),
            )
            .map_err(|e| match e {
                rustix::io::Errno::EXIST => {
                    Error::usage(format!("{}: exists; remove it first", file.display()))
                }
                e => Error::new(crate::error::Step::Usage, e).at(file.display().to_string()),
            })?;
            crate::input::write_all(out.as_fd(), spec::example(v2, caller).as_bytes()).map_err(
                |e| Error::new(crate::error::Step::Usage, e).at(file.display().to_string()),
            )?;
            Ok(Output::ok(String::new()))
        }
        "events" => {
            let (mut once, mut every, mut id) = (false, std::time::Duration::from_secs(5), None);
            while let Some(arg) = p.next().map_err(lex)? {
                match arg {
                    Long("stats") => once = true,
                    Long("interval") => every = events::interval(&val(&mut p, "--interval")?)?,
                    Value(v) if id.is_none() => id = Some(text(v, "events")?),
                    other => return Err(lex(other.unexpected())),
                }
            }
            let id = id.ok_or_else(|| Error::usage("usage: events [--stats] [--interval D] ID"))?;
            events::events(&g.root, &id, once, every, emit)?;
            Ok(Output::ok(String::new()))
        }
        "features" => Ok(Output::ok(features())),
        other => Err(Error::usage(format!(
            "unknown command '{other}' (see 'cella --help')"
        ))),
    }
}

/// `--format table|json`: whether it is json.
fn format(p: &mut lexopt::Parser) -> Result<bool> {
    match val(p, "--format")?.as_str() {
        "json" => Ok(true),
        "table" => Ok(false),
        other => Err(Error::usage(format!(
            "--format: unknown format '{other}' (table or json)"
        ))),
    }
}

fn only_id(p: &mut lexopt::Parser, verb: &str) -> Result<String> {
    let mut id = None;
    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Value(v) if id.is_none() => id = Some(text(v, verb)?),
            other => return Err(lex(other.unexpected())),
        }
    }
    id.ok_or_else(|| Error::usage(format!("usage: {verb} ID")))
}

fn parse_create(
    p: &mut lexopt::Parser,
    g: &Globals,
    run: bool,
) -> Result<(create::CreateArgs, bool)> {
    let mut a = create::CreateArgs {
        root: g.root.clone(),
        id: String::new(),
        bundle: PathBuf::from("."),
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
        exec_mask: None,
        relay_terminal: false,
        keep: false,
        rootless: g.rootless,
    };
    let mut detach = false;
    let mut id = None;
    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Long("bundle") | Short('b') => a.bundle = path_val(p)?,
            Long("pid-file") => a.pid_file = Some(path_val(p)?),
            Long("console-socket") => a.console_socket = Some(path_val(p)?),
            Long("preserve-fds") => a.preserve_fds = num_val(p, "--preserve-fds")?.min(1024) as u32,
            // cella never uses a session keyring and always pivots when it can.
            Long("no-new-keyring") | Long("no-pivot") => {}
            Long("detach") | Short('d') if run => detach = true,
            Long("keep") if run => a.keep = true,
            Value(v) if id.is_none() => id = Some(text(v, "id")?),
            other => return Err(lex(other.unexpected())),
        }
    }
    a.id = id.ok_or_else(|| {
        Error::usage("usage: create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID")
    })?;
    Ok((a, detach))
}

fn parse_exec(p: &mut lexopt::Parser) -> Result<exec::ExecArgs> {
    let mut a = exec::ExecArgs::default();
    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Long("process") | Short('p') => a.process = Some(path_val(p)?),
            Long("tty") | Short('t') => a.tty = true,
            Long("interactive") | Short('i') => a.interactive = true,
            Long("console-socket") => a.console_socket = Some(path_val(p)?),
            Long("detach") | Short('d') => a.detach = true,
            Long("pid-file") => a.pid_file = Some(path_val(p)?),
            // docker's -w/--workdir too.
            Long("cwd") | Long("workdir") | Short('w') => {
                let cwd = val(p, "--cwd")?;
                // As process.cwd: relative to nothing the caller can see.
                if !cwd.starts_with('/') {
                    return Err(Error::usage(format!(
                        "--cwd: '{cwd}' is not an absolute path"
                    )));
                }
                a.cwd = Some(cwd);
            }
            Long("env") | Short('e') => {
                let e = val(p, "--env")?;
                crate::cli::env_entry(&e)
                    .map_err(|why| Error::usage(format!("--env: '{e}': {why}")))?;
                // `KEY`: the caller's value, if it has one (docker's).
                if !e.contains('=') {
                    match std::env::var(&e) {
                        Ok(v) => a.env.push(format!("{e}={v}")),
                        Err(_) => continue,
                    }
                } else {
                    a.env.push(e);
                }
            }
            Long("user") | Short('u') => {
                let u = val(p, "--user")?;
                if !crate::cli::user_names(&u) {
                    return Err(Error::usage(format!("--user: '{u}' is not UID[:GID]")));
                }
                a.user = Some(u);
            }
            Long("additional-gids") | Short('g') => {
                let g = num_val(p, "--additional-gids")?;
                a.additional_gids.push(
                    u32::try_from(g)
                        .map_err(|_| Error::usage("--additional-gids: out of range"))?,
                );
            }
            Long("cap") | Short('c') => a.cap_add.push(val(p, "--cap")?),
            Long("no-new-privs") => a.no_new_privs = true,
            Long("preserve-fds") => a.preserve_fds = num_val(p, "--preserve-fds")?.min(1024) as u32,
            Long("ignore-paused") => a.ignore_paused = true,
            Long("cgroup") => {
                let v = val(p, "--cgroup")?;
                a.cgroup.push(match v.split_once(':') {
                    Some((controllers, path)) => (Some(controllers.to_owned()), path.to_owned()),
                    None => (None, v),
                });
            }
            Value(v) if a.id.is_empty() => {
                a.id = text(v, "id")?;
                for rest in p.raw_args().map_err(lex)? {
                    a.args.push(text(rest, "argument")?);
                }
            }
            other => return Err(lex(other.unexpected())),
        }
    }
    if a.id.is_empty() {
        return Err(Error::usage(
            "usage: exec [--process FILE | options] ID [COMMAND...]",
        ));
    }
    Ok(a)
}

fn parse_update(p: &mut lexopt::Parser) -> Result<(String, config::Resources)> {
    let mut r = config::Resources::default();
    let mut id = None;
    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Long("resources") | Short('r') => {
                let file = path_val(p)?;
                let doc = if file.as_os_str() == "-" {
                    let bytes = crate::input::read_stdin("--resources -", crate::json::MAX_INPUT)?;
                    crate::json::parse(&bytes)
                        .map_err(|e| Error::usage(format!("--resources -: {e}")))?
                } else {
                    config::read_json(&file)?
                };
                r = config::resources(&doc, "resources")?;
            }
            Long("memory") => r.memory_limit = Some(limit(p, "--memory", true)?),
            Long("memory-reservation") => {
                r.memory_reservation = Some(limit(p, "--memory-reservation", true)?)
            }
            Long("memory-swap") => r.memory_swap = Some(limit(p, "--memory-swap", true)?),
            Long("pids-limit") => r.pids_limit = Some(limit(p, "--pids-limit", false)?),
            Long("kernel-memory") | Long("kernel-memory-tcp") => {
                let _ = val(p, "--kernel-memory")?;
                r.ignored
                    .push("update: kernel memory limits are ignored (as runc 1.1 does)".into());
            }
            // runc spells it --cpu-share.
            Long("cpu-shares") | Long("cpu-share") => {
                r.cpu_shares = Some(num_val(p, "--cpu-share")?)
            }
            Long("cpu-quota") => r.cpu_quota = Some(limit(p, "--cpu-quota", false)?),
            Long("cpu-period") => r.cpu_period = Some(num_val(p, "--cpu-period")?),
            Long("cpuset-cpus") => r.cpus = Some(val(p, "--cpuset-cpus")?),
            Long("cpuset-mems") => r.mems = Some(val(p, "--cpuset-mems")?),
            Long("blkio-weight") => r.blkio_weight = Some(num_val(p, "--blkio-weight")?),
            Value(v) if id.is_none() => id = Some(text(v, "update")?),
            other => return Err(lex(other.unexpected())),
        }
    }
    let id = id.ok_or_else(|| Error::usage("usage: update [--resources FILE] [limits] ID"))?;
    Ok((id, r))
}

/// An `update` limit: `-1` (none), or a number (`size`: with a k/m/g
/// suffix too).
fn limit(p: &mut lexopt::Parser, what: &str, size: bool) -> Result<i64> {
    let v = val(p, what)?;
    if v == "-1" {
        return Ok(-1);
    }
    let n = if size {
        crate::cli::size(&v)
    } else {
        v.parse().ok()
    };
    n.and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| Error::usage(format!("{what}: '{v}' is not a number or -1")))
}

/// `run`: create, start, and (unless detached) wait and delete; the exit
/// code is the payload's (128+N for a signal).
fn run(a: &create::CreateArgs, detach: bool) -> Result<Output> {
    use crate::sys::signal;
    let forwarded = crate::process::WAITED;
    let old =
        signal::block(forwarded).map_err(|e| Error::new(crate::error::Step::SignalMask, e))?;
    // The payload gets the mask we had, not the one we wait with.
    let a = &create::CreateArgs {
        exec_mask: Some(old),
        relay_terminal: !detach,
        ..a.clone()
    };
    let create::Created {
        pid,
        mut warnings,
        terminal,
    } = create::create(a)?;
    match lifecycle::start(&a.root, &a.id) {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            let _ = lifecycle::delete(&a.root, &a.id, true);
            return Err(e);
        }
    };
    if detach {
        let _ = signal::set_mask(old);
        return Ok(Output::warned(warnings));
    }
    let status = match terminal {
        Some(master) => crate::console::relay(pid, master)?,
        None => crate::process::wait_forwarding(pid, crate::process::Relay::default())?,
    };
    let code = crate::process::exit_code(status);
    log::debug(|| format!("{}: exited, code {code}", a.id));
    if !a.keep {
        warnings.extend(lifecycle::delete(&a.root, &a.id, true)?);
    }
    Ok(Output {
        code,
        ..Output::warned(warnings)
    })
}

fn features() -> String {
    let mut s = String::from("{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"");
    s.push_str(state::OCI_VERSION);
    s.push_str("\",\"hooks\":[\"prestart\",\"createRuntime\",\"createContainer\",\"startContainer\",\"poststart\",\"poststop\"]");
    s.push_str(",\"mountOptions\":");
    list(&mut s, "", plan::MOUNT_OPTIONS.split(' '));
    s.push_str(",\"linux\":{\"namespaces\":");
    list(&mut s, "", config::NS_NAMES.split(' '));
    s.push_str(",\"capabilities\":");
    list(&mut s, "CAP_", crate::caps::NAMES.split(' '));
    s.push_str(",\"cgroup\":{\"v1\":true,\"v2\":true,\"systemd\":false,\"systemdUser\":false}");
    s.push_str(",\"seccomp\":{\"enabled\":true,\"actions\":[\"SCMP_ACT_KILL\",\"SCMP_ACT_KILL_PROCESS\",\"SCMP_ACT_KILL_THREAD\",\"SCMP_ACT_TRAP\",\"SCMP_ACT_ERRNO\",\"SCMP_ACT_TRACE\",\"SCMP_ACT_ALLOW\",\"SCMP_ACT_LOG\",\"SCMP_ACT_NOTIFY\"],\"operators\":[\"SCMP_CMP_NE\",\"SCMP_CMP_LT\",\"SCMP_CMP_LE\",\"SCMP_CMP_EQ\",\"SCMP_CMP_GE\",\"SCMP_CMP_GT\",\"SCMP_CMP_MASKED_EQ\"]");
    let flags = "[\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\",\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"]";
    s.push_str(",\"knownFlags\":");
    s.push_str(flags);
    s.push_str(",\"supportedFlags\":");
    s.push_str(flags);
    s.push('}');
    s.push_str(",\"apparmor\":{\"enabled\":false},\"selinux\":{\"enabled\":false}}");
    s.push_str(",\"annotations\":{\"org.opencontainers.runtime-spec.features\":\"cella\"}}\n");
    s
}

/// `["PREFIXa","PREFIXb"]` of `names`.
fn list<'a>(s: &mut String, prefix: &str, names: impl Iterator<Item = &'a str>) {
    s.push('[');
    for (i, n) in names.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(prefix);
        s.push_str(n);
        s.push('"');
    }
    s.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn oci_invocations_are_recognised() {
        assert!(is_oci(&args(&[
            "--log-format=json",
            "--log",
            "x",
            "create",
            "c"
        ])));
        assert!(is_oci(&args(&["--root", "/r", "start", "c"])));
        assert!(is_oci(&args(&["kill", "c", "9"])));
        assert!(is_oci(&args(&["run", "--bundle", "/b", "c"])));
        assert!(is_oci(&args(&["run", "-d", "--pid-file=/p", "c"])));
        assert!(!is_oci(&args(&["run", "-d", "--name", "web", "sh"])));
        assert!(!is_oci(&args(&["run", "--memory", "64m", "--", "sh"])));
        assert!(!is_oci(&args(&["run", "sh", "-d"])));
        assert!(!is_oci(&args(&["init"])));
    }

    #[test]
    fn features_is_json() {
        let v = crate::json::parse(features().as_bytes()).unwrap();
        assert_eq!(
            v.get("ociVersionMax").and_then(|v| v.as_str()),
            Some(state::OCI_VERSION)
        );
    }

    #[test]
    fn signals_by_name_and_number() {
        use rustix::process::Signal;
        assert_eq!(lifecycle::parse_signal("9").unwrap(), Signal::KILL);
        assert_eq!(lifecycle::parse_signal("SIGTERM").unwrap(), Signal::TERM);
        assert_eq!(lifecycle::parse_signal("usr1").unwrap(), Signal::USR1);
        assert!(lifecycle::parse_signal("NOPE").is_err());
        assert!(lifecycle::parse_signal("0").is_err());
    }
}
