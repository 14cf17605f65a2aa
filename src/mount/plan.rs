//! The one mount planner. Every front end describes the container's file
//! system the same way ([`Filesystem`]: its mounts, made with
//! [`MountOp::fs`] and [`MountOp::bind`], device nodes, sysctls, read-only
//! and masked paths); [`plan`] puts them in the order the child applies
//! them, with the default devices. Pure; unit tested without root.

use super::{Kind, MountOp};
use crate::error::{Error, Result, Step};
use crate::spec;
use linux_raw_sys::general as g;
use rustix::fs::FileType;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

impl MountOp {
    /// A new file system instance of `fstype` at `target` (relative to the
    /// root); `source` is what mountinfo shows (`proc proc`, not `proc none`).
    pub fn fs(
        target: String,
        fstype: &str,
        source: &str,
        attrs: u64,
        mut data: Vec<(String, String)>,
    ) -> MountOp {
        if !source.is_empty() {
            data.insert(0, ("source".into(), source.to_owned()));
        }
        MountOp {
            step: step_for(fstype, &target),
            propagation: None,
            optional: false,
            target,
            kind: Kind::Fs {
                fstype: fstype.to_owned(),
                options: data,
                attrs,
                copy_up: false,
            },
        }
    }

    /// A bind of the host path `source` at `target`, with `attrs` on its
    /// top mount and `tree_attrs` on every mount of the tree; a bind keeps
    /// its source's atime setting unless asked otherwise.
    pub fn bind(
        target: String,
        source: CString,
        is_dir: bool,
        recursive: bool,
        (attrs, tree_attrs): (u64, u64),
    ) -> MountOp {
        let keep_atime = !(g::MOUNT_ATTR__ATIME as u64);
        MountOp {
            step: Step::BindMount,
            propagation: None,
            optional: false,
            target,
            kind: Kind::Bind {
                source,
                is_dir,
                recursive,
                attrs: attrs & keep_atime,
                tree_attrs: tree_attrs & keep_atime,
            },
        }
    }
}

/// A device node the container gets (`--device`, `linux.devices`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceNode {
    /// Path inside the container, relative to its root.
    pub target: String,
    /// The host's node (bound instead where mknod is refused).
    pub host: PathBuf,
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A container's file system, as every front end describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    /// Its mounts in order (a later one may shadow an earlier one): new
    /// file systems, binds with their sources resolved, cgroup views
    /// ([`MountOp::fs`], [`MountOp::bind`], [`super::cgroup_view`]).
    pub mounts: Vec<MountOp>,
    pub devices: Vec<DeviceNode>,
    /// mknod is refused (a user namespace): bind each host node instead.
    pub bind_devices: bool,
    /// (file under the root, `proc/sys/...`; value): checked by the front
    /// end, which knows the namespaces.
    pub sysctls: Vec<(String, String)>,
    pub readonly_paths: Vec<String>,
    pub masked_paths: Vec<String>,
    /// The working directory, made if missing once everything is mounted.
    pub workdir: Option<String>,
}

fn step_for(fstype: &str, target: &str) -> Step {
    match fstype {
        "proc" => Step::MountProc,
        "sysfs" => Step::MountSys,
        "devpts" => Step::MountDevPts,
        "mqueue" => Step::MountMqueue,
        "tmpfs" if target == "dev" => Step::MountDev,
        "tmpfs" if target == "dev/shm" => Step::MountShm,
        "tmpfs" => Step::MountTmpfs,
        _ => Step::Mount,
    }
}

pub fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::usage(format!("{}: path contains a NUL byte", p.display())))
}

/// The child's mount ops for `fs`, in the order they happen: the mounts as
/// listed; the runtime spec's default devices and `/dev` links (unless a
/// `/dev` of the caller's is bound); the device nodes; sysctls; read-only
/// paths, then masked ones, as runc does.
pub fn plan(fs: Filesystem) -> Result<Vec<MountOp>> {
    let mut ops = fs.mounts;
    // A read-only tmpfs with something to make in it (a mount point,
    // `/dev`'s nodes) is made writable and sealed once all is done.
    let rdonly = u64::from(g::MOUNT_ATTR_RDONLY);
    let mut sealed = Vec::new();
    for i in 0..ops.len() {
        let below = format!("{}/", ops[i].target);
        let holds_more = ops[i].target == "dev"
            || ops[i + 1..]
                .iter()
                .any(|later| later.target.starts_with(&below));
        // Only a tmpfs: other file systems (sysfs, proc) have their mount
        // points already and no node can be made in them.
        if let Kind::Fs { attrs, fstype, .. } = &mut ops[i].kind
            && *attrs & rdonly != 0
            && holds_more
            && fstype == "tmpfs"
        {
            *attrs &= !rdonly;
            sealed.push(MountOp {
                step: ops[i].step,
                propagation: None,
                optional: false,
                target: ops[i].target.clone(),
                kind: Kind::Seal,
            });
        }
    }
    let dev_is_bound = ops
        .iter()
        .any(|op| op.target == "dev" && matches!(op.kind, Kind::Bind { .. }));
    if !dev_is_bound {
        let listed = super::DEV_NAMES
            .split(' ')
            .enumerate()
            .filter(|(_, name)| {
                fs.devices
                    .iter()
                    .any(|d| d.target.strip_prefix("dev/") == Some(name))
            })
            .fold(0, |bits, (i, _)| bits | 1 << i);
        ops.push(MountOp {
            step: Step::MakeDevice,
            propagation: None,
            optional: false,
            target: "dev".into(),
            kind: Kind::DevNodes { listed },
        });
    }
    for d in fs.devices {
        ops.push(MountOp {
            step: Step::MakeDevice,
            propagation: None,
            optional: false,
            target: d.target,
            kind: if fs.bind_devices {
                Kind::Bind {
                    source: cpath(&d.host)?,
                    is_dir: false,
                    recursive: false,
                    attrs: 0,
                    tree_attrs: 0,
                }
            } else {
                Kind::Node {
                    kind: d.kind,
                    dev: rustix::fs::makedev(d.major, d.minor),
                    mode: d.mode,
                    uid: d.uid,
                    gid: d.gid,
                }
            },
        });
    }
    for (target, value) in fs.sysctls {
        ops.push(MountOp {
            step: Step::Sysctl,
            propagation: None,
            optional: false,
            target,
            kind: Kind::ProcWrite {
                value: value.into_bytes(),
            },
        });
    }
    if let Some(dir) = fs.workdir.as_deref().map(spec::relative)
        && !dir.is_empty()
    {
        ops.push(MountOp {
            step: Step::Workdir,
            propagation: None,
            optional: false,
            target: dir,
            kind: Kind::Dir,
        });
    }
    for p in &fs.readonly_paths {
        ops.push(MountOp {
            step: Step::ReadOnlyPath,
            propagation: None,
            optional: false,
            target: spec::relative(p),
            kind: Kind::ReadOnly,
        });
    }
    for p in &fs.masked_paths {
        ops.push(MountOp {
            step: Step::MaskPath,
            propagation: None,
            optional: false,
            target: spec::relative(p),
            kind: Kind::Mask,
        });
    }
    ops.extend(sealed);
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RDONLY: u64 = g::MOUNT_ATTR_RDONLY as u64;
    const NOSUID: u64 = g::MOUNT_ATTR_NOSUID as u64;
    const NOATIME: u64 = g::MOUNT_ATTR_NOATIME as u64;

    fn fs(mounts: Vec<MountOp>) -> Filesystem {
        Filesystem {
            mounts,
            devices: Vec::new(),
            bind_devices: false,
            sysctls: Vec::new(),
            readonly_paths: vec!["/proc/sys".into()],
            masked_paths: vec!["/proc/kcore".into()],
            workdir: None,
        }
    }

    fn data(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_read_only_file_system_with_mounts_below_is_sealed_last() {
        let dev = MountOp::fs("dev".into(), "tmpfs", "tmpfs", RDONLY | NOSUID, Vec::new());
        let pts = MountOp::fs("dev/pts".into(), "devpts", "devpts", 0, Vec::new());
        let lone = MountOp::fs("srv".into(), "tmpfs", "tmpfs", RDONLY, Vec::new());
        let sys = MountOp::fs("sys".into(), "sysfs", "sysfs", RDONLY, Vec::new());
        let cgroup = crate::mount::cgroup_view("sys/fs/cgroup", true);
        let ops = plan(fs(vec![dev, pts, lone, sys, cgroup])).unwrap();
        assert!(matches!(ops[0].kind, Kind::Fs { attrs, .. } if attrs == NOSUID));
        assert!(matches!(ops[2].kind, Kind::Fs { attrs, .. } if attrs == RDONLY));
        assert!(
            matches!(ops[3].kind, Kind::Fs { attrs, .. } if attrs == RDONLY),
            "sysfs stays"
        );
        let last = ops.last().unwrap();
        assert_eq!((last.target.as_str(), &last.kind), ("dev", &Kind::Seal));
        assert_eq!(ops.iter().filter(|o| o.kind == Kind::Seal).count(), 1);
    }

    #[test]
    fn a_new_file_system_shows_its_source_and_its_step() {
        let shm = MountOp::fs(
            "dev/shm".into(),
            "tmpfs",
            "shm",
            0,
            data(&[("mode", "1777")]),
        );
        assert_eq!(shm.step, Step::MountShm);
        assert_eq!(
            shm.kind,
            Kind::Fs {
                fstype: "tmpfs".into(),
                options: data(&[("source", "shm"), ("mode", "1777")]),
                attrs: 0,
                copy_up: false,
            }
        );
        let proc = MountOp::fs("proc".into(), "proc", "proc", NOSUID, Vec::new());
        assert_eq!(proc.step, Step::MountProc);
        assert!(
            matches!(&proc.kind, Kind::Fs { options, .. } if *options == data(&[("source", "proc")]))
        );
        assert_eq!(
            MountOp::fs("dev".into(), "tmpfs", "", 0, Vec::new()).step,
            Step::MountDev
        );
        let bind = MountOp::bind(
            "srv".into(),
            c"/".to_owned(),
            true,
            true,
            (RDONLY | NOATIME, NOSUID),
        );
        assert_eq!(
            bind.kind,
            Kind::Bind {
                source: c"/".to_owned(),
                is_dir: true,
                recursive: true,
                attrs: RDONLY,
                tree_attrs: NOSUID,
            },
            "a bind keeps its source's atime"
        );
    }

    #[test]
    fn mounts_then_default_devices_then_nodes_then_paths() {
        let mut f = fs(vec![
            MountOp::fs("proc".into(), "proc", "proc", NOSUID, Vec::new()),
            MountOp::fs(
                "dev".into(),
                "tmpfs",
                "tmpfs",
                NOSUID,
                data(&[("mode", "755")]),
            ),
            MountOp::bind("srv".into(), c"/".to_owned(), true, true, (RDONLY, 0)),
        ]);
        f.devices.push(DeviceNode {
            target: "dev/fuse".into(),
            host: "/dev/fuse".into(),
            kind: FileType::CharacterDevice,
            major: 10,
            minor: 229,
            mode: 0o666,
            uid: 0,
            gid: 0,
        });
        f.sysctls
            .push(("proc/sys/kernel/msgmax".into(), "1".into()));
        let ops = plan(f.clone()).unwrap();
        let targets: Vec<&str> = ops.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "proc",
                "dev",
                "srv",
                "dev",
                "dev/fuse",
                "proc/sys/kernel/msgmax",
                "proc/sys",
                "proc/kcore"
            ]
        );
        assert_eq!(ops[3].kind, Kind::DevNodes { listed: 0 });
        assert!(matches!(ops[4].kind, Kind::Node { mode: 0o666, .. }));
        assert_eq!(
            ops[5].kind,
            Kind::ProcWrite {
                value: b"1".to_vec()
            }
        );
        assert_eq!(
            (ops[6].step, ops[7].step),
            (Step::ReadOnlyPath, Step::MaskPath)
        );
        f.bind_devices = true;
        let ops = plan(f.clone()).unwrap();
        assert!(
            matches!(&ops[4].kind, Kind::Bind { source, is_dir: false, .. } if source.as_bytes() == b"/dev/fuse")
        );
        // A node the config makes under a default's name replaces it (a
        // device or a link), as runc does.
        for (name, bit) in [("null", 0), ("tty", 5), ("ptmx", 10)] {
            let mut g = f.clone();
            g.devices[0].target = format!("dev/{name}");
            let ops = plan(g).unwrap();
            assert_eq!(ops[3].kind, Kind::DevNodes { listed: 1 << bit }, "{name}");
        }
    }

    #[test]
    fn a_bound_dev_gets_no_default_devices() {
        let bound = MountOp::bind("dev".into(), c"/dev".to_owned(), true, true, (0, 0));
        let ops = plan(fs(vec![bound])).unwrap();
        assert!(!ops.iter().any(|o| matches!(o.kind, Kind::DevNodes { .. })));
    }
}
