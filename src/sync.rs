//! The one channel from the forked child to the parent: a close-on-exec
//! pipe carrying fixed 8-byte records.
//!
//! The child writes a record only when a step fails; a successful `execve`
//! closes its end, and the parent reads end-of-file. So "exec happened" needs
//! no message, and a failure always names its step.

use crate::error::Step;
use rustix::fd::AsFd;
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

/// What an OCI `create` child can say besides a failure: it is set up and
/// waits for `start`, or it wants the createRuntime/createContainer hooks
/// run now (and waits for the parent's one-byte reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    Failed(Failure),
    Ready,
    Hooks,
}

/// In the child: say `Ready` or `Hooks`.
pub fn send_msg(fd: impl AsFd, m: Msg) {
    let rec = match m {
        Msg::Failed(f) => f.encode(),
        Msg::Ready => [READY, 0, 0, 0, 0, 0, 0, 0],
        Msg::Hooks => [HOOKS, 0, 0, 0, 0, 0, 0, 0],
    };
    let _ = rustix::io::write(fd, &rec);
}

/// In the parent: the next message, `Ok(None)` at end-of-file.
pub fn receive_msg(fd: impl AsFd) -> Result<Option<Msg>, Errno> {
    let mut buf = [0u8; RECORD];
    let mut got = 0;
    while got < RECORD {
        match rustix::io::read(&fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    match (got, buf[0]) {
        (0, _) => Ok(None),
        (RECORD, READY) => Ok(Some(Msg::Ready)),
        (RECORD, HOOKS) => Ok(Some(Msg::Hooks)),
        (RECORD, _) => Failure::decode(buf)
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

    #[test]
    fn through_a_real_pipe() {
        let (rx, tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
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
}
