//! Rootless `cella run`: started by an unprivileged user, the container gets
//! a user namespace in which that user is root.
//!
//! The uid/gid maps are planned before the clone from `/etc/subuid` and
//! `/etc/subgid`: with a subordinate range and the setuid helpers
//! `newuidmap`/`newgidmap` the container gets the whole range (so
//! `--user 1000` works); without them only the user itself is mapped, to
//! root, written by cella directly (with `setgroups` denied, as the kernel
//! requires). Device nodes are then bound from the host instead of made
//! (see `mount::make_devices`), and no cgroup is created: this host
//! delegates none to users, which `main` reports when limits were asked.

use crate::error::{Error, Result, Step};
use crate::sys::{self, CStrArray, Fork};
use rustix::io::Errno;
use rustix::process::Pid;
use std::ffi::CString;

const NEWUIDMAP: &str = "/usr/bin/newuidmap";
const NEWGIDMAP: &str = "/usr/bin/newgidmap";

/// Whether cella runs without root: it then needs a user namespace.
pub fn active() -> bool {
    !rustix::process::geteuid().is_root()
}

/// The maps to give the container's user namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    pub uid: u32,
    pub gid: u32,
    /// Subordinate ranges (start, count) from /etc/subuid and /etc/subgid,
    /// used when both helpers exist.
    pub sub_uids: Option<(u32, u32)>,
    pub sub_gids: Option<(u32, u32)>,
}

impl Maps {
    /// Plan the maps for the calling user.
    pub fn for_caller() -> Maps {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let name = user_name(uid);
        let helpers =
            std::path::Path::new(NEWUIDMAP).exists() && std::path::Path::new(NEWGIDMAP).exists();
        let range = |file: &str, id: u32| {
            if !helpers {
                return None;
            }
            let text = crate::input::system_text(file)?;
            subordinate(&text, name.as_deref(), id)
        };
        Maps {
            uid,
            gid,
            sub_uids: range("/etc/subuid", uid),
            sub_gids: range("/etc/subgid", gid),
        }
    }

    /// `/proc/PID/uid_map` lines: the caller is root, a subordinate range
    /// (if any) follows from 1.
    pub fn uid_map(&self) -> Vec<(u32, u32, u32)> {
        lines(self.uid, self.sub_uids)
    }

    pub fn gid_map(&self) -> Vec<(u32, u32, u32)> {
        lines(self.gid, self.sub_gids)
    }

    /// Write the maps for `pid`: through the setuid helpers when there are
    /// ranges, else directly (only the caller's own ids can be mapped so).
    pub fn apply(&self, pid: Pid) -> Result<()> {
        let raw = pid.as_raw_nonzero().get();
        match (self.sub_uids, self.sub_gids) {
            (Some(_), Some(_)) => {
                helper(NEWUIDMAP, raw, &self.uid_map())?;
                helper(NEWGIDMAP, raw, &self.gid_map())
            }
            _ => {
                write_map(pid, "uid_map", &format!("0 {} 1\n", self.uid))?;
                write_map(pid, "setgroups", "deny")?;
                write_map(pid, "gid_map", &format!("0 {} 1\n", self.gid))
            }
        }
    }
}

/// Write `text` to `/proc/PID/FILE` (`uid_map`, `gid_map`, `setgroups`) in
/// one write, as the kernel requires: for every user namespace cella makes.
pub fn write_map(pid: Pid, file: &str, text: &str) -> Result<()> {
    let path = format!("/proc/{}/{file}", pid.as_raw_nonzero());
    crate::input::write_system(&path, text).map_err(|e| Error::new(Step::UserNamespace, e).at(path))
}

fn lines(own: u32, sub: Option<(u32, u32)>) -> Vec<(u32, u32, u32)> {
    let mut v = vec![(0, own, 1)];
    if let Some((start, count)) = sub {
        v.push((1, start, count));
    }
    v
}

/// The first range of `name` or `id` in a subuid/subgid file.
fn subordinate(text: &str, name: Option<&str>, id: u32) -> Option<(u32, u32)> {
    let id = id.to_string();
    text.lines().find_map(|line| {
        let mut f = line.trim().split(':');
        let who = f.next()?;
        if who != id && Some(who) != name {
            return None;
        }
        let start = f.next()?.parse().ok()?;
        let count: u32 = f.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = crate::input::system_text("/etc/passwd")?;
    crate::users::entries(&passwd)
        .find(|u| u.uid == uid)
        .map(|u| u.name.to_owned())
}

/// `newuidmap PID 0 UID 1 1 START COUNT`, run and waited for.
fn helper(path: &str, pid: i32, map: &[(u32, u32, u32)]) -> Result<()> {
    let fail = |e: Errno| Error::new(Step::UserNamespace, e).at(path.to_owned());
    let mut args = vec![path.to_owned(), pid.to_string()];
    for (inside, outside, count) in map {
        args.extend([inside.to_string(), outside.to_string(), count.to_string()]);
    }
    let argv = CStrArray::new(
        args.into_iter()
            .map(|a| CString::new(a).unwrap_or_default())
            .collect(),
    );
    let envp = CStrArray::new(Vec::new());
    let prog = CString::new(path).unwrap_or_default();
    let child = match sys::fork().map_err(fail)? {
        Fork::Child { .. } => {
            sys::mark_child();
            let _ = sys::execve(&prog, &argv, &envp);
            sys::exit_group(127)
        }
        Fork::Parent { child, .. } => child,
    };
    match crate::process::reap(child).map_err(fail)? {
        0 => Ok(()),
        code => Err(Error::invalid(
            Step::UserNamespace,
            format!("{path} exited with status {code}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_id() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(
            subordinate(text, Some("alice"), 1000),
            Some((100000, 65536))
        );
        assert_eq!(subordinate(text, Some("carol"), 1001), Some((200000, 1000)));
        assert_eq!(
            subordinate(text, Some("bob"), 1002),
            None,
            "an empty range is none"
        );
        assert_eq!(subordinate(text, None, 5), None);
    }

    #[test]
    fn the_caller_is_root_and_the_range_follows() {
        let m = Maps {
            uid: 1000,
            gid: 1000,
            sub_uids: Some((100000, 65536)),
            sub_gids: None,
        };
        assert_eq!(m.uid_map(), [(0, 1000, 1), (1, 100000, 65536)]);
        assert_eq!(m.gid_map(), [(0, 1000, 1)]);
    }
}
