//! The payload's terminal, runc style. The child opens a pty in the
//! container's own devpts, sends the master over a socket with SCM_RIGHTS
//! (no JSON handshake: what conmon and containerd's shim expect), and makes
//! the peer its controlling terminal and its stdio (and, for a container's
//! first process, `/dev/console`). The socket is the caller's
//! `--console-socket`, or one end of a pair cella keeps when it relays the
//! terminal itself ([`relay`]: a foreground `run` or `exec -t` with no
//! socket given).

use crate::error::{Error, Result, Step};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::pty::OpenptFlags;
use std::path::Path;

/// In the parent: connect to the caller's socket before the fork.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    crate::fdpass::connect(path).map_err(|e| {
        Error::new(Step::Console, e).at(format!("--console-socket {}", path.display()))
    })
}

/// The socket a process with a `terminal` sends its pty master over, the
/// child's end and ours: the caller's `--console-socket`, else (when it
/// `may_relay`: it runs in the foreground) a pair whose other end we keep
/// to [`relay`] it; none without a terminal. `what` names the process.
pub fn sockets(
    terminal: bool,
    given: Option<&Path>,
    may_relay: bool,
    what: &str,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    match (terminal, given) {
        (true, Some(path)) => Ok((Some(connect(path)?), None)),
        (true, None) if may_relay => {
            let (theirs, ours) = pair()?;
            Ok((Some(theirs), Some(ours)))
        }
        (false, None) => Ok((None, None)),
        (true, None) => Err(Error::usage(format!(
            "{what} has a terminal: detached, it needs --console-socket"
        ))),
        (false, Some(_)) => Err(Error::usage(format!(
            "--console-socket given but {what} has no terminal"
        ))),
    }
}

/// A connected pair: the child's end (where the master is sent) and ours
/// (where [`receive`] takes it).
fn pair() -> Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::new(Step::Console, e))
}

/// The master the child sent on the other end of `ours`; an error when the
/// child ended without sending it.
pub fn receive(ours: &OwnedFd) -> Result<OwnedFd> {
    let mut name = [0u8; 16];
    let (got, master) = crate::fdpass::receive_fd(ours.as_fd(), &mut name)
        .map_err(|e| Error::new(Step::Console, e))?;
    master.ok_or_else(|| {
        Error::new(Step::Console, rustix::io::Errno::PIPE).at(format!("{got} bytes, no pty"))
    })
}

/// Where the child's pty goes.
#[derive(Clone, Copy)]
pub struct Console<'a> {
    /// The socket the master is sent over.
    pub socket: BorrowedFd<'a>,
    /// Bind the peer on `/dev/console`: a container's first process only,
    /// never an `exec`'d one (runc's rule; the bind would outlive it).
    pub dev_console: bool,
}

/// In the child, inside the new root and still privileged: the pty pair,
/// the master sent over the socket, the peer owned by the payload's `uid`
/// (its group as devpts gives it, as runc) and made stdio and controlling
/// terminal.
pub fn attach(to: Console<'_>, size: Option<(u16, u16)>, uid: u32) -> rustix::io::Result<()> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::unlockpt(&master)?;
    // The peer by fd, not by /dev/pts/N: no path to format or to race.
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )?;
    if let Some((rows, cols)) = size {
        rustix::termios::tcsetwinsize(
            &master,
            rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )?;
    }
    rustix::fs::fchown(&peer, Some(rustix::process::Uid::from_raw(uid)), None)?;
    // With the name runc sends as data.
    crate::fdpass::send_fd(to.socket, b"/dev/ptmx", master.as_fd())?;
    drop(master);
    if to.dev_console {
        bind_console(peer.as_fd())?;
    }
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(&peer)?;
    rustix::stdio::dup2_stdin(&peer)?;
    rustix::stdio::dup2_stdout(&peer)?;
    rustix::stdio::dup2_stderr(&peer)?;
    Ok(())
}

/// A foreground OCI `run` or `exec -t` with no `--console-socket`: relay
/// the pty `master` to the caller until `pid` ends, as runc does.
/// [`crate::process::WAITED`] must be blocked.
pub fn relay(pid: rustix::process::Pid, master: OwnedFd) -> Result<rustix::process::WaitStatus> {
    relaying(master, true, |r| crate::process::wait_forwarding(pid, r))
}

/// Relay the pty `master` to the caller while `wait` waits with the
/// relay. The pty's output goes to our stdout; with `input`, our stdin
/// goes to the pty, and our terminal (stdin, if it is one) is raw
/// meanwhile, so ctrl-C and ctrl-Z reach the pty as bytes and act inside,
/// and is restored however this ends. The caller's window size is given
/// to the pty and followed on SIGWINCH.
pub fn relaying<T>(
    master: OwnedFd,
    input: bool,
    wait: impl FnOnce(crate::process::Relay<'_>) -> Result<T>,
) -> Result<T> {
    use crate::process::{Relay, Stream};
    let (stdin, stdout) = (rustix::stdio::stdin(), rustix::stdio::stdout());
    let caller = [stdin, stdout]
        .into_iter()
        .find(|fd| rustix::termios::isatty(fd));
    let _raw = input.then(|| Raw::enter(stdin));
    if let Some(size) = caller.and_then(|t| rustix::termios::tcgetwinsize(t).ok()) {
        let _ = rustix::termios::tcsetwinsize(&master, size);
    }
    // Never blocked by a payload that does not read: typed input beyond
    // the pty's buffer is dropped, as a terminal's line discipline does.
    rustix::fs::fcntl_setfl(&master, OFlags::NONBLOCK | OFlags::RDWR)
        .map_err(|e| Error::new(Step::Console, e))?;
    let mut to_pty = |bytes: &[u8]| {
        let _ = crate::input::write_all(master.as_fd(), bytes);
    };
    let mut to_caller = |bytes: &[u8]| {
        let _ = crate::input::write_all(stdout, bytes);
    };
    let mut streams = vec![Stream {
        from: master.as_fd(),
        to: &mut to_caller,
        drain: true,
    }];
    if input {
        streams.push(Stream {
            from: stdin,
            to: &mut to_pty,
            drain: false,
        });
    }
    wait(Relay {
        streams,
        resize: caller.map(|t| (t, master.as_fd())),
    })
}

/// The caller's terminal in raw mode while this lives; its settings as
/// they were after.
pub struct Raw<'a> {
    tty: BorrowedFd<'a>,
    saved: Option<rustix::termios::Termios>,
}

impl<'a> Raw<'a> {
    pub fn enter(tty: BorrowedFd<'a>) -> Self {
        let saved = rustix::termios::tcgetattr(tty).ok();
        if let Some(mut raw) = saved.clone() {
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(tty, rustix::termios::OptionalActions::Now, &raw);
        }
        Raw { tty, saved }
    }
}

impl Drop for Raw<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ =
                rustix::termios::tcsetattr(self.tty, rustix::termios::OptionalActions::Now, saved);
        }
    }
}

/// The runtime spec's `/dev/console`: a bind of the pty peer.
fn bind_console(peer: BorrowedFd<'_>) -> rustix::io::Result<()> {
    use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
    let target = match rustix::fs::open(
        c"/dev/console",
        OFlags::CREATE | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(t) => t,
        // No writable /dev: the console stays the pty on stdio only.
        Err(rustix::io::Errno::ROFS) => return Ok(()),
        Err(e) => return Err(e),
    };
    let tree = open_tree(
        peer,
        c"",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )?;
    move_mount(
        &tree,
        c"",
        &target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}
