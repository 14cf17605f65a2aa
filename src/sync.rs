//! The one channel from the forked child to the parent: a close-on-exec
//! unix socket pair (SEQPACKET) carrying fixed 8-byte records, one of
//! which (the seccomp listener) carries a descriptor.
//!
//! The child writes a record only when a step fails or it has something
//! to hand over; a successful `execve` closes its end, and the parent
//! reads end-of-file. So "exec happened" needs no message, and a failure
//! always names its step.

use crate::error::Step;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;

/// A failed step, as sent by the child: the step, the errno (0 if none) and
/// the index of the mount op or argument it concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    pub errno: i32,
    pub index: u16,
}

pub const RECORD: usize = 8;
const FAILED: u8 = 1;
const READY: u8 = 2;
const HOOKS: u8 = 3;
const LISTENER: u8 = 4;

/// What a child can say besides a failure: (OCI `create`) it is set up and
/// waits for `start`, or it wants the createRuntime/createContainer hooks
/// run now (and waits for the parent's one-byte reply); or here is its
/// seccomp filter's listener, for the agent at `listenerPath`.
#[derive(Debug)]
pub enum Msg {
    Failed(Failure),
    Ready,
    Hooks,
    Listener(OwnedFd),
}

/// In the child: say `Ready` or `Hooks`.
pub fn send_msg(fd: impl AsFd, m: Msg) {
    let rec = match m {
        Msg::Failed(f) => f.encode(),
        Msg::Ready => [READY, 0, 0, 0, 0, 0, 0, 0],
        Msg::Hooks => [HOOKS, 0, 0, 0, 0, 0, 0, 0],
        Msg::Listener(l) => {
            let _ = send_listener(fd.as_fd(), l.as_fd());
            return;
        }
    };
    let _ = rustix::io::write(fd, &rec);
}

/// In the child: hand the seccomp listener `fd` to the parent.
pub fn send_listener(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> rustix::io::Result<()> {
    crate::fdpass::send_fd(sock, &[LISTENER, 0, 0, 0, 0, 0, 0, 0], fd)
}

/// In the parent: the next message, `Ok(None)` at end-of-file.
pub fn receive_msg(fd: impl AsFd) -> Result<Option<Msg>, Errno> {
    let mut buf = [0u8; RECORD];
    let (got, passed) = crate::fdpass::receive_fd(fd.as_fd(), &mut buf)?;
    match (got, buf[0], passed) {
        (0, _, _) => Ok(None),
        (RECORD, LISTENER, Some(l)) => Ok(Some(Msg::Listener(l))),
        (RECORD, READY, None) => Ok(Some(Msg::Ready)),
        (RECORD, HOOKS, None) => Ok(Some(Msg::Hooks)),
        (RECORD, _, None) => Failure::decode(buf)
            .map(|f| Some(Msg::Failed(f)))
            .ok_or(Errno::PROTO),
        _ => Err(Errno::PROTO),
    }
}

impl Failure {
    pub fn encode(self) -> [u8; RECORD] {
        let i = self.index.to_le_bytes();
        let e = self.errno.to_le_bytes();
        [FAILED, self.step.code(), i[0], i[1], e[0], e[1], e[2], e[3]]
    }

    pub fn decode(b: [u8; RECORD]) -> Option<Failure> {
        if b[0] != FAILED {
            return None;
        }
        Some(Failure {
            step: Step::from_code(b[1])?,
            index: u16::from_le_bytes([b[2], b[3]]),
            errno: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// In the child: report `f`. Nothing else can be done if the parent is gone.
pub fn send(fd: impl AsFd, f: Failure) {
    let _ = rustix::io::write(fd, &f.encode());
}

/// In the parent: `Ok(None)` at end-of-file (the child exec'd or died),
/// `Ok(Some(_))` for a failure record.
pub fn receive(fd: impl AsFd) -> Result<Option<Failure>, Errno> {
    match receive_msg(fd)? {
        None => Ok(None),
        Some(Msg::Failed(f)) => Ok(Some(f)),
        Some(_) => Err(Errno::PROTO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let f = Failure {
            step: Step::PivotRoot,
            errno: 22,
            index: 513,
        };
        assert_eq!(Failure::decode(f.encode()), Some(f));
        assert_eq!(Failure::decode([0; RECORD]), None);
        assert_eq!(Failure::decode([FAILED, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    fn channel() -> (OwnedFd, OwnedFd) {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
        socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn through_a_real_channel() {
        let (rx, tx) = channel();
        let f = Failure {
            step: Step::Exec,
            errno: 2,
            index: 0,
        };
        send(&tx, f);
        drop(tx);
        assert_eq!(receive(&rx), Ok(Some(f)));
        assert_eq!(receive(&rx), Ok(None));
    }

    #[test]
    fn the_listener_travels_with_its_record() {
        let (rx, tx) = channel();
        let (a, _b) = channel();
        send_listener(tx.as_fd(), a.as_fd()).unwrap();
        send_msg(&tx, Msg::Ready);
        drop(tx);
        let Ok(Some(Msg::Listener(got))) = receive_msg(&rx) else {
            panic!("no listener")
        };
        let inode = |fd: &OwnedFd| rustix::fs::fstat(fd).unwrap().st_ino;
        assert_eq!(inode(&got), inode(&a));
        assert!(matches!(receive_msg(&rx), Ok(Some(Msg::Ready))));
        assert!(matches!(receive_msg(&rx), Ok(None)));
    }
}
