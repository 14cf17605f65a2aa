//! The one engine under every front end. `cella run`, `cella init` and
//! OCI `create` each translate what they were given into a [`Container`]
//! (planned, as data: its record, cgroup, namespaces, mounts, payload);
//! [`create`] makes it, in docs/design.md's numbered order (steps 2-4 and 16):
//! the record, the cgroup, the fork into the namespaces, the child's one
//! sequence (`crate::child`, steps 5-15), and the parent's answers until
//! the child has exec'd or, held for `start`, is ready. A failure at any
//! point leaves nothing: no record, cgroup or process.

use crate::cgroup::{self, Owned};
use crate::child::{self, Stdio};
use crate::error::{Ctx, Error, Result, Step};
use crate::mount::{self, MountOp};
use crate::process::{self, Payload};
use crate::store::{self, Held, Record};
use crate::sync::{self, Failure, Msg};
use crate::sys::{self, Fork, proctitle::ArgArea, signal::SigSet};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// A container as every front end describes it, planned: everything the
/// parent does and the child reads, built before anything exists.
pub struct Container {
    /// The state store it is recorded in (`--root`).
    pub store: PathBuf,
    /// Its record as it starts (no process yet): id, kind, what `list`,
    /// `ps` and `inspect` show.
    pub record: Record,
    /// Files kept beside the record (OCI: the bundle's `config.json`).
    pub files: Vec<store::File>,
    /// `None`: no cgroup (rootless: the host delegates none to users).
    pub cgroup: Option<cgroup::Plan>,
    /// The `CLONE_NEW*` namespaces to create at the fork (the cgroup
    /// namespace comes later, from inside the cgroup: `cgroup_ns`).
    pub clone_flags: u32,
    pub cgroup_ns: bool,
    /// (namespace fd, `CLONE_NEW*` type) the child joins, in order.
    pub joins: Vec<(OwnedFd, u32)>,
    /// A new user namespace's id maps, written by the parent.
    pub id_maps: Option<IdMaps>,
    /// The container dies with this process (`cella run`, `cella init`).
    pub dies_with_us: bool,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    /// The root file system: its path (for errors), and as the child needs it.
    pub root_path: PathBuf,
    pub root: CString,
    /// The root is the host's own `/` (`cella run` without `--rootfs`).
    pub host_root: bool,
    pub root_readonly: bool,
    /// `MS_*` propagation for the container's mounts after pivot_root.
    pub rootfs_propagation: Option<u32>,
    /// An image file or `--overlay`: the layers the child makes its root
    /// of (`root` is then the image file or the directory below).
    #[cfg(feature = "image")]
    pub layers: Option<crate::image::Layers>,
    pub mounts: Vec<MountOp>,
    /// The createRuntime/createContainer hooks: the child asks the parent
    /// to run them once its namespaces exist.
    pub hooks: bool,
    pub payload: Payload,
    /// Keep fds 3..3+preserve open for the payload.
    pub preserve: u32,
    /// OCI `create`: once set up, the child holds until `start` writes to
    /// the `exec.fifo` in its directory.
    pub hold_for_start: bool,
    /// `--init`: what its PID 1 shows as its command line.
    pub title: Option<Vec<u8>>,
    /// `--net bridge`: its leased place on the bridge, attached once its
    /// process exists.
    #[cfg(feature = "net")]
    pub network: Option<crate::net::bridge::Attachment>,
}

/// The id maps of a new user namespace.
pub enum IdMaps {
    /// The caller as root, through newuidmap/newgidmap where it has
    /// subordinate ids (rootless `cella run`).
    Caller(crate::rootless::Maps),
    /// `uid_map` and `gid_map` as given (OCI `linux.uidMappings`).
    #[cfg(feature = "oci")]
    Given { uids: String, gids: String },
}

/// Whether setgroups may be denied in the container's user namespace:
/// rootless `cella run` without newgidmap, and an unprivileged caller of
/// an OCI config that maps its own gid (written with setgroups denied,
/// see [`create`]). Only then is the host's uid map read.
fn setgroups_may_be_denied(maps: &Option<IdMaps>) -> bool {
    match maps {
        Some(IdMaps::Caller(_)) => true,
        #[cfg(feature = "oci")]
        Some(IdMaps::Given { .. }) => {
            !rustix::process::geteuid().is_root() || store::in_user_namespace()
        }
        None => false,
    }
}

/// What the container's process gets from the caller of [`create`].
pub struct Io<'a> {
    pub stdio: Stdio<'a>,
    /// `--console-socket`: the pty master goes there.
    pub console: Option<OwnedFd>,
    /// Blocked while cella's code runs in the child (an `--init` PID 1
    /// waits on them).
    pub waited: SigSet,
    /// The payload's signal mask.
    pub exec_mask: SigSet,
}

/// A made container: its PID 1 (our child), its cgroup and record, held
/// until [`Made::keep`] (OCI) or [`Made::running`] (`cella run`); dropping
/// it kills the child, then removes the cgroup and the record.
pub struct Made {
    /// First, so it goes first: no process is left in the cgroup removed next.
    child: Reaper,
    /// A bridge container's place on its bridge, given up once its
    /// process is gone.
    links: crate::net::Links,
    pub pid: Pid,
    pub cgroup: Owned,
    pub record: Held,
    /// To a held child: one byte lets it wait for `start`.
    sync: OwnedFd,
}

/// Kills and reaps the child on drop, unless disarmed.
struct Reaper(Option<Pid>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        }
    }
}

impl Made {
    /// The payload has exec'd: its process, cgroup, links and record are
    /// the caller's to wait for and remove.
    pub fn running(self) -> (Pid, Owned, crate::net::Links, Held) {
        let Made {
            mut child,
            pid,
            cgroup,
            links,
            record,
            ..
        } = self;
        child.0 = None;
        (pid, cgroup, links, record)
    }

    /// Keep the container past this process (OCI `create`): let the held
    /// child go on to wait for `start`.
    pub fn keep(self) -> Result<()> {
        rustix::io::write(&self.sync, &[0]).ctx(Step::SyncPipe)?;
        let Made {
            mut child,
            cgroup,
            record,
            ..
        } = self;
        child.0 = None;
        cgroup.release();
        record.keep();
        Ok(())
    }
}

/// What a container's child asks of its front end while it sets up.
pub enum Ask {
    /// Run the createRuntime and createContainer hooks (OCI) now.
    Hooks,
    /// Its seccomp filter's listener: take it to the seccomp agent (OCI).
    SeccompAgent(OwnedFd),
}

/// Make the container `c`: record it, create its cgroup, fork into its
/// namespaces and follow the child until its payload has exec'd (or, held
/// for `start`, it is ready and waits). `c.record` is kept up to date (the
/// pid, the cgroup). `ask` does what the child asks of the front end (OCI:
/// run the hooks, take the seccomp listener to the agent), given the record.
pub fn create(
    c: &mut Container,
    io: Io<'_>,
    ask: &mut dyn FnMut(Ask, &Record) -> Result<()>,
) -> Result<Made> {
    // 2. The record, before anything else exists (the cgroup it is about
    //    to get, no process yet): whatever a killed cella leaves, the next
    //    verb finds. Taking the name there, after removing what killed
    //    cellas left, makes the container visible to `list`, `state`,
    //    `kill`, `ps`, `pause` and `resume`.
    //    (A bridge container's start rewrites cella's table anyway, under
    //    the network lock its description holds now: a sweep's rewrite
    //    would wait for that lock.)
    let swept = if network_to_attach(c) {
        store::sweep(&c.store).0
    } else {
        crate::net::sweep(&c.store)
    };
    //    (A supervised container's cgroup needs no such record: its lock
    //    tells a killed cella's leftover, and the next start sweeps it.)
    let cg_root = Path::new(cgroup::ROOT);
    #[cfg(feature = "oci")]
    if let Some(plan) = c.cgroup.as_ref().filter(|p| p.supervised.is_none()) {
        c.record.cgroup = plan
            .dirs(cg_root)
            .map_err(|e| no_device_rules_hint(e, plan))?;
    }
    let mut record = Held::take(&c.store, &c.record, &c.files)?;
    //    (Said by `cella run` and `cella init`: what a killed cella left
    //    under the name went.)
    record.reclaimed |= swept.contains(&c.record.id);
    //    The record holds the bridge address leased: others may lease now.
    #[cfg(feature = "net")]
    if let Some(n) = c.network.as_mut() {
        n.unlock();
    }
    //    The cgroup, with the device rules and every limit written before
    //    the payload exists: no container runs without device rules
    //    (docker's, unless --privileged).
    let cgroup = match &c.cgroup {
        None => Owned::none(),
        Some(plan) => Owned::create(cg_root, plan).map_err(|e| no_device_rules_hint(e, plan))?,
    };
    mount::show_cgroup(&mut c.mounts, &cgroup.cgroup);
    //    OCI: the fifo `start` writes to, which the child holds.
    let hold = if cfg!(feature = "oci") && c.hold_for_start {
        Some(exec_fifo(&store::fifo(&c.store, &c.record.id))?)
    } else {
        None
    };
    //    With --init, PID 1 stays cella's code: it will show this title,
    //    not our command line.
    let title = c
        .title
        .as_ref()
        .and_then(|t| Some((ArgArea::of_self()?, t.as_slice())));
    //    Our pidfd: a child that dies with us checks that we are still
    //    alive once it has asked (its PID 1 has no parent it could ask).
    let me = if c.dies_with_us {
        Some(
            rustix::process::pidfd_open(
                rustix::process::getpid(),
                rustix::process::PidfdFlags::empty(),
            )
            .ctx(Step::Clone)?,
        )
    } else {
        None
    };
    // 3. The channel to the child: its failure records one way, "maps
    //    written" and the hooks' verdict the other.
    let (ours, theirs) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .ctx(Step::SyncPipe)?;
    // 4. Fork straight into the new namespaces (and, on v2, the cgroup).
    let held = hold.is_some();
    let user_ns = c.clone_flags & linux_raw_sys::general::CLONE_NEWUSER != 0;
    //    Into a user namespace, bind sources are cloned here, while we can
    //    still reach them.
    //    (Only an OCI config puts a privileged caller in a user namespace.)
    let bind_sources = if cfg!(feature = "oci") && user_ns {
        mount::open_bind_sources(&c.mounts)?
    } else {
        Vec::new()
    };
    let fork = sys::fork_into(u64::from(c.clone_flags), cgroup.clone_target());
    let pid = match fork.ctx(Step::Clone)? {
        Fork::Child { into_cgroup } => {
            sys::mark_child();
            drop(ours);
            // 5.-15. in `child`: the one sequence every container follows.
            child::run(child::Plan {
                sync: theirs,
                waited: io.waited,
                exec_mask: io.exec_mask,
                wait_for_maps: user_ns,
                wait_for_network: network_to_attach(c),
                setgroups_may_be_denied: setgroups_may_be_denied(&c.id_maps),
                parent: me.as_ref().map(|fd| fd.as_fd()),
                joins: &c.joins,
                hostname: c.hostname.as_ref().map(|h| h.as_bytes()),
                domainname: c.domainname.as_ref().map(|d| d.as_bytes()),
                new_netns: c.clone_flags & linux_raw_sys::general::CLONE_NEWNET != 0,
                root: &c.root,
                host_root: c.host_root,
                root_readonly: c.root_readonly,
                rootfs_propagation: c.rootfs_propagation,
                #[cfg(feature = "image")]
                layers: c.layers.as_ref().map(|l| l.plan()),
                ops: &c.mounts,
                bind_sources: &bind_sources,
                mount_ns: c.clone_flags & linux_raw_sys::general::CLONE_NEWNS != 0
                    || c.joins
                        .iter()
                        .any(|(_, k)| *k == linux_raw_sys::general::CLONE_NEWNS),
                hooks: c.hooks,
                cgroup_join: if into_cgroup { &[] } else { cgroup.join_fds() },
                cgroup_ns: c.cgroup_ns,
                payload: &c.payload,
                console: io.console,
                stdio: io.stdio,
                preserve: c.preserve,
                hold,
                title,
            })
        }
        Fork::Parent { child, .. } => child,
    };
    drop(theirs);
    drop(me);
    #[cfg_attr(not(feature = "net"), allow(unused_mut))]
    let mut made = Made {
        child: Reaper(Some(pid)),
        links: crate::net::Links::default(),
        pid,
        cgroup,
        record,
        sync: ours,
    };
    // 16. Recorded at once: if we are killed from here on, the next verb
    //    finds the process by its pid (and a held child ends by itself once
    //    it sees that we are gone: it waits for our word before `start`).
    c.record.pid = pid.as_raw_nonzero().get();
    c.record.pid_start = store::start_time(c.record.pid).unwrap_or(0);
    c.record.cgroup = made.cgroup.cgroup.clone();
    made.record.save(&c.record)?;
    //     Our part while the child sets up: if it fails, and the child
    //     failed first (a bind mount, say, and it exited: our step then
    //     finds its process gone), the child's failure is what happened.
    if let Err(e) = parent_steps(c, &mut made, pid, user_ns) {
        return Err(child_failure(&made.sync, c).unwrap_or(e));
    }
    //     Answer the child until it has exec'd (end-of-file) or is ready.
    //     On failure nothing may be left behind: the child is reaped (its
    //     namespaces and mounts die with it), then the cgroup and record go
    //     as `made` drops.
    loop {
        match sync::receive_msg(&made.sync) {
            Ok(None) if held => {
                return Err(Error::invalid(
                    Step::Clone,
                    "the container process died during setup",
                ));
            }
            Ok(None | Some(Msg::Ready)) => return Ok(made),
            Ok(Some(Msg::Hooks)) if cfg!(feature = "oci") => {
                let result = ask(Ask::Hooks, &c.record);
                let _ = rustix::io::write(&made.sync, &[u8::from(result.is_err())]);
                result?;
            }
            Ok(Some(Msg::Listener(fd))) if cfg!(feature = "oci") => {
                ask(Ask::SeccompAgent(fd), &c.record)?
            }
            Ok(Some(Msg::Hooks | Msg::Listener(_))) => {
                return Err(Error::new(Step::SyncPipe, Errno::PROTO));
            }
            Ok(Some(Msg::Failed(f))) => return Err(child_error(c, f)),
            Err(e) => return Err(Error::new(Step::SyncPipe, e)),
        }
    }
}

/// The parent's steps after the fork, while the child waits for them: a
/// user namespace's id maps, a bridge container's network.
#[cfg_attr(not(feature = "net"), allow(unused_variables))]
fn parent_steps(c: &Container, made: &mut Made, pid: Pid, user_ns: bool) -> Result<()> {
    // A user namespace: its id maps, then the child may go on.
    if user_ns {
        match &c.id_maps {
            Some(IdMaps::Caller(maps)) => maps.apply(pid)?,
            #[cfg(feature = "oci")]
            Some(IdMaps::Given { uids, gids }) => {
                crate::rootless::write_map(pid, "uid_map", uids)?;
                if let Err(e) = crate::rootless::write_map(pid, "gid_map", gids) {
                    // An unprivileged user may map its own gid only with
                    // setgroups denied (user_namespaces(7)), as runc does.
                    if e.errno != Some(rustix::io::Errno::PERM) {
                        return Err(e);
                    }
                    crate::rootless::write_map(pid, "setgroups", "deny")?;
                    crate::rootless::write_map(pid, "gid_map", gids)?;
                }
            }
            None => {}
        }
        rustix::io::write(&made.sync, &[0]).ctx(Step::UserNamespace)?;
    }
    // A bridge container: its eth0, address and route, then it may go on
    // to its payload.
    #[cfg(feature = "net")]
    if let Some(n) = &c.network {
        made.links.bridge = Some(n.attach(pid, &c.record.id)?);
        rustix::io::write(&made.sync, &[0]).ctx(Step::Network)?;
    }
    Ok(())
}

/// The child's failure, if it has sent one (it sends it before it exits):
/// looked for without waiting.
fn child_failure(sync: &OwnedFd, c: &Container) -> Option<Error> {
    rustix::fs::fcntl_setfl(sync, rustix::fs::OFlags::NONBLOCK).ok()?;
    loop {
        match sync::receive_msg(sync) {
            Ok(Some(Msg::Failed(f))) => return Some(child_error(c, f)),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// The child's failure record `f` as the error it reports.
fn child_error(c: &Container, f: Failure) -> Error {
    describe(f, &c.payload, &c.mounts, &c.root_path, c.hostname.as_ref())
}

/// Whether the child waits for its network to be attached (a bridge).
fn network_to_attach(c: &Container) -> bool {
    #[cfg(feature = "net")]
    return c.network.is_some();
    #[cfg(not(feature = "net"))]
    {
        let _ = c;
        false
    }
}

/// Without the device cgroup (v1) or cgroup BPF (v2) cella runs nothing
/// but a container without device rules: say so where that is the cause.
fn no_device_rules_hint(e: Error, plan: &cgroup::Plan) -> Error {
    let about_devices = e.what.as_deref().is_some_and(|w| {
        w.starts_with("device rules")
            || (w.ends_with("no cgroup file system mounted") && !plan.devices.is_empty())
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

/// Make the fifo at `path` and open it without blocking (read and write).
fn exec_fifo(path: &Path) -> Result<OwnedFd> {
    use rustix::fs::{FileType, Mode, OFlags};
    let shown = path.display().to_string();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .ctx_at(Step::State, &shown)?;
    rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .ctx_at(Step::State, &shown)
}

/// The child's failure record as a full error, naming the path or value
/// the step was working on (the child cannot format strings). Also for
/// `exec`, whose child has no mounts and no root of its own.
pub fn describe(
    f: Failure,
    payload: &Payload,
    mounts: &[MountOp],
    root: &Path,
    hostname: Option<&CString>,
) -> Error {
    let mut error = if f.errno == 0 {
        Error::invalid(f.step, "")
    } else {
        Error::new(f.step, Errno::from_raw_os_error(f.errno))
    };
    let op = mounts.get(usize::from(f.index));
    let text = |s: &CString| s.to_string_lossy().into_owned();
    error.what = match f.step {
        Step::SetHostname => hostname.map(text),
        Step::CloneRoot
        | Step::AttachRoot
        | Step::EnterRoot
        | Step::PivotRoot
        | Step::DetachOldRoot
        | Step::Chroot
        | Step::ReadOnlyRoot
        | Step::MountImage
        | Step::MountOverlay => Some(root.display().to_string()),
        Step::BindMount => op.map(|op| match &op.kind {
            mount::Kind::Bind { source, .. } => {
                format!("{} on /{}", source.to_string_lossy(), op.target)
            }
            _ => format!("/{}", op.target),
        }),
        Step::MakeMountpoint
        | Step::MountProc
        | Step::MountSys
        | Step::MountDev
        | Step::MakeDevice
        | Step::MountDevPts
        | Step::MountShm
        | Step::MountMqueue
        | Step::MountTmpfs
        | Step::CopyUp
        | Step::Mount
        | Step::Sysctl
        | Step::MaskPath
        | Step::ReadOnlyPath => op.map(|op| format!("/{}", op.target)),
        Step::Workdir => payload.exec.workdir.as_ref().map(text),
        Step::Exec => payload.exec.argv.strings().first().map(text),
        Step::SetUser => Some(format!("{}:{}", payload.uid, payload.gid)),
        Step::Rlimit => payload.rlimits.get(usize::from(f.index)).map(|(r, l)| {
            let value = |v: Option<u64>| v.map_or("unlimited".to_owned(), |v| v.to_string());
            format!(
                "{} {}:{}",
                process::rlimit_name(*r),
                value(l.current),
                value(l.maximum)
            )
        }),
        _ => None,
    }
    .map(Into::into);
    error
}
