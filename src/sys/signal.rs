//! Signal masks and synchronous signal waiting, with raw syscalls.
//!
//! cella never installs a signal handler: the parent and the `--init`
//! process block the signals they forward and take them with
//! `rt_sigtimedwait`, one at a time, in their main loop. The kernel sigset is
//! 64 bits wide (`sigsetsize` 8) on every architecture cella supports.
#![allow(unsafe_code)]

use super::syscall::{check, syscall6};
use linux_raw_sys::general::{
    __NR_rt_sigaction, __NR_rt_sigprocmask, __NR_rt_sigtimedwait, SIG_BLOCK, SIG_SETMASK,
};
use rustix::io::Result;
use rustix::process::Signal;

/// Signal `n` of the kernel's 1 to 64: a named one, or one of the real-time
/// signals (32 to 64) rustix names none of.
pub fn from_number(n: i32) -> Option<Signal> {
    if let Some(sig) = Signal::from_named_raw(n) {
        return Some(sig);
    }
    // SAFETY: 32..=64 are the kernel's real-time signals (_NSIG is 64 on
    // every architecture cella supports): valid numbers to send, which
    // rustix only leaves unnamed.
    (32..=64)
        .contains(&n)
        .then(|| unsafe { Signal::from_raw_unchecked(n) })
}

/// A kernel signal set (bit `n - 1` for signal `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SigSet(u64);

impl SigSet {
    pub const fn empty() -> Self {
        SigSet(0)
    }
    pub const fn with(self, sig: Signal) -> Self {
        SigSet(self.0 | 1 << (sig.as_raw() - 1))
    }
    pub fn contains(self, signo: i32) -> bool {
        (1..=64).contains(&signo) && self.0 & (1 << (signo - 1)) != 0
    }
}

/// `rt_sigprocmask(SIG_BLOCK, set, &old)`—Block `set`; returns the previous mask.
pub fn block(set: SigSet) -> Result<SigSet> {
    let mut old = 0u64;
    // SAFETY: rt_sigprocmask(2) reads 8 bytes from `set` and writes 8 bytes to
    // `old`, both live locals of that size.
    let ret = unsafe {
        syscall6(
            __NR_rt_sigprocmask,
            [
                SIG_BLOCK as usize,
                &set.0 as *const u64 as usize,
                &mut old as *mut u64 as usize,
                8,
                0,
                0,
            ],
        )
    };
    check(ret).map(|_| SigSet(old))
}

/// `rt_sigprocmask(SIG_SETMASK, mask, NULL)`—Restore a mask saved by [`block`].
pub fn set_mask(mask: SigSet) -> Result<()> {
    // SAFETY: as in `block`; the old-mask pointer is null, so nothing is written.
    let ret = unsafe {
        syscall6(
            __NR_rt_sigprocmask,
            [
                SIG_SETMASK as usize,
                &mask.0 as *const u64 as usize,
                0,
                8,
                0,
                0,
            ],
        )
    };
    check(ret).map(|_| ())
}

/// `rt_sigtimedwait(set, NULL, NULL)`—Wait for one signal of `set` (which
/// must be blocked) and take it; returns its number.
pub fn wait(set: SigSet) -> Result<i32> {
    loop {
        // SAFETY: rt_sigtimedwait(2) reads 8 bytes from `set`; the siginfo and
        // timeout pointers are null, which the kernel accepts (no info wanted,
        // wait forever).
        let ret = unsafe {
            syscall6(
                __NR_rt_sigtimedwait,
                [&set.0 as *const u64 as usize, 0, 0, 8, 0, 0],
            )
        };
        match check(ret) {
            Ok(sig) => return Ok(sig as i32),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `signalfd4(-1, set, 8, SFD_CLOEXEC | SFD_NONBLOCK)`—A descriptor that
/// becomes readable when a signal of `set` (which must be blocked) is pending.
pub fn signalfd(set: SigSet) -> Result<rustix::fd::OwnedFd> {
    use linux_raw_sys::general::{__NR_signalfd4, O_CLOEXEC, O_NONBLOCK};
    // SAFETY: signalfd4(2) with fd -1 creates a new descriptor; it reads 8
    // bytes of mask from `set`. SFD_CLOEXEC and SFD_NONBLOCK equal O_CLOEXEC
    // and O_NONBLOCK (linux-raw-sys has no SFD_* constants).
    let ret = unsafe {
        syscall6(
            __NR_signalfd4,
            [
                usize::MAX,
                &set.0 as *const u64 as usize,
                8,
                (O_CLOEXEC | O_NONBLOCK) as usize,
                0,
                0,
            ],
        )
    };
    let fd = check(ret)? as i32;
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { <rustix::fd::OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Read one pending signal from a [`signalfd`]: its number, or `None` when
/// none is pending.
pub fn read_signalfd(fd: impl rustix::fd::AsFd) -> Option<i32> {
    // struct signalfd_siginfo is 128 bytes; ssi_signo is its first u32.
    let mut info = [0u8; 128];
    match rustix::io::read(fd, &mut info) {
        Ok(128) => Some(i32::from_ne_bytes([info[0], info[1], info[2], info[3]])),
        _ => None,
    }
}

/// `rt_sigaction(sig, {SIG_DFL}, NULL)`—Restore the default disposition.
///
/// Rust's runtime sets SIGPIPE to SIG_IGN at startup, and SIG_IGN survives
/// execve, so the payload would otherwise inherit it.
pub fn set_default(sig: Signal) -> Result<()> {
    set_default_raw(sig.as_raw())
}

/// [`set_default`] by number (the real-time signals have no [`Signal`]
/// name); EINVAL for a number the kernel does not take (KILL, STOP).
pub fn set_default_raw(sig: i32) -> Result<()> {
    // The kernel's `struct sigaction` is {handler, flags, restorer, mask}
    // with per-architecture widths; SIG_DFL is 0, so an all-zero buffer at
    // least as large as the biggest layout (32 bytes on x86_64) is a valid
    // "default, no flags, empty mask" on every architecture.
    let act = [0u64; 4];
    // SAFETY: rt_sigaction(2) reads one `struct sigaction` (at most 32 bytes)
    // from `act` and 8 bytes of mask size; the old-action pointer is null.
    let ret = unsafe {
        syscall6(
            __NR_rt_sigaction,
            [sig as usize, act.as_ptr() as usize, 0, 8, 0, 0],
        )
    };
    check(ret).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigset_bits_match_kernel_numbering() {
        let s = SigSet::empty().with(Signal::HUP).with(Signal::CHILD);
        assert!(s.contains(1));
        assert!(s.contains(17));
        assert!(!s.contains(2));
        assert!(!s.contains(0));
        assert!(!s.contains(65));
    }
}
