//! `--console-socket`: the container's terminal, runc style. The child
//! opens a pty in the container's own devpts, sends the master to the
//! socket with SCM_RIGHTS (no JSON handshake: what conmon and containerd's
//! shim expect), and makes the peer its controlling terminal, its stdio
//! and `/dev/console`.

use crate::error::{Error, Result, Step};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};
use rustix::pty::OpenptFlags;
use std::mem::MaybeUninit;
use std::path::Path;

/// In the parent: connect to the caller's socket before the fork.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let shown = || format!("--console-socket {}", path.display());
    let addr = SocketAddrUnix::new(path).map_err(|e| Error::new(Step::Console, e).at(shown()))?;
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::new(Step::Console, e).at(shown()))?;
    rustix::net::connect(&sock, &addr).map_err(|e| Error::new(Step::Console, e).at(shown()))?;
    Ok(sock)
}

/// In the child, inside the new root: the pty pair, the master sent to
/// `sock`, the peer made stdio and controlling terminal, bound on
/// `/dev/console`.
pub fn attach(sock: BorrowedFd<'_>, size: Option<(u16, u16)>) -> rustix::io::Result<()> {
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
    send_fd(sock, master.as_fd())?;
    drop(master);
    bind_console(peer.as_fd())?;
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(&peer)?;
    rustix::stdio::dup2_stdin(&peer)?;
    rustix::stdio::dup2_stdout(&peer)?;
    rustix::stdio::dup2_stderr(&peer)?;
    Ok(())
}

/// One SCM_RIGHTS message carrying `fd`, with the name runc sends as data.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> rustix::io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(rustix::io::Errno::NOBUFS);
    }
    let data = [std::io::IoSlice::new(b"/dev/ptmx")];
    rustix::net::sendmsg(sock, &data, &mut control, SendFlags::empty()).map(|_| ())
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
