//! The syscall boundary: the only place in cella with `unsafe`.
//!
//! Everything rustix offers is used from rustix directly by the other
//! modules; this module adds the few calls rustix lacks (clone3 and its
//! fallback, signal masks, execve, mount_setattr, exit_group) as safe
//! functions. Raw integers and pointers never leave it.
#![allow(unsafe_code)]

pub mod bpf;
mod clone;
pub mod landlock;
#[cfg(feature = "image")]
pub mod loopdev;
pub mod proctitle;
pub mod seccomp;
pub mod signal;
mod syscall;
#[cfg(all(panic = "abort", target_env = "musl"))]
mod unwind;

pub use clone::{Fork, fork, fork_into};

use core::sync::atomic::{AtomicBool, Ordering};
use linux_raw_sys::general::{
    __NR_close_range, __NR_execve, __NR_exit_group, __NR_mount_setattr, mount_attr,
};
use rustix::fd::{AsFd, AsRawFd};
use rustix::io::{Errno, Result};
use std::ffi::{CStr, CString};
use syscall::{check, syscall6};

/// A NUL-terminated array of C strings (argv or envp), built before the clone
/// so the child only reads it.
pub struct CStrArray {
    strings: Vec<CString>,
    pointers: Vec<*const u8>,
}

impl CStrArray {
    pub fn new(strings: Vec<CString>) -> Self {
        let mut pointers: Vec<*const u8> = strings.iter().map(|s| s.as_ptr().cast()).collect();
        pointers.push(core::ptr::null());
        CStrArray { strings, pointers }
    }
    pub fn strings(&self) -> &[CString] {
        &self.strings
    }
}

impl Default for CStrArray {
    fn default() -> Self {
        CStrArray::new(Vec::new())
    }
}

impl Clone for CStrArray {
    fn clone(&self) -> Self {
        CStrArray::new(self.strings.clone())
    }
}

impl core::fmt::Debug for CStrArray {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.strings.iter()).finish()
    }
}

/// `execve(path, argv, envp)`—Replace the process image. Returns only on
/// failure, with the errno.
///
/// # References
///  - <https://man7.org/linux/man-pages/man2/execve.2.html>
pub fn execve(path: &CStr, argv: &CStrArray, envp: &CStrArray) -> Errno {
    // SAFETY: `path` is NUL-terminated; `argv.pointers` and `envp.pointers`
    // are NULL-terminated arrays of pointers into `CString`s that the
    // borrowed arrays keep alive for the duration of the call.
    let ret = unsafe {
        syscall6(
            __NR_execve,
            [
                path.as_ptr() as usize,
                argv.pointers.as_ptr() as usize,
                envp.pointers.as_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    };
    match check(ret) {
        Err(e) => e,
        Ok(_) => Errno::INVAL, // execve never returns success
    }
}

/// `exit_group(code)`—End the process now, without atexit handlers or
/// stdio flushing (the forked child shares neither with anyone).
pub fn exit_group(code: i32) -> ! {
    loop {
        // SAFETY: exit_group(2) takes an int and does not return.
        unsafe {
            syscall6(__NR_exit_group, [code as usize, 0, 0, 0, 0, 0]);
        }
    }
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set})`—
/// Set mount attributes (read-only, nosuid, ...) on the mount `fd` refers to,
/// and with `recursive` on every mount below it too.
///
/// # References
///  - <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
pub fn mount_setattr(fd: impl AsFd, attr_set: u64, recursive: bool) -> Result<()> {
    setattr(
        fd,
        mount_attr {
            attr_set,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        },
        recursive,
    )
}

/// Set the propagation (`MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or
/// `MS_UNBINDABLE`) of the attached mount `fd` refers to, and with
/// `recursive` of every mount below it.
pub fn mount_propagation(fd: impl AsFd, propagation: u64, recursive: bool) -> Result<()> {
    setattr(
        fd,
        mount_attr {
            attr_set: 0,
            attr_clr: 0,
            propagation,
            userns_fd: 0,
        },
        recursive,
    )
}

fn setattr(fd: impl AsFd, attr: mount_attr, recursive: bool) -> Result<()> {
    let mut flags = linux_raw_sys::general::AT_EMPTY_PATH as usize;
    if recursive {
        flags |= linux_raw_sys::general::AT_RECURSIVE as usize;
    }
    let empty = c"";
    // SAFETY: mount_setattr(2) reads `size_of::<mount_attr>()` bytes from
    // `attr` and a NUL-terminated empty path; the fd is borrowed for the call.
    let ret = unsafe {
        syscall6(
            __NR_mount_setattr,
            [
                fd.as_fd().as_raw_fd() as usize,
                empty.as_ptr() as usize,
                flags,
                &attr as *const mount_attr as usize,
                core::mem::size_of::<mount_attr>(),
                0,
            ],
        )
    };
    check(ret).map(|_| ())
}

static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Install, once, in `main`, a panic hook that ends a forked child with a raw
/// `exit_group(125)`: the default panic path calls musl's `abort()`, which
/// signals a stale cached thread id after a raw clone (it killed the parent
/// in testing). In the parent the default hook runs as usual.
pub fn install_panic_guard() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CHILD.load(Ordering::Relaxed) {
            exit_group(125);
        }
        default_hook(info)
    }));
}

/// Record that this process is a forked child (see [`install_panic_guard`]).
pub fn mark_child() {
    IN_CHILD.store(true, Ordering::Relaxed);
}

/// `unshare(CLONE_NEWCGROUP)`—Enter a new cgroup namespace rooted at the
/// current cgroup.
pub fn unshare_cgroup_ns() -> Result<()> {
    // SAFETY: unshare_unsafe is unsafe because unsharing CLONE_FILES or
    // CLONE_FS can break assumptions of other threads or of libc; a new
    // cgroup namespace changes neither file descriptors nor memory, and the
    // process is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }
}

/// A new time namespace for this process's future children (the OCI
/// `create` parent, whose one child is the container).
pub fn unshare_time_ns() -> Result<()> {
    // SAFETY: as for unshare_cgroup_ns: a time namespace for children
    // touches neither file descriptors nor memory; single-threaded.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWTIME) }
}

/// Set `IFF_UP` on the loopback interface of the current network namespace
/// (`SIOCGIFFLAGS` then `SIOCSIFFLAGS` on a datagram socket).
pub fn loopback_up() -> Result<()> {
    use linux_raw_sys::general::__NR_ioctl;
    use linux_raw_sys::ioctl::{SIOCGIFFLAGS, SIOCSIFFLAGS};
    use linux_raw_sys::net::{ifreq, ifreq__bindgen_ty_1, ifreq__bindgen_ty_2, net_device_flags};
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socket_with};

    let sock = socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let mut name = [0 as core::ffi::c_char; 16];
    name[0] = b'l' as _;
    name[1] = b'o' as _;
    let mut req = ifreq {
        ifr_ifrn: ifreq__bindgen_ty_1 { ifrn_name: name },
        ifr_ifru: ifreq__bindgen_ty_2 { ifru_flags: 0 },
    };
    let fd = sock.as_raw_fd() as usize;
    // SAFETY: SIOCGIFFLAGS reads the interface name from and writes the flags
    // into the `ifreq` we own, which is the size the kernel expects.
    check(unsafe {
        syscall6(
            __NR_ioctl,
            [
                fd,
                SIOCGIFFLAGS as usize,
                &mut req as *mut ifreq as usize,
                0,
                0,
                0,
            ],
        )
    })?;
    // SAFETY: the kernel just filled `ifru_flags`, the member SIOCGIFFLAGS sets.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | net_device_flags::IFF_UP as core::ffi::c_short;
    // SAFETY: SIOCSIFFLAGS reads the same `ifreq`, which we still own.
    check(unsafe {
        syscall6(
            __NR_ioctl,
            [
                fd,
                SIOCSIFFLAGS as usize,
                &req as *const ifreq as usize,
                0,
                0,
                0,
            ],
        )
    })?;
    Ok(())
}

/// Close every descriptor from `first` up except those in `keep` (sorted
/// ascending): the OCI payload keeps its preserved fds (below `first`), and
/// the child its sync socket and start fifo until exec.
pub fn close_fds_keeping(first: i32, keep: &[i32]) -> Result<()> {
    let mut first = first.max(3) as usize;
    for &fd in keep {
        if fd < 0 || (fd as usize) < first {
            continue;
        }
        let fd = fd as usize;
        if fd > first {
            close_range_or_loop(first, fd - 1)?;
        }
        first = fd + 1;
    }
    close_range_or_loop(first, u32::MAX as usize)
}

fn close_range_or_loop(first: usize, last: usize) -> Result<()> {
    // SAFETY: close_range(2) closes descriptors only; the caller (a forked
    // child) owns every descriptor in the range and never uses the closed
    // ones again: it execs or exits.
    match check(unsafe { syscall6(__NR_close_range, [first, last, 0, 0, 0, 0]) }) {
        Ok(_) => Ok(()),
        Err(Errno::INVAL) => Err(Errno::INVAL),
        // Missing (before Linux 5.9), or refused by a container's seccomp
        // profile written before close_range existed (installed before
        // this step when no_new_privs is off): close what is open, one by one.
        Err(_) => close_listed(first, last),
    }
}

/// Close the open descriptors in `first..=last`, as `/proc/self/fd` lists
/// them (the container's own procfs by now): only the calls every seccomp
/// profile allows (open, getdents64, close), and no allocation.
fn close_listed(first: usize, last: usize) -> Result<()> {
    use rustix::fs::{Mode, OFlags, RawDir};
    let dir = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let own = dir.as_raw_fd() as usize;
    let mut buf = [core::mem::MaybeUninit::<u8>::uninit(); 1024];
    loop {
        // Listed again after each batch: closing changes what is open.
        let mut closed_any = false;
        let mut entries = RawDir::new(&dir, &mut buf);
        while let Some(entry) = entries.next() {
            let Some(fd) = parse_fd(entry?.file_name().to_bytes()) else {
                continue;
            };
            if fd != own && (first..=last).contains(&fd) {
                // SAFETY: close(2) of a descriptor this child owns (see
                // close_range_or_loop), never used again.
                unsafe { syscall6(linux_raw_sys::general::__NR_close, [fd, 0, 0, 0, 0, 0]) };
                closed_any = true;
            }
        }
        if !closed_any {
            return Ok(());
        }
        rustix::fs::seek(&dir, rustix::fs::SeekFrom::Start(0))?;
    }
}

fn parse_fd(name: &[u8]) -> Option<usize> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    name.iter().try_fold(0usize, |n, d| {
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

/// Close every descriptor from 3 up, except `keep`: whatever cella or its
/// caller held (cgroup files, the rootfs tree, inherited fds) must not reach
/// the payload. `close_range(2)` (Linux 5.9), with a plain loop before that.
pub fn close_fds_except(keep: impl AsFd) -> Result<()> {
    close_fds_keeping(3, &[keep.as_fd().as_raw_fd()])
}
