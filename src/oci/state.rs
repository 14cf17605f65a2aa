//! The runtime's record of a container between verbs: one directory per
//! container under the state root (`--root`, default `/run/cella`) holding
//! `state.json`, the copy of `config.json` taken at create (later edits of
//! the bundle must not affect the container), and the `exec.fifo` that
//! holds the created container until `start`.
//!
//! A container's status is never stored: it is derived from its process
//! (alive, and the same process: the start time must match), the fifo and
//! the freezer.

use crate::cgroup::Cgroup;
use crate::error::{Error, Result, Step};
use crate::json::{self, Value};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/run/cella";
pub const OCI_VERSION: &str = "1.3.0";

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// `starttime` from `/proc/PID/stat`: tells our process from a later
    /// one that reused its pid.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub annotations: Vec<(String, String)>,
    pub cgroup: Cgroup,
    /// The container has its own pid namespace: killing PID 1 ends it.
    pub own_pid_ns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Container ids become directory names: refuse anything that could
/// leave the state root or confuse a listing.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!("invalid container id '{id}'")))
    }
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

/// Whether `id` has a state directory but no state file: what a `create`
/// killed in its first steps leaves.
pub fn is_unrecorded(root: &Path, id: &str) -> bool {
    let d = dir(root, id);
    check_id(id).is_ok() && d.is_dir() && !d.join("state.json").exists()
}

/// `starttime` (field 22) of `/proc/PID/stat`, or `None` if the process is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')' come field 3 (state) ... field 22 (starttime): index 19.
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

impl State {
    pub fn status(&self, root: &Path) -> Status {
        if self.pid <= 0 || start_time(self.pid) != Some(self.pid_start) {
            return Status::Stopped;
        }
        if fifo(root, &self.id).exists() {
            return Status::Created;
        }
        if self.cgroup.frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    /// Whether the container's process is still the one we started.
    pub fn alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid) == Some(self.pid_start)
    }

    /// The state JSON of the runtime spec (plus runc's extra fields), as
    /// `state` prints it and hooks receive it.
    pub fn to_json(&self, status: Status) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("{\"ociVersion\":\"");
        s.push_str(OCI_VERSION);
        s.push_str("\",\"id\":");
        json::write_str(&mut s, &self.id);
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        s.push_str(",\"pid\":");
        s.push_str(&pid.to_string());
        s.push_str(",\"status\":\"");
        s.push_str(status.name());
        s.push_str("\",\"bundle\":");
        json::write_str(&mut s, &self.bundle.to_string_lossy());
        s.push_str(",\"rootfs\":");
        json::write_str(&mut s, &self.rootfs.to_string_lossy());
        s.push_str(",\"created\":");
        json::write_str(&mut s, &self.created);
        s.push_str(",\"owner\":\"\"");
        if !self.annotations.is_empty() {
            s.push_str(",\"annotations\":{");
            for (i, (k, v)) in self.annotations.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json::write_str(&mut s, k);
                s.push(':');
                json::write_str(&mut s, v);
            }
            s.push('}');
        }
        s.push('}');
        s
    }

    /// The saved form: the state JSON plus what later verbs need.
    fn to_saved(&self) -> String {
        let mut s = self.to_json(Status::Running);
        s.pop();
        s.push_str(",\"pidStart\":");
        s.push_str(&self.pid_start.to_string());
        s.push_str(",\"ownPidNs\":");
        s.push_str(if self.own_pid_ns { "true" } else { "false" });
        s.push_str(",\"cgroupV2\":");
        s.push_str(if self.cgroup.v2 { "true" } else { "false" });
        s.push_str(",\"cgroups\":[");
        for (i, (name, path)) in self.cgroup.dirs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('[');
            json::write_str(&mut s, name);
            s.push(',');
            json::write_str(&mut s, &path.to_string_lossy());
            s.push(']');
        }
        s.push_str("]}");
        s
    }

    fn from_saved(v: &Value) -> Option<State> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut cgroup = Cgroup {
            v2: v.get("cgroupV2")?.as_bool()?,
            dirs: Vec::new(),
        };
        for pair in v.get("cgroups")?.as_array()? {
            let pair = pair.as_array()?;
            cgroup.dirs.push((
                pair.first()?.as_str()?.to_owned(),
                PathBuf::from(pair.get(1)?.as_str()?),
            ));
        }
        let annotations = match v.get("annotations").and_then(Value::as_object) {
            Some(fields) => fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect(),
            None => Vec::new(),
        };
        Some(State {
            id: text("id")?,
            pid: i32::try_from(v.get("pid")?.as_i64()?).ok()?,
            pid_start: v.get("pidStart")?.as_u64()?,
            bundle: PathBuf::from(text("bundle")?),
            rootfs: PathBuf::from(text("rootfs")?),
            created: text("created")?,
            annotations,
            cgroup,
            own_pid_ns: v.get("ownPidNs")?.as_bool()?,
        })
    }

    /// Write `state.json` atomically (a reader never sees half a file).
    pub fn save(&self, root: &Path) -> Result<()> {
        let d = dir(root, &self.id);
        let tmp = d.join("state.json.tmp");
        let file = d.join("state.json");
        write_private(&tmp, self.to_saved().as_bytes())?;
        std::fs::rename(&tmp, &file).map_err(|e| io_error(e).at(file.display().to_string()))
    }

    /// The state of container `id`; a missing one is reported as runc does
    /// ("does not exist"), which containerd's shim recognises.
    pub fn load(root: &Path, id: &str) -> Result<State> {
        check_id(id)?;
        let file = dir(root, id).join("state.json");
        if !file.exists() {
            return Err(Error::usage(format!("container {id} does not exist")));
        }
        let bytes = crate::input::read(&file, json::MAX_INPUT)?;
        json::parse(&bytes)
            .ok()
            .as_ref()
            .and_then(State::from_saved)
            .ok_or_else(|| Error::usage(format!("{}: corrupt state file", file.display())))
    }
}

/// Make the state root if needed, readable by its owner only: a
/// container's saved config holds its environment (passwords, tokens).
/// A root we own is tightened to 0700; a root owned by anyone else could
/// be changed under us, and is refused.
pub fn prepare_root(root: &Path) -> Result<()> {
    let shown = || root.display().to_string();
    if let Some(parent) = root.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(e).at(shown()))?;
    }
    match rustix::fs::mkdir(root, rustix::fs::Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::new(Step::State, e).at(shown())),
    }
    let st = rustix::fs::lstat(root).map_err(|e| Error::new(Step::State, e).at(shown()))?;
    let me = rustix::process::geteuid().as_raw();
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory
        || st.st_uid != me
    {
        return Err(Error::invalid(
            Step::State,
            format!(
                "{}: not a directory owned by uid {me}: refusing to keep container state there",
                shown()
            ),
        ));
    }
    if st.st_mode & 0o077 != 0 {
        rustix::fs::chmod(root, rustix::fs::Mode::from_raw_mode(0o700))
            .map_err(|e| Error::new(Step::State, e).at(shown()))?;
    }
    Ok(())
}

/// Write `bytes` to a new file readable by its owner only.
pub fn write_private(file: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(file)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| io_error(e).at(file.display().to_string()))
}

/// The ids of every container under `root`, sorted.
pub fn ids(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("state.json").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

pub fn io_error(e: std::io::Error) -> Error {
    Error::new(Step::State, Errno::from_io_error(&e).unwrap_or(Errno::IO))
}

/// Now as RFC 3339 UTC with nanoseconds, as runc writes `created` and log times.
pub fn now_rfc3339() -> String {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    rfc3339(t.tv_sec, t.tv_nsec as u32)
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["c1", "628ceaf5094f", "a.b_c-d+e"] {
            assert!(check_id(good).is_ok());
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_910_400, 5), "2026-11-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn saved_state_round_trips() {
        let s = State {
            id: "c1".into(),
            pid: 42,
            pid_start: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: rfc3339(0, 0),
            annotations: vec![("k".into(), "v\"".into())],
            cgroup: Cgroup {
                v2: false,
                dirs: vec![("memory".into(), "/sys/fs/cgroup/memory/x".into())],
            },
            own_pid_ns: true,
        };
        let v = json::parse(s.to_saved().as_bytes()).unwrap();
        assert_eq!(State::from_saved(&v), Some(s.clone()));
        let shown = json::parse(s.to_json(Status::Stopped).as_bytes()).unwrap();
        assert_eq!(shown.get("pid").and_then(Value::as_i64), Some(0));
        assert_eq!(shown.get("status").and_then(Value::as_str), Some("stopped"));
    }

    #[test]
    fn our_own_start_time_is_readable() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert!(start_time(me).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }
}
