//! A do-nothing unwinder for `panic = "abort"` musl builds.
//!
//! cella never unwinds: a panic aborts (and in a forked child ends it with
//! `exit_group`, see [`super::install_panic_guard`]). Yet the precompiled
//! std still references the unwinder (`_Unwind_Resume` in its landing pads,
//! `_Unwind_Backtrace` for panic backtraces), which pulls all of LLVM's
//! libunwind into a static musl binary: about 78 KB of the 450 KB budget.
//! Defining those symbols here satisfies the references, so the linker
//! takes nothing from `libunwind.a`. The cost: `RUST_BACKTRACE=1` prints an
//! empty backtrace. Unit and integration tests build with `panic = "unwind"`
//! and get the real unwinder (this module is compiled out).
//!
//! Every function has the C ABI of its libunwind namesake; arguments are
//! ignored, so no pointer is ever read or written.
#![allow(unsafe_code)]
#![allow(non_snake_case)]

use core::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: the walk is over before it started.
const END_OF_STACK: c_int = 5;

// SAFETY (all items): no_mangle exports these names for the static linker;
// no other definition is linked, because libunwind.a members are only pulled
// for symbols still undefined, and these are the ones std references.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Backtrace(_trace: *mut c_void, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetIP(_ctx: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetIPInfo(_ctx: *mut c_void, _before: *mut c_int) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetCFA(_ctx: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetGR(_ctx: *mut c_void, _index: c_int) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_SetGR(_ctx: *mut c_void, _index: c_int, _value: usize) {}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_SetIP(_ctx: *mut c_void, _value: usize) {}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetLanguageSpecificData(_ctx: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetRegionStart(_ctx: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetTextRelBase(_ctx: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetDataRelBase(_ctx: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_FindEnclosingFunction(_pc: *mut c_void) -> *mut c_void {
    core::ptr::null_mut()
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_DeleteException(_exception: *mut c_void) {}

/// Starting an unwind is impossible with `panic = "abort"`; if it ever
/// happened, stop the process rather than pretend.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_RaiseException(_exception: *mut c_void) -> c_int {
    std::process::abort()
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}
