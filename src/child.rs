//! The forked side of every container, `cella run`, `cella init` and OCI
//! `create` alike: one sequence, top to bottom. Everything it reads was
//! built before the fork ([`Plan`]); it allocates nothing, talks to the
//! parent only through the sync socket (fixed 8-byte records), and ends in
//! `execve` or `exit_group`.
//!
//! The sequence, numbered as in docs/design.md (steps 5 to 15; the
//! parent's are the others):
//!  5. block the signals an `--init` PID 1 waits on; user namespace: wait
//!     for the id maps, become its root; not dumpable; `cella run`: die
//!     with cella (and check it is still alive)
//!  6. join the namespaces given by path (a mount namespace's root and
//!     working directory become ours); hostname and domainname
//!  7. make every mount private (a slave of the host's where OCI mounts ask
//!     to follow it); bring lo up in a new network namespace
//!  8. clone the root (or make it: an overlay over an image file or a
//!     directory), apply the mount plan (mounts, devices, sysctls,
//!     read-only and masked paths, the cgroup view); OCI: the
//!     createRuntime/createContainer hooks (run by the parent)
//!  9. pivot_root (chroot where impossible); the root's propagation
//! 10. join the cgroup; a cgroup namespace
//! 11. rlimits and oom_score_adj, while still privileged
//! 12. the console, or a new session; exec confined to the root
//!     (Landlock); the user, groups, capabilities, umask; die with cella
//!     again
//! 13. stdio; close every fd but stdio, preserved ones and ours; the
//!     working directory (no host fd is left to reach through it)
//! 14. OCI create: the command checked to exist; ready; wait to be
//!     recorded, then for `start`
//! 15. the caller's signal mask, SIGPIPE's default, no_new_privs and
//!     seccomp last, exec (`--init`: fork it and stay as PID 1)

use crate::error::Step;
use crate::mount::{self, MountOp};
use crate::process::{self, Payload};
use crate::sync::{self, Failure, Msg};
use crate::sys::{self, proctitle::ArgArea, signal, signal::SigSet};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::Signal;
use std::ffi::CString;

/// Where the payload's standard streams go; `None` passes cella's own
/// through untouched.
#[derive(Clone, Copy, Default)]
pub struct Stdio<'a> {
    pub stdin: Option<BorrowedFd<'a>>,
    pub stdout: Option<BorrowedFd<'a>>,
    pub stderr: Option<BorrowedFd<'a>>,
}

/// What the child does, prepared before the clone.
pub struct Plan<'a> {
    /// The channel to the parent (close-on-exec: end-of-file there means
    /// the exec happened).
    pub sync: OwnedFd,
    /// Blocked while cella's code runs (an `--init` PID 1 waits on them).
    pub waited: SigSet,
    /// The signal mask the payload gets: the caller's.
    pub exec_mask: SigSet,
    /// A user namespace: the parent writes the maps, then a byte.
    pub wait_for_maps: bool,
    /// Wait for the parent's word that `eth0` is attached (`--net bridge`)
    /// before the payload.
    pub wait_for_network: bool,
    /// Rootless without newgidmap: setgroups is denied.
    pub setgroups_may_be_denied: bool,
    /// `cella run`: the parent's pidfd; the container dies with it.
    pub parent: Option<BorrowedFd<'a>>,
    /// (namespace fd, CLONE_NEW* type) to setns, in order.
    pub joins: &'a [(OwnedFd, u32)],
    pub hostname: Option<&'a [u8]>,
    pub domainname: Option<&'a [u8]>,
    pub new_netns: bool,
    pub root: &'a CString,
    /// The root is the host's own `/` (`cella run` without `--rootfs`):
    /// cloned read-only, already over `/`.
    pub host_root: bool,
    pub root_readonly: bool,
    /// `MS_*` propagation for the container's mounts after pivot_root.
    pub rootfs_propagation: Option<u32>,
    /// An image file or `--overlay`: an overlay made of these is the root.
    #[cfg(feature = "image")]
    pub layers: Option<mount::layers::LayerPlan<'a>>,
    pub ops: &'a [MountOp],
    /// A mount namespace of the container's, new or joined by path (else 6,
    /// 7 and 9 are skipped: it has the runtime's mounts and root).
    pub mount_ns: bool,
    /// Bind sources cloned before the fork (a user namespace), by op index.
    pub bind_sources: &'a [(usize, OwnedFd)],
    /// Ask the parent to run the hooks once the namespaces exist.
    pub hooks: bool,
    /// The cgroup's membership files (empty: born in it, or none).
    pub cgroup_join: &'a [OwnedFd],
    pub cgroup_ns: bool,
    pub payload: &'a Payload,
    /// `--console-socket`: the pty master goes there.
    pub console: Option<OwnedFd>,
    pub stdio: Stdio<'a>,
    /// Keep fds 3..3+preserve open for the payload.
    pub preserve: u32,
    /// OCI create: hold until `start` writes a byte to this fifo.
    pub hold: Option<OwnedFd>,
    /// `--init`: our argument area and what to show there.
    pub title: Option<(ArgArea, &'a [u8])>,
}

pub fn fail(step: Step) -> impl Fn(Errno) -> Failure {
    move |e| Failure {
        step,
        errno: e.raw_os_error(),
        index: 0,
    }
}

/// Run the child; never returns.
pub fn run(plan: Plan<'_>) -> ! {
    if let Err(f) = setup(&plan) {
        sync::send(&plan.sync, f);
        sys::exit_group(125)
    }
    let Plan {
        sync,
        hold,
        payload,
        waited,
        exec_mask,
        title,
        ..
    } = plan;
    // 14. Held for `start`: once the parent has recorded us (if it was
    //     killed first, no `delete` would ever find us, so we go), only the
    //     fifo is ours. A failure from here on can only go to stderr.
    //     A filter with a listener goes in before we say ready (with
    //     no_new_privs; without, it is in already): `create` ends there,
    //     and its listener must reach the seccomp agent first.
    let mut filter = payload.seccomp.as_ref();
    let sync = match hold {
        Some(fifo) => {
            if filter.is_some_and(|f| f.listens()) {
                let early = crate::privileges::lock_down(
                    payload.no_new_privileges,
                    filter.take(),
                    Some(sync.as_fd()),
                );
                if let Err(f) = early {
                    sync::send(&sync, f);
                    sys::exit_group(125)
                }
            }
            sync::send_msg(&sync, Msg::Ready);
            let mut ack = [0u8; 1];
            if rustix::io::read(&sync, &mut ack) != Ok(1) {
                sys::exit_group(125)
            }
            drop(sync);
            wait_for_start(fifo);
            None
        }
        None => Some(sync),
    };
    // 15. The payload, last (`to`: where a seccomp listener goes).
    let exec = move |to: Option<BorrowedFd<'_>>| {
        if let Err(e) = signal::set_mask(exec_mask) {
            return fail(Step::SignalMask)(e);
        }
        finish(payload, filter, to)
    };
    let Some(sync) = sync else {
        let f = exec(None);
        let _ = rustix::io::write(rustix::stdio::stderr(), exec_failed(f.step));
        sys::exit_group(if f.step == Step::Exec { 127 } else { 126 })
    };
    if payload.exec.init {
        //     With --init, PID 1 stays ours: it forks the payload and
        //     supervises, showing only a fixed name and the command.
        if let Some((area, title)) = title {
            area.set(title);
        }
        //     (`cella run` has no seccomp agent.)
        crate::init::run(sync, waited, move || {
            let f = exec(None);
            (f.step, Errno::from_raw_os_error(f.errno))
        });
    }
    sync::send(&sync, exec(Some(sync.as_fd())));
    sys::exit_group(125)
}

fn wait_for_start(fifo: OwnedFd) {
    let mut b = [0u8; 1];
    loop {
        match rustix::io::read(&fifo, &mut b) {
            Ok(1) => return,
            Err(Errno::INTR) => continue,
            _ => sys::exit_group(125),
        }
    }
}

fn exec_failed(step: Step) -> &'static [u8] {
    match step {
        Step::Exec => b"cella: exec of the container process failed\n",
        _ => b"cella: setting up the container process failed\n",
    }
}

/// Steps 1-15 (and the check of 16).
fn setup(c: &Plan<'_>) -> Result<(), Failure> {
    use rustix::mount::{MountPropagationFlags, mount_change};
    // 5. The signals an --init PID 1 takes, blocked whatever the caller had.
    signal::block(c.waited).map_err(fail(Step::SignalMask))?;
    // 5. Become the user namespace's root once mapped: until then we are its
    //    overflow id, and files we made would belong to nobody. (Before we
    //    turn non-dumpable: a rootless parent could not open our maps then.)
    if c.wait_for_maps {
        parents_word(c.sync.as_fd(), Step::UserNamespace)?;
        let (uid, gid) = (rustix::process::Uid::ROOT, rustix::process::Gid::ROOT);
        rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(fail(Step::UserNamespace))?;
        rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(fail(Step::UserNamespace))?;
    }
    //    Not dumpable while cella's code runs in here: the container cannot
    //    ptrace us or open /proc/PID/exe (the host binary). execve resets
    //    it; an --init PID 1 stays not dumpable.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(fail(Step::Clone))?;
    // 5. `cella run`: if the runtime is killed, the container goes too.
    if let Some(parent) = c.parent {
        die_with_parent(parent)?;
    }
    // 6. Namespaces given by path (a network namespace podman prepared).
    for (fd, kind) in c.joins {
        join_namespace(fd.as_fd(), *kind).map_err(fail(Step::JoinNamespace))?;
    }
    // 6. Names, in our own UTS namespace.
    if let Some(h) = c.hostname {
        rustix::system::sethostname(h).map_err(fail(Step::SetHostname))?;
    }
    if let Some(d) = c.domainname {
        rustix::system::setdomainname(d).map_err(fail(Step::SetHostname))?;
    }
    // 7. No mount of ours may propagate to the host; none of its reach us
    //    unless a mount asks to follow the host's (OCI `slave` or `shared`,
    //    on a mount or the root: then all are slaves, runc's default).
    //    Without a mount namespace of its own (OCI), the container has the
    //    runtime's mounts and root, as with runc: none of 6, 7 and 9. One
    //    joined by path is set up as a new one would be, as runc does: its
    //    other processes see the propagation change and, if their root is
    //    its root, the pivot (pivot_root(2) moves them too).
    if c.mount_ns {
        let kind = if follows_host(c.ops, c.rootfs_propagation) {
            MountPropagationFlags::DOWNSTREAM
        } else {
            MountPropagationFlags::PRIVATE
        };
        mount_change(c"/", MountPropagationFlags::REC | kind)
            .map_err(fail(Step::MakeRootPrivate))?;
    }
    if c.new_netns {
        sys::loopback_up().map_err(fail(Step::LoopbackUp))?;
    }
    // 8. The new root and everything in it, each target resolved inside it
    //    and mounted onto by fd.
    let tree = if c.mount_ns {
        #[cfg(feature = "image")]
        let entered = match &c.layers {
            Some(layers) => mount::layers::enter_layers(layers),
            None => mount::enter_root(c.root, c.host_root),
        };
        #[cfg(not(feature = "image"))]
        let entered = mount::enter_root(c.root, c.host_root);
        let tree = entered.map_err(from_error)?;
        mount::apply(tree.as_fd(), c.ops, c.bind_sources).map_err(|(i, e)| Failure {
            index: i as u16,
            ..from_error(e)
        })?;
        Some(tree)
    } else {
        None
    };
    // 8. The hooks that run once the namespaces exist, before pivot_root.
    if c.hooks {
        sync::send_msg(&c.sync, Msg::Hooks);
        let mut b = [0u8; 1];
        match rustix::io::read(&c.sync, &mut b) {
            Ok(1) if b[0] == 0 => {}
            Ok(_) => return Err(fail(Step::Hook)(Errno::CANCELED)),
            Err(e) => return Err(fail(Step::Hook)(e)),
        }
    }
    // 9. Enter it for good.
    if let Some(tree) = tree {
        #[cfg(feature = "image")]
        let covers = usize::from(c.layers.is_some());
        #[cfg(not(feature = "image"))]
        let covers = 0;
        mount::switch_root(
            tree.as_fd(),
            c.root_readonly && !c.host_root,
            c.host_root,
            covers,
        )
        .map_err(from_error)?;
        drop(tree);
        if let Some(flags) = c.rootfs_propagation {
            mount_change(c"/", MountPropagationFlags::from_bits_retain(flags))
                .map_err(fail(Step::MakeRootPrivate))?;
        }
    }
    // 10. The cgroup as late as possible (what the runtime did so far is not
    //     charged to the container), then a cgroup namespace rooted there.
    for fd in c.cgroup_join {
        rustix::io::write(fd, b"0").map_err(fail(Step::CgroupJoin))?;
    }
    if c.cgroup_ns {
        sys::unshare_cgroup_ns().map_err(fail(Step::CgroupNamespace))?;
    }
    // 11.-12. The process itself.
    limits(c.payload)?;
    become_payload(
        c.payload,
        c.console.as_ref().map(|f| crate::console::Console {
            socket: f.as_fd(),
            dev_console: true,
        }),
        c.setgroups_may_be_denied,
        c.sync.as_fd(),
    )?;
    //     A change of credentials clears the parent-death signal: again.
    if let Some(parent) = c.parent {
        die_with_parent(parent)?;
    }
    //     A bridge container's eth0 is the parent's to make: it says
    //     when it is there, addressed and routed.
    if c.wait_for_network {
        parents_word(c.sync.as_fd(), Step::Network)?;
    }
    // 13. The requested stdio; then only stdio, preserved fds and ours
    //     (close-on-exec) may remain.
    redirect(c.stdio).map_err(fail(Step::CloseFds))?;
    let mut keep = [
        c.sync.as_raw_fd(),
        c.hold.as_ref().map_or(-1, |f| f.as_raw_fd()),
    ];
    crate::heapsort::sort(&mut keep);
    close_fds(c.preserve, &keep).map_err(fail(Step::CloseFds))?;
    // 13. The working directory, once no descriptor of the host is left to
    //     reach through `/proc/self/fd` (CVE-2024-21626).
    enter_cwd(c.payload)?;
    // 14. Refuse at create time, as runc does, a command that is not
    //     there: `start` could not report it.
    if c.hold.is_some() {
        check_executable(c.payload)?;
    }
    Ok(())
}

/// Whether a mount (or the root) asks to follow the host's mounts (OCI
/// `slave` or `shared`).
fn follows_host(ops: &[MountOp], rootfs_propagation: Option<u32>) -> bool {
    use linux_raw_sys::general::{MS_SHARED, MS_SLAVE};
    let follow = |p: u64| p & u64::from(MS_SLAVE | MS_SHARED) != 0;
    ops.iter()
        .any(|op| op.propagation.is_some_and(|(p, _)| follow(p)))
        || rootfs_propagation.is_some_and(|p| follow(u64::from(p)))
}

/// Wait for the parent's one-byte word that it has done `step`'s part
/// (the id maps written, `eth0` attached); its end of the channel closing
/// first is a failure of `step`.
fn parents_word(sync: BorrowedFd<'_>, step: Step) -> Result<(), Failure> {
    let mut b = [0u8; 1];
    match rustix::io::read(sync, &mut b) {
        Ok(1) => Ok(()),
        Ok(_) => Err(fail(step)(Errno::PIPE)),
        Err(e) => Err(fail(step)(e)),
    }
}

/// Ask to die with cella, then check through its pidfd that it has not
/// died already: the request would be too late, and as PID 1 we have no
/// parent to look at.
fn die_with_parent(parent: BorrowedFd<'_>) -> Result<(), Failure> {
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

/// `dup2` the requested descriptors onto 0, 1 and 2.
/// The requested stdio in place of ours.
pub fn redirect(stdio: Stdio<'_>) -> rustix::io::Result<()> {
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

/// Close what the payload must not inherit: every fd from 3 up except
/// the `preserve` fds right after stdio and `ours` (sorted; negative
/// entries are ignored).
pub fn close_fds(preserve: u32, ours: &[i32]) -> rustix::io::Result<()> {
    sys::close_fds_keeping(3 + preserve as i32, ours)
}

pub fn join_namespace(fd: BorrowedFd<'_>, kind: u32) -> rustix::io::Result<()> {
    use linux_raw_sys::general as g;
    use rustix::thread::{LinkNameSpaceType as L, move_into_link_name_space};
    let t = match kind {
        g::CLONE_NEWNET => L::Network,
        g::CLONE_NEWIPC => L::InterProcessCommunication,
        g::CLONE_NEWUTS => L::HostNameAndNISDomainName,
        g::CLONE_NEWNS => L::Mount,
        g::CLONE_NEWPID => L::ProcessID,
        g::CLONE_NEWUSER => L::User,
        g::CLONE_NEWCGROUP => L::ControlGroup,
        _ => L::Time,
    };
    move_into_link_name_space(fd, Some(t))
}

/// oom_score_adj and rlimits: set while still privileged.
pub fn limits(p: &Payload) -> Result<(), Failure> {
    crate::privileges::set_limits(&p.rlimits, p.oom_score_adj.as_deref())
}

/// The working directory, entered only once every fd not meant for the
/// payload is closed: a `cwd` of `/proc/self/fd/N/..` can then reach
/// nothing of the host (CVE-2024-21626).
pub fn enter_cwd(p: &Payload) -> Result<(), Failure> {
    if let Some(dir) = &p.exec.workdir {
        rustix::process::chdir(dir.as_c_str()).map_err(fail(Step::Workdir))?;
    }
    Ok(())
}

/// Console or session, user and groups, capabilities, umask; seccomp here
/// too when no_new_privs is off (it then needs the privileges the user
/// switch drops, as runc does).
/// `sync` is where a seccomp listener goes.
pub fn become_payload(
    p: &Payload,
    console: Option<crate::console::Console<'_>>,
    setgroups_may_be_denied: bool,
    sync: BorrowedFd<'_>,
) -> Result<(), Failure> {
    match console {
        Some(to) => {
            crate::console::attach(to, p.console_size, p.uid).map_err(fail(Step::Console))?
        }
        // A new session: the payload has no controlling terminal, so it
        // cannot push keystrokes into the caller's (TIOCSTI, CVE-2017-5226)
        // or be hit by its job control.
        None => {
            rustix::process::setsid().map_err(fail(Step::Session))?;
        }
    }
    confine_exec(p)?;
    crate::privileges::drop_to(&p.privileges(setgroups_may_be_denied, Some(sync)))?;
    if let Some(mask) = p.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    Ok(())
}

/// Only files beneath the container's root can be executed from here on,
/// by the payload and all it starts (see [`sys::landlock`]): the host's
/// cella binary, which `/proc/self/exe` names until the payload's exec,
/// cannot be run inside (CVE-2019-5736). Done while CAP_SYS_ADMIN is still
/// ours, which Landlock asks for without no_new_privs. Not for a payload
/// that keeps CAP_SYS_ADMIN (`--privileged`, `--cap-add SYS_ADMIN`): it can
/// mount and leave its root already, and may build containers of its own,
/// whose roots lie beneath no rule.
fn confine_exec(p: &Payload) -> Result<(), Failure> {
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    if p.caps.bounding & CAP_SYS_ADMIN != 0 {
        return Ok(());
    }
    use rustix::fs::{Mode, OFlags};
    let root = rustix::fs::open(
        c"/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail(Step::ConfineExec))?;
    sys::landlock::restrict_exec_beneath(root.as_fd()).map_err(fail(Step::ConfineExec))?;
    Ok(())
}

/// Whether the command is there and executable (searched as exec would).
pub fn check_executable(p: &Payload) -> Result<(), Failure> {
    use rustix::fs::{Access, CWD};
    let mut err = Errno::NOENT;
    for c in &p.exec.candidates {
        let mut checked = rustix::fs::accessat(
            CWD,
            c.as_c_str(),
            Access::EXEC_OK,
            rustix::fs::AtFlags::EACCESS,
        );
        if matches!(checked, Err(Errno::PERM | Errno::NOSYS)) {
            // faccessat2 refused by a profile older than it (the filter is
            // already in when no_new_privs is off): plain faccessat, the
            // same answer now that the real ids are the payload's.
            checked = rustix::fs::accessat(
                CWD,
                c.as_c_str(),
                Access::EXEC_OK,
                rustix::fs::AtFlags::empty(),
            );
        }
        match checked {
            Ok(()) => return Ok(()),
            Err(Errno::ACCESS) => err = Errno::ACCESS,
            Err(_) => {}
        }
    }
    Err(fail(Step::Exec)(err))
}

/// Every signal's default action ("ignored" survives exec), then
/// no_new_privs and the seccomp filter still to install (`filter`; its
/// listener to `sync`) as the very last things, then exec, searching the
/// container's PATH. Returns the failure if exec did not happen.
pub fn finish(
    p: &Payload,
    filter: Option<&crate::seccomp::Filter>,
    sync: Option<BorrowedFd<'_>>,
) -> Failure {
    // Every signal's default action, as a container's processes start:
    // an ignored SIGINT or SIGQUIT inherited from whoever started cella (a
    // script's background job) would outlive exec, and the payload could
    // not even trap it; Rust ignores SIGPIPE.
    for n in 1..=64 {
        match signal::set_default_raw(n) {
            // KILL and STOP, whose action no one can change.
            Ok(()) | Err(Errno::INVAL) => {}
            Err(e) => return fail(Step::SignalMask)(e),
        }
    }
    if let Err(f) = crate::privileges::lock_down(p.no_new_privileges, filter, sync) {
        return f;
    }
    fail(Step::Exec)(process::exec(&p.exec))
}

fn from_error(e: crate::error::Error) -> Failure {
    Failure {
        step: e.step,
        errno: e.errno.map_or(0, |e| e.raw_os_error()),
        index: 0,
    }
}
