//! The forked side of `create` and `exec`, top to bottom. Everything it
//! reads was built before the fork (see `plan`); it allocates nothing,
//! talks to the parent only through the sync socket (fixed 8-byte
//! records), and ends in `execve` or `exit_group`.
//!
//! `create`'s child, numbered as in the README:
//!  1. not dumpable; wait for the id mappings (user namespace)
//!  2. join the namespaces given by path
//!  3. oom_score_adj and rlimits (still privileged)
//!  4. hostname and domainname
//!  5. make every mount private; bring lo up in a new network namespace
//!  6. clone the rootfs, apply the mount plan (mounts, devices, sysctls,
//!     read-only and masked paths)
//!  7. createRuntime/createContainer hooks (run by the parent)
//!  8. pivot_root
//!  9. join the cgroup; a cgroup namespace if asked
//! 10. the payload's process: console or new session, cwd, user, caps, umask
//! 11. close every fd but stdio, preserved ones and the start fifo
//! 12. report ready, block on the fifo until `start`
//! 13. no_new_privs, seccomp, exec

use crate::error::Step;
use crate::mount::{self, MountOp};
use crate::process;
use crate::process::Payload;
use crate::sync::{self, Failure, Msg};
use crate::sys;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use std::ffi::CString;

/// What the container child needs, prepared before the clone.
pub struct ContainerChild<'a> {
    pub sync: OwnedFd,
    pub fifo: OwnedFd,
    pub console: Option<OwnedFd>,
    pub wait_for_maps: bool,
    /// (namespace fd, CLONE_NEW* type) to setns, in order.
    pub joins: &'a [(OwnedFd, u32)],
    pub hostname: Option<&'a CString>,
    pub domainname: Option<&'a CString>,
    pub new_netns: bool,
    pub root: &'a CString,
    pub root_readonly: bool,
    /// `MS_*` propagation for the container's mounts after pivot_root.
    pub rootfs_propagation: Option<u32>,
    pub ops: &'a [MountOp],
    pub hooks: bool,
    pub cgroup_join: &'a [OwnedFd],
    pub cgroup_ns: bool,
    pub payload: &'a Payload,
    /// Keep fds 3..3+preserve open for the payload.
    pub preserve: u32,
}

pub fn fail(step: Step) -> impl Fn(Errno) -> Failure {
    move |e| Failure {
        step,
        errno: e.raw_os_error(),
        index: 0,
    }
}

/// Run the container child; returns only after reporting a failure.
pub fn container(c: ContainerChild<'_>) -> ! {
    if let Err(f) = setup(&c) {
        sync::send(&c.sync, f);
        sys::exit_group(125)
    }
    // 12. Ready; from here on only the fifo is ours (the sync socket goes,
    //     so the created container holds nothing but stdio, preserved fds
    //     and the fifo). Hold until `start` writes a byte to the fifo.
    sync::send_msg(&c.sync, Msg::Ready);
    //     Then wait until the parent has recorded us: if it was killed
    //     before it could, no `delete` would ever find us, so we go.
    let mut ack = [0u8; 1];
    if rustix::io::read(&c.sync, &mut ack) != Ok(1) {
        sys::exit_group(125)
    }
    let ContainerChild {
        sync,
        fifo,
        payload,
        ..
    } = c;
    drop(sync);
    let mut b = [0u8; 1];
    loop {
        match rustix::io::read(&fifo, &mut b) {
            Ok(1) => break,
            Err(Errno::INTR) => continue,
            _ => sys::exit_group(125),
        }
    }
    drop(fifo);
    // 13. The parent is gone: a failure now can only go to stderr.
    let f = finish(payload);
    let _ = rustix::io::write(rustix::stdio::stderr(), exec_failed(f.step));
    sys::exit_group(if f.step == Step::Exec { 127 } else { 126 })
}

fn exec_failed(step: Step) -> &'static [u8] {
    match step {
        Step::Exec => b"cella: exec of the container process failed\n",
        _ => b"cella: setting up the container process failed\n",
    }
}

fn setup(c: &ContainerChild<'_>) -> Result<(), Failure> {
    use rustix::mount::{MountPropagationFlags, mount_change};
    // 1. Not dumpable while cella's code runs in here: the container cannot
    //    ptrace us or open /proc/PID/exe (the host binary). execve resets it.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(fail(Step::Clone))?;
    if c.wait_for_maps {
        let mut b = [0u8; 1];
        match rustix::io::read(&c.sync, &mut b) {
            Ok(1) => {}
            Ok(_) => return Err(fail(Step::UserNamespace)(Errno::PIPE)),
            Err(e) => return Err(fail(Step::UserNamespace)(e)),
        }
        // Become the namespace's root: until then we are the overflow id,
        // and files we made would belong to nobody.
        let (root_uid, root_gid) = (rustix::process::Uid::ROOT, rustix::process::Gid::ROOT);
        rustix::thread::set_thread_res_gid(root_gid, root_gid, root_gid)
            .map_err(fail(Step::UserNamespace))?;
        rustix::thread::set_thread_res_uid(root_uid, root_uid, root_uid)
            .map_err(fail(Step::UserNamespace))?;
    }
    // 2. Namespaces given by path (a network namespace podman prepared).
    for (fd, kind) in c.joins {
        setns(fd.as_fd(), *kind).map_err(fail(Step::JoinNamespace))?;
    }
    // 3. Resource settings that need privilege.
    process_limits(c.payload)?;
    // 4. Names, in our own UTS namespace.
    if let Some(h) = c.hostname {
        rustix::system::sethostname(h.as_bytes()).map_err(fail(Step::SetHostname))?;
    }
    if let Some(d) = c.domainname {
        rustix::system::setdomainname(d.as_bytes()).map_err(fail(Step::SetHostname))?;
    }
    // 5. No mount of ours may propagate to the host.
    mount_change(
        c"/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(fail(Step::MakeRootPrivate))?;
    if c.new_netns {
        sys::loopback_up().map_err(fail(Step::LoopbackUp))?;
    }
    // 6. The new root and everything in it, each target resolved inside it.
    let tree = mount::enter_root_at(c.root).map_err(from_error)?;
    mount::apply(tree.as_fd(), c.ops).map_err(|(i, e)| Failure {
        index: i as u16,
        ..from_error(e)
    })?;
    // 7. The hooks that run once the namespaces exist, before pivot_root.
    if c.hooks {
        sync::send_msg(&c.sync, Msg::Hooks);
        let mut b = [0u8; 1];
        match rustix::io::read(&c.sync, &mut b) {
            Ok(1) if b[0] == 0 => {}
            Ok(_) => return Err(fail(Step::Hook)(Errno::CANCELED)),
            Err(e) => return Err(fail(Step::Hook)(e)),
        }
    }
    // 8. Enter it for good.
    mount::switch_root(tree.as_fd(), c.root_readonly, false).map_err(from_error)?;
    drop(tree);
    if let Some(flags) = c.rootfs_propagation {
        rustix::mount::mount_change(c"/", MountPropagationFlags::from_bits_retain(flags))
            .map_err(fail(Step::MakeRootPrivate))?;
    }
    // 9. The cgroup, as late as possible.
    for fd in c.cgroup_join {
        rustix::io::write(fd, b"0").map_err(fail(Step::CgroupJoin))?;
    }
    if c.cgroup_ns {
        sys::unshare_cgroup_ns().map_err(fail(Step::CgroupNamespace))?;
    }
    // 10. The process itself.
    become_payload(c.payload, c.console.as_ref().map(|f| f.as_fd()))?;
    // 11. Only stdio, preserved fds, and ours until exec (close-on-exec).
    let mut keep = [c.sync.as_raw_fd(), c.fifo.as_raw_fd()];
    keep.sort_unstable();
    close_fds(c.preserve, &keep).map_err(fail(Step::CloseFds))?;
    enter_cwd(c.payload)?;
    check_executable(c.payload)
}

/// Close what the payload must not inherit: every fd from 3 up except
/// the `preserve` fds right after stdio and `ours` (sorted, close-on-exec).
pub fn close_fds(preserve: u32, ours: &[i32]) -> rustix::io::Result<()> {
    sys::close_fds_keeping(3 + preserve as i32, ours)
}

fn setns(fd: BorrowedFd<'_>, kind: u32) -> rustix::io::Result<()> {
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

pub fn join_namespace(fd: BorrowedFd<'_>, kind: u32) -> rustix::io::Result<()> {
    setns(fd, kind)
}

/// oom_score_adj and rlimits: set while still privileged.
pub fn process_limits(p: &Payload) -> Result<(), Failure> {
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

/// Step 10: console or session, user and groups, capabilities,
/// umask; seccomp here too when no_new_privs is off (it then needs the
/// privileges the user switch drops, as runc does).
pub fn become_payload(p: &Payload, console: Option<BorrowedFd<'_>>) -> Result<(), Failure> {
    match console {
        Some(sock) => super::console::attach(sock, p.console_size).map_err(fail(Step::Console))?,
        // A new session: the payload cannot reach the caller's terminal
        // (TIOCSTI) or be hit by its job control.
        None => {
            rustix::process::setsid().map_err(fail(Step::Session))?;
        }
    }
    crate::privileges::drop_to(&p.privileges(false))?;
    if let Some(mask) = p.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    Ok(())
}

/// Refuse at create time, as runc does, a command that is not there:
/// `start` could not report it.
pub fn check_executable(p: &Payload) -> Result<(), Failure> {
    use rustix::fs::{Access, CWD};
    let mut err = Errno::NOENT;
    for c in &p.exec.candidates {
        match rustix::fs::accessat(
            CWD,
            c.as_c_str(),
            Access::EXEC_OK,
            rustix::fs::AtFlags::EACCESS,
        ) {
            Ok(()) => return Ok(()),
            Err(Errno::ACCESS) => err = Errno::ACCESS,
            Err(_) => {}
        }
    }
    Err(fail(Step::Exec)(err))
}

/// Step 13: no_new_privs and seccomp as the very last things, then exec.
/// Returns the failure if exec did not happen.
pub fn finish(p: &Payload) -> Failure {
    if let Err(f) = crate::privileges::lock_down(p.no_new_privileges, p.seccomp.as_deref()) {
        return f;
    }
    if let Err(e) = sys::signal::set_default(rustix::process::Signal::PIPE) {
        return fail(Step::SignalMask)(e);
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
