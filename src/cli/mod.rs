//! The command line: what the user typed, checked for form, nothing more.
//!
//! Parsing never touches the system (no stat, no open); that is `spec`'s
//! job. Values with a syntax of their own (sizes, cpu counts, `--bind`
//! triples, `UID[:GID]`) are decoded here so every bad value is reported
//! with the option that carried it.

use crate::error::{Error, Result};
use lexopt::prelude::*;
use std::ffi::OsString;

pub(crate) mod docker;
pub mod help;
mod values;

pub use docker::{Tmpfs, size};
use values::{
    BIND_RULE, DEVICE_RULE, NAME_RULE, ULIMIT_RULE, absolute, bind, decimal, device, ranged,
    ulimit, valid_name,
};
pub use values::{
    HOSTNAME_RULE, PIDS_MAX, ULIMITS, among, cpus, env_entry, lex, signal, user, user_names,
    valid_hostname,
};

pub const USAGE: &str = "\
cella: a small container runtime in one static binary

Usage: cella COMMAND [OPTIONS] ...     ('cella COMMAND --help' for each)

Containers, as docker runs them:
  run       run a command in a new container; -d: in the background
  exec      run another command in a running container (-it: a shell)
  ps        list the containers (-a: with those that ended)
  logs      what a background container wrote (-f: follow it)
  attach    this terminal on a `run -dit` container's (ctrl-P ctrl-Q leaves)
  stop      its stop signal, then SIGKILL after a grace period
  kill      send a signal (default KILL)
  pause     freeze every process of a container; resume thaws them
  update    change a container's limits
  rm        remove a container that has ended (-f: stop it first)
  wait      wait for a container to end, print its exit status
  inspect   a container's record and description as JSON

Images (run them by name: cella run NAME):
  image import FILE|DIR [NAME]   a docker save archive, an OCI layout, a rootfs tar
  images    list them (image ls); rmi NAME: remove one (image rm)
  image inspect NAME             its layers and config as JSON

A machine's PID 1 (an initramfs's /init, a board's init):
  init      start and supervise the containers of a configuration file

The OCI runtime, runc's verbs (podman, containerd, runc's own habits):
  create, start, state, kill, delete, exec, list, ps ID, pause, resume,
  update, events, run --bundle, spec, features
  global options before the verb: --root DIR, --log FILE,
  --log-format text|json, --debug, --systemd-cgroup (refused), --rootless

  cella --help | --version

Every container, `cella run` ones included, is in one state store: the
OCI verbs find them by name too. Where docker's and runc's habits meet,
an argv podman, conmon, containerd or runc's tools pass keeps its OCI
meaning ('run' with --bundle, -b or another OCI-only option, any global
option such as --root before the verb, 'ps ID'); otherwise docker's
('run -d', 'ps', 'ps -a', 'kill NAME' sending KILL). Invoked as 'runc'
(a symlink), cella is runc throughout.
";

pub const RUN_USAGE: &str = "\
Usage: cella run [OPTIONS] [--] COMMAND [ARG...]
       cella run [OPTIONS] [--] IMAGE [ARG...]

Runs COMMAND as PID 1 of new UTS, PID, mount, IPC, network and cgroup
namespaces, in its own cgroup, and exits with its status. docker's
spellings of the options are taken too.

Without --rootfs, a first word that names an imported image (see
'cella images'; NAME or NAME:latest) runs that image: its Entrypoint, then
the ARGs or else its Cmd, with its Env, WorkingDir, User and StopSignal
unless options say otherwise. Any other first word is a command in the
host's root.

The container:
  --rootfs DIR|FILE     root file system: a directory, or a squashfs or erofs
                        image file under a throw-away writable layer
                        (default: the host's / read-only, with a private
                        /proc, /dev and /tmp)
  --overlay             a throw-away writable layer over a --rootfs directory,
                        which is never written
  --overlay-upper DIR   keep the writable layer's changes in DIR (its upper/
                        and work/), for one container at a time
  --entrypoint CMD      an image's entrypoint instead of its own (its Cmd
                        is not used either; '' for none)
  --name NAME           container name; also the cgroup name (default: generated)
  -h, --hostname NAME   hostname inside (default: the container name)
  --net, --network bridge|host|none
                        'none' (default): own network namespace with lo only;
                        'bridge': also eth0 on a bridge of the host (cella0,
                        made on first use), an address and a default route;
                        'host': share the host's network
  -p, --publish [HOST_IP:]HOST_PORT:PORT[/tcp|udp]
                        with bridge: the host's port forwarded to the
                        container's (also from 127.0.0.1 and other containers)
  --ip ADDRESS          with bridge: this address, not the next free one
  --bridge NAME         with bridge: this bridge (default cella0)
  --subnet CIDR         with bridge: the subnet of a bridge cella makes
                        (default: the first of 10.88-99.0.0/16, 172.17-31.0.0/16
                        no route of the host uses)
  --dns ADDRESS         a nameserver for /etc/resolv.conf (default: the
                        host's, less loopback ones; repeatable)
  --dns-search DOMAIN, --dns-option OPTION
                        search domains and options for /etc/resolv.conf
  --add-host NAME:ADDRESS (or NAME=ADDRESS)
                        a line of /etc/hosts; ADDRESS host-gateway: the host
  --pid host|private    'private' (default): the payload is PID 1 of its own
                        PID namespace; 'host': share the host's processes
  --init                a tiny init as PID 1 reaps zombies and forwards
                        signals to COMMAND
  -d, --detach          return once COMMAND runs; a supervisor keeps its
                        output (cella logs NAME) and its exit status
  --rm                  with -d, remove the container when it ends
  --stop-signal SIG     what `cella stop` sends first (default SIGTERM)
  --stop-timeout SECS   how long `cella stop` waits before SIGKILL (10)

Its terminal and input:
  -t, --tty             a terminal of its own (a pty of the container's),
                        relayed to this one
  -i, --interactive     pass this stdin to COMMAND (without -i: /dev/null);
                        -it: an interactive shell; -dit: one to `cella attach` to

Its process:
  -e, --env K=V         set an environment variable (K alone: copy from here)
  --env-file FILE       K=V lines (# comments), before -e
  -w, --workdir DIR     working directory inside (made if missing)
  -u, --user USER[:GROUP]
                        run COMMAND as this user (name or number, from the
                        container's /etc/passwd; its groups from /etc/group)
  --ulimit NAME=SOFT[:HARD]
                        a resource limit (nofile, nproc, core, stack, ...)
  --oom-score-adj N     the payload's OOM score adjustment, -1000 to 1000

Its files:
  --read-only           mount the root file system read-only
  -v, --volume SRC:DST[:ro|rw,z,...], --bind SRC:DST[:ro]
                        bind-mount host SRC (an absolute path) at DST
  --mount type=bind,source=SRC,target=DST[,readonly]
  --mount type=tmpfs,target=DST[,tmpfs-size=SIZE][,tmpfs-mode=MODE]
  --tmpfs DST[:size=SIZE,mode=MODE,noexec,...]
                        a fresh tmpfs at DST
  --device HOST[:CONTAINER][:rwm]
                        a host device node (rwm: what it may do with it)

Its limits (SIZE: 64m, 64MiB, 1.5g, ...):
  -m, --memory SIZE     memory limit
  --memory-swap SIZE    memory plus swap (-1: no swap limit; default: none)
  --pids, --pids-limit N
                        maximum number of processes
  --cpus N.NN           CPU time in CPUs (up to this machine's)
  --cpu-weight N        relative CPU weight, 1-10000
  --cpu-shares N        relative CPU weight as docker's, 2-262144
  --cpuset-cpus LIST    the CPUs it may run on (0-3,5)
  --io-weight N         relative block I/O weight, 1-10000

What it may do:
  --cap-add CAP         add a capability to docker's default set (ALL: every one)
  --cap-drop CAP        drop a capability from it (ALL: every one)
  --security-opt seccomp=FILE|unconfined
                        an OCI seccomp profile instead of the default one
  --security-opt no-new-privileges
                        setuid programs cannot gain privileges (off by
                        default, as docker's: sudo works)
  --security-opt label=disable|apparmor=unconfined
                        accepted: cella sets no label and no profile
  --privileged          every capability, no seccomp filter, /proc unmasked
  --help                show this help

Not here (refused saying so): --pull (import images: cella image import),
--restart (cella init has restart policies), --gpus.

Exit status: COMMAND's; 128+N if it was killed by signal N; 126 if it could
not be executed; 127 if it was not found; 125 if cella itself failed.
";

/// What `main` should do.
#[allow(clippy::large_enum_variant)] // made once per process
#[derive(Debug, PartialEq)]
pub enum Command {
    Help,
    RunHelp,
    InitHelp,
    Version,
    Run(RunArgs),
    /// `cella init [--config FILE]`: supervise the configured containers.
    Init {
        config: Option<String>,
    },
}

#[derive(Debug, PartialEq, Clone, Copy, Default)]
pub enum Net {
    /// A new network namespace holding only `lo`.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace with `eth0` on a bridge of the host.
    Bridge,
}

/// `--device HOST[:CONTAINER][:PERMS]`.
#[derive(Debug, PartialEq, Clone)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// A non-empty subset of `rwm`.
    pub access: String,
}

#[derive(Debug, PartialEq, Clone)]
pub struct Bind {
    pub source: OsString,
    pub target: String,
    pub read_only: bool,
}

/// The options of `cella run`, decoded but not checked against the system.
#[derive(Debug, PartialEq, Default, Clone)]
pub struct RunArgs {
    pub rootfs: Option<OsString>,
    /// `--overlay`: a tmpfs upper layer over a directory rootfs.
    pub overlay: bool,
    /// `--overlay-upper DIR`: the upper layer's writes persist in DIR.
    pub overlay_upper: Option<OsString>,
    /// `--entrypoint CMD`: an image's entrypoint instead of its own (its
    /// Cmd cleared too, as docker's; empty: none).
    pub entrypoint: Option<String>,
    /// Not an option: `exec` into a running `cella run` container reads
    /// its files (passwd, the command) in this process's root, as the
    /// container sees them, not in its recorded `--rootfs`.
    pub inside_of: Option<u32>,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub net: Net,
    /// Share the host's PID namespace (`--pid host`) instead of a new one.
    pub pid_host: bool,
    pub memory: Option<u64>,
    /// `--memory-swap`: memory plus swap (docker's meaning); -1 unlimited.
    pub memory_swap: Option<i64>,
    pub pids: Option<u64>,
    /// CPU quota in microseconds per 100 000 µs period.
    pub cpu_quota: Option<u64>,
    pub cpu_weight: Option<u64>,
    /// `--cpu-shares`, v1's relative weight (2-262144).
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`: the CPUs it may run on.
    pub cpuset_cpus: Option<String>,
    pub io_weight: Option<u64>,
    pub init: bool,
    pub env: Vec<OsString>,
    /// `--env-file`s, read before `-e` (whose entries win).
    pub env_files: Vec<OsString>,
    /// `--stop-signal` and `--stop-timeout`: what `cella stop` sends, and
    /// how long it waits before SIGKILL.
    pub stop_signal: Option<i32>,
    pub stop_timeout: Option<u64>,
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]`, names or numbers, resolved in the container's
    /// own passwd and group files.
    pub user: Option<String>,
    pub read_only: bool,
    /// `--dns`, `--dns-search`, `--dns-option`, `--add-host`.
    pub resolution: crate::net::files::Options,
    /// `--ip`, `--bridge`, `--subnet` (with `--net bridge`).
    pub ip: Option<std::net::Ipv4Addr>,
    /// The machine's resolv.conf as `cella init`'s `nameserver` keys make
    /// it (not an option): read instead of `/etc/resolv.conf`.
    pub host_resolv: Option<String>,
    /// `-p`: published ports (with `--net bridge`).
    pub publish: Vec<crate::store::Port>,
    pub bridge: Option<String>,
    pub subnet: Option<(std::net::Ipv4Addr, u8)>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub devices: Vec<Device>,
    /// Capabilities added to / dropped from docker's default set (`ALL` allowed).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// All capabilities, no seccomp filter, no masked or read-only /proc paths.
    pub privileged: bool,
    pub seccomp: Seccomp,
    /// `--security-opt no-new-privileges[=true]`: setuid programs cannot
    /// gain privileges. Off by default, as docker's and podman's.
    pub no_new_privileges: bool,
    /// `--ulimit NAME=SOFT[:HARD]`: (resource name as in RLIMIT_NAME, soft, hard).
    pub ulimits: Vec<(String, u64, u64)>,
    /// `--oom-score-adj N`, -1000..1000.
    pub oom_score_adj: Option<i32>,
    /// `-d`: return once the payload runs, leaving it to a supervisor.
    pub detach: bool,
    /// `-t`: a pty of the container's is the payload's terminal.
    pub tty: bool,
    /// `-i`: the caller's stdin reaches the payload (else `/dev/null`).
    pub interactive: bool,
    /// `--rm`: remove a detached container's record when it ends.
    pub remove: bool,
    /// The options as typed (everything between `run` and the command).
    pub options: Vec<OsString>,
    pub command: Vec<OsString>,
}

/// `--security-opt seccomp=...`.
#[derive(Debug, PartialEq, Clone, Default)]
pub enum Seccomp {
    /// cella's built-in profile (docker's default, in effect).
    #[default]
    Default,
    Unconfined,
    /// An OCI/docker seccomp profile file.
    File(OsString),
}

/// Parse the whole command line (without argv[0]).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let raw: Vec<OsString> = args.into_iter().collect();
    let mut p = lexopt::Parser::from_args(raw.clone());
    match p.next().map_err(lex)? {
        Some(Short('h') | Long("help")) => Ok(Command::Help),
        // `-v` as runc and docker take it.
        Some(Short('V' | 'v') | Long("version")) => Ok(Command::Version),
        Some(Value(cmd)) if cmd == "run" => {
            #[cfg_attr(not(feature = "manage"), allow(unused_mut))]
            let mut run = parse_run(&mut p)?;
            #[cfg(feature = "manage")]
            if let Command::Run(a) = &mut run {
                // What came between `run` and the command, verbatim: the
                // container's options, recorded for `exec` into it.
                let end = raw.len() - a.command.len();
                let mut options = raw[1..end].to_vec();
                if options.last().is_some_and(|o| o == "--") {
                    options.pop();
                }
                a.options = options;
            }
            Ok(run)
        }
        Some(Value(cmd)) if cmd == "init" => parse_init(&mut p),
        Some(Value(cmd)) if cmd == "help" => Ok(Command::Help),
        Some(Value(cmd)) => {
            let cmd = cmd.to_string_lossy();
            let hint = match help::did_you_mean(&cmd, COMMANDS.split(' ')) {
                Some(known) => format!("did you mean '{known}'? "),
                None => String::new(),
            };
            Err(Error::usage(format!(
                "unknown command '{cmd}' ({hint}see 'cella --help')"
            )))
        }
        Some(arg) => Err(lex(arg.unexpected())),
        None => Err(Error::usage("no command given (see 'cella --help')")),
    }
}

fn parse_run(p: &mut lexopt::Parser) -> Result<Command> {
    let mut a = RunArgs::default();
    while let Some(arg) = p.next().map_err(lex)? {
        let name = match arg {
            Long("help") => return Ok(Command::RunHelp),
            Short('t') | Long("tty") => {
                a.tty = true;
                continue;
            }
            Short('i') | Long("interactive") => {
                a.interactive = true;
                continue;
            }
            Long("init") => {
                a.init = true;
                continue;
            }
            Long("read-only") => {
                a.read_only = true;
                continue;
            }
            Long("overlay") => {
                a.overlay = true;
                continue;
            }
            Long("privileged") => {
                a.privileged = true;
                continue;
            }
            Short('d') | Long("detach") => {
                a.detach = true;
                continue;
            }
            Long("rm") => {
                a.remove = true;
                continue;
            }
            Value(cmd) => {
                a.command.push(cmd);
                a.command.extend(p.raw_args().map_err(lex)?);
                return Ok(Command::Run(a));
            }
            Short('e') => "env",
            Short('w') => "workdir",
            Short('u') => "user",
            Short('m') => "memory",
            Short('v') => "volume",
            Short('p') => "publish",
            // docker's: `-h` names the host; `--help` helps.
            Short('h') => "hostname",
            Short('P') | Long(_) if docker::unsupported(&flag_name(&arg)).is_some() => {
                let name = flag_name(&arg);
                let why = docker::unsupported(&name).unwrap_or_default();
                let dashes = if name.len() == 1 { "-" } else { "--" };
                return Err(Error::usage(format!("run: {dashes}{name}: {why}")));
            }
            Long(long) => match VALUED.split(' ').find(|n| *n == long) {
                Some(known) => known,
                None => return Err(unknown_option(long)),
            },
            _ => return Err(lex(arg.unexpected())),
        };
        // One place decodes every value, so each refusal has the same shape.
        let value = p.value().map_err(lex)?;
        set(&mut a, name, value, "--")?;
    }
    Err(Error::usage(
        "run: no command given (see 'cella run --help')",
    ))
}

fn parse_init(p: &mut lexopt::Parser) -> Result<Command> {
    let mut config = None;
    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::InitHelp),
            Long("config") => {
                let v = p.value().map_err(lex)?;
                config = Some(
                    v.into_string()
                        .map_err(|_| Error::usage("--config: not valid UTF-8"))?,
                );
            }
            _ => return Err(lex(arg.unexpected())),
        }
    }
    Ok(Command::Init { config })
}

/// Every command `cella --help` lists, for "did you mean".
const COMMANDS: &str = concat!(
    "run exec ps logs attach stop kill rm wait inspect init create start state ",
    "delete list pause resume update events spec features",
);

/// `run`'s flags that take no value.
const FLAGS: &str = "help overlay tty interactive init read-only privileged detach rm version";

/// An unknown long option of `run`, with the known one it most resembles.
fn unknown_option(given: &str) -> Error {
    match help::did_you_mean(given, VALUED.split(' ').chain(FLAGS.split(' '))) {
        Some(k) => Error::usage(format!("invalid option '--{given}' (did you mean --{k}?)")),
        None => Error::usage(format!(
            "invalid option '--{given}' (see 'cella run --help')"
        )),
    }
}

/// An option's name without its dashes.
fn flag_name(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        Short(c) => c.to_string(),
        Long(l) => (*l).to_owned(),
        Value(v) => v.to_string_lossy().into_owned(),
    }
}

/// The long options of `run` that take a value.
const VALUED: &str = concat!(
    "overlay-upper entrypoint publish ip bridge subnet dns dns-search dns-option ",
    "add-host volume mount memory-swap network env-file stop-signal stop-timeout ",
    "pids-limit cpu-shares cpuset-cpus device ulimit oom-score-adj cap-add cap-drop ",
    "security-opt rootfs pid name hostname net memory pids cpus cpu-weight io-weight ",
    "env workdir user bind tmpfs",
);

/// The options of `run` that add to a list each time they are given; the
/// others keep their last value on the command line, as docker's do, and
/// are refused twice in one section of the init configuration.
pub const REPEATABLE: &str = concat!(
    "publish dns dns-search dns-option add-host volume mount env-file device ulimit ",
    "cap-add cap-drop security-opt env bind tmpfs",
);

/// Set `run` option `--name` (a long option taking a value, or one of the
/// flags `init`, `read-only`, `privileged`, `overlay`) from text, as the init configuration does.
pub fn set_option(a: &mut RunArgs, name: &str, value: &str) -> Result<()> {
    let flag = || match value {
        "" | "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(Error::usage(format!(
            "invalid value '{value}' for {name}: expected yes or no"
        ))),
    };
    match name {
        "init" => a.init = flag()?,
        "read-only" => a.read_only = flag()?,
        "overlay" => a.overlay = flag()?,
        "privileged" => a.privileged = flag()?,
        _ => match VALUED.split(' ').find(|n| *n == name) {
            Some(known) => set(a, known, value.into(), "")?,
            None => return Err(Error::usage(format!("unknown option '{name}'"))),
        },
    }
    Ok(())
}

/// `dashes`: how the option is shown in errors (`--memory` on the command
/// line, `memory` as a key of the init configuration).
fn set(a: &mut RunArgs, name: &'static str, value: OsString, dashes: &str) -> Result<()> {
    let shown = value.to_string_lossy().into_owned();
    let bad =
        |why: &str| Error::usage(format!("invalid value '{shown}' for {dashes}{name}: {why}"));
    match name {
        "rootfs" => a.rootfs = Some(value),
        "overlay-upper" => a.overlay_upper = Some(value),
        "entrypoint" => a.entrypoint = Some(shown.clone()),
        "security-opt" => {
            let bytes = value.as_encoded_bytes();
            if let Some(file) = bytes
                .strip_prefix(b"seccomp=")
                .or_else(|| bytes.strip_prefix(b"seccomp:"))
            {
                a.seccomp = match file {
                    b"unconfined" => Seccomp::Unconfined,
                    b"" => return Err(bad("expected seccomp=FILE or seccomp=unconfined")),
                    f => Seccomp::File(OsString::from(String::from_utf8_lossy(f).into_owned())),
                };
            } else if matches!(
                shown.as_str(),
                "label=disable" | "label:disable" | "apparmor=unconfined" | "apparmor:unconfined"
            ) {
                // cella sets no SELinux label and no AppArmor profile: the
                // container is already what these ask for.
            } else {
                a.no_new_privileges = match shown.as_str() {
                    "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {
                        true
                    }
                    "no-new-privileges=false" | "no-new-privileges:false" => false,
                    _ => {
                        return Err(bad(
                            "expected seccomp=FILE|unconfined, no-new-privileges[=true|false], label=disable or apparmor=unconfined",
                        ));
                    }
                };
            }
        }
        "env" => {
            env_entry(&value.to_string_lossy()).map_err(bad)?;
            a.env.push(value)
        }
        "env-file" => a.env_files.push(value),
        _ => {
            let v = value.to_str().ok_or_else(|| bad("not valid UTF-8"))?;
            match name {
                "name" => a.name = Some(valid_name(v).ok_or_else(|| bad(NAME_RULE))?),
                "hostname" => a.hostname = Some(valid_hostname(v).ok_or_else(|| bad(HOSTNAME_RULE))?),
                "pid" => {
                    a.pid_host = match v {
                        "host" => true,
                        "private" => false,
                        _ => return Err(bad("expected 'host' or 'private'")),
                    }
                }
                "net" | "network" => {
                    a.net = match v {
                        "host" => Net::Host,
                        "none" => Net::None,
                        "bridge" | "default" if cfg!(feature = "net") => Net::Bridge,
                        "bridge" | "default" => {
                            return Err(bad(
                                "this cella is built without networking (its 'net' feature): 'none' or 'host'",
                            ));
                        }
                        _ => return Err(bad("expected 'bridge', 'host' or 'none'")),
                    }
                }
                "ip" => a.ip = Some(v.parse().map_err(|_| bad("expected an IPv4 address"))?),
                "publish" => a.publish.push(crate::store::Port::parse(v).ok_or_else(|| {
                    bad("expected [HOST_IP:]HOST_PORT:PORT[/tcp|udp] (ports 1 to 65535, an IPv4 host address)")
                })?),
                "bridge" => {
                    let ok = !v.is_empty()
                        && v.len() < 16
                        && v.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
                        });
                    if !ok || v == "." || v == ".." {
                        return Err(bad("a link name: 1 to 15 letters, digits, '-', '_' or '.'"));
                    }
                    a.bridge = Some(v.to_owned())
                }
                "subnet" => {
                    a.subnet = Some(
                        v.split_once('/')
                            .and_then(|(n, l)| Some((n.parse().ok()?, l.parse().ok()?)))
                            .filter(|(_, l): &(std::net::Ipv4Addr, u8)| (8..=30).contains(l))
                            .ok_or_else(|| {
                                bad("expected an IPv4 network such as 10.88.0.0/16 (/8 to /30)")
                            })?,
                    )
                }
                "memory-swap" => {
                    a.memory_swap = Some(
                        docker::memory_swap(v)
                            .ok_or_else(|| bad("expected a size such as 1g, or -1 (unlimited)"))?,
                    )
                }
                "pids-limit" => {
                    // docker's: 0 or -1 is no limit.
                    a.pids = match v {
                        "0" | "-1" => None,
                        _ => Some(ranged(v, PIDS_MAX).ok_or_else(|| {
                            bad(&format!("expected -1 (unlimited) or 1 to {PIDS_MAX}"))
                        })?),
                    }
                }
                "cpu-shares" => {
                    a.cpu_shares = Some(
                        decimal(v)
                            .filter(|n| (2..=262_144).contains(n))
                            .ok_or_else(|| bad("expected a whole number from 2 to 262144"))?,
                    )
                }
                "cpuset-cpus" => {
                    a.cpuset_cpus = Some(
                        docker::cpu_list(v)
                            .ok_or_else(|| bad("expected CPU numbers and ranges such as 0-3,5"))?,
                    )
                }
                "stop-signal" => {
                    a.stop_signal = Some(
                        docker::signal(v)
                            .ok_or_else(|| bad("expected a signal such as SIGTERM or 15"))?,
                    )
                }
                "stop-timeout" => {
                    a.stop_timeout = Some(
                        decimal(v)
                            .filter(|n| *n <= 3600)
                            .ok_or_else(|| bad("expected whole seconds, 0 to 3600"))?,
                    )
                }
                "volume" => a.binds.push(docker::volume(v).map_err(bad)?),
                "mount" => match docker::mount(v).map_err(bad)? {
                    docker::Mount::Bind(b) => a.binds.push(b),
                    docker::Mount::Tmpfs(t) => a.tmpfs.push(t),
                },
                "memory" => {
                    a.memory = Some(size(v).ok_or_else(|| bad("expected a size such as 64m"))?)
                }
                "pids" => {
                    a.pids = Some(ranged(v, PIDS_MAX).ok_or_else(|| {
                        bad(&format!("expected a whole number from 1 to {PIDS_MAX}"))
                    })?)
                }
                "cpus" => {
                    a.cpu_quota =
                        Some(cpus(v).ok_or_else(|| bad("expected a CPU count such as 0.5"))?)
                }
                "cpu-weight" => {
                    a.cpu_weight = Some(
                        ranged(v, 10_000)
                            .ok_or_else(|| bad("expected a whole number from 1 to 10000"))?,
                    )
                }
                "io-weight" => {
                    a.io_weight = Some(
                        ranged(v, 10_000)
                            .ok_or_else(|| bad("expected a whole number from 1 to 10000"))?,
                    )
                }
                "workdir" => {
                    a.workdir = Some(absolute(v).ok_or_else(|| bad("must be an absolute path"))?)
                }
                "tmpfs" => a
                    .tmpfs
                    .push(docker::tmpfs(v).ok_or_else(|| bad(docker::TMPFS_RULE))?),
                "user" => {
                    if !user_names(v) {
                        return Err(bad("expected NAME|UID[:GROUP|GID]"));
                    }
                    a.user = Some(v.to_owned())
                }
                "dns" => a.resolution.dns.push(
                    v.parse()
                        .map_err(|_| bad("expected an IPv4 or IPv6 address"))?,
                ),
                "dns-search" | "dns-option" if !crate::net::files::is_word(v) => {
                    return Err(bad("expected one word"));
                }
                "dns-search" => a.resolution.search.push(v.to_owned()),
                "dns-option" => a.resolution.options.push(v.to_owned()),
                "add-host" => a.resolution.hosts.push(
                    crate::net::files::parse_add_host(v)
                        .ok_or_else(|| bad("expected NAME:ADDRESS (an IPv4 or IPv6 address, or host-gateway)"))?,
                ),
                "bind" => a.binds.push(bind(v).ok_or_else(|| bad(BIND_RULE))?),
                "device" => a.devices.push(device(v).ok_or_else(|| bad(DEVICE_RULE))?),
                "ulimit" => a.ulimits.push(ulimit(v).ok_or_else(|| bad(ULIMIT_RULE))?),
                "oom-score-adj" => {
                    a.oom_score_adj = Some(
                        v.parse::<i32>()
                            .ok()
                            .filter(|n| (-1000..=1000).contains(n))
                            .ok_or_else(|| bad("expected a whole number from -1000 to 1000"))?,
                    )
                }
                "cap-add" | "cap-drop" => {
                    if !v.eq_ignore_ascii_case("all") && crate::caps::bit(v).is_none() {
                        return Err(bad("not a capability name (such as NET_ADMIN or ALL)"));
                    }
                    let list = if name == "cap-add" {
                        &mut a.cap_add
                    } else {
                        &mut a.cap_drop
                    };
                    list.push(v.to_owned())
                }
                _ => return Err(Error::usage(format!("{dashes}{name}: not handled"))),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
