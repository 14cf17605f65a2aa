//! The one mount planner. Every front end describes the container's file
//! system the same way ([`Filesystem`]: mounts in the OCI runtime spec's
//! shape, device nodes, sysctls, read-only and masked paths); [`plan`]
//! turns that into the ordered [`MountOp`]s the child applies. Pure except
//! for `stat` of bind sources; unit tested without root.

use super::{Kind, MountOp};
use crate::error::{Error, Result, Step};
use crate::spec;
use linux_raw_sys::general as g;
use rustix::fs::FileType;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const RDONLY: u64 = g::MOUNT_ATTR_RDONLY as u64;
const ATIME_BITS: u64 = g::MOUNT_ATTR__ATIME as u64;

/// One mount, as every front end describes it (the OCI runtime's options
/// already sorted into what they mean).
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub destination: String,
    /// The file system type (`tmpfs`, `cgroup` for the container's own
    /// cgroup); ignored for a bind.
    pub fstype: String,
    /// What mountinfo shows as the source; for a bind, the path bound
    /// (relative ones relative to [`Filesystem::base`]).
    pub source: String,
    /// `MOUNT_ATTR_*` flags.
    pub attrs: u64,
    /// A bind mount: `Some(recursive)`.
    pub bind: Option<bool>,
    /// Options for the file system itself (`mode=755`, `newinstance`).
    pub data: Vec<(String, String)>,
}

impl Mount {
    /// A new file system instance of `fstype` at `destination`.
    pub fn fs(
        destination: &str,
        fstype: &str,
        source: &str,
        attrs: u64,
        data: &[(&str, &str)],
    ) -> Mount {
        Mount {
            destination: destination.to_owned(),
            fstype: fstype.to_owned(),
            source: source.to_owned(),
            attrs,
            bind: None,
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A bind of `source` at `destination`.
    pub fn bind(destination: &str, source: &str, recursive: bool, attrs: u64) -> Mount {
        Mount {
            bind: Some(recursive),
            attrs,
            ..Mount::fs(destination, "bind", source, 0, &[])
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
    /// How errors name the mounts: `config.json: mounts`.
    pub origin: &'static str,
    /// In order: a later mount may shadow an earlier one.
    pub mounts: Vec<Mount>,
    /// Relative bind sources are relative to this (the OCI bundle).
    pub base: PathBuf,
    pub devices: Vec<DeviceNode>,
    /// mknod is refused (a user namespace): bind each host node instead.
    pub bind_devices: bool,
    /// (file under the root, `proc/sys/...`; value): checked by the front
    /// end, which knows the namespaces.
    pub sysctls: Vec<(String, String)>,
    pub readonly_paths: Vec<String>,
    pub masked_paths: Vec<String>,
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
pub fn plan(fs: &Filesystem) -> Result<Vec<MountOp>> {
    let mut ops = Vec::new();
    let mut dev_is_bound = false;
    for (i, m) in fs.mounts.iter().enumerate() {
        let at = format!("{}[{i}]", fs.origin);
        let target = spec::mount_target(&m.destination, &format!("{at}.destination"))?;
        if let Some(recursive) = m.bind {
            if target == "dev" {
                dev_is_bound = true;
            }
            let source = fs.base.join(&m.source);
            let st = rustix::fs::stat(&source).map_err(|e| {
                Error::new(Step::BindMount, e).at(format!("{} ({at}.source)", source.display()))
            })?;
            ops.push(MountOp {
                step: Step::BindMount,
                target,
                kind: Kind::Bind {
                    source: cpath(&source)?,
                    is_dir: FileType::from_raw_mode(st.st_mode) == FileType::Directory,
                    recursive,
                    // A bind keeps its source's atime setting.
                    attrs: m.attrs & !ATIME_BITS,
                },
            });
            continue;
        }
        match m.fstype.as_str() {
            "cgroup" | "cgroup2" => {
                ops.push(super::cgroup_view(&target, m.attrs & RDONLY != 0));
            }
            "" => {
                return Err(Error::usage(format!("{at}.type: missing")));
            }
            fstype => {
                let mut data = m.data.clone();
                if !m.source.is_empty() && fstype != "proc" && fstype != "sysfs" {
                    data.insert(0, ("source".into(), m.source.clone()));
                }
                ops.push(MountOp {
                    step: step_for(fstype, &target),
                    target,
                    kind: Kind::Fs {
                        fstype: fstype.to_owned(),
                        options: data,
                        attrs: m.attrs,
                    },
                });
            }
        }
    }
    if !dev_is_bound {
        ops.push(MountOp {
            step: Step::MakeDevice,
            target: "dev".into(),
            kind: Kind::DevNodes,
        });
    }
    for d in &fs.devices {
        ops.push(MountOp {
            step: Step::MakeDevice,
            target: d.target.clone(),
            kind: if fs.bind_devices {
                Kind::Bind {
                    source: cpath(&d.host)?,
                    is_dir: false,
                    recursive: false,
                    attrs: 0,
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
    for (target, value) in &fs.sysctls {
        ops.push(MountOp {
            step: Step::Sysctl,
            target: target.clone(),
            kind: Kind::ProcWrite {
                value: value.clone().into_bytes(),
            },
        });
    }
    for p in &fs.readonly_paths {
        ops.push(MountOp {
            step: Step::ReadOnlyPath,
            target: spec::relative(p),
            kind: Kind::ReadOnly,
        });
    }
    for p in &fs.masked_paths {
        ops.push(MountOp {
            step: Step::MaskPath,
            target: spec::relative(p),
            kind: Kind::Mask,
        });
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOSUID: u64 = g::MOUNT_ATTR_NOSUID as u64;
    const NOATIME: u64 = g::MOUNT_ATTR_NOATIME as u64;

    fn fs(mounts: Vec<Mount>) -> Filesystem {
        Filesystem {
            origin: "--mount",
            mounts,
            base: PathBuf::from("/"),
            devices: Vec::new(),
            bind_devices: false,
            sysctls: Vec::new(),
            readonly_paths: vec!["/proc/sys".into()],
            masked_paths: vec!["/proc/kcore".into()],
        }
    }

    #[test]
    fn mounts_then_default_devices_then_nodes_then_paths() {
        let mut f = fs(vec![
            Mount::fs("/proc", "proc", "proc", NOSUID, &[]),
            Mount::fs("/dev", "tmpfs", "tmpfs", NOSUID, &[("mode", "755")]),
            Mount::fs("/dev/shm", "tmpfs", "shm", 0, &[("mode", "1777")]),
            Mount::bind("/srv", "/", true, RDONLY | NOATIME),
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
        let ops = plan(&f).unwrap();
        let targets: Vec<&str> = ops.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "proc",
                "dev",
                "dev/shm",
                "srv",
                "dev",
                "dev/fuse",
                "proc/sys",
                "proc/kcore"
            ]
        );
        let steps: Vec<Step> = ops.iter().map(|o| o.step).collect();
        assert_eq!(
            steps[..5],
            [
                Step::MountProc,
                Step::MountDev,
                Step::MountShm,
                Step::BindMount,
                Step::MakeDevice
            ]
        );
        assert_eq!(ops[4].kind, Kind::DevNodes);
        assert_eq!(
            ops[2].kind,
            Kind::Fs {
                fstype: "tmpfs".into(),
                options: vec![
                    ("source".into(), "shm".into()),
                    ("mode".into(), "1777".into())
                ],
                attrs: 0,
            }
        );
        assert_eq!(
            ops[3].kind,
            Kind::Bind {
                source: c"/".to_owned(),
                is_dir: true,
                recursive: true,
                attrs: RDONLY,
            },
            "a bind keeps its source's atime"
        );
        assert!(matches!(ops[5].kind, Kind::Node { mode: 0o666, .. }));
        f.bind_devices = true;
        let ops = plan(&f).unwrap();
        assert!(
            matches!(&ops[5].kind, Kind::Bind { source, is_dir: false, .. } if source.as_bytes() == b"/dev/fuse")
        );
    }

    #[test]
    fn a_bound_dev_gets_no_default_devices() {
        let ops = plan(&fs(vec![Mount::bind("/dev", "/dev", true, 0)])).unwrap();
        assert!(!ops.iter().any(|o| o.kind == Kind::DevNodes));
    }

    #[test]
    fn a_missing_bind_source_and_a_missing_type_are_named() {
        let e = plan(&fs(vec![Mount::bind("/x", "/nonexistent-cella", false, 0)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent-cella (--mount[0].source)"), "{e}");
        let e = plan(&fs(vec![Mount::fs("/x", "", "", 0, &[])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--mount[0].type: missing"), "{e}");
    }
}
