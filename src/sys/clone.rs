//! Fork-style process creation straight into new namespaces.
//!
//! rustix declines to wrap clone3 (it breaks libc's idea of the process), so
//! cella owns it. The child contract, which every caller must keep: the
//! program is single-threaded; everything the child needs (paths, argv,
//! envp, hostname bytes) was prepared before the call; the child talks to
//! the parent only through the sync pipe, makes only raw syscalls or rustix
//! calls, and ends in `execve` or [`exit_group`](super::exit_group). musl's
//! cached thread id is stale in the child, so `abort()` (and so a panic) must
//! never run there; [`super::mark_child`] installs the guard for that.
#![allow(unsafe_code)]

use super::syscall::{check, syscall6};
use linux_raw_sys::general::{__NR_clone, __NR_clone3, CLONE_INTO_CGROUP, SIGCHLD, clone_args};
use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::{Errno, Result};
use rustix::process::Pid;

/// Which side of the fork this is.
pub enum Fork {
    /// In the parent: the child's pid, and whether the child was placed in
    /// the requested cgroup by the kernel (clone3 with `CLONE_INTO_CGROUP`).
    Parent { child: Pid, into_cgroup: bool },
    /// In the child: same flag as the parent sees.
    Child { into_cgroup: bool },
}

/// `clone3({flags, exit_signal: SIGCHLD, cgroup})`, falling back to legacy
/// `clone(flags | SIGCHLD)` when clone3 is unavailable (ENOSYS: kernels
/// before 5.3, qemu-user, Docker's default seccomp profile) or refuses
/// `CLONE_INTO_CGROUP` (kernels before 5.7 give E2BIG or EINVAL).
///
/// `flags` are `CLONE_NEW*` bits only: no `CLONE_VM` and no stack, so the
/// child runs on a copy-on-write copy of this address space and returns from
/// this function like `fork()` does.
///
/// # References
///  - <https://man7.org/linux/man-pages/man2/clone3.2.html>
pub fn fork_into(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Fork> {
    let mut args = clone_args {
        flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: u64::from(SIGCHLD),
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    let into_cgroup = cgroup.is_some();
    // SAFETY: clone3(2) with a fully initialised `clone_args` whose size we
    // pass; no CLONE_VM, CLONE_SETTLS, CLONE_*TID or stack, so the kernel
    // writes no memory of ours and the child resumes here on its own
    // copy-on-write address space, exactly like fork(2). The module-level
    // child contract covers what the child may do afterwards.
    let ret = unsafe {
        syscall6(
            __NR_clone3,
            [
                &args as *const clone_args as usize,
                core::mem::size_of::<clone_args>(),
                0,
                0,
                0,
                0,
            ],
        )
    };
    match check(ret) {
        Ok(0) => return Ok(Fork::Child { into_cgroup }),
        Ok(pid) => {
            return Ok(Fork::Parent {
                child: to_pid(pid)?,
                into_cgroup,
            });
        }
        Err(Errno::NOSYS) => {}
        Err(Errno::INVAL | Errno::TOOBIG) if into_cgroup => {}
        Err(e) => return Err(e),
    }
    legacy_fork(flags)
}

/// Legacy `clone(flags | SIGCHLD, 0, 0, 0, 0)`. The argument order after
/// `flags` differs between architectures, but every one of them is zero.
fn legacy_fork(flags: u64) -> Result<Fork> {
    let flags = flags as usize | SIGCHLD as usize;
    // SAFETY: clone(2) without CLONE_VM and with a null stack behaves like
    // fork(2); all pointer arguments are null so the kernel writes nothing.
    let ret = unsafe { syscall6(__NR_clone, [flags, 0, 0, 0, 0, 0]) };
    match check(ret)? {
        0 => Ok(Fork::Child { into_cgroup: false }),
        pid => Ok(Fork::Parent {
            child: to_pid(pid)?,
            into_cgroup: false,
        }),
    }
}

/// Plain `fork()` for the `--init` process, which forks the payload.
pub fn fork() -> Result<Fork> {
    legacy_fork(0)
}

fn to_pid(raw: usize) -> Result<Pid> {
    Pid::from_raw(raw as i32).ok_or(Errno::SRCH)
}
