//! PID 1's console output: status lines and the containers' relayed
//! output, written without ever blocking. A console nobody reads (a stalled
//! serial line, a pipe whose reader stopped) must not stop PID 1 from
//! reaping, restarting or shutting down: what it cannot take now waits in a
//! bounded queue, and what does not fit there is dropped, counted, and
//! reported once the console moves again.

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::cell::RefCell;

/// Output waiting for the console, at most this much.
const QUEUE_MAX: usize = 64 << 10;

pub struct Console {
    /// Our own non-blocking handle on the console (stdout reopened, so the
    /// flag does not leak into what shares the original, such as an
    /// emergency shell); `None`: not opened yet.
    fd: Option<OwnedFd>,
    queue: Vec<u8>,
    dropped: u64,
}

thread_local! {
    static CONSOLE: RefCell<Console> = const {
        RefCell::new(Console { fd: None, queue: Vec::new(), dropped: 0 })
    };
}

/// Queue `bytes` for the console and write what it takes now.
pub fn write(bytes: &[u8]) {
    CONSOLE.with(|c| c.borrow_mut().push(bytes));
}

/// Write what the console takes now (it polled writable).
pub fn flush() {
    CONSOLE.with(|c| c.borrow_mut().flush());
}

/// A handle on the console while output waits for it, for the caller to
/// poll for POLLOUT.
pub fn pending() -> Option<OwnedFd> {
    CONSOLE.with(|c| {
        let c = c.borrow();
        if c.queue.is_empty() {
            return None;
        }
        c.fd.as_ref().and_then(|fd| rustix::io::dup(fd).ok())
    })
}

impl Console {
    /// Write without blocking: on our own handle, or (no /proc yet to open
    /// one with) on stdout made non-blocking for just this write.
    fn write_some(&mut self) -> rustix::io::Result<usize> {
        if self.fd.is_none() {
            self.fd = reopen_stdout();
        }
        if let Some(fd) = &self.fd {
            return rustix::io::write(fd, &self.queue);
        }
        let out = rustix::stdio::stdout();
        let flags = rustix::fs::fcntl_getfl(out)?;
        rustix::fs::fcntl_setfl(out, flags | OFlags::NONBLOCK)?;
        let written = rustix::io::write(out, &self.queue);
        let _ = rustix::fs::fcntl_setfl(out, flags);
        written
    }

    /// Whole or not at all: callers push whole lines, and a line is never
    /// shown cut and joined to a later one.
    fn push(&mut self, bytes: &[u8]) {
        if self.queue.len() + bytes.len() > QUEUE_MAX {
            self.dropped += bytes.len() as u64;
        } else {
            self.queue.extend_from_slice(bytes);
        }
        self.flush();
    }

    fn flush(&mut self) {
        loop {
            if self.queue.is_empty() {
                if self.dropped == 0 {
                    return;
                }
                let note = format!(
                    "cella: the console was stalled: {} bytes of output were dropped\n",
                    self.dropped
                );
                self.dropped = 0;
                self.queue.extend_from_slice(note.as_bytes());
            }
            match self.write_some() {
                Ok(n) => {
                    self.queue.drain(..n);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                // A console that is gone takes nothing, ever.
                Err(_) => {
                    self.queue.clear();
                    return;
                }
            }
        }
    }
}

/// Our own handle on stdout: for a file, stdout's own open file
/// description (a file never blocks, and whoever else writes there, an
/// emergency shell say, shares its offset: nobody's lines overwrite
/// another's, and `>> file` appends); else `/proc/self/fd/1` opened anew,
/// non-blocking (a pipe, a tty; not a socket).
fn reopen_stdout() -> Option<OwnedFd> {
    let out = rustix::stdio::stdout();
    if rustix::fs::fstat(out).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
    }) {
        return rustix::io::fcntl_dupfd_cloexec(out, 0).ok();
    }
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    rustix::fs::open("/proc/self/fd/1", flags, Mode::empty()).ok()
}
