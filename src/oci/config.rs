//! An OCI bundle's `config.json` (and `exec --process` files), read into
//! typed data and checked.
//!
//! Every field podman and containerd send is decoded here; a field cella
//! cannot honour is an error naming it (`config.json: linux.intelRdt: not
//! supported`), never silently dropped. Nothing here touches the system
//! except reading the files it is given.

use super::decode::*;
pub use super::resources::{DeviceRule, Resources, resources};
pub use super::seccomp_config::{Listener, Seccomp, linux_seccomp};
use crate::caps::{self, Caps};
use crate::error::{Error, Result};
use crate::json::{self, Value};
use std::path::{Path, PathBuf};

/// Namespace kinds as config.json names them, in the order `exec` joins
/// them (user first, mount last); their flags are [`NS_FLAGS`], in this
/// order. (A string and numbers, not a table of names: no relocation per
/// name.)
pub const NS_NAMES: &str = "user cgroup ipc uts network pid time mount";

/// The `CLONE_NEW*` flag of each of [`NS_NAMES`].
pub const NS_FLAGS: [u32; 8] = [
    linux_raw_sys::general::CLONE_NEWUSER,
    linux_raw_sys::general::CLONE_NEWCGROUP,
    linux_raw_sys::general::CLONE_NEWIPC,
    linux_raw_sys::general::CLONE_NEWUTS,
    linux_raw_sys::general::CLONE_NEWNET,
    linux_raw_sys::general::CLONE_NEWPID,
    linux_raw_sys::general::CLONE_NEWTIME,
    linux_raw_sys::general::CLONE_NEWNS,
];

/// The `/proc/PID/ns/` file of a namespace flag.
pub fn ns_file(flag: u32) -> &'static str {
    match flag {
        linux_raw_sys::general::CLONE_NEWUSER => "user",
        linux_raw_sys::general::CLONE_NEWCGROUP => "cgroup",
        linux_raw_sys::general::CLONE_NEWIPC => "ipc",
        linux_raw_sys::general::CLONE_NEWUTS => "uts",
        linux_raw_sys::general::CLONE_NEWNET => "net",
        linux_raw_sys::general::CLONE_NEWPID => "pid",
        linux_raw_sys::general::CLONE_NEWTIME => "time",
        _ => "mnt",
    }
}

#[derive(Debug, Default)]
pub struct Config {
    pub process: Option<Process>,
    /// Absolute path of the rootfs (a relative `root.path` is taken from the bundle).
    pub root: PathBuf,
    pub root_readonly: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    pub hooks: Hooks,
    pub annotations: Vec<(String, String)>,
    pub linux: Linux,
}

#[derive(Debug, Default, Clone)]
pub struct Process {
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub caps: Caps,
    /// (resource, soft, hard).
    pub rlimits: Vec<(rustix::process::Resource, u64, u64)>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// Settings accepted but not applied, said as warnings (capabilities
    /// unknown to cella, which runc ignores too).
    pub ignored: Vec<String>,
}

/// A mount as config.json writes it (`oci::plan` sorts its options).
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub destination: String,
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Hook {
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub path: String,
    /// `c`, `b`, `u` or `p`.
    pub kind: u8,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Default)]
pub struct Linux {
    /// (clone flag, path to join) in document order.
    pub namespaces: Vec<(u32, Option<PathBuf>)>,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub resources: Resources,
    pub cgroups_path: Option<String>,
    pub sysctl: Vec<(String, String)>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub rootfs_propagation: Option<String>,
    pub devices: Vec<Device>,
    /// (clock, seconds, nanoseconds): `monotonic` and `boottime`.
    pub time_offsets: Vec<(String, i64, u32)>,
    pub seccomp: Option<Seccomp>,
}

impl Linux {
    /// The clone flags of the namespaces to create (no `path`).
    pub fn new_namespaces(&self) -> u32 {
        self.namespaces
            .iter()
            .filter(|(_, p)| p.is_none())
            .fold(0, |f, (k, _)| f | k)
    }
    pub fn has(&self, flag: u32) -> bool {
        self.namespaces.iter().any(|(k, _)| *k == flag)
    }
}

/// Read and parse a JSON file, naming it in any error.
pub fn read_json(file: &Path) -> Result<Value> {
    let bytes = crate::input::read(file, json::MAX_INPUT)?;
    json::parse(&bytes).map_err(|e| Error::usage(format!("{}: {e}", file.display())))
}

/// Read `config.json` of `bundle` (an absolute directory).
pub fn load(bundle: &Path) -> Result<Config> {
    let doc = read_json(&bundle.join("config.json"))?;
    decode(&doc, bundle)
}

/// Decode a whole config.json document.
pub fn decode(doc: &Value, bundle: &Path) -> Result<Config> {
    // `vm`: a virtual machine to run the container in.
    let top = obj_refusing(doc, "", &["vm"])?;
    let version = field(top, "ociVersion").ok_or_else(|| bad("ociVersion", "missing"))?;
    let version = string(version, "ociVersion")?;
    if !version.starts_with("1.") {
        return Err(bad(
            "ociVersion",
            &format!("{version} is not a 1.x version"),
        ));
    }
    let mut c = Config::default();
    let root = field(top, "root").ok_or_else(|| bad("root", "missing"))?;
    let r = obj(root, "root")?;
    let path = string(
        field(r, "path").ok_or_else(|| bad("root.path", "missing"))?,
        "root.path",
    )?;
    c.root = bundle.join(path);
    if let Some(v) = field(r, "readonly") {
        c.root_readonly = boolean(v, "root.readonly")?;
    }
    if let Some(p) = field(top, "process") {
        c.process = Some(process(p, "process")?);
    }
    if let Some(v) = field(top, "hostname") {
        c.hostname = Some(string(v, "hostname")?);
    }
    if let Some(v) = field(top, "domainname") {
        c.domainname = Some(string(v, "domainname")?);
    }
    if let Some(v) = field(top, "mounts") {
        for (i, m) in array(v, "mounts")?.iter().enumerate() {
            c.mounts.push(mount(m, &format!("mounts[{i}]"))?);
        }
    }
    if let Some(v) = field(top, "hooks") {
        c.hooks = hooks(v)?;
    }
    if let Some(v) = field(top, "annotations") {
        c.annotations = string_map(v, "annotations")?;
    }
    if let Some(v) = field(top, "linux") {
        c.linux = linux(v)?;
    }
    if (c.hostname.is_some() || c.domainname.is_some())
        && !c.linux.has(linux_raw_sys::general::CLONE_NEWUTS)
    {
        return Err(bad(
            "hostname",
            "setting it needs a new uts namespace (linux.namespaces)",
        ));
    }
    Ok(c)
}

/// `process` of config.json, or the whole file given to `exec --process`.
pub fn process(v: &Value, path: &str) -> Result<Process> {
    let f = obj_refusing(v, path, &["scheduler", "ioPriority", "execCPUAffinity"])?;
    let at = |k: &str| sub(path, k);
    let mut p = Process {
        cwd: "/".into(),
        ..Process::default()
    };
    if let Some(v) = field(f, "terminal") {
        p.terminal = boolean(v, &at("terminal"))?;
    }
    if let Some(v) = field(f, "consoleSize") {
        let cs = obj(v, &at("consoleSize"))?;
        let dim = |k: &str| -> Result<u16> {
            let n = field(cs, k).map_or(Ok(0), |v| unsigned(v, &at("consoleSize")))?;
            Ok(n.min(u64::from(u16::MAX)) as u16)
        };
        p.console_size = Some((dim("height")?, dim("width")?));
    }
    if let Some(v) = field(f, "user") {
        let u = obj(v, &at("user"))?;
        if let Some(v) = field(u, "uid") {
            p.uid = id_of(v, &at("user.uid"))?;
        }
        if let Some(v) = field(u, "gid") {
            p.gid = id_of(v, &at("user.gid"))?;
        }
        if let Some(v) = field(u, "umask") {
            p.umask = Some(u32_of(v, &at("user.umask"))? & 0o777);
        }
        if let Some(v) = field(u, "additionalGids") {
            for (i, g) in array(v, &at("user.additionalGids"))?.iter().enumerate() {
                p.additional_gids
                    .push(id_of(g, &format!("{path}.user.additionalGids[{i}]"))?);
            }
        }
    }
    if let Some(v) = field(f, "commandLine") {
        return Err(bad(
            &at("commandLine"),
            &format!("not supported on Linux ({})", v.kind()),
        ));
    }
    if let Some(v) = field(f, "args") {
        p.args = strings(v, &at("args"))?;
    }
    if let Some(v) = field(f, "env") {
        p.env = strings(v, &at("env"))?;
        if let Some(e) = p.env.iter().find(|e| !e.contains('=')) {
            return Err(bad(&at("env"), &format!("'{e}' is not KEY=VALUE")));
        }
    }
    if let Some(v) = field(f, "cwd") {
        p.cwd = string(v, &at("cwd"))?;
        if !p.cwd.starts_with('/') {
            return Err(bad(&at("cwd"), "must be an absolute path"));
        }
    }
    if let Some(v) = field(f, "capabilities") {
        p.caps = capabilities(v, &at("capabilities"), &mut p.ignored)?;
    }
    if let Some(v) = field(f, "rlimits") {
        for (i, r) in array(v, &at("rlimits"))?.iter().enumerate() {
            let here = format!("{path}.rlimits[{i}]");
            let rf = obj(r, &here)?;
            let name = string(
                field(rf, "type").ok_or_else(|| bad(&here, "type missing"))?,
                &here,
            )?;
            let resource = rlimit(&name)
                .ok_or_else(|| bad(&sub(&here, "type"), &format!("unknown rlimit {name}")))?;
            let soft = unsigned(
                field(rf, "soft").ok_or_else(|| bad(&here, "soft missing"))?,
                &here,
            )?;
            let hard = unsigned(
                field(rf, "hard").ok_or_else(|| bad(&here, "hard missing"))?,
                &here,
            )?;
            if p.rlimits.iter().any(|(r, _, _)| *r == resource) {
                return Err(bad(&here, &format!("{name} given twice")));
            }
            p.rlimits.push((resource, soft, hard));
        }
    }
    if let Some(v) = field(f, "noNewPrivileges") {
        p.no_new_privileges = boolean(v, &at("noNewPrivileges"))?;
    }
    if let Some(v) = field(f, "oomScoreAdj") {
        let n = signed(v, &at("oomScoreAdj"))?;
        if !(-1000..=1000).contains(&n) {
            return Err(bad(&at("oomScoreAdj"), "must be between -1000 and 1000"));
        }
        p.oom_score_adj = Some(n as i32);
    }
    for label in ["apparmorProfile", "selinuxLabel"] {
        if let Some(v) = field(f, label)
            && !string(v, &at(label))?.is_empty()
        {
            // As runc: a label for an LSM this host does not run is an
            // error too (it would not confine the process as asked). A
            // permissive SELinux confines nothing: its label is ignored.
            let why = match (label, lsm_state(label)) {
                (_, Some(true)) => "not supported by cella",
                ("selinuxLabel", Some(false)) => continue,
                ("apparmorProfile", _) => "AppArmor is not enabled on this host",
                _ => "SELinux is not enabled on this host",
            };
            return Err(bad(&at(label), why));
        }
    }
    Ok(p)
}

/// The LSM a label is for: `Some(true)` enforcing, `Some(false)` there but
/// not enforcing (a permissive SELinux), `None` not running.
fn lsm_state(label: &str) -> Option<bool> {
    let (file, on) = if label == "apparmorProfile" {
        ("/sys/module/apparmor/parameters/enabled", 'Y')
    } else {
        ("/sys/fs/selinux/enforce", '1')
    };
    crate::input::system_text(file).map(|s| s.starts_with(on))
}

fn capabilities(v: &Value, path: &str, ignored: &mut Vec<String>) -> Result<Caps> {
    let f = obj(v, path)?;
    let mut set = |k: &str| -> Result<u64> {
        let Some(list) = field(f, k) else {
            return Ok(0);
        };
        let mut mask = 0;
        for name in strings(list, &sub(path, k))? {
            match caps::oci_bit(&name) {
                Some(bit) => mask |= bit,
                // As runc: ignored with a warning, never granted under a
                // spelling the spec does not have.
                None => ignored.push(format!(
                    "config.json: {}: unknown capability {name} ignored (as runc does)",
                    sub(path, k)
                )),
            }
        }
        Ok(mask)
    };
    Ok(Caps {
        bounding: set("bounding")?,
        effective: set("effective")?,
        permitted: set("permitted")?,
        inheritable: set("inheritable")?,
        ambient: set("ambient")?,
    })
}

fn rlimit(name: &str) -> Option<rustix::process::Resource> {
    crate::process::rlimit_resource(name)
}

/// The OCI name of a resource, for messages.
pub fn rlimit_name(r: rustix::process::Resource) -> &'static str {
    crate::process::rlimit_name(r)
}

fn mount(v: &Value, path: &str) -> Result<Mount> {
    let f = obj(v, path)?;
    for k in ["uidMappings", "gidMappings"] {
        if field(f, k).is_some() {
            return Err(bad(&sub(path, k), "idmapped mounts are not supported"));
        }
    }
    let destination = string(
        field(f, "destination").ok_or_else(|| bad(path, "destination missing"))?,
        &sub(path, "destination"),
    )?;
    if !destination.starts_with('/') {
        return Err(bad(
            &sub(path, "destination"),
            &format!("{destination}: must be an absolute path"),
        ));
    }
    let get = |k: &str| -> Result<String> {
        field(f, k).map_or(Ok(String::new()), |v| string(v, &sub(path, k)))
    };
    let options = match field(f, "options") {
        Some(v) => strings(v, &sub(path, "options"))?,
        None => Vec::new(),
    };
    Ok(Mount {
        destination,
        fstype: get("type")?,
        source: get("source")?,
        options,
    })
}

fn hooks(v: &Value) -> Result<Hooks> {
    let f = obj(v, "hooks")?;
    let list = |k: &str| -> Result<Vec<Hook>> {
        let Some(v) = field(f, k) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (i, h) in array(v, &format!("hooks.{k}"))?.iter().enumerate() {
            out.push(hook(h, &format!("hooks.{k}[{i}]"))?);
        }
        Ok(out)
    };
    Ok(Hooks {
        prestart: list("prestart")?,
        create_runtime: list("createRuntime")?,
        create_container: list("createContainer")?,
        start_container: list("startContainer")?,
        poststart: list("poststart")?,
        poststop: list("poststop")?,
    })
}

fn hook(v: &Value, path: &str) -> Result<Hook> {
    let f = obj(v, path)?;
    let mut h = Hook {
        path: string(
            field(f, "path").ok_or_else(|| bad(path, "path missing"))?,
            &sub(path, "path"),
        )?,
        ..Hook::default()
    };
    if !h.path.starts_with('/') {
        return Err(bad(&sub(path, "path"), "must be an absolute path"));
    }
    if let Some(v) = field(f, "args") {
        h.args = strings(v, &sub(path, "args"))?;
    }
    if let Some(v) = field(f, "env") {
        h.env = strings(v, &sub(path, "env"))?;
    }
    if let Some(v) = field(f, "timeout") {
        let t = signed(v, &sub(path, "timeout"))?;
        if t <= 0 {
            return Err(bad(&sub(path, "timeout"), "must be positive"));
        }
        h.timeout = Some(t.min(i64::from(u32::MAX)) as u32);
    }
    Ok(h)
}

fn linux(v: &Value) -> Result<Linux> {
    let f = obj_refusing(
        v,
        "linux",
        &["personality", "intelRdt", "memoryPolicy", "netDevices"],
    )?;
    let mut l = Linux::default();
    if let Some(v) = field(f, "namespaces") {
        for (i, n) in array(v, "linux.namespaces")?.iter().enumerate() {
            let here = format!("linux.namespaces[{i}]");
            let nf = obj(n, &here)?;
            let kind = string(
                field(nf, "type").ok_or_else(|| bad(&here, "type missing"))?,
                &here,
            )?;
            let flag = NS_NAMES
                .split(' ')
                .position(|k| k == kind)
                .map(|i| NS_FLAGS[i])
                .ok_or_else(|| bad(&here, &format!("unknown namespace type {kind}")))?;
            if l.has(flag) {
                return Err(bad(&here, &format!("namespace {kind} given twice")));
            }
            let path = match field(nf, "path") {
                Some(p) => Some(PathBuf::from(string(p, &sub(&here, "path"))?)),
                None => None,
            };
            l.namespaces.push((flag, path));
        }
    }
    for (key, out) in [
        ("uidMappings", &mut l.uid_mappings),
        ("gidMappings", &mut l.gid_mappings),
    ] {
        if let Some(v) = field(f, key) {
            for (i, m) in array(v, &format!("linux.{key}"))?.iter().enumerate() {
                let here = format!("linux.{key}[{i}]");
                let mf = obj(m, &here)?;
                let n = |k: &str| -> Result<u32> {
                    u32_of(
                        field(mf, k).ok_or_else(|| bad(&here, &format!("{k} missing")))?,
                        &sub(&here, k),
                    )
                };
                out.push(IdMap {
                    container: n("containerID")?,
                    host: n("hostID")?,
                    size: n("size")?,
                });
            }
        }
    }
    let user_ns = l.has(linux_raw_sys::general::CLONE_NEWUSER);
    if !(user_ns || l.uid_mappings.is_empty() && l.gid_mappings.is_empty()) {
        return Err(bad(
            "linux.uidMappings",
            "mappings need a user namespace (linux.namespaces)",
        ));
    }
    if let Some(v) = field(f, "resources") {
        l.resources = resources(v, "linux.resources")?;
    }
    if let Some(v) = field(f, "cgroupsPath") {
        let p = string(v, "linux.cgroupsPath")?;
        if p.contains(':') && !p.starts_with('/') {
            return Err(bad(
                "linux.cgroupsPath",
                &format!("{p}: systemd slices need --systemd-cgroup, which cella does not support"),
            ));
        }
        if p.chars().any(char::is_control) {
            return Err(bad(
                "linux.cgroupsPath",
                &format!("{p:?}: control characters are not allowed"),
            ));
        }
        if p.split('/').any(|c| c == "..") {
            return Err(bad(
                "linux.cgroupsPath",
                &format!("{p}: must not contain .."),
            ));
        }
        // Empty: none given, as runc takes it (the default `/ID`).
        l.cgroups_path = (!p.is_empty()).then_some(p);
    }
    if let Some(v) = field(f, "sysctl") {
        l.sysctl = string_map(v, "linux.sysctl")?;
        // Names and namespaces are checked where they are planned
        // (`plan::sysctl_target`).
    }
    if let Some(v) = field(f, "maskedPaths") {
        l.masked_paths = strings(v, "linux.maskedPaths")?;
    }
    if let Some(v) = field(f, "readonlyPaths") {
        l.readonly_paths = strings(v, "linux.readonlyPaths")?;
    }
    if let Some(v) = field(f, "rootfsPropagation") {
        let p = string(v, "linux.rootfsPropagation")?;
        if propagation(&p).is_none() {
            return Err(bad(
                "linux.rootfsPropagation",
                &format!("unknown propagation {p}"),
            ));
        }
        l.rootfs_propagation = Some(p);
    }
    if let Some(v) = field(f, "devices") {
        for (i, d) in array(v, "linux.devices")?.iter().enumerate() {
            l.devices.push(device(d, &format!("linux.devices[{i}]"))?);
        }
    }
    if let Some(v) = field(f, "timeOffsets") {
        if !l.has(linux_raw_sys::general::CLONE_NEWTIME) {
            return Err(bad(
                "linux.timeOffsets",
                "needs a time namespace (linux.namespaces)",
            ));
        }
        let offs = obj(v, "linux.timeOffsets")?;
        for (clock, o) in offs {
            let here = format!("linux.timeOffsets.{clock}");
            let of = obj(o, &here)?;
            let secs = field(of, "secs").map_or(Ok(0), |v| signed(v, &here))?;
            let nanos = field(of, "nanosecs").map_or(Ok(0), |v| u32_of(v, &here))?;
            l.time_offsets.push((clock.clone(), secs, nanos));
        }
    }
    if let Some(v) = field(f, "seccomp") {
        l.seccomp = Some(linux_seccomp(v)?);
    }
    // (Without SELinux, runc mounts without the label; so does cella.)
    if let Some(v) = field(f, "mountLabel")
        && !string(v, "linux.mountLabel")?.is_empty()
        && lsm_state("selinuxLabel") == Some(true)
    {
        return Err(bad("linux.mountLabel", "not supported by cella"));
    }
    Ok(l)
}

/// Mount propagation names and their `MS_*` flags (recursive ones with MS_REC).
pub fn propagation(name: &str) -> Option<u32> {
    use linux_raw_sys::general::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    Some(match name {
        "private" => MS_PRIVATE,
        "rprivate" => MS_PRIVATE | MS_REC,
        "shared" => MS_SHARED,
        "rshared" => MS_SHARED | MS_REC,
        "slave" => MS_SLAVE,
        "rslave" => MS_SLAVE | MS_REC,
        "unbindable" => MS_UNBINDABLE,
        "runbindable" => MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

fn device(v: &Value, path: &str) -> Result<Device> {
    let f = obj(v, path)?;
    let dpath = string(
        field(f, "path").ok_or_else(|| bad(path, "path missing"))?,
        &sub(path, "path"),
    )?;
    if !dpath.starts_with("/dev/") || dpath.split('/').any(|c| c == "..") {
        return Err(bad(
            &sub(path, "path"),
            &format!("{dpath}: must be under /dev"),
        ));
    }
    let kind = string(
        field(f, "type").ok_or_else(|| bad(path, "type missing"))?,
        &sub(path, "type"),
    )?;
    let kind = match kind.as_str() {
        "c" | "u" | "b" | "p" => kind.as_bytes()[0],
        other => {
            return Err(bad(&sub(path, "type"), &format!("unknown type {other}")));
        }
    };
    let n = |k: &str| -> Result<u32> { field(f, k).map_or(Ok(0), |v| u32_of(v, &sub(path, k))) };
    if kind != b'p' && (field(f, "major").is_none() || field(f, "minor").is_none()) {
        return Err(bad(path, "major and minor are required"));
    }
    Ok(Device {
        path: dpath,
        kind,
        major: n("major")?,
        minor: n("minor")?,
        mode: field(f, "fileMode").map_or(Ok(0o666), |v| u32_of(v, &sub(path, "fileMode")))?,
        uid: n("uid")?,
        gid: n("gid")?,
    })
}
