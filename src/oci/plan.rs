//! From a decoded config to the engine's description: its file system
//! (mounts, `linux.devices`, sysctls checked against its namespaces,
//! read-only and masked paths; `crate::mount::plan` plans them) and the
//! payload's process settings, with every string and buffer built before
//! the clone. Unit tested without root.

use super::config::{self, Config, Device, DeviceRule, Mount, Process};
use crate::caps;
use crate::error::{Error, Result, Step};
use crate::mount::{DeviceNode, Filesystem, MountOp};
use crate::process::{Exec, Payload};
use crate::seccomp;
use crate::spec;
use linux_raw_sys::general as g;
use rustix::fs::FileType;
use rustix::process::{Gid, Rlimit};
use std::ffi::OsString;
use std::path::Path;

/// `c`'s file system as the one planner takes it, given whether its
/// network namespace is cella's own (no new one, or the one joined by path
/// is ours: no `net.*` sysctl then).
pub fn filesystem(c: &Config, bundle: &Path, host_netns: bool) -> Result<Filesystem> {
    // Loops rather than collecting into a Result: the smaller code.
    let mut fs = Filesystem {
        mounts: Vec::with_capacity(c.mounts.len()),
        devices: Vec::with_capacity(c.linux.devices.len()),
        bind_devices: false,
        sysctls: Vec::with_capacity(c.linux.sysctl.len()),
        readonly_paths: c.linux.readonly_paths.clone(),
        masked_paths: c.linux.masked_paths.clone(),
        workdir: c.process.as_ref().map(|p| p.cwd.clone()),
    };
    for (i, m) in c.mounts.iter().enumerate() {
        fs.mounts
            .push(mount(m, &format!("config.json: mounts[{i}]"), bundle)?);
    }
    for (i, d) in c.linux.devices.iter().enumerate() {
        fs.devices.push(device_node(d, i)?);
    }
    for (key, value) in &c.linux.sysctl {
        let target = sysctl_target(key, &c.linux, host_netns)?;
        fs.sysctls.push((target, value.clone()));
    }
    Ok(fs)
}

/// The IPC namespace's sysctls that runc 1.1 accepts (with `fs.mqueue.*`).
const IPC_SYSCTLS: &str = concat!(
    "kernel.msgmax kernel.msgmnb kernel.msgmni kernel.sem kernel.shmall ",
    "kernel.shmmax kernel.shmmni kernel.shm_rmid_forced",
);

/// Where the sysctl `key` is written (`proc/sys/...` inside the container),
/// if the container may set it. Exactly what runc 1.1's validator takes,
/// since anything else is the host's (`vm.*`, `kernel.core_pattern`: a
/// bundle could run a program as host root): IPC keys with an IPC
/// namespace, `net.*` with a network namespace that is not ours,
/// `kernel.domainname` with a UTS namespace. `net/ipv4/ip_forward` is
/// `net.ipv4.ip_forward`; in that spelling a dot is part of a name.
pub fn sysctl_target(key: &str, linux: &super::config::Linux, host_netns: bool) -> Result<String> {
    let sep = if key.contains('/') { '/' } else { '.' };
    let parts: Vec<&str> = key.split(sep).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(Error::usage(format!(
            "config.json: linux.sysctl: {key:?} is not a sysctl name"
        )));
    }
    let name = key.replace('/', ".");
    let refuse = |why: &str| {
        Err(Error::usage(format!(
            "config.json: linux.sysctl: sysctl {key:?} {why}"
        )))
    };
    let allowed = if crate::cli::among(IPC_SYSCTLS, &name) || name.starts_with("fs.mqueue.") {
        if !linux.has(g::CLONE_NEWIPC) {
            return refuse("is not allowed in the hosts ipc namespace");
        }
        true
    } else if name.starts_with("net.") {
        if host_netns {
            return refuse("not allowed in host network namespace");
        }
        true
    } else if linux.has(g::CLONE_NEWUTS) && name == "kernel.hostname" {
        return refuse("is not allowed as it conflicts with the OCI \"hostname\" field");
    } else {
        linux.has(g::CLONE_NEWUTS) && name == "kernel.domainname"
    };
    if !allowed {
        return refuse("is not in a separate kernel namespace");
    }
    Ok(format!("proc/sys/{}", parts.join("/")))
}

/// Every mount option cella takes, space-separated (`features` lists them;
/// one string rather than a table: no relocation per name), besides a
/// file system's own (`mode=755`, `size=64m`), which go to it as they are.
pub const MOUNT_OPTIONS: &str = concat!(
    "ro rw nosuid suid nodev dev noexec exec noatime atime relatime norelatime ",
    "strictatime nostrictatime nodiratime diratime nosymfollow symfollow defaults ",
    "sync async dirsync lazytime nolazytime mand nomand iversion noiversion loud ",
    "silent bind rbind private rprivate shared rshared slave rslave unbindable ",
    "runbindable rro rrw rnosuid rsuid rnodev rdev rnoexec rexec rnoatime ratime ",
    "rrelatime rnorelatime rstrictatime rnostrictatime rnodiratime rdiratime ",
    "rnosymfollow rsymfollow tmpcopyup",
);

/// `m` as the mount op it describes: its options sorted into mount
/// attributes, a bind (recursive or not) and the file system's own
/// options; a bind's source (relative to the bundle) looked up.
fn mount(m: &Mount, at: &str, bundle: &Path) -> Result<MountOp> {
    let target = spec::mount_target(&m.destination, &format!("{at}.destination"))?;
    // Attributes for the mount itself, and (`r*`) for every mount of a
    // recursive bind's tree; `ro` with `rbind` seals only the top one, as
    // runc does, `rro` all of them.
    let (mut attrs, mut tree_attrs) = (0u64, 0u64);
    let mut bind = (m.fstype == "bind").then_some(false);
    let mut propagation = None;
    let mut copy_up = false;
    let mut data = Vec::new();
    for opt in &m.options {
        let (recursive, name) = match opt.strip_prefix('r') {
            Some(rest)
                if !matches!(
                    opt.as_str(),
                    "ro" | "rw" | "rbind" | "relatime" | "rprivate"
                ) =>
            {
                (true, rest)
            }
            _ => (false, opt.as_str()),
        };
        let flag = match name {
            "ro" => g::MOUNT_ATTR_RDONLY,
            "nosuid" => g::MOUNT_ATTR_NOSUID,
            "nodev" => g::MOUNT_ATTR_NODEV,
            "noexec" => g::MOUNT_ATTR_NOEXEC,
            "noatime" => g::MOUNT_ATTR_NOATIME,
            "strictatime" => g::MOUNT_ATTR_STRICTATIME,
            "nodiratime" => g::MOUNT_ATTR_NODIRATIME,
            "nosymfollow" => g::MOUNT_ATTR_NOSYMFOLLOW,
            // Defaults of a new mount, or of cella's all-private tree; the
            // clearing of a flag nothing set; iversion (every file system
            // that has it keeps it on); loud and silent (the kernel's log).
            "rw" | "suid" | "dev" | "exec" | "atime" | "relatime" | "defaults" | "private"
            | "rprivate" | "norelatime" | "diratime" | "nostrictatime" | "symfollow" | "async"
            | "nolazytime" | "nomand" | "iversion" | "noiversion" | "loud" | "silent" => 0,
            "bind" if !recursive => {
                bind = Some(bind.unwrap_or(false));
                0
            }
            "rbind" => {
                bind = Some(true);
                0
            }
            "shared" | "slave" | "unbindable" => {
                let flag = match name {
                    "shared" => g::MS_SHARED,
                    "slave" => g::MS_SLAVE,
                    _ => g::MS_UNBINDABLE,
                };
                propagation = Some((u64::from(flag), recursive));
                0
            }
            // (sync, dirsync, lazytime and mand are the file system's: a new
            // one takes them as options, a bind has no say, as with runc.)
            "sync" | "dirsync" | "lazytime" | "mand" if !recursive => {
                if bind.is_none() {
                    data.push((name.to_owned(), String::new()));
                }
                0
            }
            // (runc's extension, for a tmpfs only; elsewhere ignored, as by runc.)
            "tmpcopyup" => {
                copy_up = m.fstype == "tmpfs";
                0
            }
            "idmap" | "ridmap" | "remount" => {
                return Err(Error::usage(format!(
                    "{at}.options: {opt} is not supported by cella"
                )));
            }
            _ if recursive => {
                return Err(Error::usage(format!(
                    "{at}.options: {opt} is not supported by cella"
                )));
            }
            other => {
                let (k, v) = other.split_once('=').unwrap_or((other, ""));
                data.push((k.to_owned(), v.to_owned()));
                0
            }
        };
        if recursive {
            tree_attrs |= u64::from(flag);
        } else {
            attrs |= u64::from(flag);
        }
    }
    if let Some(recursive) = bind {
        let source = bundle.join(&m.source);
        let st = rustix::fs::stat(&source).map_err(|e| {
            Error::new(Step::BindMount, e).at(format!("{} ({at}.source)", source.display()))
        })?;
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let mut op = MountOp::bind(
            target,
            cpath(&source)?,
            is_dir,
            recursive,
            (attrs, tree_attrs),
        );
        op.propagation = propagation;
        return Ok(op);
    }
    // A new file system has no mounts under it: `r*` is the same as plain.
    let attrs = attrs | tree_attrs;
    let mut op = match m.fstype.as_str() {
        "cgroup" | "cgroup2" => {
            crate::mount::cgroup_view(&target, attrs & u64::from(g::MOUNT_ATTR_RDONLY) != 0)
        }
        "" => return Err(Error::usage(format!("{at}.type: missing"))),
        fstype => MountOp::fs(target, fstype, &m.source, attrs, data),
    };
    if let crate::mount::Kind::Fs { copy_up: c, .. } = &mut op.kind {
        *c = copy_up;
    }
    op.propagation = propagation;
    Ok(op)
}

/// An allow rule for each node of `linux.devices` (what a config without
/// device rules of its own gets, see `cgroups::device_rules`).
pub fn node_rules(c: &Config) -> Vec<DeviceRule> {
    c.linux
        .devices
        .iter()
        .filter(|d| d.kind != b'p')
        .map(|d| DeviceRule {
            allow: true,
            kind: if d.kind == b'b' { b'b' } else { b'c' },
            major: Some(u64::from(d.major)),
            minor: Some(u64::from(d.minor)),
            access: "rwm".into(),
        })
        .collect()
}

fn device_node(d: &Device, i: usize) -> Result<DeviceNode> {
    let kind = match d.kind {
        b'b' => FileType::BlockDevice,
        b'p' => FileType::Fifo,
        _ => FileType::CharacterDevice,
    };
    Ok(DeviceNode {
        target: spec::mount_target(&d.path, &format!("config.json: linux.devices[{i}].path"))?,
        host: d.path.clone().into(),
        kind,
        major: d.major,
        minor: d.minor,
        mode: d.mode,
        uid: d.uid,
        gid: d.gid,
    })
}

pub use crate::mount::cpath;

/// Build the payload of `p`; `what` names it in errors ("process").
pub fn payload(p: &Process, filter: Option<&config::Seccomp>, what: &str) -> Result<Payload> {
    let Some(first) = p.args.first() else {
        return Err(Error::usage(format!(
            "config.json: {what}.args: must not be empty"
        )));
    };
    let env: Vec<OsString> = p.env.iter().map(OsString::from).collect();
    let exec = Exec {
        candidates: spec::candidates(std::ffi::OsStr::new(first), &env)?,
        argv: spec::cstrings(p.args.iter().map(OsString::from).collect())?,
        envp: spec::cstrings(env)?,
        workdir: Some(spec::cstring(p.cwd.as_str())?),
        init: false,
    };
    let seccomp = match filter {
        Some(s) => Some(seccomp::Filter {
            program: seccomp::compile(&s.profile)
                .map_err(|e| Error::usage(format!("config.json: linux.seccomp: {e}")))?,
            flags: s.flags,
        }),
        None => None,
    };
    Ok(Payload {
        exec,
        uid: p.uid,
        gid: p.gid,
        groups: p
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect(),
        umask: p.umask,
        caps: p.caps,
        known_caps: caps::all_known(),
        rlimits: p
            .rlimits
            .iter()
            .map(|(r, soft, hard)| {
                let lim = |v: u64| if v == u64::MAX { None } else { Some(v) };
                (
                    *r,
                    Rlimit {
                        current: lim(*soft),
                        maximum: lim(*hard),
                    },
                )
            })
            .collect(),
        no_new_privileges: p.no_new_privileges,
        oom_score_adj: p.oom_score_adj.map(|n| n.to_string().into_bytes()),
        seccomp,
        terminal: p.terminal,
        console_size: p.console_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::mount::Kind;

    const RDONLY: u64 = g::MOUNT_ATTR_RDONLY as u64;
    const NOSUID: u64 = g::MOUNT_ATTR_NOSUID as u64;
    const NOEXEC: u64 = g::MOUNT_ATTR_NOEXEC as u64;

    fn sample(name: &str) -> Config {
        let text = match name {
            "ctr" => include_str!("../../tests/data/oci/ctr-config.json"),
            _ => include_str!("../../tests/data/oci/podman-config.json"),
        };
        let doc = json::parse(text.as_bytes()).unwrap();
        super::super::config::decode(&doc, Path::new("/bundle")).unwrap()
    }

    /// The mount ops of `c` (bundle `/bundle`, a network namespace of its own).
    fn mounts(c: &Config) -> Result<Vec<MountOp>> {
        crate::mount::plan(filesystem(c, Path::new("/bundle"), false)?)
    }

    #[test]
    fn containerd_sample_plans_its_mounts_then_devices() {
        let c = sample("ctr");
        assert_eq!(c.root, Path::new("/bundle/rootfs"));
        let ops = mounts(&c).unwrap();
        let targets: Vec<&str> = ops.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(
            &targets[..8],
            [
                "proc",
                "dev",
                "dev/pts",
                "dev/shm",
                "dev/mqueue",
                "sys",
                "run",
                "dev"
            ]
        );
        assert_eq!(ops[7].kind, Kind::DevNodes { listed: 0 });
        // readonly before masked, as runc does.
        let ro = targets.iter().position(|t| *t == "proc/sys").unwrap();
        let masked = targets.iter().position(|t| *t == "proc/kcore").unwrap();
        assert!(ro < masked);
        match &ops[2].kind {
            Kind::Fs {
                fstype,
                options,
                attrs,
                ..
            } => {
                assert_eq!(fstype, "devpts");
                assert!(options.contains(&("newinstance".into(), String::new())));
                assert!(options.contains(&("ptmxmode".into(), "0666".into())));
                assert_eq!(*attrs, NOSUID | NOEXEC);
            }
            other => panic!("{other:?}"),
        }
        match &ops[5].kind {
            Kind::Fs { attrs, .. } => assert_ne!(attrs & RDONLY, 0, "sysfs ro"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_are_sorted_and_unsupported_ones_named() {
        let m = |fstype: &str, options: &[&str]| Mount {
            destination: "/x".into(),
            fstype: fstype.into(),
            source: "/".into(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        };
        let mount = |m: &Mount| mount(m, "mounts[3]", Path::new("/bundle"));
        let shared = mount(&m("tmpfs", &["rshared"])).unwrap();
        assert_eq!(shared.propagation, Some((u64::from(g::MS_SHARED), true)));
        let e = mount(&m("tmpfs", &["rsync"])).unwrap_err().to_string();
        assert!(e.contains("mounts[3].options: rsync"), "{e}");
        // Each option `features` lists is taken, on a new file system and
        // on a bind; the file system's own flags go to a new one only.
        for opt in MOUNT_OPTIONS.split(' ') {
            assert!(!opt.is_empty(), "one space between names");
            for fstype in ["tmpfs", "bind"] {
                let op = mount(&m(fstype, &[opt]));
                assert!(op.is_ok(), "{opt} on {fstype}: {op:?}");
            }
        }
        let fs_flags = mount(&m(
            "tmpfs",
            &["sync", "dirsync", "lazytime", "mand", "silent"],
        ));
        assert!(matches!(
            fs_flags.unwrap().kind,
            Kind::Fs { options, .. } if options.len() == 5
        ));
        let e = mount(&m("", &[])).unwrap_err().to_string();
        assert!(e.contains("mounts[3].type: missing"), "{e}");
        let sorted = mount(&m("tmpfs", &["ro", "nosuid", "mode=755", "newinstance"])).unwrap();
        assert_eq!(
            sorted.kind,
            Kind::Fs {
                fstype: "tmpfs".into(),
                options: vec![
                    ("source".into(), "/".into()),
                    ("mode".into(), "755".into()),
                    ("newinstance".into(), String::new())
                ],
                attrs: RDONLY | NOSUID,
                copy_up: false,
            }
        );
        // tmpcopyup: the tmpfs starts with a copy (runc's extension);
        // elsewhere ignored, as by runc.
        let copied = |fstype: &str| match mount(&m(fstype, &["tmpcopyup", "ro"])).unwrap().kind {
            Kind::Fs { copy_up, .. } => copy_up,
            _ => false,
        };
        assert!(copied("tmpfs") && !copied("proc") && !copied("bind"));
        let bind = |options: &[&str]| match mount(&m("none", options)).unwrap().kind {
            Kind::Bind { recursive, .. } => recursive,
            other => panic!("{other:?}"),
        };
        assert!(!bind(&["bind"]));
        assert!(bind(&["rbind", "bind"]));
        assert!(!matches!(
            mount(&m("bind", &[])).unwrap().kind,
            Kind::Fs { .. }
        ));
        let e = mount(&Mount {
            source: "nonexistent-cella".into(),
            ..m("bind", &[])
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/bundle/nonexistent-cella (mounts[3].source)"),
            "{e}"
        );
        // `ro` with `rbind` seals the top mount only (runc); `rro` and the
        // other `r*` options every mount of the tree; on a new file
        // system they are the plain ones.
        let attrs = |options: &[&str]| match mount(&m("none", options)).unwrap().kind {
            Kind::Bind {
                attrs, tree_attrs, ..
            } => (attrs, tree_attrs),
            Kind::Fs { attrs, .. } => (attrs, u64::MAX),
            other => panic!("{other:?}"),
        };
        assert_eq!(attrs(&["rbind", "ro"]), (RDONLY, 0));
        assert_eq!(attrs(&["rbind", "rro", "rnosuid"]), (0, RDONLY | NOSUID));
        assert_eq!(attrs(&["rro", "nosuid"]), (RDONLY | NOSUID, u64::MAX));
        let e = mount(&m("tmpfs", &["rfoo"])).unwrap_err().to_string();
        assert!(e.contains("options: rfoo is not supported"), "{e}");
    }

    #[test]
    fn podman_sample_has_a_sysctl_and_cgroup_mount() {
        let c = sample("podman");
        assert_eq!(c.hostname.as_deref(), Some("628ceaf5094f"));
        // Bind sources of the sample do not exist here: planning refuses.
        let err = mounts(&c).unwrap_err();
        assert!(err.to_string().contains("mounts[5].source"), "{err}");
        let mut c = c;
        c.mounts.retain(|m| !m.options.iter().any(|o| o == "bind"));
        let ops = mounts(&c).unwrap();
        let sysctl = ops.iter().find(|o| o.step == Step::Sysctl).unwrap();
        assert_eq!(sysctl.target, "proc/sys/net/ipv4/ping_group_range");
        assert!(ops.iter().any(|o| matches!(
            o.kind,
            Kind::Cgroup {
                read_only: true,
                ..
            }
        )));
    }

    #[test]
    fn payload_of_the_sample_process() {
        let c = sample("ctr");
        let p = payload(c.process.as_ref().unwrap(), None, "process").unwrap();
        assert_eq!(p.exec.candidates, [c"/bin/echo".to_owned()]);
        assert_eq!(p.caps.bounding.count_ones(), 14);
        assert!(p.no_new_privileges);
        assert_eq!(p.rlimits.len(), 1);
        assert_eq!(p.groups, [Gid::ROOT]);
    }

    #[test]
    fn sysctls_as_runc_validates_them() {
        use super::super::config::Linux;
        let ns = |kinds: &[u32]| Linux {
            namespaces: kinds.iter().map(|k| (*k, None)).collect(),
            ..Linux::default()
        };
        let all = ns(&[
            g::CLONE_NEWIPC,
            g::CLONE_NEWNET,
            g::CLONE_NEWUTS,
            g::CLONE_NEWNS,
        ]);
        let ok = |key: &str, l: &Linux, host_net: bool| sysctl_target(key, l, host_net);
        // What podman and containerd send, and the IPC and UTS keys.
        for (key, target) in [
            (
                "net.ipv4.ping_group_range",
                "proc/sys/net/ipv4/ping_group_range",
            ),
            (
                "net.ipv4.ip_unprivileged_port_start",
                "proc/sys/net/ipv4/ip_unprivileged_port_start",
            ),
            (
                "net/ipv4/conf/eth0.1/rp_filter",
                "proc/sys/net/ipv4/conf/eth0.1/rp_filter",
            ),
            ("kernel.shm_rmid_forced", "proc/sys/kernel/shm_rmid_forced"),
            ("kernel/sem", "proc/sys/kernel/sem"),
            ("fs.mqueue.msg_max", "proc/sys/fs/mqueue/msg_max"),
            ("kernel.domainname", "proc/sys/kernel/domainname"),
        ] {
            assert_eq!(ok(key, &all, false).unwrap(), target, "{key}");
        }
        // The host's, whatever the namespaces: refused with runc's words.
        for key in [
            "vm.swappiness",
            "kernel.core_pattern",
            "kernel/core_pattern",
            "fs.file-max",
            "kernel.modprobe",
        ] {
            let e = ok(key, &all, false).unwrap_err().to_string();
            assert!(
                e.contains("is not in a separate kernel namespace") && e.contains(key),
                "{e}"
            );
        }
        let e = ok("kernel.hostname", &all, false).unwrap_err().to_string();
        assert!(
            e.contains("conflicts with the OCI \"hostname\" field"),
            "{e}"
        );
        // Namespaced keys without their namespace.
        let none = ns(&[g::CLONE_NEWNS]);
        for (key, why) in [
            ("kernel.msgmax", "hosts ipc namespace"),
            ("fs.mqueue.queues_max", "hosts ipc namespace"),
            ("net.ipv4.ip_forward", "host network namespace"),
            ("kernel.domainname", "not in a separate kernel namespace"),
        ] {
            let e = ok(key, &none, true).unwrap_err().to_string();
            assert!(e.contains(why), "{key}: {e}");
        }
        // A network namespace joined by path that is cella's own is the host's.
        let e = ok("net.ipv4.ip_forward", &all, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("host network namespace"), "{e}");
        // Names that could walk out of /proc/sys.
        for key in ["net/../../kmsg", "net..ipv4", "", "net.ipv4.", "/net/ipv4"] {
            assert!(ok(key, &all, false).is_err(), "{key:?}");
        }
    }
}
