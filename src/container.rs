//! `cella run`, top to bottom: the parent's steps, the child's steps, and
//! the wait. Each side is one straight list that reads like the README's
//! numbered setup sequence; each step is one call with its reason.

use crate::cgroup::{self, Owned};
use crate::child;
use crate::cli::Net;
use crate::error::{Ctx, Error, Result, Step};
use crate::mount::{self, MountOp};
use crate::process;
use crate::spec::Spec;
use crate::store;
use crate::sync::{self, Failure};
use crate::sys::{self, Fork, signal, signal::SigSet};
use linux_raw_sys::general::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};
use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use std::path::{Path, PathBuf};

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

pub use crate::child::Stdio;

/// A container whose payload has been exec'd: its PID 1 (a child of this
/// process) and its cgroup, removed by [`Running::finish`] (or on drop).
pub struct Running {
    pub pid: Pid,
    cgroup: Owned,
    /// Its record in the state store, removed with it (or kept, with how
    /// it ended: `cella run -d` without `--rm`).
    record: store::Held,
    keep_record: bool,
    memory_limited: bool,
}

impl Running {
    /// Its directory in the state store.
    pub fn record_dir(&self) -> std::path::PathBuf {
        self.record.dir()
    }

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
        if self.keep_record {
            self.record.exited(i32::from(code));
        } else {
            self.record.remove();
        }
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
    //    The record in the state store: taking the name there (after
    //    removing what killed cellas left) makes the container visible to
    //    `cella list`, `state`, `kill`, `ps`, `pause` and `resume` by name.
    let store_root = store::default_root();
    store::sweep(&store_root);
    let mut entry = store::Record {
        id: spec.name.clone(),
        kind: store::Kind::Run,
        pid: 0,
        pid_start: 0,
        bundle: PathBuf::new(),
        rootfs: spec.root.source.clone(),
        created: store::now_rfc3339(),
        annotations: Vec::new(),
        cgroup: cgroup::Cgroup::default(),
        own_pid_ns: !spec.pid_host,
        keep: spec.detach && !spec.remove,
        exit_code: None,
        finished: String::new(),
        command: spec
            .payload
            .exec
            .argv
            .strings()
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        options: spec.options.clone(),
    };
    let record = store::Held::take(&store_root, &spec.name, &entry)?;
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
        Owned::create(root, &spec.name, &writes, &spec.device_rules)
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
    // 3. The channel to the child: its failure records one way; when
    //    rootless, "maps written" the other.
    let (ours, theirs) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .ctx(Step::SyncPipe)?;
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
            drop(ours);
            // 5.-15. in `child`: the one sequence every container follows.
            child::run(child::Plan {
                sync: theirs,
                waited: FORWARDED.with(Signal::CHILD),
                exec_mask: child_mask,
                wait_for_maps: spec.rootless.is_some(),
                setgroups_may_be_denied: spec.rootless.is_some(),
                parent: Some(me.as_fd()),
                joins: &[],
                hostname: Some(spec.hostname.as_bytes()),
                domainname: None,
                new_netns: spec.net == Net::None,
                root: &root_source,
                host_root: spec.root.is_host,
                root_readonly: spec.root.read_only,
                rootfs_propagation: None,
                ops: &ops,
                hooks: false,
                cgroup_join: if into_cgroup { &[] } else { cgroup.join_fds() },
                cgroup_ns: true,
                payload: &spec.payload,
                console: None,
                stdio,
                preserve: 0,
                hold: None,
                title: title
                    .as_ref()
                    .and_then(|(a, t)| Some((a.as_ref().copied()?, t.as_slice()))),
            })
        }
        Fork::Parent { child, .. } => child,
    };
    drop(theirs);
    drop(me);
    entry.pid = child.as_raw_nonzero().get();
    entry.pid_start = store::start_time(entry.pid).unwrap_or(0);
    entry.cgroup = cgroup.cgroup.clone();
    let recorded = record.save(&entry);
    if let Err(e) = recorded {
        let _ = rustix::process::kill_process(child, Signal::KILL);
        let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
        return Err(e);
    }
    //    Rootless: map the caller to root in the child's user namespace,
    //    then let it go on.
    if let Some(maps) = &spec.rootless {
        if let Err(e) = maps.apply(child) {
            let _ = rustix::process::kill_process(child, Signal::KILL);
            let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
            return Err(e);
        }
        let _ = rustix::io::write(&ours, &[0]);
    }
    // 16. Wait for the child's verdict: end-of-file means exec happened.
    let verdict = sync::receive(&ours);
    drop(ours);
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
        record,
        keep_record: spec.detach && !spec.remove,
        memory_limited: spec.limits.memory.is_some(),
    })
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
