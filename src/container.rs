//! `cella run` and `cella init` containers: a [`Spec`] translated into the
//! engine's container (`crate::engine` makes it), then the wait, with
//! signals forwarded, and the cleanup.

use crate::attach::Attach;
use crate::cgroup::{self, Owned};
use crate::cli::Net;
use crate::engine;
use crate::error::{Ctx, Error, Result, Step};
use crate::mount;
use crate::process;
use crate::spec::Spec;
use crate::store;
use crate::sys::{signal, signal::SigSet};
use linux_raw_sys::general::{
    CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS,
};
use rustix::fd::OwnedFd;
use rustix::process::{Pid, WaitStatus};
use std::path::{Path, PathBuf};

pub use crate::process::FORWARDED;

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
    /// A bridge container's place on its bridge, given up with it.
    links: crate::net::Links,
    /// Its record in the state store, removed with it (or kept, with how
    /// it ended: `cella run -d` without `--rm`).
    record: store::Held,
    keep_record: bool,
    memory_limited: bool,
    /// Locks held for its life: `--overlay-upper`'s (one container at a
    /// time writes the directory), its imported image's (`rmi` waits).
    #[cfg(feature = "image")]
    _held: Vec<rustix::fd::OwnedFd>,
}

impl Running {
    /// Its directory in the state store.
    pub fn record_dir(&self) -> std::path::PathBuf {
        self.record.dir()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.record.id()
    }

    /// What a killed cella left of a container of the same name (its
    /// record and cgroup, or only an abandoned cgroup) was removed.
    pub fn reclaimed(&self) -> bool {
        self.cgroup.reclaimed || self.record.reclaimed
    }

    /// After PID 1 was reaped with `status`: report an OOM kill, kill what
    /// is left in the cgroup and remove it (step 18).
    pub fn finish(self, status: WaitStatus) -> Outcome {
        let code = process::exit_code(status);
        let oom_killed = self.memory_limited && code == 137 && self.cgroup.cgroup.oom_kills() > 0;
        let cleanup = self.cgroup.remove().err();
        // Its rules go before its record says it ended: whoever sees it
        // ended (`cella wait`, `rm`) sees no rule of it left. (Without the
        // `net` feature there are none.)
        #[cfg_attr(not(feature = "net"), allow(clippy::drop_non_drop))]
        drop(self.links);
        if self.keep_record {
            self.record.exited(i32::from(code));
        } else {
            self.record.remove(i32::from(code));
        }
        Outcome {
            code,
            oom_killed,
            cleanup,
        }
    }

    /// 17. Forward signals until the container's PID 1 exits, then finish.
    pub fn wait(self) -> Result<Outcome> {
        self.wait_relaying(process::Relay::default())
    }

    /// [`Running::wait`], carrying `relay`'s streams meanwhile.
    pub fn wait_relaying(self, relay: process::Relay<'_>) -> Result<Outcome> {
        let status = process::wait_forwarding(self.pid, relay)?;
        Ok(self.finish(status))
    }
}

/// A foreground `cella run`: the container, and what cella carries between
/// it and the caller meanwhile.
pub struct Foreground {
    pub running: Running,
    attach: Attach,
}

/// Start the container described by `spec` for `cella run`, its stdio
/// from ours as docker gives it ([`Attach`]); [`Foreground::wait`] waits
/// for it, relaying, forwarding signals.
pub fn run(mut spec: Spec) -> Result<Foreground> {
    // 1. Block the forwarded signals and SIGCHLD before the child exists, so
    //    none is lost; the parent takes them one at a time, the child
    //    restores the old mask just before exec.
    let old_mask = signal::block(process::WAITED).ctx(Step::SignalMask)?;
    let mut attach = Attach::prepare(spec.payload.terminal, spec.interactive)?;
    spec.payload.console_size = attach.console_size();
    let console = attach.console.take();
    let running = create(spec, attach.stdio(), console, old_mask)?;
    attach.started()?;
    Ok(Foreground { running, attach })
}

impl Foreground {
    /// 17. Relay until the container's PID 1 exits, forwarding signals,
    ///     then finish.
    pub fn wait(self) -> Result<Outcome> {
        let Foreground { running, attach } = self;
        attach.relay(|r| running.wait_relaying(r))
    }
}

/// Create the container and exec its payload, returning once the exec
/// happened (or with the failed step, leaving nothing behind).
/// `child_mask` is the signal mask the payload gets.
pub fn start(spec: Spec, stdio: Stdio<'_>, child_mask: SigSet) -> Result<Running> {
    create(spec, stdio, None, child_mask)
}

/// [`start`], with the socket a `-t` payload sends its pty master over.
pub fn create(
    spec: Spec,
    stdio: Stdio<'_>,
    console: Option<OwnedFd>,
    child_mask: SigSet,
) -> Result<Running> {
    let io = engine::Io {
        stdio,
        console,
        waited: process::WAITED,
        exec_mask: child_mask,
    };
    let memory_limited = spec.limits.memory.is_some();
    let mut c = container(spec)?;
    let keep_record = c.record.keep;
    let made = engine::create(&mut c, io, &mut |_, _| Ok(()))?;
    let (pid, cgroup, links, record) = made.running();
    #[cfg(feature = "image")]
    let held = c
        .layers
        .take()
        .map(crate::image::Layers::into_locks)
        .unwrap_or_default();
    Ok(Running {
        pid,
        cgroup,
        links,
        #[cfg(feature = "image")]
        _held: held,
        record,
        keep_record,
        memory_limited,
    })
}

/// `spec` as the engine's container: a supervised one, under its name.
fn container(spec: Spec) -> Result<engine::Container> {
    let title = spec.payload.exec.init.then(|| init_title(&spec));
    let record = store::Record {
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
        options: spec.options,
        #[cfg(feature = "net")]
        network: spec.network.as_ref().map(|n| n.record()),
        #[cfg(not(feature = "net"))]
        network: None,
    };
    // Rootless: no cgroup (`main` said so if limits were asked).
    let cgroup = spec.rootless.is_none().then(|| {
        let layout = cgroup::detect(Path::new(cgroup::ROOT)).unwrap_or(cgroup::Layout::V1);
        cgroup::Plan {
            supervised: Some(spec.name.clone()),
            path: String::new(),
            writes: cgroup::limits::plan(layout, &spec.limits),
            devices: spec.device_rules,
            only_where_permitted: false,
        }
    });
    let mut flags = CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWIPC;
    if !spec.pid_host {
        flags |= CLONE_NEWPID;
    }
    if spec.net != Net::Host {
        flags |= CLONE_NEWNET;
    }
    if spec.rootless.is_some() {
        flags |= CLONE_NEWUSER;
    }
    Ok(engine::Container {
        store: store::default_root(),
        record,
        files: spec.net_files,
        cgroup,
        clone_flags: flags,
        cgroup_ns: true,
        joins: Vec::new(),
        id_maps: spec.rootless.map(engine::IdMaps::Caller),
        dies_with_us: true,
        hostname: Some(crate::spec::cstring(&spec.hostname)?),
        domainname: None,
        root: mount::cpath(&spec.root.source)?,
        root_path: spec.root.source,
        host_root: spec.root.is_host,
        root_readonly: spec.root.read_only,
        rootfs_propagation: None,
        #[cfg(feature = "image")]
        layers: spec.root.layers,
        mounts: mount::plan(spec.filesystem)?,
        hooks: false,
        payload: spec.payload,
        preserve: 0,
        hold_for_start: false,
        title,
        #[cfg(feature = "net")]
        network: spec.network,
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
