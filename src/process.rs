//! The payload's side of things: its process as every front end describes
//! it ([`Payload`], [`Exec`]), exec with cella's own PATH search, the one
//! wait for it with signals forwarded ([`wait_forwarding`]), and the
//! mapping from a wait status to an exit code.

use crate::caps::Caps;
use crate::seccomp;
use crate::sys::{self, CStrArray, signal::SigSet};
use rustix::event::{PollFd, PollFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Gid, Resource, Rlimit};
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use std::ffi::CString;

#[derive(Debug, Default)]
pub struct Exec {
    /// Paths to try, in order: the command itself when it contains a `/`,
    /// else one per `$PATH` entry (searched inside the container, after the
    /// root has changed).
    pub candidates: Vec<CString>,
    pub argv: CStrArray,
    pub envp: CStrArray,
    pub workdir: Option<CString>,
    /// Run cella's tiny init as PID 1 and the command as its child.
    pub init: bool,
}

/// The payload's process, ready for the child: what it runs and as whom,
/// with what limits and privileges. Every front end builds one (`spec` for
/// `cella run` and `cella init`, `oci::plan` for config.json).
#[derive(Debug, Default)]
pub struct Payload {
    pub exec: Exec,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<Gid>,
    pub umask: Option<u32>,
    pub caps: Caps,
    /// Every capability the kernel knows, to shrink the bounding set.
    pub known_caps: u64,
    pub rlimits: Vec<(Resource, Rlimit)>,
    pub no_new_privileges: bool,
    /// The decimal text for `/proc/self/oom_score_adj`.
    pub oom_score_adj: Option<Vec<u8>>,
    pub seccomp: Option<seccomp::Filter>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
}

impl Payload {
    /// Who it runs as and what it may do, for [`crate::privileges::drop_to`].
    /// `listener_to`: where a seccomp listener goes (the parent's channel).
    pub fn privileges<'a>(
        &'a self,
        setgroups_may_be_denied: bool,
        listener_to: Option<BorrowedFd<'a>>,
    ) -> crate::privileges::Privileges<'a> {
        crate::privileges::Privileges {
            caps: &self.caps,
            known_caps: self.known_caps,
            no_new_privs: self.no_new_privileges,
            seccomp: self.seccomp.as_ref(),
            listener_to,
            uid: self.uid,
            gid: self.gid,
            groups: &self.groups,
            setgroups_may_be_denied,
        }
    }
}

/// Try each candidate path like execvp does: a missing file or directory
/// moves on, a permission error is remembered (and wins over "not found"),
/// anything else stops. Returns only on failure.
pub fn exec(e: &Exec) -> Errno {
    let mut result = Errno::NOENT;
    for path in &e.candidates {
        match sys::execve(path, &e.argv, &e.envp) {
            Errno::NOENT | Errno::NOTDIR => continue,
            Errno::ACCESS => result = Errno::ACCESS,
            other => return other,
        }
    }
    result
}

/// Signals sent to cella that reach the payload.
pub const FORWARDED: SigSet = SigSet::empty()
    .with(Signal::INT)
    .with(Signal::TERM)
    .with(Signal::HUP)
    .with(Signal::QUIT)
    .with(Signal::USR1)
    .with(Signal::USR2)
    .with(Signal::WINCH);

/// What a waiting cella blocks before the payload exists, so no signal is
/// lost: the forwarded ones and SIGCHLD.
pub const WAITED: SigSet = FORWARDED.with(Signal::CHILD);

/// One flow a waiting cella carries: what becomes readable on `from` is
/// handed to `to` as it comes; an empty slice says `from` has ended.
pub struct Stream<'a> {
    pub from: BorrowedFd<'a>,
    pub to: &'a mut dyn Out,
    /// Read what is left once the payload has ended (its output; not the
    /// caller's input), without waiting for a writer it left behind.
    pub drain: bool,
}

/// Where a stream's bytes go. A closure takes them as they come (a log
/// file, a pty's master: never for long); a [`Queue`] keeps them for a
/// descriptor that may stall (a caller's terminal that nobody reads, or
/// one stopped with ctrl-S), which the wait writes as
/// it takes them, never waiting on it: signals are forwarded and the
/// payload reaped however slow the reader.
pub trait Out {
    /// Bytes read (empty: the source ended).
    fn put(&mut self, bytes: &[u8]);
    /// The descriptor to wait on for room while bytes are queued.
    fn pending(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// Write what the descriptor takes now.
    fn flush_some(&mut self) {}
    /// Too much queued: its source is not read until some is written.
    fn full(&self) -> bool {
        false
    }
}

impl<F: FnMut(&[u8])> Out for F {
    fn put(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// Bytes for a descriptor that may stall (see [`Out`]), written once poll
/// says it has room, as much as it takes. Its descriptor is ours: a
/// terminal of the caller's opened anew, non-blocking (its own open file
/// is the caller's to keep blocking), or a duplicate (a file, which never
/// stalls; a terminal where there is no `/proc` to open it through, which
/// may then block a write poll said had room). It is closed once its
/// source has ended and all is written, or when its reader has gone.
pub struct Queue {
    fd: Option<OwnedFd>,
    queue: Vec<u8>,
    ended: bool,
}

/// What a queue holds before its source is left unread.
const QUEUE_MAX: usize = 256 << 10;

impl Queue {
    pub fn new(fd: OwnedFd) -> Queue {
        Queue {
            fd: Some(fd),
            queue: Vec::new(),
            ended: false,
        }
    }

    /// Write all that is queued, waiting as long as it takes: once the
    /// payload has ended and the container is recorded.
    pub fn flush_all(&mut self) {
        use rustix::fs::OFlags;
        if let Some(fd) = &self.fd {
            let flags = rustix::fs::fcntl_getfl(fd).unwrap_or(OFlags::empty());
            let _ = rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK);
            let _ = crate::input::write_all(fd.as_fd(), &self.queue);
        }
        self.queue.clear();
    }
}

impl Out for Queue {
    fn put(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.ended = true;
        } else if self.fd.is_some() {
            self.queue.extend_from_slice(bytes);
        }
        self.flush_some();
    }

    fn pending(&self) -> Option<BorrowedFd<'_>> {
        self.fd
            .as_ref()
            .filter(|_| !self.queue.is_empty())
            .map(|f| f.as_fd())
    }

    fn flush_some(&mut self) {
        while let Some(fd) = self.pending() {
            let mut room = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
            let zero = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            if !matches!(rustix::event::poll(&mut room, Some(&zero)), Ok(1..)) {
                break;
            }
            match rustix::io::write(fd, &self.queue) {
                Ok(n) => drop(self.queue.drain(..n)),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break,
                // Its reader is gone: nothing more goes there.
                Err(_) => {
                    self.fd = None;
                    self.queue.clear();
                }
            }
        }
        if self.ended && self.queue.is_empty() {
            self.fd = None;
        }
    }

    fn full(&self) -> bool {
        self.queue.len() >= QUEUE_MAX
    }
}

/// What [`wait_forwarding`] relays besides signals.
#[derive(Default)]
pub struct Relay<'a> {
    pub streams: Vec<Stream<'a>>,
    /// A terminal cella relays, `(caller's, pty master)`: SIGWINCH copies
    /// the caller's window size to the pty (whose kernel signals the
    /// payload) instead of being forwarded.
    pub resize: Option<(BorrowedFd<'a>, BorrowedFd<'a>)>,
}

/// Wait for our child `pid` (a container's PID 1, an `exec`'d process),
/// forwarding the [`FORWARDED`] signals to it; [`WAITED`] must be blocked.
/// Each of `relay`'s streams is copied as it comes until its end. The one
/// wait of `cella run`, `run -d`'s supervisor, OCI `run` and `exec`.
pub fn wait_forwarding(pid: Pid, mut relay: Relay<'_>) -> crate::error::Result<WaitStatus> {
    use crate::error::{Error, Step};
    let failed = |e: Errno| {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
        let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        Error::new(Step::Wait, e)
    };
    let sigfd = sys::signal::signalfd(WAITED).map_err(failed)?;
    let mut buf = [0u8; 16 << 10];
    // Each stream, and whether its source has ended (it stays until its
    // queue, if any, is written).
    let mut streams: Vec<(Stream<'_>, bool)> =
        relay.streams.drain(..).map(|s| (s, false)).collect();
    loop {
        // Signals; each source whose queue has room; each queue's
        // descriptor while it holds bytes. `which`: (stream, its queue).
        let mut fds = vec![PollFd::new(&sigfd, PollFlags::IN)];
        let mut which = Vec::new();
        for (i, (s, ended)) in streams.iter().enumerate() {
            if !*ended && !s.to.full() {
                fds.push(PollFd::new(&s.from, PollFlags::IN));
                which.push((i, false));
            }
            if let Some(fd) = s.to.pending() {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::OUT));
                which.push((i, true));
            }
        }
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(failed(e)),
        }
        let ready: Vec<(usize, bool)> = fds[1..]
            .iter()
            .zip(which)
            .filter(|(f, _)| !f.revents().is_empty())
            .map(|(_, w)| w)
            .collect();
        drop(fds);
        for (i, queue) in ready {
            let (s, ended) = &mut streams[i];
            if queue {
                s.to.flush_some();
                continue;
            }
            match rustix::io::read(s.from, &mut buf) {
                Ok(0) | Err(Errno::BADF | Errno::IO) => {
                    s.to.put(&[]);
                    *ended = true;
                }
                Ok(n) => s.to.put(&buf[..n]),
                Err(_) => {}
            }
        }
        streams.retain(|(s, ended)| !*ended || s.to.pending().is_some());
        while let Some(sig) = sys::signal::read_signalfd(&sigfd) {
            if sig == Signal::WINCH.as_raw()
                && let Some((caller, pty)) = relay.resize
            {
                if let Ok(size) = rustix::termios::tcgetwinsize(caller) {
                    let _ = rustix::termios::tcsetwinsize(pty, size);
                }
                continue;
            }
            if sig != Signal::CHILD.as_raw() {
                if let Some(s) = Signal::from_named_raw(sig) {
                    // Our unreaped child: its pid cannot have been reused.
                    let _ = rustix::process::kill_process(pid, s);
                }
                continue;
            }
            match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
                Ok(None) | Err(Errno::INTR) => {}
                Ok(Some((_, status))) => {
                    // What is left in its outputs (a queue's, written
                    // after the caller has recorded the end: see Queue).
                    for (s, _) in streams.iter_mut().filter(|(s, e)| s.drain && !*e) {
                        let _ = rustix::fs::fcntl_setfl(s.from, rustix::fs::OFlags::NONBLOCK);
                        while let Ok(n @ 1..) = rustix::io::read(s.from, &mut buf) {
                            s.to.put(&buf[..n]);
                        }
                    }
                    return Ok(status);
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }
}

/// Wait for our child `pid` to end (an interrupted wait is retried); its
/// exit code, as [`exit_code`] gives it. For the helpers cella runs and
/// waits for at once (hooks, newuidmap, `ps`).
pub fn reap(pid: Pid) -> rustix::io::Result<u8> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(exit_code(status)),
            Ok(None) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The shell's convention: the exit code, or 128+N when killed by signal N.
pub fn exit_code(status: WaitStatus) -> u8 {
    code_of_raw(status.as_raw())
}

/// [`exit_code`] on a raw `wait` status (exit code in bits 8-15, the
/// terminating signal in bits 0-6).
pub fn code_of_raw(raw: i32) -> u8 {
    match raw & 0x7f {
        0 => ((raw >> 8) & 0xff) as u8,
        0x7f => 125, // stopped, not ended: never passed here
        sig => (128 + sig) as u8,
    }
}

/// The resource of an OCI rlimit name (`RLIMIT_NOFILE`).
pub fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    RESOURCES.into_iter().find(|r| rlimit_name(*r) == name)
}

/// The OCI name of a resource, for messages. (A match and a list of the
/// resources rather than a table of names: no relocation per name.)
pub fn rlimit_name(r: rustix::process::Resource) -> &'static str {
    use rustix::process::Resource as R;
    match r {
        R::Cpu => "RLIMIT_CPU",
        R::Fsize => "RLIMIT_FSIZE",
        R::Data => "RLIMIT_DATA",
        R::Stack => "RLIMIT_STACK",
        R::Core => "RLIMIT_CORE",
        R::Rss => "RLIMIT_RSS",
        R::Nproc => "RLIMIT_NPROC",
        R::Nofile => "RLIMIT_NOFILE",
        R::Memlock => "RLIMIT_MEMLOCK",
        R::As => "RLIMIT_AS",
        R::Locks => "RLIMIT_LOCKS",
        R::Sigpending => "RLIMIT_SIGPENDING",
        R::Msgqueue => "RLIMIT_MSGQUEUE",
        R::Nice => "RLIMIT_NICE",
        R::Rtprio => "RLIMIT_RTPRIO",
        R::Rttime => "RLIMIT_RTTIME",
        _ => "RLIMIT_?",
    }
}

const RESOURCES: [rustix::process::Resource; 16] = {
    use rustix::process::Resource as R;
    [
        R::Cpu,
        R::Fsize,
        R::Data,
        R::Stack,
        R::Core,
        R::Rss,
        R::Nproc,
        R::Nofile,
        R::Memlock,
        R::As,
        R::Locks,
        R::Sigpending,
        R::Msgqueue,
        R::Nice,
        R::Rtprio,
        R::Rttime,
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_names_and_resources_go_both_ways() {
        for r in RESOURCES {
            let name = rlimit_name(r);
            assert!(name.starts_with("RLIMIT_") && name != "RLIMIT_?");
            assert_eq!(rlimit_resource(name), Some(r), "{name}");
        }
        assert_eq!(
            rlimit_resource("RLIMIT_NOFILE"),
            Some(rustix::process::Resource::Nofile)
        );
        assert_eq!(rlimit_resource("RLIMIT_NOPE"), None);
    }

    #[test]
    fn codes() {
        // Raw wait statuses: exit code in bits 8-15, signal in bits 0-6.
        assert_eq!(code_of_raw(3 << 8), 3);
        assert_eq!(code_of_raw(0), 0);
        assert_eq!(code_of_raw(255 << 8), 255);
        assert_eq!(code_of_raw(9), 137);
        assert_eq!(code_of_raw(15 | 0x80), 143, "core dump bit is ignored");
    }
}
