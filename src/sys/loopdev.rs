//! Loop devices: an image file attached read-only to a free loop device
//! (`/dev/loop-control`'s `LOOP_CTL_GET_FREE`, then `LOOP_CONFIGURE` in
//! one call, 5.8+), with autoclear: the kernel detaches it when its last
//! user goes (the file system mounted from it), so a killed cella leaves
//! no loop device behind.

use super::syscall::{check, syscall6};
use linux_raw_sys::general::__NR_ioctl;
use linux_raw_sys::loop_device::{
    LO_FLAGS_AUTOCLEAR, LO_FLAGS_READ_ONLY, LOOP_CONFIGURE, LOOP_CTL_GET_FREE, loop_config,
};
use rustix::fd::{AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::{Errno, Result};

/// Another attacher may take the free device between our asking and our
/// configuring it (EBUSY): ask again, this many times.
const ATTEMPTS: usize = 16;

/// Attach `image` read-only; the loop device, open, and its path. Closing
/// the device with nothing mounted from it detaches it.
pub fn attach_read_only(image: BorrowedFd<'_>) -> Result<(OwnedFd, String)> {
    let control = rustix::fs::open(
        "/dev/loop-control",
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut config = loop_config {
        fd: image.as_raw_fd() as u32,
        block_size: 0,
        // SAFETY: loop_info64 is plain integers and byte arrays, for which
        // all zeroes is a valid value (what the kernel takes as "unset").
        info: unsafe { core::mem::zeroed() },
        __reserved: [0; 8],
    };
    config.info.lo_flags = LO_FLAGS_READ_ONLY as u32 | LO_FLAGS_AUTOCLEAR as u32;
    for _ in 0..ATTEMPTS {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a number.
        let n = check(unsafe {
            syscall6(
                __NR_ioctl,
                [
                    control.as_raw_fd() as usize,
                    LOOP_CTL_GET_FREE as usize,
                    0,
                    0,
                    0,
                    0,
                ],
            )
        })?;
        let path = format!("/dev/loop{n}");
        let device = rustix::fs::open(
            path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: LOOP_CONFIGURE reads a `loop_config` we own, of the size
        // the kernel expects, and keeps no pointer to it.
        let configured = check(unsafe {
            syscall6(
                __NR_ioctl,
                [
                    device.as_raw_fd() as usize,
                    LOOP_CONFIGURE as usize,
                    &config as *const loop_config as usize,
                    0,
                    0,
                    0,
                ],
            )
        });
        match configured {
            Ok(_) => return Ok((device, path)),
            Err(Errno::BUSY) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::BUSY)
}
