//! Unix sockets that carry descriptors (SCM_RIGHTS): the child's channel
//! to the parent (the seccomp listener), a console socket (the pty
//! master), the seccomp agent (its state JSON and the listener).

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::mem::MaybeUninit;
use std::path::Path;

/// A stream socket connected to the one listening at `path`.
pub fn connect(path: &Path) -> rustix::io::Result<OwnedFd> {
    let addr = SocketAddrUnix::new(path)?;
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&sock, &addr)?;
    Ok(sock)
}

/// One message of `data` carrying `fd` (SCM_RIGHTS): the listener here,
/// a console's pty master, the seccomp agent's state and listener.
pub fn send_fd(sock: BorrowedFd<'_>, data: &[u8], fd: BorrowedFd<'_>) -> rustix::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(Errno::NOBUFS);
    }
    let data = [std::io::IoSlice::new(data)];
    rustix::net::sendmsg(sock, &data, &mut control, SendFlags::NOSIGNAL).map(|_| ())
}

/// One message into `buf`: its length and the descriptor it carried.
pub fn receive_fd(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> rustix::io::Result<(usize, Option<OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(
            sock,
            &mut [std::io::IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(Errno::INTR) => continue,
            other => break other?,
        }
    };
    let fd = control.drain().find_map(|m| match m {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    Ok((got.bytes, fd))
}
