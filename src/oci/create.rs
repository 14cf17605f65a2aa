//! `create`: everything of config.json applied except the exec of
//! `process.args`, then the container waits on its `exec.fifo` for `start`.
//!
//! The parent's steps: read and check the bundle, make the state directory,
//! create the cgroup with its limits, open what the child needs (namespace
//! paths, console socket, fifo), fork into the new namespaces, answer the
//! child (id mappings, hooks) until it reports ready, then write the pid
//! file and the state. A failure at any point removes everything made so
//! far and kills the child: "as if the operation were never attempted".

use super::cgroups;
use super::config::{self, Config, IdMap};
use super::hooks;
use super::plan;
use super::state::{self, State, Status};
use crate::cgroup::{self, Cgroup, Hierarchies, Layout, Request, detect};
use crate::child;
use crate::error::{Error, Result, Step};
use crate::sync::{self, Msg};
use crate::sys::{self, Fork, signal::SigSet};
use linux_raw_sys::general as g;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};
use std::ffi::CString;
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct CreateArgs {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// The signal mask the payload gets (`None`: ours as it is).
    pub exec_mask: Option<SigSet>,
}

/// Removes a half-made container unless disarmed: the state directory,
/// the cgroup, the child.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    child: Option<Pid>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.child.take() {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Read `bundle/config.json`: the raw bytes (saved with the state) and
/// the decoded config.
pub fn read_bundle(bundle: &Path) -> Result<(Vec<u8>, Config, PathBuf)> {
    let bundle = std::fs::canonicalize(bundle)
        .map_err(|e| state::io_error(e).at(format!("bundle {}", bundle.display())))?;
    let file = bundle.join("config.json");
    let bytes = crate::input::read(&file, crate::json::MAX_INPUT)?;
    let doc =
        crate::json::parse(&bytes).map_err(|e| Error::usage(format!("{}: {e}", file.display())))?;
    let cfg = config::decode(&doc, &bundle)?;
    Ok((bytes, cfg, bundle))
}

/// Create the container; returns its state (status `created`) and the
/// child, which is ours until this process exits.
pub fn create(a: &CreateArgs) -> Result<(State, Pid)> {
    state::check_id(&a.id)?;
    let (bytes, mut cfg, bundle) = read_bundle(&a.bundle)?;
    let Some(process) = &cfg.process else {
        return Err(Error::usage("config.json: process: missing"));
    };
    cfg.root = check_rootfs(&cfg.root)?;
    // The fds after stdio the payload keeps: --preserve-fds, and socket
    // activation's LISTEN_FDS, which also goes to its environment.
    let mut process = process.clone();
    let mut preserve = a.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        preserve += n;
        process
            .env
            .retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        process.env.push(format!("LISTEN_FDS={n}"));
        process.env.push("LISTEN_PID=1".into());
    }
    let payload = plan::payload(&process, cfg.linux.seccomp.as_ref(), "process")?;
    if process.terminal != a.console_socket.is_some() {
        return Err(Error::usage(if process.terminal {
            "process.terminal is true: --console-socket is required"
        } else {
            "--console-socket given but process.terminal is false"
        }));
    }
    let flags = namespace_flags(&cfg)?;
    let joins = open_joins(&cfg)?;
    // 1. The state directory: its creation is what makes the id ours. Only
    //    we may read it (the config holds the payload's environment).
    state::prepare_root(&a.root)?;
    let dir = state::dir(&a.root, &a.id);
    match rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            return Err(Error::usage(format!("container {} already exists", a.id)));
        }
        Err(e) => return Err(Error::new(Step::State, e).at(dir.display().to_string())),
    }
    let mut undo = Undo {
        dir: Some(dir.clone()),
        cgroup: None,
        child: None,
    };
    state::write_private(&dir.join("config.json"), &bytes)?;
    // 2. The record, before anything else exists (no process yet, the
    //    cgroup it is about to get): whatever a killed `create` leaves,
    //    `delete --force` finds. Then the cgroup and its limits, before
    //    anything runs in it.
    let cg_root = Path::new(cgroup::ROOT);
    let layout = detect(cg_root).unwrap_or(Layout::V1);
    let writes = cgroups::writes(layout, &cfg.linux.resources)?;
    let device_rules = cgroups::device_rules(&cfg.linux.resources, &plan::device_rules(&cfg));
    let cg_path = cfg
        .linux
        .cgroups_path
        .clone()
        .unwrap_or_else(|| format!("/{}", a.id));
    let request = Request {
        path: &cg_path,
        hierarchies: Hierarchies::All,
        writes: &writes,
        devices: &device_rules,
        owned: false,
    };
    let mut st = State {
        id: a.id.clone(),
        kind: state::Kind::Oci,
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: cfg.root.clone(),
        created: state::now_rfc3339(),
        annotations: cfg.annotations.clone(),
        cgroup: cgroup::plan(cg_root, &request)?,
        own_pid_ns: cfg.linux.has(g::CLONE_NEWPID),
        keep: false,
        exit_code: None,
        finished: String::new(),
        command: process.args.join(" "),
        options: Vec::new(),
    };
    st.save(&a.root)?;
    let leaves = cgroup::create(cg_root, &request)?.cgroup;
    undo.cgroup = Some(leaves.clone());
    // 3. The mount plan and everything else the child reads.
    let ops = plan::mounts(&cfg, &bundle, &leaves, host_netns(&cfg, &joins))?;
    let root = plan::cpath(&cfg.root)?;
    let hostname = cfg
        .hostname
        .as_deref()
        .map(CString::new)
        .transpose()
        .map_err(|_| Error::usage("config.json: hostname: NUL byte"))?;
    let domainname = cfg
        .domainname
        .as_deref()
        .map(CString::new)
        .transpose()
        .map_err(|_| Error::usage("config.json: domainname: NUL byte"))?;
    let join_fds = leaves.join_files()?;
    let console = a
        .console_socket
        .as_deref()
        .map(crate::console::connect)
        .transpose()?;
    let fifo_path = state::fifo(&a.root, &a.id);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo_path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .map_err(|e| Error::new(Step::State, e).at(fifo_path.display().to_string()))?;
    let fifo = rustix::fs::open(&fifo_path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::new(Step::State, e).at(fifo_path.display().to_string()))?;
    let (ours, theirs) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::new(Step::SyncPipe, e))?;
    let has_hooks = !(cfg.hooks.prestart.is_empty()
        && cfg.hooks.create_runtime.is_empty()
        && cfg.hooks.create_container.is_empty());
    // A pid or time namespace given by path is entered here: it applies to
    // our children, and the container's PID 1 is one.
    enter_for_children(&cfg)?;
    // The payload gets the caller's signal mask (`run` blocked some of its
    // own meanwhile).
    let exec_mask = match a.exec_mask {
        Some(mask) => mask,
        None => sys::signal::block(SigSet::empty()).map_err(|e| Error::new(Step::SignalMask, e))?,
    };
    // 4. Fork straight into the new namespaces.
    let user_ns = flags & g::CLONE_NEWUSER != 0;
    let pid =
        match sys::fork_into(u64::from(flags), None).map_err(|e| Error::new(Step::Clone, e))? {
            Fork::Child { .. } => {
                sys::mark_child();
                drop(ours);
                // The one sequence every container follows, held at the
                // end until `start`.
                child::run(child::Plan {
                    sync: theirs,
                    waited: SigSet::empty(),
                    exec_mask,
                    wait_for_maps: user_ns,
                    setgroups_may_be_denied: false,
                    parent: None,
                    joins: &joins,
                    hostname: hostname.as_ref().map(|h| h.as_bytes()),
                    domainname: domainname.as_ref().map(|d| d.as_bytes()),
                    new_netns: flags & g::CLONE_NEWNET != 0,
                    root: &root,
                    host_root: false,
                    root_readonly: cfg.root_readonly,
                    rootfs_propagation: cfg
                        .linux
                        .rootfs_propagation
                        .as_deref()
                        .and_then(config::propagation),
                    ops: &ops,
                    hooks: has_hooks,
                    cgroup_join: &join_fds,
                    cgroup_ns: cfg.linux.new_namespaces() & g::CLONE_NEWCGROUP != 0,
                    payload: &payload,
                    console,
                    stdio: child::Stdio::default(),
                    preserve,
                    hold: Some(fifo),
                    title: None,
                })
            }
            Fork::Parent { child, .. } => child,
        };
    undo.child = Some(pid);
    drop(theirs);
    drop(fifo);
    drop(console);
    //    Recorded at once: if we are killed from here on, `delete --force`
    //    kills this process by its pid (and it ends by itself once it sees
    //    that we are gone: it waits for our word before it waits for start).
    st.pid = pid.as_raw_nonzero().get();
    st.pid_start = state::start_time(st.pid).unwrap_or(0);
    st.cgroup = leaves.clone();
    st.save(&a.root)?;
    // 5. Answer the child until it is ready.
    if user_ns {
        write_id_maps(pid, &cfg.linux.uid_mappings, &cfg.linux.gid_mappings)?;
        rustix::io::write(&ours, &[0]).map_err(|e| Error::new(Step::UserNamespace, e))?;
    }
    loop {
        match sync::receive_msg(&ours) {
            Ok(Some(Msg::Ready)) => break,
            Ok(Some(Msg::Hooks)) => {
                let json = state::to_json(&st, Status::Created);
                let result = hooks::run("hooks.prestart", &cfg.hooks.prestart, &json, None)
                    .and_then(|()| {
                        hooks::run(
                            "hooks.createRuntime",
                            &cfg.hooks.create_runtime,
                            &json,
                            None,
                        )
                    })
                    .and_then(|()| {
                        hooks::run(
                            "hooks.createContainer",
                            &cfg.hooks.create_container,
                            &json,
                            Some(st.pid),
                        )
                    });
                let reply = [u8::from(result.is_err())];
                let _ = rustix::io::write(&ours, &reply);
                result?;
            }
            Ok(Some(Msg::Failed(f))) => return Err(describe(&cfg, &ops, &payload, f)),
            Ok(None) => {
                return Err(Error::invalid(
                    Step::Clone,
                    "the container process died during setup",
                ));
            }
            Err(e) => return Err(Error::new(Step::SyncPipe, e)),
        }
    }
    // 6. The pid file before we return (the caller reads it at once); then
    //    the child may wait for `start`: from here on the container exists.
    if let Some(file) = &a.pid_file {
        write_atomic(file, st.pid.to_string().as_bytes())?;
    }
    rustix::io::write(&ours, &[0]).map_err(|e| Error::new(Step::SyncPipe, e))?;
    undo.child = None;
    undo.cgroup = None;
    undo.dir = None;
    Ok((st, pid))
}

/// The rootfs, symlinks resolved (it is mounted over itself by path).
fn check_rootfs(root: &Path) -> Result<PathBuf> {
    let shown = || root.display().to_string();
    let real = std::fs::canonicalize(root).map_err(|e| {
        Error {
            step: Step::Rootfs,
            ..state::io_error(e)
        }
        .at(shown())
    })?;
    let st = rustix::fs::stat(&real).map_err(|e| Error::new(Step::Rootfs, e).at(shown()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(Error::new(Step::Rootfs, Errno::NOTDIR).at(shown()));
    }
    // procfs and sysfs writes must not be redirected by the image
    // (CVE-2019-19921, CVE-2023-27561): refuse a symlinked /proc or /sys.
    for special in ["proc", "sys"] {
        let is_link = rustix::fs::lstat(real.join(special)).is_ok_and(|m| {
            rustix::fs::FileType::from_raw_mode(m.st_mode) == rustix::fs::FileType::Symlink
        });
        if is_link {
            return Err(Error::invalid(
                Step::Rootfs,
                format!(
                    "{}: /{special} is a symlink, refusing to mount over it",
                    shown()
                ),
            ));
        }
    }
    Ok(real)
}

/// The clone flags: every namespace to create, except the cgroup one
/// (unshared from inside the cgroup) and time (entered before the fork).
fn namespace_flags(cfg: &Config) -> Result<u32> {
    for (flag, path) in &cfg.linux.namespaces {
        if path.is_some() && (*flag == g::CLONE_NEWUSER || *flag == g::CLONE_NEWNS) {
            return Err(Error::usage(format!(
                "config.json: linux.namespaces: joining a {} namespace by path is not supported by cella",
                config::ns_file(*flag)
            )));
        }
    }
    if !cfg.linux.has(g::CLONE_NEWNS) {
        return Err(Error::usage(
            "config.json: linux.namespaces: cella needs a mount namespace to set up the root",
        ));
    }
    Ok(cfg.linux.new_namespaces() & !(g::CLONE_NEWCGROUP | g::CLONE_NEWTIME))
}

/// Namespaces given by path that the child joins, opened before the fork
/// so a bad path fails in the parent (the undo guard then removes the
/// cgroup and state directory made so far).
fn open_joins(cfg: &Config) -> Result<Vec<(OwnedFd, u32)>> {
    let mut out = Vec::new();
    for (flag, path) in &cfg.linux.namespaces {
        let Some(path) = path else { continue };
        if *flag == g::CLONE_NEWPID || *flag == g::CLONE_NEWTIME {
            continue;
        }
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(path.display().to_string()))?;
        out.push((fd, *flag));
    }
    Ok(out)
}

/// Whether the container's network namespace is cella's own: no new one,
/// or the one joined (checked on the fd it will join) is ours.
fn host_netns(cfg: &Config, joins: &[(OwnedFd, u32)]) -> bool {
    if !cfg.linux.has(g::CLONE_NEWNET) {
        return true;
    }
    let ours = rustix::fs::stat("/proc/self/ns/net");
    joins
        .iter()
        .filter(|(_, k)| *k == g::CLONE_NEWNET)
        .any(|(fd, _)| match (rustix::fs::fstat(fd), &ours) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => true,
        })
}

fn enter_for_children(cfg: &Config) -> Result<()> {
    // A new time namespace gets its clock offsets before any process is in it.
    if cfg.linux.new_namespaces() & g::CLONE_NEWTIME != 0 {
        sys::unshare_time_ns().map_err(|e| Error::new(Step::JoinNamespace, e).at("time"))?;
        let offsets: String = cfg
            .linux
            .time_offsets
            .iter()
            .map(|(clock, secs, nanos)| format!("{clock} {secs} {nanos}\n"))
            .collect();
        if !offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| {
                state::io_error(e).at("linux.timeOffsets (/proc/self/timens_offsets)")
            })?;
        }
    }
    for (flag, path) in &cfg.linux.namespaces {
        let Some(path) = path else { continue };
        if *flag != g::CLONE_NEWPID && *flag != g::CLONE_NEWTIME {
            continue;
        }
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(path.display().to_string()))?;
        child::join_namespace(fd.as_fd(), *flag)
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(path.display().to_string()))?;
    }
    Ok(())
}

fn write_id_maps(pid: Pid, uids: &[IdMap], gids: &[IdMap]) -> Result<()> {
    let text = |maps: &[IdMap]| {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
            .collect::<String>()
    };
    let pid = pid.as_raw_nonzero().get();
    for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text(maps))
            .map_err(|e| state::io_error(e).at(path.clone()))
            .map_err(|e| Error {
                step: Step::UserNamespace,
                ..e
            })?;
    }
    Ok(())
}

/// Write a small file whole or not at all.
pub fn write_atomic(file: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".cella-tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            state::io_error(e).at(file.display().to_string())
        })
}

/// The child's failure record as a full error naming what it was about.
pub fn describe(
    cfg: &Config,
    ops: &[crate::mount::MountOp],
    payload: &crate::process::Payload,
    f: crate::sync::Failure,
) -> Error {
    let mut e = if f.errno == 0 {
        Error::invalid(f.step, "")
    } else {
        Error::new(f.step, Errno::from_raw_os_error(f.errno))
    };
    let op = ops
        .get(usize::from(f.index))
        .map(|op| format!("/{}", op.target));
    e.what = match f.step {
        Step::CloneRoot
        | Step::AttachRoot
        | Step::EnterRoot
        | Step::PivotRoot
        | Step::DetachOldRoot
        | Step::Chroot
        | Step::ReadOnlyRoot => Some(cfg.root.display().to_string()),
        Step::MakeMountpoint
        | Step::MountProc
        | Step::MountSys
        | Step::MountDev
        | Step::MakeDevice
        | Step::MountDevPts
        | Step::MountShm
        | Step::MountMqueue
        | Step::MountTmpfs
        | Step::BindMount
        | Step::Mount
        | Step::Sysctl
        | Step::MaskPath
        | Step::ReadOnlyPath => op,
        Step::SetHostname => cfg.hostname.clone(),
        Step::Workdir => cfg.process.as_ref().map(|p| p.cwd.clone()),
        Step::Exec => payload
            .exec
            .argv
            .strings()
            .first()
            .map(|a| a.to_string_lossy().into_owned()),
        Step::SetUser => Some(format!("{}:{}", payload.uid, payload.gid)),
        Step::Rlimit => cfg
            .process
            .as_ref()
            .and_then(|p| p.rlimits.get(usize::from(f.index)))
            .map(|(r, soft, hard)| format!("{} {soft}:{hard}", config::rlimit_name(*r))),
        _ => None,
    }
    .map(Into::into);
    e
}
