//! An OCI container's cgroup: `linux.cgroupsPath` in every v1 hierarchy (or
//! the one v2 directory), the writes `linux.resources` means, and what the
//! later verbs do with it (join, freeze, list, update, remove).
//!
//! [`writes`] is pure and unit tested. The directories outlive the `create`
//! process, so [`Leaves`] is plain data saved in the state file, and nothing
//! here removes anything on drop.

use super::config::{DeviceRule, Resources};
use crate::cgroup::{Layout, detect};
use crate::error::{Error, Result, Step};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/cgroup";

/// One cgroup interface file write.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// v1 hierarchy (`memory`, `cpu`, ...); ignored on v2.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// The config field that asked for it, for errors.
    pub field: &'static str,
    /// A missing file is an error (false: best effort, e.g. swap on a
    /// kernel without swap accounting).
    pub required: bool,
}

fn w(controller: &'static str, file: &str, value: String, field: &'static str) -> Write {
    Write {
        controller,
        file: file.to_owned(),
        value,
        field,
        required: true,
    }
}

/// Devices every container may use whatever its rules say (runc's list):
/// mknod of any node, the standard nodes, ptys and the tun device.
const DEFAULT_DEVICES: [&str; 12] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

fn device_line(r: &DeviceRule) -> String {
    let num = |n: Option<u64>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
    if r.kind == b'a' {
        return format!("a *:* {}", r.access);
    }
    format!(
        "{} {}:{} {}",
        r.kind as char,
        num(r.major),
        num(r.minor),
        r.access
    )
}

/// The writes that apply `r` on `layout`, in order. `extra_devices` are
/// the rules for `linux.devices` nodes, allowed after the config's rules.
pub fn writes(layout: Layout, r: &Resources, extra_devices: &[DeviceRule]) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    let v2 = layout == Layout::V2;
    let unlimited = |n: i64| {
        if n < 0 {
            if v2 {
                "max".to_owned()
            } else {
                "-1".to_owned()
            }
        } else {
            n.to_string()
        }
    };
    if let Some(m) = r.memory_limit {
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        out.push(w(
            "memory",
            file,
            unlimited(m),
            "linux.resources.memory.limit",
        ));
    }
    if let Some(s) = r.memory_swap {
        let (file, value) = if v2 {
            // v1's swap is memory+swap; v2's is swap alone.
            let swap = match r.memory_limit {
                Some(m) if s > 0 && m > 0 => (s - m).max(0).to_string(),
                _ => unlimited(s),
            };
            ("memory.swap.max", swap)
        } else {
            ("memory.memsw.limit_in_bytes", unlimited(s))
        };
        out.push(Write {
            required: false,
            ..w("memory", file, value, "linux.resources.memory.swap")
        });
    }
    if let Some(m) = r.memory_reservation {
        let file = if v2 {
            "memory.low"
        } else {
            "memory.soft_limit_in_bytes"
        };
        out.push(w(
            "memory",
            file,
            unlimited(m),
            "linux.resources.memory.reservation",
        ));
    }
    if let Some(s) = r.memory_swappiness {
        if v2 {
            return Err(unsupported_v2("linux.resources.memory.swappiness"));
        }
        out.push(w(
            "memory",
            "memory.swappiness",
            s.to_string(),
            "linux.resources.memory.swappiness",
        ));
    }
    if r.disable_oom_killer == Some(true) {
        if v2 {
            return Err(unsupported_v2("linux.resources.memory.disableOOMKiller"));
        }
        out.push(w(
            "memory",
            "memory.oom_control",
            "1".into(),
            "linux.resources.memory.disableOOMKiller",
        ));
    }
    if let Some(s) = r.cpu_shares {
        if v2 {
            // runc's conversion of shares (2-262144) to weight (1-10000).
            let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
            out.push(w(
                "cpu",
                "cpu.weight",
                weight.to_string(),
                "linux.resources.cpu.shares",
            ));
        } else {
            out.push(w(
                "cpu",
                "cpu.shares",
                s.to_string(),
                "linux.resources.cpu.shares",
            ));
        }
    }
    if r.cpu_quota.is_some() || r.cpu_period.is_some() {
        if v2 {
            let quota = match r.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            let period = r.cpu_period.unwrap_or(100_000);
            out.push(w(
                "cpu",
                "cpu.max",
                format!("{quota} {period}"),
                "linux.resources.cpu.quota",
            ));
        } else {
            if let Some(p) = r.cpu_period {
                out.push(w(
                    "cpu",
                    "cpu.cfs_period_us",
                    p.to_string(),
                    "linux.resources.cpu.period",
                ));
            }
            if let Some(q) = r.cpu_quota {
                out.push(w(
                    "cpu",
                    "cpu.cfs_quota_us",
                    unlimited(q),
                    "linux.resources.cpu.quota",
                ));
            }
        }
    }
    if let Some(b) = r.cpu_burst {
        let file = if v2 {
            "cpu.max.burst"
        } else {
            "cpu.cfs_burst_us"
        };
        out.push(w("cpu", file, b.to_string(), "linux.resources.cpu.burst"));
    }
    if let Some(p) = r.cpu_rt_period {
        if v2 {
            return Err(unsupported_v2("linux.resources.cpu.realtimePeriod"));
        }
        out.push(w(
            "cpu",
            "cpu.rt_period_us",
            p.to_string(),
            "linux.resources.cpu.realtimePeriod",
        ));
    }
    if let Some(q) = r.cpu_rt_runtime {
        if v2 {
            return Err(unsupported_v2("linux.resources.cpu.realtimeRuntime"));
        }
        out.push(w(
            "cpu",
            "cpu.rt_runtime_us",
            q.to_string(),
            "linux.resources.cpu.realtimeRuntime",
        ));
    }
    if let Some(i) = r.cpu_idle {
        if !v2 {
            return Err(Error::usage(
                "config.json: linux.resources.cpu.idle: needs cgroup v2",
            ));
        }
        out.push(w(
            "cpu",
            "cpu.idle",
            i.to_string(),
            "linux.resources.cpu.idle",
        ));
    }
    if let Some(c) = &r.cpus {
        out.push(w(
            "cpuset",
            "cpuset.cpus",
            c.clone(),
            "linux.resources.cpu.cpus",
        ));
    }
    if let Some(m) = &r.mems {
        out.push(w(
            "cpuset",
            "cpuset.mems",
            m.clone(),
            "linux.resources.cpu.mems",
        ));
    }
    if let Some(p) = r.pids_limit {
        let value = if p <= 0 {
            "max".to_owned()
        } else {
            p.to_string()
        };
        out.push(w("pids", "pids.max", value, "linux.resources.pids.limit"));
    }
    if let Some(weight) = r.blkio_weight {
        let (file, value) = if v2 {
            ("io.bfq.weight", weight.to_string())
        } else {
            ("blkio.weight", weight.to_string())
        };
        out.push(w("blkio", file, value, "linux.resources.blockIO.weight"));
    }
    if let Some(weight) = r.blkio_leaf_weight {
        if v2 {
            return Err(unsupported_v2("linux.resources.blockIO.leafWeight"));
        }
        out.push(w(
            "blkio",
            "blkio.leaf_weight",
            weight.to_string(),
            "linux.resources.blockIO.leafWeight",
        ));
    }
    for (file, line) in &r.blkio_devices {
        let file = if v2 {
            match *file {
                "blkio.weight_device" => "io.bfq.weight".to_owned(),
                _ => {
                    let (dev, value) = line.split_once(' ').unwrap_or((line, ""));
                    let key = match *file {
                        "blkio.throttle.read_bps_device" => "rbps",
                        "blkio.throttle.write_bps_device" => "wbps",
                        "blkio.throttle.read_iops_device" => "riops",
                        _ => "wiops",
                    };
                    out.push(w(
                        "blkio",
                        "io.max",
                        format!("{dev} {key}={value}"),
                        "linux.resources.blockIO",
                    ));
                    continue;
                }
            }
        } else {
            (*file).to_owned()
        };
        out.push(w("blkio", &file, line.clone(), "linux.resources.blockIO"));
    }
    for (size, limit) in &r.hugepages {
        let file = if v2 {
            format!("hugetlb.{size}.max")
        } else {
            format!("hugetlb.{size}.limit_in_bytes")
        };
        out.push(w(
            "hugetlb",
            &file,
            limit.to_string(),
            "linux.resources.hugepageLimits",
        ));
    }
    if !r.unified.is_empty() && !v2 {
        return Err(Error::usage(
            "config.json: linux.resources.unified: needs cgroup v2 (this host is v1)",
        ));
    }
    for (file, value) in &r.unified {
        out.push(w("", file, value.clone(), "linux.resources.unified"));
    }
    // On v2 the device rules become an eBPF program (`device_rules`,
    // attached by `create`), not file writes.
    if (!r.devices.is_empty() || !extra_devices.is_empty()) && !v2 {
        for rule in r.devices.iter().chain(extra_devices) {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            out.push(w(
                "devices",
                file,
                device_line(rule),
                "linux.resources.devices",
            ));
        }
        for line in DEFAULT_DEVICES {
            out.push(w(
                "devices",
                "devices.allow",
                line.into(),
                "linux.resources.devices",
            ));
        }
    }
    Ok(out)
}

fn unsupported_v2(field: &str) -> Error {
    Error::usage(format!(
        "config.json: {field}: not supported by cella on cgroup v2"
    ))
}

/// The device rules of a container in the order they apply: the config's,
/// those for `linux.devices` nodes, then the default allow list. Empty when
/// the config restricts no device (then no filter is attached).
pub fn device_rules(r: &Resources, extra_devices: &[DeviceRule]) -> Vec<DeviceRule> {
    if r.devices.is_empty() && extra_devices.is_empty() {
        return Vec::new();
    }
    let mut rules: Vec<DeviceRule> = r.devices.iter().chain(extra_devices).cloned().collect();
    rules.extend(
        DEFAULT_DEVICES
            .iter()
            .filter_map(|line| super::device_filter::rule_of_line(true, line)),
    );
    rules
}

/// The container's cgroup directories: one per v1 hierarchy, or one on v2.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Leaves {
    pub v2: bool,
    /// (hierarchy name, directory); the name is empty on v2.
    pub dirs: Vec<(String, PathBuf)>,
}

/// The v1 hierarchies of this host (real directories with `cgroup.procs`;
/// `cpu` and `cpuacct` are symlinks to `cpu,cpuacct` and are skipped), not
/// the hybrid cgroup2 mount.
fn hierarchies(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() && name != "unified" && entry.path().join("cgroup.procs").exists() {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// Whether hierarchy `name` (`cpu,cpuacct`) holds `controller`.
fn holds(name: &str, controller: &str) -> bool {
    name.split(',').any(|c| c == controller)
}

impl Leaves {
    /// The directory that holds `controller`'s files.
    fn dir_for(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.first().map(|(_, d)| d.as_path());
        }
        self.dirs
            .iter()
            .find(|(n, _)| holds(n, controller))
            .map(|(_, d)| d.as_path())
    }

    /// One directory to list the container's processes from.
    pub fn any(&self) -> Option<&Path> {
        self.dir_for("pids")
            .or_else(|| self.dir_for("memory"))
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()))
    }

    /// Write `writes`, in order. Errors name the field and the file.
    pub fn apply(&self, writes: &[Write]) -> Result<()> {
        for wr in writes {
            let Some(dir) = self.dir_for(wr.controller) else {
                if wr.required {
                    return Err(Error::invalid(
                        Step::CgroupLimit,
                        format!(
                            "{}: this host has no {} cgroup controller",
                            wr.field, wr.controller
                        ),
                    ));
                }
                continue;
            };
            let path = dir.join(&wr.file);
            if !wr.required && !path.exists() {
                continue;
            }
            write_file(&path, &wr.value).map_err(|e| {
                Error::new(Step::CgroupLimit, e).at(format!(
                    "{} ({} = {})",
                    wr.field,
                    path.display(),
                    wr.value
                ))
            })?;
        }
        Ok(())
    }

    /// PIDs of every process in the container's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self.any() else {
            return Vec::new();
        };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Freeze or thaw every process (`pause`, `resume`).
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let (dir, file, value) = if self.v2 {
            (
                self.dirs.first().map(|(_, d)| d.as_path()),
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
            )
        } else {
            (
                self.dir_for("freezer"),
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
            )
        };
        let Some(dir) = dir else {
            return Err(Error::invalid(
                Step::CgroupLimit,
                "this host has no freezer cgroup",
            ));
        };
        let path = dir.join(file);
        write_file(&path, value)
            .map_err(|e| Error::new(Step::CgroupLimit, e).at(path.display().to_string()))?;
        if !self.v2 && frozen {
            // FREEZING until every task stopped; pause returns once frozen.
            for _ in 0..1000 {
                if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == "FROZEN") {
                    return Ok(());
                }
                sleep_ms(1);
            }
        }
        Ok(())
    }

    /// Whether the container is frozen.
    pub fn frozen(&self) -> bool {
        if self.v2 {
            self.dirs.first().is_some_and(|(_, d)| {
                std::fs::read_to_string(d.join("cgroup.events"))
                    .is_ok_and(|s| s.lines().any(|l| l == "frozen 1"))
            })
        } else {
            self.dir_for("freezer").is_some_and(|d| {
                std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED")
            })
        }
    }

    /// Whether the OOM killer fired in the container.
    pub fn oom_killed(&self) -> bool {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.dir_for("memory").is_some_and(|d| {
            std::fs::read_to_string(d.join(file)).is_ok_and(|t| {
                t.lines()
                    .filter_map(|l| l.strip_prefix("oom_kill "))
                    .any(|n| n.trim() != "0")
            })
        })
    }

    /// Remove the directories (the leaves only: parents such as
    /// `libpod_parent` belong to the caller). Processes just killed may
    /// take a moment to leave.
    pub fn remove(&self) -> Result<()> {
        let mut first = None;
        for (_, dir) in &self.dirs {
            let mut tries = 0;
            loop {
                match rustix::fs::rmdir(dir) {
                    Ok(()) | Err(Errno::NOENT) => break,
                    Err(Errno::BUSY) if tries < 400 => {
                        tries += 1;
                        sleep_ms(5);
                    }
                    Err(e) => {
                        first.get_or_insert(
                            Error::new(Step::CgroupRemove, e).at(dir.display().to_string()),
                        );
                        break;
                    }
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Make the cgroup `path` (as in `linux.cgroupsPath`, relative to each
/// hierarchy) and write `writes`. On failure nothing stays behind. Without
/// any cgroup file system (and no writes), the container gets none.
pub fn create(root: &Path, path: &str, writes: &[Write], devices: &[DeviceRule]) -> Result<Leaves> {
    let rel = path.trim_matches('/');
    let Some(layout) = detect(root) else {
        if writes.is_empty() {
            return Ok(Leaves::default());
        }
        return Err(Error::invalid(
            Step::CgroupSetup,
            format!("{}: no cgroup file system mounted", root.display()),
        ));
    };
    let bases: Vec<(String, PathBuf)> = if layout == Layout::V2 {
        vec![(String::new(), root.to_path_buf())]
    } else {
        hierarchies(root)
            .into_iter()
            .map(|h| {
                let base = root.join(&h);
                (h, base)
            })
            .collect()
    };
    let mut made: Vec<PathBuf> = Vec::new();
    let mut leaves = Leaves {
        v2: layout == Layout::V2,
        dirs: Vec::new(),
    };
    let result = (|| {
        for (name, base) in &bases {
            let leaf = base.join(rel);
            if leaf.exists() {
                return Err(
                    Error::new(Step::CgroupCreate, Errno::EXIST).at(leaf.display().to_string())
                );
            }
            let mut dir = base.clone();
            for part in rel.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
                match rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o755)) {
                    Ok(()) => {
                        made.push(dir.clone());
                        if holds(name, "cpuset") {
                            inherit_cpuset(&dir);
                        }
                        if layout == Layout::V2 && dir != leaf {
                            enable_controllers(&dir);
                        }
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(Error::new(Step::CgroupCreate, e).at(dir.display().to_string()));
                    }
                }
            }
            leaves.dirs.push((name.clone(), leaf));
        }
        if layout == Layout::V2 {
            enable_controllers(root);
            if !devices.is_empty() {
                let leaf = &leaves.dirs[0].1;
                attach_device_filter(leaf, devices)?;
            }
        }
        leaves.apply(writes)
    })();
    if let Err(e) = result {
        for dir in made.iter().rev() {
            let _ = rustix::fs::rmdir(dir);
        }
        return Err(e);
    }
    Ok(leaves)
}

/// v2: the device rules as an eBPF program attached to `dir`.
pub fn attach_device_filter(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let fail = |e: Errno| {
        Error::new(Step::CgroupLimit, e).at(format!(
            "linux.resources.devices (device filter on {})",
            dir.display()
        ))
    };
    let prog = super::device_filter::program(rules);
    let fd = crate::sys::bpf::load_device_program(&prog).map_err(fail)?;
    let dir_fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail)?;
    crate::sys::bpf::attach_device_program(&dir_fd, &fd).map_err(fail)
}

/// v2: let children of `dir` use every controller `dir` has.
fn enable_controllers(dir: &Path) {
    let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    for c in available.split_whitespace() {
        let _ = write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
    }
}

/// A new v1 cpuset cgroup starts with no CPUs and no memory nodes: copy
/// the parent's, or nothing could join it.
fn inherit_cpuset(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if let Ok(v) = std::fs::read_to_string(parent.join(file)) {
            let _ = write_file(&dir.join(file), v.trim());
        }
    }
}

fn write_file(path: &Path, value: &str) -> rustix::io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&fd, value.as_bytes()).map(|_| ())
}

pub fn sleep_ms(ms: u64) {
    let _ = rustix::thread::nanosleep(&rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: (ms * 1_000_000) as i64,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(ws: &[Write]) -> Vec<(&str, &str)> {
        ws.iter()
            .map(|w| (w.file.as_str(), w.value.as_str()))
            .collect()
    }

    #[test]
    fn v1_memory_pids_cpu() {
        let r = Resources {
            memory_limit: Some(32 << 20),
            memory_swap: Some(64 << 20),
            pids_limit: Some(10),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Resources::default()
        };
        let ws = writes(Layout::V1, &r, &[]).unwrap();
        assert_eq!(
            files(&ws),
            [
                ("memory.limit_in_bytes", "33554432"),
                ("memory.memsw.limit_in_bytes", "67108864"),
                ("cpu.shares", "1024"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("pids.max", "10"),
            ]
        );
        assert!(!ws[1].required, "swap accounting may be off");
    }

    #[test]
    fn v2_conversions() {
        let r = Resources {
            memory_limit: Some(100),
            memory_swap: Some(300),
            cpu_shares: Some(1024),
            cpu_quota: Some(-1),
            pids_limit: Some(0),
            ..Resources::default()
        };
        let ws = writes(Layout::V2, &r, &[]).unwrap();
        assert_eq!(
            files(&ws),
            [
                ("memory.max", "100"),
                ("memory.swap.max", "200"),
                ("cpu.weight", "39"),
                ("cpu.max", "max 100000"),
                ("pids.max", "max"),
            ]
        );
    }

    #[test]
    fn device_rules_then_defaults() {
        let r = Resources {
            devices: vec![DeviceRule {
                allow: false,
                kind: b'a',
                major: None,
                minor: None,
                access: "rwm".into(),
            }],
            ..Resources::default()
        };
        let extra = [DeviceRule {
            allow: true,
            kind: b'c',
            major: Some(10),
            minor: None,
            access: "rw".into(),
        }];
        let ws = writes(Layout::V1, &r, &extra).unwrap();
        assert_eq!(files(&ws)[0], ("devices.deny", "a *:* rwm"));
        assert_eq!(files(&ws)[1], ("devices.allow", "c 10:* rw"));
        assert!(files(&ws).contains(&("devices.allow", "c 1:3 rwm")));
        assert!(
            writes(Layout::V2, &r, &[]).unwrap().is_empty(),
            "v2: an eBPF filter instead of writes"
        );
        let rules = device_rules(&r, &extra);
        assert_eq!(rules[0], r.devices[0]);
        assert_eq!(rules[1], extra[0]);
        assert_eq!(rules.len(), 2 + DEFAULT_DEVICES.len());
    }

    #[test]
    fn unified_needs_v2() {
        let r = Resources {
            unified: vec![("memory.high".into(), "1000".into())],
            ..Resources::default()
        };
        assert!(writes(Layout::V1, &r, &[]).is_err());
        assert_eq!(
            files(&writes(Layout::V2, &r, &[]).unwrap()),
            [("memory.high", "1000")]
        );
    }

    #[test]
    fn failed_create_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("cella-ocicg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for h in ["memory", "pids"] {
            std::fs::create_dir_all(dir.join(h)).unwrap();
            std::fs::write(dir.join(h).join("cgroup.procs"), "").unwrap();
        }
        // A required write to a file that does not exist fails the create.
        let bad = [w(
            "pids",
            "pids.nope",
            "1".into(),
            "linux.resources.pids.limit",
        )];
        assert!(create(&dir, "/a/b/c", &bad, &[]).is_err());
        assert!(!dir.join("memory/a").exists());
        assert!(!dir.join("pids/a").exists());
        let ok = create(&dir, "/a/b/c", &[], &[]).unwrap();
        assert_eq!(ok.dirs.len(), 2);
        assert!(dir.join("pids/a/b/c").is_dir());
        assert!(
            create(&dir, "/a/b/c", &[], &[]).is_err(),
            "an existing cgroup is refused"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
