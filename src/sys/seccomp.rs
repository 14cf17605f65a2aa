//! Loading a seccomp filter: the kernel's `sock_filter` layout and the
//! seccomp(2) call. [`crate::seccomp`] builds the program.
#![allow(unsafe_code)]

use super::syscall::{check, syscall6};
use linux_raw_sys::general::__NR_seccomp;
use rustix::fd::{FromRawFd, OwnedFd};
use rustix::io::{Errno, Result};

/// One classic-BPF instruction, `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    /// Instructions to skip when the condition holds.
    pub jt: u8,
    /// Instructions to skip when it does not.
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const SECCOMP_SET_MODE_FILTER: usize = 1;

/// `SECCOMP_FILTER_FLAG_*` bits of seccomp(2).
pub mod flag {
    pub const TSYNC: u32 = 1;
    pub const LOG: u32 = 2;
    pub const SPEC_ALLOW: u32 = 4;
    /// seccomp(2) returns a listener fd for `SECCOMP_RET_USER_NOTIF`.
    pub const NEW_LISTENER: u32 = 8;
    pub const WAIT_KILLABLE_RECV: u32 = 32;
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`—Filter every later
/// syscall of the calling thread (and of what it forks and execs) through
/// `filter`. The kernel demands no_new_privs or CAP_SYS_ADMIN (EACCES
/// otherwise); setting no_new_privs is the caller's decision. cella's
/// children are single-threaded, so TSYNC is the caller's to leave out.
/// With [`flag::NEW_LISTENER`], the listener fd of the seccomp agent.
///
/// # References
///  - <https://man7.org/linux/man-pages/man2/seccomp.2.html>
///  - <https://man7.org/linux/man-pages/man2/seccomp_unotify.2.html>
pub fn install(filter: &[SockFilter], flags: u32) -> Result<Option<OwnedFd>> {
    let prog = SockFprog {
        len: u16::try_from(filter.len()).map_err(|_| Errno::INVAL)?,
        filter: filter.as_ptr(),
    };
    // SAFETY: seccomp(2) reads the `sock_fprog` we pass and the `len`
    // instructions it points to, both borrowed for the duration of the call;
    // the kernel validates the program and copies it, writing no memory of
    // ours.
    let ret = unsafe {
        syscall6(
            __NR_seccomp,
            [
                SECCOMP_SET_MODE_FILTER,
                flags as usize,
                &prog as *const SockFprog as usize,
                0,
                0,
                0,
            ],
        )
    };
    let fd = check(ret)?;
    if flags & flag::NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returns a new descriptor that
    // is ours from now on.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}
