//! `exec`: a new process in a running container. It joins every namespace
//! the container does not share with us (the pid and time ones from here,
//! since they apply to children; the others in the child, mount last) and
//! the container's cgroup, and gets the container's seccomp profile; it is
//! not dumpable until its exec, so nothing in the container can ptrace it
//! or reach the host through it meanwhile.

use super::Output;
use super::config::{self, NS_FLAGS, Process};
use super::lifecycle::saved_config;
use super::plan;
use super::state::{State, Status};
use crate::attach::Attach;
use crate::child;
use crate::error::{Error, Result, Step};
use crate::sync::{self, Failure, Msg};
use crate::sys::{self, Fork, signal};
use linux_raw_sys::general as g;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::WaitOptions;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct ExecArgs {
    pub id: String,
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    /// `UID[:GID]` (runc's, for an OCI container), or names too (docker's,
    /// for a `cella run` container).
    pub user: Option<String>,
    /// `-i` (docker's): the caller's stdin reaches a `cella run`
    /// container's process (else `/dev/null`); runc's exec always passes it.
    pub interactive: bool,
    pub additional_gids: Vec<u32>,
    pub cap_add: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    /// `--ignore-paused`: exec into a paused container too (the process
    /// then waits, frozen, as runc's does).
    pub ignore_paused: bool,
    /// `--cgroup [CONTROLLERS:]PATH`: join this cgroup below the
    /// container's (for the controllers named, else every one).
    pub cgroup: Vec<(Option<String>, String)>,
}

/// The process to run: the `--process` file, or the container's own
/// process settings with the command line's overrides (as runc does).
fn process(a: &ExecArgs, cfg: &config::Config) -> Result<Process> {
    if let Some(file) = &a.process {
        let doc = config::read_json(file)?;
        let mut p = config::process(&doc, "process")?;
        if a.console_socket.is_some() {
            // containerd passes --console-socket without --tty.
            p.terminal = p.terminal || a.tty;
        }
        return Ok(p);
    }
    if a.args.is_empty() {
        return Err(Error::usage(
            "exec: no command given (--process FILE or arguments)",
        ));
    }
    let mut p = cfg.process.clone().unwrap_or_default();
    // (Said when the container was created.)
    p.ignored.clear();
    p.args = a.args.clone();
    p.terminal = a.tty;
    p.cwd = a.cwd.clone().unwrap_or_else(|| "/".into());
    p.env.extend(a.env.iter().cloned());
    if let Some(user) = &a.user {
        let (uid, gid) = crate::cli::user(user).ok_or_else(|| {
            Error::usage(format!(
                "--user: '{user}' is not UID[:GID] (names only for `cella run` containers)"
            ))
        })?;
        p.uid = uid;
        p.gid = gid.unwrap_or(0);
    }
    p.additional_gids.extend(&a.additional_gids);
    for c in &a.cap_add {
        let bit = crate::caps::bit(c)
            .ok_or_else(|| Error::usage(format!("--cap: unknown capability {c}")))?;
        p.caps.bounding |= bit;
        p.caps.effective |= bit;
        p.caps.permitted |= bit;
    }
    p.no_new_privileges |= a.no_new_privs;
    Ok(p)
}

/// `cella run`'s options of container `st`, with `a`'s command and its
/// `--env`, `--cwd` and `--user` in place of the container's.
#[cfg(feature = "manage")]
fn run_args(st: &State, a: &ExecArgs) -> Result<crate::cli::RunArgs> {
    if a.args.is_empty() {
        return Err(Error::usage("exec: no command given"));
    }
    if a.process.is_some() {
        return Err(Error::usage(format!(
            "exec --process: {} is a `cella run` container, configured by its options",
            st.id
        )));
    }
    let mut argv: Vec<std::ffi::OsString> = vec!["run".into()];
    argv.extend(st.options.iter().map(Into::into));
    argv.push("--".into());
    argv.extend(a.args.iter().map(Into::into));
    let crate::cli::Command::Run(mut r) = crate::cli::parse(argv)? else {
        return Err(Error::usage(format!(
            "exec: {}: its options were not recorded",
            st.id
        )));
    };
    r.env.extend(a.env.iter().map(Into::into));
    if let Some(cwd) = &a.cwd {
        r.workdir = Some(cwd.clone());
    }
    if let Some(user) = &a.user {
        r.user = Some(user.clone());
    }
    // The exec's process is not the container's init, nor detached; it
    // joins the container's network: nothing of one is made or leased.
    // Its HOSTNAME is the container's (the host's only if the container
    // is on the host's network).
    r.hostname
        .get_or_insert_with(|| crate::spec::default_hostname(&st.id, r.net));
    r.init = false;
    r.detach = false;
    r.net = crate::cli::Net::Host;
    r.publish.clear();
    (r.ip, r.bridge, r.subnet) = (None, None, None);
    r.name = Some(st.id.clone());
    // Its files as it sees them (an image under an overlay, its writes);
    // its root is not made again (nor an image mounted, nor an upper
    // layer's lock taken).
    r.inside_of = Some(st.pid as u32);
    (r.rootfs, r.overlay, r.overlay_upper) = (None, false, None);
    Ok(r)
}

#[cfg(feature = "manage")]
fn run_payload(st: &State, a: &ExecArgs) -> Result<crate::process::Payload> {
    let mut p = crate::spec::build(run_args(st, a)?)?.payload;
    // runc's exec flags on top.
    p.groups.extend(
        a.additional_gids
            .iter()
            .map(|g| rustix::process::Gid::from_raw(*g)),
    );
    p.no_new_privileges |= a.no_new_privs;
    p.terminal = a.tty;
    Ok(p)
}

/// Run the exec; returns the exit code to report (0 when detached), the
/// settings of `--process` ignored, as warnings, and for a `cella run`
/// container a command that could not run as docker's 126 or 127 with
/// its message.
pub fn exec(root: &Path, a: &ExecArgs) -> Result<Output> {
    let st = State::load(root, &a.id)?;
    let docker_style = st.kind == super::state::Kind::Run;
    match exec_in(root, a, st) {
        // docker's 127 (not found) or 126 (not executable) for a command
        // that cannot run in a `cella run` container; runc's callers get 125.
        Err(e) if docker_style && e.step == Step::Exec => Ok(Output {
            code: e.exit_code(),
            failure: Some(e),
            ..Output::ok(String::new())
        }),
        other => other,
    }
}

fn exec_in(root: &Path, a: &ExecArgs, st: State) -> Result<Output> {
    let status = st.status(root);
    let paused_ok = status == Status::Paused && a.ignore_paused;
    if status != Status::Running && status != Status::Created && !paused_ok {
        return Err(Error::usage(format!(
            "cannot exec in container {}: it is {}{}",
            a.id,
            status.name(),
            if status == Status::Paused {
                " (use --ignore-paused to override)"
            } else {
                ""
            }
        )));
    }
    // A `cella run` container has no OCI configuration: its process is
    // what its recorded options describe, with the exec's command.
    let docker_style = st.kind == super::state::Kind::Run;
    let (mut payload, rootfs, seccomp, ignored) = if docker_style {
        #[cfg(not(feature = "manage"))]
        return Err(Error::usage(format!(
            "exec: {} is a `cella run` container: exec into one needs the manage feature",
            a.id
        )));
        #[cfg(feature = "manage")]
        (run_payload(&st, a)?, st.rootfs.clone(), None, Vec::new())
    } else {
        let cfg = saved_config(root, &st)?;
        let mut process = process(a, &cfg)?;
        // The container's passwd as it sees it (a bind over it included).
        let root = PathBuf::from(format!("/proc/{}/root", st.pid));
        let view = crate::input::RootView::dir(&root);
        crate::users::with_home(&mut process.env, &view, process.uid);
        let payload = plan::payload(&process, cfg.linux.seccomp.as_ref(), "process")?;
        (payload, cfg.root, cfg.linux.seccomp, process.ignored)
    };
    let warnings = ignored.into_iter().map(Error::usage).collect();
    // Namespaces to join: every one that differs from ours.
    let mut joins: Vec<(OwnedFd, u32)> = Vec::new();
    for flag in NS_FLAGS {
        let name = config::ns_file(flag);
        let theirs = format!("/proc/{}/ns/{name}", st.pid);
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(t), Ok(o)) = (std::fs::read_link(&theirs), std::fs::read_link(&ours)) else {
            continue;
        };
        if t == o {
            continue;
        }
        let fd = rustix::fs::open(
            theirs.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::new(Step::JoinNamespace, e).at(theirs.clone()))?;
        joins.push((fd, flag));
    }
    // The pid namespace (and time) apply to our children: enter them here.
    let (for_children, for_child): (Vec<_>, Vec<_>) = joins
        .into_iter()
        .partition(|(_, f)| *f == g::CLONE_NEWPID || *f == g::CLONE_NEWTIME);
    for (fd, flag) in &for_children {
        child::join_namespace(fd.as_fd(), *flag)
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(config::ns_file(*flag)))?;
    }
    let cgroup_fds = st.cgroup.below(&a.cgroup)?.join_files()?;
    // Its stdio: docker's into a `cella run` container (nothing of the
    // caller's terminal; detached, nothing at all), runc's otherwise.
    let mut attach = if docker_style && a.console_socket.is_none() && !a.detach {
        let attach = Attach::prepare(payload.terminal, a.interactive)?;
        payload.console_size = attach.console_size();
        attach
    } else if docker_style && a.console_socket.is_none() && !payload.terminal {
        Attach::detached()?
    } else {
        Attach::passing(crate::console::sockets(
            payload.terminal,
            a.console_socket.as_deref(),
            !a.detach,
            "exec's process",
        )?)
    };
    let (rx, tx) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::new(Step::SyncPipe, e))?;
    // Signals to forward when we wait (not detached), blocked before the fork.
    let forwarded = crate::process::WAITED;
    let old_mask = if a.detach {
        None
    } else {
        Some(signal::block(forwarded).map_err(|e| Error::new(Step::SignalMask, e))?)
    };
    let pid = match sys::fork().map_err(|e| Error::new(Step::Clone, e))? {
        Fork::Child { .. } => {
            sys::mark_child();
            drop(rx);
            let f = exec_child(
                &for_child,
                &cgroup_fds,
                &payload,
                &attach,
                &tx,
                a.preserve_fds,
                old_mask,
            );
            sync::send(&tx, f);
            sys::exit_group(125)
        }
        Fork::Parent { child, .. } => child,
    };
    drop(tx);
    let give_up = |e: Error| {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        e
    };
    //  Until it has exec'd (end-of-file): a failure, or its seccomp
    //  listener for the agent, with the container's state as runc sends it.
    loop {
        match sync::receive_msg(&rx) {
            Ok(None) => break,
            Ok(Some(Msg::Listener(fd))) => {
                let state = super::state::to_json(&st, status);
                let pid = pid.as_raw_nonzero().get();
                super::agent::hand_over(seccomp.as_ref(), fd, &state, pid).map_err(give_up)?;
            }
            Ok(Some(Msg::Failed(f))) => {
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
                return Err(crate::engine::describe(f, &payload, &[], &rootfs, None));
            }
            Ok(Some(_)) => return Err(give_up(Error::new(Step::SyncPipe, Errno::PROTO))),
            Err(e) => return Err(give_up(Error::new(Step::SyncPipe, e))),
        }
    }
    attach.started().map_err(give_up)?;
    if let Some(file) = &a.pid_file {
        super::create::write_atomic(file, pid.as_raw_nonzero().get().to_string().as_bytes())?;
    }
    if a.detach {
        return Ok(Output::warned(warnings));
    }
    // Wait, relaying, forwarding signals, like `cella run`.
    let status = attach.relay(|r| crate::process::wait_forwarding(pid, r))?;
    Ok(Output {
        code: crate::process::exit_code(status),
        ..Output::warned(warnings)
    })
}

fn exec_child(
    joins: &[(OwnedFd, u32)],
    cgroup: &[OwnedFd],
    payload: &crate::process::Payload,
    attach: &Attach,
    tx: &OwnedFd,
    preserve: u32,
    old_mask: Option<signal::SigSet>,
) -> Failure {
    let run = || -> std::result::Result<(), Failure> {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .map_err(child::fail(Step::Clone))?;
        // The cgroup first, from the host's view of the files we opened.
        for fd in cgroup {
            rustix::io::write(fd, b"0").map_err(child::fail(Step::CgroupJoin))?;
        }
        for (fd, flag) in joins {
            child::join_namespace(fd.as_fd(), *flag).map_err(child::fail(Step::JoinNamespace))?;
        }
        child::limits(payload)?;
        let console = attach.console.as_ref().map(|c| crate::console::Console {
            socket: c.as_fd(),
            dev_console: false,
        });
        child::become_payload(payload, console, false, tx.as_fd())?;
        child::redirect(attach.stdio()).map_err(child::fail(Step::CloseFds))?;
        let mut keep = [tx.as_raw_fd()];
        crate::heapsort::sort(&mut keep);
        child::close_fds(preserve, &keep).map_err(child::fail(Step::CloseFds))?;
        child::enter_cwd(payload)?;
        if let Some(mask) = old_mask {
            signal::set_mask(mask).map_err(child::fail(Step::SignalMask))?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => child::finish(payload, payload.seccomp.as_ref(), Some(tx.as_fd())),
        Err(f) => f,
    }
}
