//! The `bpf(2)` calls the cgroup v2 device filter needs: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program and attach it to a cgroup
//! directory. Only these two commands, with their kernel ABI structs.

use super::syscall::{check, syscall6};
use linux_raw_sys::general::__NR_bpf;
use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use rustix::io::Result;

/// One eBPF instruction, `struct bpf_insn`: opcode, destination and
/// source registers (low and high nibble), offset, immediate.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const BPF_PROG_LOAD: usize = 5;
const BPF_PROG_ATTACH: usize = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD; the kernel
/// takes a shorter attr as long as it is all there is.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Load `prog` as a cgroup device program.
pub fn load_device_program(prog: &[BpfInsn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: *b"cella_devices\0\0\0",
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    // SAFETY: bpf(2) reads `size_of::<ProgLoad>()` bytes of `attr`, the
    // `insn_cnt` instructions at `insns` and the NUL-terminated license,
    // all alive for the call; it returns a new fd that we then own.
    let fd = check(unsafe {
        syscall6(
            __NR_bpf,
            [
                BPF_PROG_LOAD,
                &attr as *const ProgLoad as usize,
                core::mem::size_of::<ProgLoad>(),
                0,
                0,
                0,
            ],
        )
    })?;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach a loaded device program to the cgroup directory `cgroup`
/// (alongside any others: the device is allowed only if all allow it).
pub fn attach_device_program(cgroup: impl AsFd, prog: impl AsFd) -> Result<()> {
    let attr = ProgAttach {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: prog.as_fd().as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: bpf(2) reads `size_of::<ProgAttach>()` bytes of `attr`; the
    // two descriptors are borrowed for the call.
    check(unsafe {
        syscall6(
            __NR_bpf,
            [
                BPF_PROG_ATTACH,
                &attr as *const ProgAttach as usize,
                core::mem::size_of::<ProgAttach>(),
                0,
                0,
                0,
            ],
        )
    })
    .map(|_| ())
}
