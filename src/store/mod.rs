//! The state store: cella's record of every container between commands,
//! `cella run` and `cella init` containers and OCI ones alike.
//!
//! One directory per container under the root (`--root`, default
//! `/run/cella` for root; for another user `$XDG_RUNTIME_DIR/cella`, or a
//! 0700 directory of its own under `/tmp` when that is unset), 0700, holding
//! `state` (this record, 0600), and for OCI containers the copy of
//! `config.json` taken at create and the `exec.fifo` a created container
//! waits on. Files are replaced whole (written, then renamed over).
//!
//! Locks are `flock`s, which the kernel drops when their holder dies
//! however it dies: `lock` on the directory serializes the commands that change a
//! container; the file `owner` is held by the cella process that supervises
//! a `cella run` or `cella init` container for its whole life, so a record
//! whose owner lock is free and whose process is gone was left by a killed
//! cella, and is repaired (removed) by the next command that meets it.
//!
//! `state` is text, a line each `key value` (values escaped: `\\`, `\n`),
//! starting with the format version, so the smallest build reads it without
//! a JSON parser. A container's status is never stored: it is derived from
//! its process (alive, and the same process: the start time must match),
//! the fifo and the freezer.

use crate::error::{Error, Result, Step};
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

mod record;

pub use record::{Kind, Network, Port, Record, Status, start_time};

/// The state format this cella writes and reads.
pub const FORMAT: u32 = 1;
pub const DEFAULT_ROOT: &str = "/run/cella";
const STATE: &str = "state";
const OWNER: &str = "owner";
/// Room for a kept record's last word, made with it (see [`Held::exited`]).
const EXIT_STATE: &str = "state.exit";
/// Those who wait for the container to end hold a shared lock on it.
const WAITERS: &str = "waiters";
/// The largest state file read.
const MAX_STATE: usize = 1 << 20;

/// The root for this user: `/run/cella` for root; otherwise
/// `$XDG_RUNTIME_DIR/cella`, or `/tmp/cella-UID` when that is unset. Root
/// of a user namespace that is not the host's root (rootless podman runs
/// its runtime so, with no `--root`) is a user too, as with runc.
pub fn default_root() -> PathBuf {
    let uid = rustix::process::geteuid();
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let user_is_root = std::env::var_os("USER").is_some_and(|u| u == "root");
    if uid.is_root() && !(xdg.is_some() && !user_is_root && in_user_namespace()) {
        return PathBuf::from(DEFAULT_ROOT);
    }
    match xdg {
        Some(dir) => PathBuf::from(dir).join("cella"),
        None => PathBuf::from(format!("/tmp/cella-{}", uid.as_raw())),
    }
}

/// Whether we run in a user namespace other than the host's (whose
/// `uid_map` maps every id to itself).
pub fn in_user_namespace() -> bool {
    crate::input::system_text("/proc/self/uid_map")
        .is_some_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// Container ids become directory names: refuse anything that could
/// leave the state root or confuse a listing. A leading dot is the
/// store's own (`.NAME.PID`, a record being made or removed, which
/// listings skip and sweeps take).
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
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
    check_id(id).is_ok() && d.is_dir() && !d.join(STATE).exists()
}

/// `dir`'s status if it is a directory (not a link to one) this user
/// owns: one owned by another could be changed under us. `what`: what
/// cella keeps there, for the message.
pub fn owned_dir(dir: &Path, what: &str) -> Result<rustix::fs::Stat> {
    let st = rustix::fs::lstat(dir)
        .map_err(|e| Error::new(Step::State, e).at(dir.display().to_string()))?;
    let me = rustix::process::geteuid().as_raw();
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory
        || st.st_uid != me
    {
        return Err(Error::invalid(
            Step::State,
            format!(
                "{}: not a directory owned by uid {me}: refusing to keep {what} there",
                dir.display()
            ),
        ));
    }
    Ok(st)
}

/// Make the state root if needed, readable by its owner only: a
/// container's saved config holds its environment (passwords, tokens).
/// A root we own is tightened to 0700; a root owned by anyone else could
/// be changed under us, and is refused.
pub fn prepare_root(root: &Path) -> Result<()> {
    prepare_dir(root, "container state")
}

/// [`prepare_root`] for any directory of cella's own, `what` saying what
/// it keeps there.
pub fn prepare_dir(root: &Path, what: &str) -> Result<()> {
    let shown = || root.display().to_string();
    let made = match rustix::fs::mkdir(root, Mode::from_raw_mode(0o700)) {
        Err(Errno::NOENT) => {
            // Its parents as runc makes them (containerd names a root whose
            // parents may not exist yet).
            let mut ancestors: Vec<&Path> = root.ancestors().skip(1).collect();
            ancestors.reverse();
            for dir in ancestors {
                match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(Error::new(Step::State, e).at(shown())),
                }
            }
            rustix::fs::mkdir(root, Mode::from_raw_mode(0o700))
        }
        other => other,
    };
    match made {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::new(Step::State, e).at(shown())),
    }
    let st = owned_dir(root, what)?;
    if st.st_mode & 0o077 != 0 {
        rustix::fs::chmod(root, Mode::from_raw_mode(0o700))
            .map_err(|e| Error::new(Step::State, e).at(shown()))?;
    }
    Ok(())
}

/// Write `bytes` to a new file readable by its owner only.
pub fn write_private(file: &Path, bytes: &[u8]) -> Result<()> {
    write_file(file, bytes, 0o600)
}

/// Write `file` whole, created with `mode` (less the umask).
fn write_file(file: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use rustix::fd::AsFd;
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(file, flags, Mode::from_raw_mode(mode))
        .and_then(|fd| crate::input::write_all(fd.as_fd(), bytes))
        .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))
}

/// Say that we wait for container `id` to end, until the returned fd is
/// dropped: a record about to go keeps its exit status for us meanwhile
/// (see [`Held::remove`]).
pub fn wait_on(root: &Path, id: &str) -> Option<OwnedFd> {
    check_id(id).ok()?;
    let fd = rustix::fs::open(
        dir(root, id).join(WAITERS),
        OFlags::RDONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ok()?;
    rustix::fs::flock(&fd, FlockOperation::LockShared).ok()?;
    Some(fd)
}

/// Serialize the commands that change container `id`: an exclusive lock on
/// its directory, held until the returned fd is dropped (a second `delete`
/// waits for the first, then finds nothing). `None` without a directory.
pub fn lock(root: &Path, id: &str) -> Option<OwnedFd> {
    lock_dir(root, id, FlockOperation::LockExclusive)
}

/// [`lock`] taken `how`: waiting for it or not.
fn lock_dir(root: &Path, id: &str, how: FlockOperation) -> Option<OwnedFd> {
    check_id(id).ok()?;
    let fd = rustix::fs::open(
        dir(root, id),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    rustix::fs::flock(&fd, how).ok()?;
    Some(fd)
}

/// The lock under which bridge addresses are leased (and bridges made):
/// held from choosing an address until the record that holds it is in
/// place. (`.network`: not a container's name, and no `.ID.PID` scratch
/// directory either, which [`sweep`] would remove.)
pub fn lock_network(root: &Path) -> Result<OwnedFd> {
    lock_file(&root.join(".network"), FlockOperation::LockExclusive)
}

/// Create `file` and hold an exclusive lock on it (`how`: waiting for it
/// or not).
fn lock_file(file: &Path, how: FlockOperation) -> Result<OwnedFd> {
    let fd = rustix::fs::open(
        file,
        OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))?;
    rustix::fs::flock(&fd, how)
        .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))?;
    Ok(fd)
}

/// Whether a cella process supervises container `id` (holds its owner lock).
pub fn owned(root: &Path, id: &str) -> bool {
    locked(&dir(root, id))
}

/// Whether the owner lock in directory `d` is held.
fn locked(d: &Path) -> bool {
    let Ok(fd) = rustix::fs::open(
        d.join(OWNER),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared).is_err()
}

/// A file kept in a container's directory from its creation.
#[derive(Debug)]
pub struct File {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Bound into the container (its `/etc/hosts`): readable by its users.
    /// Otherwise the caller's alone (0600).
    pub readable: bool,
}

/// A container's directory while the cella that made it holds it: taken
/// whole, removed with the container (or on drop: a failed create leaves
/// nothing), or kept (an OCI container once created; a detached one that
/// exited). A supervised container's (`cella run`, `cella init`) also
/// holds the owner lock, which tells other commands it is supervised.
pub struct Held {
    root: PathBuf,
    id: String,
    _owner: Option<OwnedFd>,
    /// The record outlives this process: not removed on drop.
    kept: bool,
    /// What a killed cella left under the id (its record, its cgroup, its
    /// processes) was removed to make room.
    pub reclaimed: bool,
}

impl Held {
    /// Take the id `first.id` under `root`: its directory appears whole,
    /// already recorded (no process yet), with `files` (name, contents) and,
    /// for a supervised container, its owner lock held. It is made under a
    /// temporary name, then renamed into place without replacing anything,
    /// so no other command ever sees it half made. A leftover of a killed
    /// cella (a run record nobody holds, whose process is gone) is removed
    /// first; any other container with the id is a clash.
    pub fn take(root: &Path, first: &Record, files: &[File]) -> Result<Held> {
        let id = first.id.as_str();
        prepare_root(root)?;
        check_id(id)?;
        let tmp = scratch(root, id);
        let _ = crate::dirs::remove(&tmp);
        rustix::fs::mkdir(&tmp, Mode::from_raw_mode(0o700))
            .map_err(|e| Error::new(Step::State, e).at(tmp.display().to_string()))?;
        let made = (|| {
            let owner = match first.kind {
                Kind::Run => Some(lock_file(
                    &tmp.join(OWNER),
                    FlockOperation::NonBlockingLockExclusive,
                )?),
                Kind::Oci => None,
            };
            for f in files {
                let mode = if f.readable { 0o644 } else { 0o600 };
                write_file(&tmp.join(f.name), &f.bytes, mode)?;
            }
            let text = first.to_text();
            write_private(&tmp.join(STATE), text.as_bytes())?;
            // A record kept after its container ends (`run -d` without
            // `--rm`) gets the room for its exit status now: its log may
            // fill the file system before then.
            if first.keep {
                let room = (text.len() + 512).next_multiple_of(4096);
                write_private(&tmp.join(EXIT_STATE), &vec![b'\n'; room])?;
            }
            Ok(owner)
        })();
        let owner = match made {
            Ok(owner) => owner,
            Err(e) => {
                let _ = crate::dirs::remove(&tmp);
                return Err(e);
            }
        };
        let mut reclaimed = false;
        for _ in 0..3 {
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                dir(root, id),
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {
                    return Ok(Held {
                        root: root.to_owned(),
                        id: id.to_owned(),
                        _owner: owner,
                        kept: false,
                        reclaimed,
                    });
                }
                Err(Errno::EXIST) if remove_if_stale(root, id) => reclaimed = true,
                Err(Errno::EXIST) => break,
                Err(e) => {
                    let _ = crate::dirs::remove(&tmp);
                    return Err(Error::new(Step::State, e).at(dir(root, id).display().to_string()));
                }
            }
        }
        let _ = crate::dirs::remove(&tmp);
        Err(Error::usage(match first.kind {
            // runc's words, which orchestrators may look for.
            Kind::Oci => format!("container {id} already exists"),
            Kind::Run => format!("a container named {id} exists (see 'cella list')"),
        }))
    }

    /// Record `r` (its id is ours).
    pub fn save(&self, r: &Record) -> Result<()> {
        r.save(&self.root)
    }

    /// Remove the record: the container is gone. Whoever waits for it
    /// to end (`cella wait`, `attach`: see [`wait_on`]) reads how it
    /// ended first: `code` goes into the record, which stays until they
    /// have (2 s at most). With nobody waiting, it goes at once.
    pub fn remove(self, code: i32) {
        use rustix::fs::FlockOperation::NonBlockingLockExclusive as Alone;
        let Ok(waiters) = rustix::fs::open(
            self.dir().join(WAITERS),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return;
        };
        if rustix::fs::flock(&waiters, Alone).is_ok() {
            return;
        }
        self.record_exit(code);
        for _ in 0..200 {
            if rustix::fs::flock(&waiters, Alone).is_ok() {
                return;
            }
            crate::cgroup::sleep_ms(10);
        }
    }

    /// Keep the record after this process: the container is made (OCI).
    pub fn keep(mut self) {
        self.kept = true;
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The record's directory.
    pub fn dir(&self) -> PathBuf {
        dir(&self.root, &self.id)
    }

    /// The container ended with `code` and its record is kept (`cella run
    /// -d` without `--rm`): say so in it, and stop holding it.
    /// It is written into the room made for it with the record, so a
    /// file system its log filled still keeps how it ended.
    pub fn exited(mut self, code: i32) {
        self.kept = self.record_exit(code);
    }

    /// Write how the container ended (`code`, and when) into its record,
    /// into the room made for it; whether it was written.
    fn record_exit(&self, code: i32) -> bool {
        let Ok(mut r) = Record::load(&self.root, &self.id) else {
            return false;
        };
        r.exit_code = Some(code);
        r.finished = now_rfc3339();
        r.save_into(&self.root, EXIT_STATE).is_ok()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.kept {
            let _ = remove_dir(&self.root, &self.id);
        }
    }
}

/// `.ID.PID`: where this process makes or removes container `id`'s
/// directory out of sight ([`sweep`] removes it if the process dies first).
fn scratch(root: &Path, id: &str) -> PathBuf {
    root.join(format!(
        ".{id}.{}",
        rustix::process::getpid().as_raw_nonzero()
    ))
}

/// Remove container `id`'s directory: first renamed out of the way (to
/// [`scratch`]), so it is never seen half removed. `Ok(false)`: it was
/// gone already.
pub fn remove_dir(root: &Path, id: &str) -> Result<bool> {
    let gone = scratch(root, id);
    let _ = crate::dirs::remove(&gone);
    match rustix::fs::rename(dir(root, id), &gone) {
        Ok(()) => {}
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(Error::new(Step::State, e).at(dir(root, id).display().to_string())),
    }
    crate::dirs::remove(&gone)
        .map_err(|e| Error::new(Step::State, e).at(gone.display().to_string()))?;
    Ok(true)
}

/// Remove `id` if it is what a killed cella left of a supervised container
/// (its record nobody holds, no exit status in it), with whatever of the
/// container still runs; true if removed.
pub fn remove_if_stale(root: &Path, id: &str) -> bool {
    take_if_stale(root, id).is_some()
}

/// [`remove_if_stale`], giving the record removed.
fn take_if_stale(root: &Path, id: &str) -> Option<Record> {
    // Under the container's lock, not waiting for it (a command acting
    // on the container has it): two commands that meet the record never
    // both act on it. The owner lock then tells whether its cella lives,
    // of the record now at the path, not one another command replaced.
    let _lock = lock_dir(root, id, FlockOperation::NonBlockingLockExclusive)?;
    if owned(root, id) {
        return None;
    }
    let r = Record::load(root, id).ok()?;
    // A kept record that says how its container ended waits for `rm`.
    if r.kind != Kind::Run || r.exit_code.is_some() {
        return None;
    }
    // A container does not outlive its cella. What can: a payload whose
    // credentials changed (a set-user-ID program, or root dropped: the
    // kernel clears the parent-death signal), processes of a `--pid host`
    // one. They go now, with what they hold
    // (an --overlay-upper directory whose lock died with cella), so the
    // name is free again; its cgroup goes with the record (its locks died
    // with cella too: nobody else's).
    r.kill();
    let _ = r.cgroup.remove();
    remove_dir(root, id).unwrap_or(false).then_some(r)
}

/// Remove every record a killed cella left of a supervised container;
/// returns their names, and whether one of them was on a bridge (its
/// rules are still in cella's table: see `crate::net::sweep`).
pub fn sweep(root: &Path) -> (Vec<String>, bool) {
    let (mut removed, mut bridged) = (Vec::new(), false);
    for name in crate::dirs::subdirs(root) {
        let path = root.join(&name);
        let Ok(name) = name.into_string() else {
            continue;
        };
        // Only supervised containers have an owner file; OCI ones stay
        // until `delete`. A `.NAME.PID` directory is one being made or
        // removed by process PID, or left by it if it was killed meanwhile.
        if let Some(maker) = name.strip_prefix('.') {
            // (Only `.ID.PID`: other dot files, such as the network lock,
            // are not scratch directories.)
            let Some(pid) = maker
                .rsplit_once('.')
                .and_then(|(_, p)| p.parse().ok())
                .and_then(rustix::process::Pid::from_raw)
            else {
                continue;
            };
            if rustix::process::test_kill_process(pid).is_err() {
                let _ = crate::dirs::remove(&path);
            }
        } else if path.join(OWNER).exists()
            && let Some(r) = take_if_stale(root, &name)
        {
            bridged |= r.network.is_some();
            removed.push(name);
        }
    }
    (removed, bridged)
}

/// The ids of every container under `root`, sorted.
pub fn ids(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = crate::dirs::subdirs(root)
        .into_iter()
        // `.ID.PID`: one being made or removed, not yet or no longer there.
        .filter(|name| {
            !name.as_encoded_bytes().starts_with(b".") && root.join(name).join(STATE).exists()
        })
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    crate::heapsort::sort(&mut out);
    out
}

pub fn io_error(e: std::io::Error) -> Error {
    Error::from_io(Step::State, e)
}

/// Now as RFC 3339 UTC with nanoseconds, as runc writes `created` and log times.
pub fn now_rfc3339() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(t.as_secs() as i64, t.subsec_nanos())
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
mod tests;
