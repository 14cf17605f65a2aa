//! OCI hooks: each one a process given the state JSON on stdin, run in
//! order, with its timeout. Hooks of the runtime namespace run as children
//! of cella; createContainer and startContainer hooks first join the
//! container's namespaces (opened from `/proc/PID/ns` before the fork).

use super::config::Hook;
use crate::error::{Error, Result, Step};
use crate::sys::{self, CStrArray, Fork};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use std::ffi::CString;

/// Run `hooks` in order; the first failure stops them and is returned.
/// `enter` is the pid whose namespaces the hooks join (none: cella's own).
pub fn run(kind: &str, hooks: &[Hook], state: &str, enter: Option<i32>) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state, enter).map_err(|e| failed(kind, i, h, e))?;
    }
    Ok(())
}

/// Run every hook of `hooks` (poststart, poststop), in cella's namespaces:
/// a failure goes to `warn` and the rest still run, as the runtime spec
/// says of these phases.
pub fn run_warning(kind: &str, hooks: &[Hook], state: &str, warn: &mut dyn FnMut(&Error)) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state, None) {
            warn(&failed(kind, i, h, e));
        }
    }
}

/// Hook `i` of `kind` failed with `e`: the error naming it.
fn failed(kind: &str, i: usize, h: &Hook, e: Error) -> Error {
    let what = format!("{kind}[{i}] {}", h.path);
    match e.errno {
        Some(errno) => Error::new(Step::Hook, errno).at(what),
        None => Error::invalid(
            Step::Hook,
            format!("{what}: {}", e.what.unwrap_or_default()),
        ),
    }
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::usage("hook strings must not contain NUL"))
}

fn run_one(h: &Hook, state: &str, enter: Option<i32>) -> Result<()> {
    let path = cstr(&h.path)?;
    let all = |strings: &[String]| -> Result<Vec<CString>> {
        let mut out = Vec::with_capacity(strings.len());
        for s in strings {
            out.push(cstr(s)?);
        }
        Ok(out)
    };
    let argv: Vec<CString> = if h.args.is_empty() {
        vec![path.clone()]
    } else {
        all(&h.args)?
    };
    let argv = CStrArray::new(argv);
    let envp = CStrArray::new(all(&h.env)?);
    let mut namespaces: Vec<(OwnedFd, u32)> = Vec::new();
    if let Some(pid) = enter {
        for flag in super::config::NS_FLAGS {
            if flag == linux_raw_sys::general::CLONE_NEWUSER {
                continue;
            }
            let file = format!("/proc/{pid}/ns/{}", super::config::ns_file(flag));
            let Ok(fd) = rustix::fs::open(
                file.as_str(),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            ) else {
                continue;
            };
            // Only the namespaces the container does not share with us.
            let own = format!("/proc/self/ns/{}", super::config::ns_file(flag));
            if std::fs::read_link(&own).ok() != std::fs::read_link(&file).ok() {
                namespaces.push((fd, flag));
            }
        }
    }
    let (rx, tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::new(Step::Hook, e))?;
    let child = match sys::fork().map_err(|e| Error::new(Step::Hook, e))? {
        Fork::Child { .. } => {
            sys::mark_child();
            for (fd, flag) in &namespaces {
                if crate::child::join_namespace(fd.as_fd(), *flag).is_err() {
                    sys::exit_group(126);
                }
            }
            if rustix::stdio::dup2_stdin(&rx).is_err() {
                sys::exit_group(126);
            }
            let _ = sys::execve(&path, &argv, &envp);
            sys::exit_group(127)
        }
        Fork::Parent { child, .. } => child,
    };
    drop(rx);
    // A hook that does not read its stdin must not block us: ignore EPIPE.
    let _ = rustix::io::write(&tx, state.as_bytes());
    drop(tx);
    let status = wait_with_timeout(child, h.timeout)?;
    if status == 0 {
        Ok(())
    } else {
        Err(Error::invalid(
            Step::Hook,
            format!("exited with status {status}"),
        ))
    }
}

/// Wait for `child`, killing it after `timeout` seconds.
fn wait_with_timeout(child: rustix::process::Pid, timeout: Option<u32>) -> Result<u8> {
    use rustix::event::{PollFd, PollFlags, poll};
    use rustix::process::{WaitOptions, waitpid};
    if let Some(secs) = timeout {
        let pidfd = rustix::process::pidfd_open(child, rustix::process::PidfdFlags::empty())
            .map_err(|e| Error::new(Step::Hook, e))?;
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        let limit = rustix::time::Timespec {
            tv_sec: i64::from(secs),
            tv_nsec: 0,
        };
        let ready = loop {
            match poll(&mut fds, Some(&limit)) {
                Err(Errno::INTR) => continue,
                other => break other.map_err(|e| Error::new(Step::Hook, e))?,
            }
        };
        if ready == 0 {
            let _ = rustix::process::kill_process(child, rustix::process::Signal::KILL);
            let _ = waitpid(Some(child), WaitOptions::empty());
            return Err(Error::invalid(
                Step::Hook,
                format!("timed out after {secs}s"),
            ));
        }
    }
    crate::process::reap(child).map_err(|e| Error::new(Step::Hook, e))
}
