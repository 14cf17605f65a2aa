//! Landlock (Linux 5.13): the payload may execute only files beneath the
//! container's root. Whatever else the kernel would run for it lies
//! outside, reachable only through a magic link: above all the runtime's
//! own binary, which `/proc/self/exe` names while cella's child execs the
//! payload. A payload that is a script with `#!/proc/self/exe` would
//! otherwise start the host's cella inside the container, where any of the
//! container's processes could take a descriptor of the binary from
//! `/proc/PID/exe` and write it once no cella runs (CVE-2019-5736; runc
//! runs from a sealed copy of itself instead, which takes a re-exec).
#![allow(unsafe_code)]

use super::syscall::{check, syscall6};
use linux_raw_sys::general::{
    __NR_landlock_add_rule, __NR_landlock_create_ruleset, __NR_landlock_restrict_self,
};
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::io::{Errno, Result};

/// `LANDLOCK_ACCESS_FS_EXECUTE`: execute a file.
const ACCESS_FS_EXECUTE: u64 = 1;
/// `LANDLOCK_RULE_PATH_BENEATH`.
const RULE_PATH_BENEATH: usize = 1;

/// `struct landlock_path_beneath_attr`, packed as the kernel declares it.
#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// Restrict this thread and all it will run to executing files beneath
/// `root` (a directory), with every other access left as it is. `Ok(false)`
/// where the kernel has no Landlock (before 5.13, or not enabled at boot).
/// Needs no_new_privs or CAP_SYS_ADMIN in the current user namespace.
///
/// # References
///  - <https://docs.kernel.org/userspace-api/landlock.html>
pub fn restrict_exec_beneath(root: BorrowedFd<'_>) -> Result<bool> {
    // `struct landlock_ruleset_attr`'s first field (the kernel takes a
    // shorter struct from an older caller): what the ruleset governs.
    let handled: u64 = ACCESS_FS_EXECUTE;
    // SAFETY: a pointer to 8 readable bytes and their size; no flags.
    let ret = unsafe {
        syscall6(
            __NR_landlock_create_ruleset,
            [&handled as *const u64 as usize, 8, 0, 0, 0, 0],
        )
    };
    let ruleset = match check(ret) {
        Ok(fd) => {
            // SAFETY: the call returned a new descriptor, ours alone.
            unsafe { OwnedFd::from_raw_fd(fd as i32) }
        }
        Err(Errno::NOSYS | Errno::OPNOTSUPP) => return Ok(false),
        Err(e) => return Err(e),
    };
    let rule = PathBeneath {
        allowed_access: ACCESS_FS_EXECUTE,
        parent_fd: root.as_raw_fd(),
    };
    // SAFETY: the ruleset's descriptor, the rule type its attribute is,
    // and a pointer to that attribute, alive for the call; no flags.
    check(unsafe {
        syscall6(
            __NR_landlock_add_rule,
            [
                ruleset.as_raw_fd() as usize,
                RULE_PATH_BENEATH,
                &rule as *const PathBeneath as usize,
                0,
                0,
                0,
            ],
        )
    })?;
    // SAFETY: the ruleset's descriptor; no flags.
    check(unsafe {
        syscall6(
            __NR_landlock_restrict_self,
            [ruleset.as_raw_fd() as usize, 0, 0, 0, 0, 0],
        )
    })?;
    Ok(true)
}
