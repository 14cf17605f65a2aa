//! What others see as this process's command line (`/proc/PID/cmdline`),
//! rewritten in place: an `--init` PID 1 is cella's forked child and would
//! otherwise show cella's whole command line (host paths, `-e` values) to
//! every user in the container. `prctl(PR_SET_MM_ARG_*)` would need
//! CAP_SYS_RESOURCE; the argument area itself is ours to write.
#![allow(unsafe_code)]

/// The argument area of this process, `[arg_start, arg_end)`.
#[derive(Clone, Copy, Debug)]
pub struct ArgArea {
    start: usize,
    end: usize,
}

impl ArgArea {
    /// This process's area, from `/proc/self/stat` (fields 48 and 49).
    /// Read it before the clone: it allocates.
    pub fn of_self() -> Option<ArgArea> {
        let stat = crate::input::system_text("/proc/self/stat")?;
        // The command name may hold spaces: fields follow the last ')',
        // starting with field 3.
        let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(45);
        let start: usize = fields.next()?.parse().ok()?;
        let end: usize = fields.next()?.parse().ok()?;
        (start != 0 && end >= start + 2).then_some(ArgArea { start, end })
    }

    /// Show `title` (cut to the area) as the whole command line. The area's
    /// last byte is made non-NUL, which the kernel reads as "set by the
    /// program" and shows up to the first NUL: the title, nothing after.
    pub fn set(self, title: &[u8]) {
        let len = self.end - self.start;
        let n = title.len().min(len - 2);
        // SAFETY: `[start, end)` is this process's argument area as the
        // kernel reports it: the strings it copied onto the initial stack at
        // exec, writable and mapped for the life of the process (a forked
        // child has its own copy). Nothing in Rust refers to it (std keeps
        // raw argv pointers, read only by `env::args`, which the child never
        // calls), the process is single-threaded, and `n < len` keeps both
        // writes inside the area.
        unsafe {
            let area = self.start as *mut u8;
            core::ptr::copy_nonoverlapping(title.as_ptr(), area, n);
            core::ptr::write_bytes(area.add(n), 0, len - n);
            *area.add(len - 1) = b' ';
        }
    }
}
