//! `cella run`, top to bottom: the parent's steps, the child's steps, and
//! the wait. Each side is one straight list that reads like the README's
//! numbered setup sequence; each step is one call with its reason.

use crate::cgroup::{self, Owned};
use crate::cli::Net;
use crate::error::{Ctx, Error, Result, Step};
use crate::mount::{self, MountOp};
use crate::privileges;
use crate::process;
use crate::spec::Spec;
use crate::sync::{self, Failure};
use crate::sys::{self, Fork, signal, signal::SigSet};
use linux_raw_sys::general::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use std::ffi::CString;
use std::path::Path;

/// Signals sent to cella that reach the payload.
pub const FORWARDED: SigSet = SigSet::empty()
    .with(Signal::INT)
    .with(Signal::TERM)
    .with(Signal::HUP)
    .with(Signal::QUIT)
    .with(Signal::USR1)
    .with(Signal::USR2)
    .with(Signal::WINCH);

/// How the container ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status to return: the payload's, or 128+signal.
    pub code: u8,
    /// The kernel's OOM killer fired in the container's memory cgroup.
    pub oom_killed: bool,
    /// Cleanup that failed after the payload ended (reported, not fatal).
    pub cleanup: Option<Error>,
}

/// Where the payload's standard streams go; `None` passes cella's own
/// through untouched.
#[derive(Clone, Copy, Default)]
pub struct Stdio<'a> {
    pub stdin: Option<BorrowedFd<'a>>,
    pub stdout: Option<BorrowedFd<'a>>,
    pub stderr: Option<BorrowedFd<'a>>,
}

/// A container whose payload has been exec'd: its PID 1 (a child of this
/// process) and its cgroup, removed by [`Running::finish`] (or on drop).
pub struct Running {
    pub pid: Pid,
    cgroup: Owned,
    memory_limited: bool,
}

impl Running {
    /// An abandoned cgroup of the same name (a killed cella's) was taken over.
    pub fn reclaimed(&self) -> bool {
        self.cgroup.reclaimed
    }

    /// After PID 1 was reaped with `status`: report an OOM kill, kill what
    /// is left in the cgroup and remove it (step 18).
    pub fn finish(self, status: WaitStatus) -> Outcome {
        let code = process::exit_code(status);
        let oom_killed = self.memory_limited && code == 137 && self.cgroup.cgroup.oom_killed();
        let cleanup = self.cgroup.remove().err();
        Outcome {
            code,
            oom_killed,
            cleanup,
        }
    }

    /// 17. Forward signals until the container's PID 1 exits, then finish.
    pub fn wait(self) -> Result<Outcome> {
        let waited = FORWARDED.with(Signal::CHILD);
        let child = self.pid;
        let status = loop {
            let sig = match signal::wait(waited) {
                Ok(sig) => sig,
                Err(e) => {
                    let _ = rustix::process::kill_process(child, Signal::KILL);
                    let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
                    return Err(Error::new(Step::Wait, e));
                }
            };
            if sig == Signal::CHILD.as_raw() {
                match rustix::process::waitpid(Some(child), WaitOptions::NOHANG) {
                    Ok(Some((_, status))) => break status,
                    Ok(None) | Err(Errno::INTR) => continue,
                    Err(e) => return Err(Error::new(Step::Wait, e)),
                }
            } else if let Some(s) = Signal::from_named_raw(sig) {
                // The child is unreaped, so its pid cannot have been reused.
                let _ = rustix::process::kill_process(child, s);
            }
        };
        Ok(self.finish(status))
    }
}

/// Start the container described by `spec` for `cella run`: with cella's
/// own stdio, forwarding signals; [`Running::wait`] waits for it.
pub fn run(spec: &Spec) -> Result<Running> {
    // 1. Block the forwarded signals and SIGCHLD before the child exists, so
    //    none is lost; the parent takes them one at a time, the child
    //    restores the old mask just before exec.
    let old_mask = signal::block(FORWARDED.with(Signal::CHILD)).ctx(Step::SignalMask)?;
    start(spec, Stdio::default(), old_mask)
}

/// Steps 2-16: create the container and exec its payload, returning once
/// the exec happened (or with the failed step, leaving nothing behind).
/// `child_mask` is the signal mask the payload gets.
pub fn start(spec: &Spec, stdio: Stdio<'_>, child_mask: SigSet) -> Result<Running> {
    // 2. Create the cgroup and write every limit before the payload exists
    //    (rootless: none; `main` said so if limits were asked).
    //    With the device rules (docker's unless --privileged): no container
    //    runs without them.
    let cgroup = if spec.rootless.is_some() {
        Owned::none()
    } else {
        let root = Path::new(cgroup::ROOT);
        let layout = cgroup::detect(root).unwrap_or(cgroup::Layout::V1);
        let writes = cgroup::limits::plan(layout, &spec.limits);
        Owned::create(root, &spec.name, &writes, &spec.device_rules, spec.pid_host)
            .map_err(|e| no_device_rules_hint(e, spec))?
    };
    // Everything the child needs is built now: it must not allocate.
    let ops = mount::plan(spec, &cgroup.cgroup);
    let root_source = mount::root_source(spec);
    //    With --init, PID 1 stays cella's code: it will show this title,
    //    not our command line.
    let title = spec
        .payload
        .exec
        .init
        .then(|| (sys::proctitle::ArgArea::of_self(), init_title(spec)));
    //    Our pidfd: the child checks that we are still alive once it has
    //    asked to die with us (its PID 1 has no parent it could ask).
    let me = rustix::process::pidfd_open(
        rustix::process::getpid(),
        rustix::process::PidfdFlags::empty(),
    )
    .ctx(Step::Clone)?;
    // 3. The child's failure channel, and when rootless the parent's "maps
    //    written" signal the other way.
    let (rx, tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(Step::SyncPipe)?;
    let go = match spec.rootless {
        Some(_) => {
            Some(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(Step::SyncPipe)?)
        }
        None => None,
    };
    // 4. Fork straight into the new namespaces (and, on v2, the cgroup). The
    //    cgroup namespace comes later, from inside the cgroup.
    let mut flags = CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWIPC;
    if !spec.pid_host {
        flags |= CLONE_NEWPID;
    }
    if spec.net == Net::None {
        flags |= CLONE_NEWNET;
    }
    if spec.rootless.is_some() {
        flags |= linux_raw_sys::general::CLONE_NEWUSER;
    }
    let child = match sys::fork_into(u64::from(flags), cgroup.clone_target()).ctx(Step::Clone)? {
        Fork::Child { into_cgroup } => {
            sys::mark_child();
            drop(rx);
            let (go_rx, go_tx) = match go {
                Some((r, w)) => (Some(r), Some(w)),
                None => (None, None),
            };
            drop(go_tx);
            let ctx = ChildContext {
                spec,
                ops: &ops,
                root_source: &root_source,
                cgroup: &cgroup,
                into_cgroup,
                maps_written: go_rx,
                parent: me.as_fd(),
                title: title
                    .as_ref()
                    .and_then(|(a, t)| Some((a.as_ref().copied()?, t.as_slice()))),
            };
            child(ctx, stdio, child_mask, tx);
            // Only reached when a step failed and was reported: never return
            // into the parent's code (and never drop the parent's cgroup).
            sys::exit_group(125)
        }
        Fork::Parent { child, .. } => child,
    };
    drop(tx);
    drop(me);
    //    Rootless: map the caller to root in the child's user namespace,
    //    then let it go on.
    if let (Some(maps), Some((go_rx, go_tx))) = (&spec.rootless, go) {
        drop(go_rx);
        if let Err(e) = maps.apply(child) {
            let _ = rustix::process::kill_process(child, Signal::KILL);
            let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
            return Err(e);
        }
        let _ = rustix::io::write(&go_tx, &[0]);
    }
    // 16. Wait for the child's verdict: end-of-file means exec happened.
    let verdict = sync::receive(&rx);
    drop(rx);
    let failure = match verdict {
        Ok(None) => None,
        Ok(Some(f)) => Some(describe(spec, &ops, f)),
        Err(e) => Some(Error::new(Step::SyncPipe, e)),
    };
    if let Some(error) = failure {
        // Nothing may be left behind: the child is reaped (its namespaces and
        // mounts die with it) and dropping the cgroup removes it.
        let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
        drop(cgroup);
        return Err(error);
    }
    Ok(Running {
        pid: child,
        cgroup,
        memory_limited: spec.limits.memory.is_some(),
    })
}

/// What the child's setup reads, all prepared before the clone.
struct ChildContext<'a> {
    spec: &'a Spec,
    ops: &'a [MountOp],
    root_source: &'a CString,
    cgroup: &'a Owned,
    into_cgroup: bool,
    /// Rootless: readable once the parent wrote the id maps.
    maps_written: Option<OwnedFd>,
    /// The parent's pidfd: readable once the parent has exited.
    parent: BorrowedFd<'a>,
    /// `--init`: our argument area and what to show there.
    title: Option<(sys::proctitle::ArgArea, &'a [u8])>,
}

/// The child: PID 1 of the new namespaces. Runs each step in order and
/// either execs the payload or reports the failed step and returns.
fn child(ctx: ChildContext<'_>, stdio: Stdio<'_>, child_mask: SigSet, tx: OwnedFd) {
    // The signals an --init PID 1 takes; blocked here whatever the caller
    // had blocked, and restored to `child_mask` for the payload.
    let waited = FORWARDED.with(Signal::CHILD);
    if let Err(e) = signal::block(waited) {
        return sync::send(&tx, fail(Step::SignalMask)(e));
    }
    if let Some(go) = &ctx.maps_written
        && let Err(f) = become_namespace_root(go)
    {
        return sync::send(&tx, f);
    }
    if let Err(f) = setup(&ctx) {
        return sync::send(&tx, f);
    }
    // 14. A new session: the payload has no controlling terminal, so it
    //     cannot push keystrokes into the caller's (TIOCSTI, CVE-2017-5226).
    //     The requested stdio on 0-2; then only those and the failure pipe
    //     may remain (the pipe is close-on-exec); then the working
    //     directory, when no descriptor of the host is left to reach
    //     through `/proc/self/fd` (CVE-2024-21626).
    if let Err(e) = rustix::process::setsid() {
        return sync::send(&tx, fail(Step::Session)(e));
    }
    if let Err(e) = redirect(stdio).and_then(|()| sys::close_fds_except(&tx)) {
        return sync::send(&tx, fail(Step::CloseFds)(e));
    }
    let p = &ctx.spec.payload;
    if let Some(dir) = &p.exec.workdir
        && let Err(e) = rustix::process::chdir(dir.as_c_str())
    {
        return sync::send(&tx, fail(Step::Workdir)(e));
    }
    let payload = move || {
        // 15. Restore the caller's signal mask and default SIGPIPE (Rust
        //     ignores it, and "ignored" survives exec), then exec, searching
        //     the container's PATH.
        if let Err(e) =
            signal::set_mask(child_mask).and_then(|()| signal::set_default(Signal::PIPE))
        {
            return (Step::SignalMask, e);
        }
        if let Err(f) = privileges::lock_down(p.no_new_privileges, p.seccomp.as_deref()) {
            return (f.step, Errno::from_raw_os_error(f.errno));
        }
        (Step::Exec, process::exec(&p.exec))
    };
    if p.exec.init {
        //     With --init, PID 1 stays ours: it forks the payload and
        //     supervises, showing only a fixed name and the command.
        if let Some((area, title)) = ctx.title {
            area.set(title);
        }
        crate::init::run(tx, waited, payload);
    }
    let (step, errno) = payload();
    sync::send(
        &tx,
        Failure {
            step,
            errno: errno.raw_os_error(),
            index: 0,
        },
    );
}

/// What an `--init` PID 1 shows as its command line: `cella-init -- ` and
/// the payload's arguments, never cella's own (host paths, `-e` values).
fn init_title(spec: &Spec) -> Vec<u8> {
    let mut t = b"cella-init --".to_vec();
    for arg in spec.payload.exec.argv.strings() {
        t.push(b' ');
        t.extend_from_slice(arg.as_bytes());
    }
    t
}

/// `dup2` the requested descriptors onto 0, 1 and 2.
fn redirect(stdio: Stdio<'_>) -> rustix::io::Result<()> {
    if let Some(fd) = stdio.stdin {
        rustix::stdio::dup2_stdin(fd)?;
    }
    if let Some(fd) = stdio.stdout {
        rustix::stdio::dup2_stdout(fd)?;
    }
    if let Some(fd) = stdio.stderr {
        rustix::stdio::dup2_stderr(fd)?;
    }
    Ok(())
}

fn fail(step: Step) -> impl Fn(Errno) -> Failure {
    move |e| Failure {
        step,
        errno: e.raw_os_error(),
        index: 0,
    }
}

/// Rootless: wait until the parent mapped us, then become the user
/// namespace's root (until then we are its overflow id).
fn become_namespace_root(go: &OwnedFd) -> std::result::Result<(), Failure> {
    let mut b = [0u8; 1];
    match rustix::io::read(go, &mut b) {
        Ok(1) => {}
        Ok(_) => return Err(fail(Step::UserNamespace)(Errno::PIPE)),
        Err(e) => return Err(fail(Step::UserNamespace)(e)),
    }
    let (uid, gid) = (rustix::process::Uid::ROOT, rustix::process::Gid::ROOT);
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(fail(Step::UserNamespace))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(fail(Step::UserNamespace))
}

/// Step 5, and again after the user switch (a change of credentials clears
/// it): die with cella. Asking is not enough: cella may have died before
/// we asked, and as PID 1 we have no parent to look at, so its pidfd says.
fn die_with_parent(parent: BorrowedFd<'_>) -> std::result::Result<(), Failure> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(fail(Step::Clone))?;
    let mut fds = [rustix::event::PollFd::new(
        &parent,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match rustix::event::poll(&mut fds, Some(&zero)) {
        Ok(0) => Ok(()),
        // Gone already: nobody would supervise us, or remove our cgroup.
        Ok(_) => sys::exit_group(125),
        Err(e) => Err(fail(Step::Clone)(e)),
    }
}

/// Steps 5-13: the child's setup, up to (not including) exec.
fn setup(ctx: &ChildContext<'_>) -> std::result::Result<(), Failure> {
    use rustix::mount::{MountPropagationFlags, mount_change};
    let (spec, ops, root_source) = (ctx.spec, ctx.ops, ctx.root_source);
    // 5. Die with cella: if the runtime is killed, the container goes too.
    die_with_parent(ctx.parent)?;
    //    Not dumpable while cella's code runs inside: the container's root
    //    cannot ptrace us or open our /proc/PID/exe (the host binary) or fds.
    //    execve makes the payload dumpable again; an --init PID 1 stays not.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(fail(Step::Clone))?;
    // 6. Our own hostname, in our own UTS namespace.
    rustix::system::sethostname(spec.hostname.as_bytes()).map_err(fail(Step::SetHostname))?;
    // 7. Make every mount private before mounting anything, so no mount of
    //    ours propagates to the host (and none of the host's reaches us).
    mount_change(
        c"/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(fail(Step::MakeRootPrivate))?;
    // 8. A new network namespace starts with lo down.
    if spec.net == Net::None {
        sys::loopback_up().map_err(fail(Step::LoopbackUp))?;
    }
    // 9. The new root: the rootfs (or the host's / read-only) cloned as a
    //    mount tree, attached over itself and entered.
    let tree = mount::enter_root(spec, root_source).map_err(from_error)?;
    // 10. /proc, /sys, /dev and its nodes, tmpfs and binds inside it, each
    //     target resolved inside the new root and mounted by fd.
    mount::apply(tree.as_fd(), ops).map_err(|(i, e)| Failure {
        index: i as u16,
        ..from_error(e)
    })?;
    // 11. pivot_root into it and detach the old root (read-only first if asked).
    mount::switch_root(
        tree.as_fd(),
        spec.root.read_only && !spec.root.is_host,
        spec.root.is_host,
    )
    .map_err(from_error)?;
    drop(tree);
    // 12. Join the cgroup as late as possible (what the runtime did so far
    //     is not charged to the container), then take a cgroup namespace
    //     rooted there, so the container sees its cgroup as `/`.
    if !ctx.into_cgroup {
        ctx.cgroup.join().map_err(fail(Step::CgroupJoin))?;
    }
    sys::unshare_cgroup_ns().map_err(fail(Step::CgroupNamespace))?;
    // 13. Drop to the requested user (last, since everything before needs
    //     root); the working directory is entered later, as that user.
    //     Resource limits and the OOM score while still privileged, then
    //     the user with exactly its capability sets.
    let p = &spec.payload;
    privileges::set_limits(&p.rlimits, p.oom_score_adj.as_deref())?;
    privileges::drop_to(&p.privileges(spec.rootless.is_some()))?;
    die_with_parent(ctx.parent)
}

/// Without the device cgroup (v1) or cgroup BPF (v2) cella runs nothing
/// but a `--privileged` container: say so where the cause is missing rules.
fn no_device_rules_hint(e: Error, spec: &Spec) -> Error {
    let about_devices = e.what.as_deref().is_some_and(|w| {
        w.starts_with("device rules")
            || (w.ends_with("no cgroup file system mounted") && !spec.device_rules.is_empty())
    });
    if !about_devices {
        return e;
    }
    let what = format!(
        "{} (cella runs no container without device rules; --privileged gives every device)",
        e.what.as_deref().unwrap_or("device rules")
    );
    e.at(what)
}

fn from_error(e: Error) -> Failure {
    Failure {
        step: e.step,
        errno: e.errno.map_or(0, |e| e.raw_os_error()),
        index: 0,
    }
}

/// Turn the child's record into a full error, naming the path or value the
/// step was working on (the child cannot format strings).
fn describe(spec: &Spec, ops: &[MountOp], f: Failure) -> Error {
    let errno = Errno::from_raw_os_error(f.errno);
    let mut error = if f.errno == 0 {
        Error::invalid(f.step, "")
    } else {
        Error::new(f.step, errno)
    };
    let op_target = ops
        .get(usize::from(f.index))
        .map(|op| format!("/{}", op.target));
    let what: Option<String> = match f.step {
        Step::SetHostname => Some(spec.hostname.clone()),
        Step::CloneRoot
        | Step::AttachRoot
        | Step::EnterRoot
        | Step::PivotRoot
        | Step::DetachOldRoot
        | Step::Chroot
        | Step::ReadOnlyRoot => Some(spec.root.source.display().to_string()),
        Step::MakeMountpoint
        | Step::MountProc
        | Step::MountSys
        | Step::MountDev
        | Step::MakeDevice
        | Step::MountDevPts
        | Step::MountShm
        | Step::MountMqueue
        | Step::MountTmpfs => op_target,
        Step::BindMount => ops.get(usize::from(f.index)).map(|op| match &op.kind {
            mount::Kind::Bind { source, .. } => {
                format!("{} on /{}", source.to_string_lossy(), op.target)
            }
            _ => format!("/{}", op.target),
        }),
        Step::Workdir => spec
            .payload
            .exec
            .workdir
            .as_ref()
            .map(|w| w.to_string_lossy().into_owned()),
        Step::Exec => spec
            .payload
            .exec
            .argv
            .strings()
            .first()
            .map(|a| a.to_string_lossy().into_owned()),
        Step::SetUser => Some(format!("{}:{}", spec.payload.uid, spec.payload.gid)),
        _ => None,
    };
    error.what = what.map(Into::into);
    error
}
