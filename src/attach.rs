//! The caller's side of a foreground payload's stdio, as docker's client
//! gives it (`cella run`, and `exec` into a `cella run` container): with
//! `-t` a pty of the container's, relayed (the caller's terminal raw while
//! `-i` feeds it); without, stdin is `/dev/null` unless `-i`, and a
//! terminal or a file among the caller's stdio is replaced by a pipe cella
//! relays. So the payload never holds a descriptor of the caller's
//! terminal (it could read what is typed there from another session, or
//! ioctl it), nor of a file: through `/proc/self/fd` it would open the
//! file anew with the access it likes (a read-only stdin written, an
//! output file read), as docker's pipes never let it. Pipes, sockets and
//! `/dev/null` are passed as they are.

use crate::child::Stdio;
use crate::error::{Ctx, Error, Result, Step};
use crate::process::{Queue, Relay, Stream};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::pipe::PipeFlags;

/// Both sides, from before the fork until the payload ends.
#[derive(Default)]
pub struct Attach {
    /// `-i`: the caller's stdin goes in.
    input: bool,
    /// `-t`: the child's end of the socket its pty master comes over
    /// (taken for the child), and ours.
    pub console: Option<OwnedFd>,
    console_ours: Option<OwnedFd>,
    /// `-t`: the master of the payload's pty, once received.
    master: Option<OwnedFd>,
    /// The child's stdin, stdout, stderr (`None`: the caller's, as it is).
    theirs: [Option<OwnedFd>; 3],
    /// Pipes the payload writes instead of the caller's terminal: their
    /// read ends, with where each goes (1 or 2).
    outputs: Vec<(OwnedFd, BorrowedFd<'static>)>,
    /// Where the caller's terminal input goes (`-i` without `-t`).
    stdin_pipe: Option<OwnedFd>,
}

/// Whether the payload must not hold `fd` itself (see the module docs):
/// anything but a pipe, a socket or `/dev/null`; a terminal among them.
fn must_relay(fd: BorrowedFd<'_>) -> bool {
    use rustix::fs::FileType;
    let Ok(st) = rustix::fs::fstat(fd) else {
        return false;
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Fifo | FileType::Socket => false,
        FileType::CharacterDevice => st.st_rdev != rustix::fs::makedev(1, 3),
        _ => true,
    }
}

/// `fd` (one of the caller's outputs that cella relays to) as a descriptor
/// of our own that never blocks: a terminal opened anew through
/// `/proc/self/fd` (non-blocking there, while the caller's own open file
/// stays as it is); a file, which never stalls, duplicated. (Without a
/// `/proc`, an initramfs's first steps, the terminal is duplicated too: it
/// blocks cella while nobody reads it, as before.)
fn own_nonblocking(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    if rustix::termios::isatty(fd) {
        let path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&fd));
        let flags = OFlags::WRONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        if let Ok(own) = rustix::fs::open(path.as_str(), flags, Mode::empty()) {
            return Ok(own);
        }
    }
    rustix::io::fcntl_dupfd_cloexec(fd, 3).ctx(Step::SyncPipe)
}

/// Copy the caller's stdin (a file) into `into` until its end, in a child
/// of ours that holds nothing else: its writes wait for the payload to
/// read (all of the file goes in, unlike typed input), and cella's own
/// loop never waits on them, so a payload that writes before it reads on
/// can never stall it. It ends at the file's end, or when the payload's
/// end of the pipe is gone.
fn feed(into: OwnedFd) -> Result<()> {
    use crate::sys::{self, Fork};
    match sys::fork().ctx(Step::SyncPipe)? {
        Fork::Child { .. } => {
            sys::mark_child();
            let into_fd = rustix::fd::AsRawFd::as_raw_fd(&into);
            let _ = sys::close_fds_keeping(3, &[into_fd]);
            let mut buf = [0u8; 16 << 10];
            while let Ok(n @ 1..) = rustix::io::read(rustix::stdio::stdin(), &mut buf) {
                if crate::input::write_all(into.as_fd(), &buf[..n]).is_err() {
                    break;
                }
            }
            sys::exit_group(0)
        }
        Fork::Parent { .. } => Ok(()),
    }
}

impl Attach {
    /// Before the fork: what the payload gets, from our stdio.
    pub fn prepare(tty: bool, interactive: bool) -> Result<Attach> {
        let is_tty = |fd: BorrowedFd<'_>| rustix::termios::isatty(fd);
        let pipe = || rustix::pipe::pipe_with(PipeFlags::CLOEXEC).ctx(Step::SyncPipe);
        let mut a = Attach {
            input: interactive,
            ..Attach::default()
        };
        // As docker: typing into a pty needs a terminal to type on (a pipe's
        // end of input would never reach the payload as one).
        if tty && interactive && !is_tty(rustix::stdio::stdin()) {
            return Err(Error::usage("-it: the input device is not a TTY"));
        }
        if tty {
            let (theirs, ours) = crate::console::sockets(true, None, true, "the container")?;
            (a.console, a.console_ours) = (theirs, ours);
            return Ok(a);
        }
        let stdin = rustix::stdio::stdin();
        a.theirs[0] = if !interactive {
            Some(
                rustix::fs::open(
                    c"/dev/null",
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ctx(Step::SyncPipe)?,
            )
        } else if is_tty(stdin) {
            let (r, w) = pipe()?;
            // Typed input beyond the pipe's buffer is dropped rather than
            // stall cella, as with a pty.
            rustix::fs::fcntl_setfl(&w, OFlags::NONBLOCK).ctx(Step::SyncPipe)?;
            a.stdin_pipe = Some(w);
            Some(r)
        } else if must_relay(stdin) {
            let (r, w) = pipe()?;
            feed(w)?;
            Some(r)
        } else {
            None
        };
        for (i, fd) in [(1, rustix::stdio::stdout()), (2, rustix::stdio::stderr())] {
            if must_relay(fd) {
                let (r, w) = pipe()?;
                a.outputs.push((r, fd));
                a.theirs[i] = Some(w);
            }
        }
        Ok(a)
    }

    /// Nobody attached (docker's `exec -d`): stdin, stdout and stderr are
    /// `/dev/null`.
    pub fn detached() -> Result<Attach> {
        let null = || {
            rustix::fs::open(c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
                .ctx(Step::SyncPipe)
        };
        Ok(Attach {
            theirs: [Some(null()?), Some(null()?), Some(null()?)],
            ..Attach::default()
        })
    }

    /// runc's way (OCI `exec`): the caller's stdio passed as it is, a pty
    /// over the `console` sockets ([`crate::console::sockets`]: the
    /// caller's, or a pair we relay with the caller's stdin).
    pub fn passing(console: (Option<OwnedFd>, Option<OwnedFd>)) -> Attach {
        Attach {
            input: true,
            console: console.0,
            console_ours: console.1,
            ..Attach::default()
        }
    }

    /// The size of the caller's terminal, for the pty from its start
    /// (before the relay follows it).
    pub fn console_size(&self) -> Option<(u16, u16)> {
        self.console_ours.as_ref()?;
        [rustix::stdio::stdin(), rustix::stdio::stdout()]
            .into_iter()
            .find(|fd| rustix::termios::isatty(fd))
            .and_then(|t| rustix::termios::tcgetwinsize(t).ok())
            .map(|w| (w.ws_row, w.ws_col))
    }

    /// The child's stdio.
    pub fn stdio(&self) -> Stdio<'_> {
        let [stdin, stdout, stderr] = self
            .theirs
            .each_ref()
            .map(|f| f.as_ref().map(|f| f.as_fd()));
        Stdio {
            stdin,
            stdout,
            stderr,
        }
    }

    /// After the payload's exec: drop the child's ends; take its pty.
    pub fn started(&mut self) -> Result<()> {
        self.theirs = Default::default();
        self.console = None;
        if let Some(ours) = self.console_ours.take() {
            self.master = Some(crate::console::receive(&ours)?);
        }
        Ok(())
    }

    /// Relay while `wait` waits for the payload with the relay.
    pub fn relay<T>(self, wait: impl FnOnce(Relay<'_>) -> Result<T>) -> Result<T> {
        if let Some(master) = self.master {
            return crate::console::relaying(master, self.input, wait);
        }
        let (pipes, callers): (Vec<OwnedFd>, Vec<BorrowedFd<'static>>) =
            self.outputs.into_iter().unzip();
        // The caller's terminal may stall (nobody reads it, or ctrl-S):
        // queued, so the wait goes on, and what is left written once the
        // container is recorded as ended.
        let mut queues = Vec::with_capacity(callers.len());
        for to in callers {
            queues.push(Queue::new(own_nonblocking(to)?));
        }
        let mut streams: Vec<Stream<'_>> = pipes
            .iter()
            .zip(queues.iter_mut())
            .map(|(from, to)| Stream {
                from: from.as_fd(),
                to,
                drain: true,
            })
            .collect();
        let mut input = self.stdin_pipe;
        let has_input = input.is_some();
        let mut to_payload = |bytes: &[u8]| match &input {
            // Its end: the payload reads end-of-file.
            _ if bytes.is_empty() => input = None,
            Some(w) => {
                let _ = crate::input::write_all(w.as_fd(), bytes);
            }
            None => {}
        };
        if has_input {
            streams.push(Stream {
                from: rustix::stdio::stdin(),
                to: &mut to_payload,
                drain: false,
            });
        }
        let waited = wait(Relay {
            streams,
            resize: None,
        });
        for q in &mut queues {
            q.flush_all();
        }
        waited
    }
}
