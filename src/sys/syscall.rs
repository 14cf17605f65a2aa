//! The one raw system call instruction per architecture.
//!
//! rustix has no public generic `syscall`; the handful of calls it lacks
//! (clone3, signal masks, execve, mount_setattr, exit_group) go through
//! [`syscall6`]. Numbers come from `linux_raw_sys::general::__NR_*` for the
//! architecture being built.
#![allow(unsafe_code)]

use core::arch::asm;

/// `syscall(nr, a0..a5)`—Enter the kernel. Returns the raw result: a value in
/// `-4095..=-1` is `-errno`.
///
/// # Safety
/// The caller upholds the contract of system call `nr` for the arguments
/// given (valid pointers, sizes, and whatever the call does to the process).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 syscall ABI: number in rax, arguments in rdi, rsi,
    // rdx, r10, r8, r9; the kernel clobbers rcx and r11 and returns in rax.
    // The caller vouches for the call itself.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

/// See the x86_64 variant.
///
/// # Safety
/// As for the x86_64 variant.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the aarch64 syscall ABI: number in x8, arguments in x0..x5,
    // result in x0, nothing else clobbered.
    unsafe {
        asm!(
            "svc 0",
            in("x8") nr as usize,
            inlateout("x0") a[0] => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack)
        );
    }
    ret
}

/// See the x86_64 variant.
///
/// # Safety
/// As for the x86_64 variant.
#[cfg(target_arch = "arm")]
#[inline(always)]
pub unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the ARM EABI syscall ABI: number in r7, arguments in r0..r5,
    // result in r0. r7 is the frame pointer in Thumb mode and cannot be named
    // as an operand, so it is saved in a scratch register around `svc`.
    unsafe {
        asm!(
            "mov {saved}, r7",
            "mov r7, {nr}",
            "svc 0",
            "mov r7, {saved}",
            nr = in(reg) nr as usize,
            saved = out(reg) _,
            inlateout("r0") a[0] => ret,
            in("r1") a[1], in("r2") a[2], in("r3") a[3], in("r4") a[4], in("r5") a[5],
            options(nostack)
        );
    }
    ret
}

/// Turns a raw result into `Ok(value)` or the kernel's errno.
pub fn check(ret: isize) -> rustix::io::Result<usize> {
    if (-4095..0).contains(&ret) {
        Err(rustix::io::Errno::from_raw_os_error(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}
