//! `cella run -d`: the container runs on after `cella run` returns. cella
//! forks a small supervisor of its own (as conmon is for podman; no re-exec
//! of cella) that starts the container, keeps its output in a size-capped
//! log in its state directory, waits for it, and records its exit status
//! (or, with `--rm`, removes it). `cella run -d` returns once the payload
//! runs, or with the error that kept it from running.
//!
//! The supervisor holds the container's owner lock: killed, it takes the
//! container with it (the parent-death signal), and the record it leaves is
//! removed by the next command that meets it.
//!
//! With `-t` the payload's terminal is a pty of the container's whose
//! master the supervisor holds: its output goes to the log, and `cella
//! attach` takes a copy of the master (`pidfd_getfd`) for input and the
//! window size, following the log for the output.

use crate::container::{self, Stdio};
use crate::error::{Ctx, Error, Result, Step};
use crate::logs::{Log, Output};
use crate::spec::Spec;
use crate::sys::{self, Fork, signal};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::WaitOptions;
use std::path::Path;

/// An error as the supervisor sends it back: its step, its errno (0:
/// none) and what it was about, so the caller reports (and exits with) the
/// same as `cella run` would.
fn encode(e: &Error) -> Vec<u8> {
    let mut b = vec![1, e.step.code()];
    b.extend_from_slice(&e.errno.map_or(0, |e| e.raw_os_error()).to_le_bytes());
    b.extend_from_slice(e.what.as_deref().unwrap_or("").as_bytes());
    b
}

fn decode(b: &[u8]) -> Option<Error> {
    let [1, step, e0, e1, e2, e3, what @ ..] = b else {
        return None;
    };
    let errno = i32::from_le_bytes([*e0, *e1, *e2, *e3]);
    let what = String::from_utf8_lossy(what).into_owned();
    Some(Error {
        step: Step::from_code(*step)?,
        errno: (errno != 0).then(|| Errno::from_raw_os_error(errno)),
        what: (!what.is_empty()).then(|| what.into()),
    })
}

/// In a `run -d -t` container's directory: where its pty master is, for
/// `cella attach` (the supervisor's pid and the descriptor's number, which
/// it takes with `pidfd_getfd`).
pub const TERMINAL: &str = "terminal";

/// Say where the container's pty master is (see [`TERMINAL`]).
fn offer_terminal(dir: &Path, master: rustix::fd::BorrowedFd<'_>) -> Result<()> {
    use rustix::fd::AsRawFd;
    let text = format!(
        "{} {}\n",
        rustix::process::getpid().as_raw_nonzero(),
        master.as_raw_fd()
    );
    crate::store::write_private(&dir.join(TERMINAL), text.as_bytes())
}

/// Start `spec`'s container under a supervisor and return once its payload
/// runs.
pub fn run(spec: Spec) -> Result<()> {
    let (rx, tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(Step::SyncPipe)?;
    match sys::fork().ctx(Step::Clone)? {
        Fork::Child { .. } => {
            // A raw fork: musl's cached thread id is the parent's, so a
            // panic must not go through abort().
            sys::mark_child();
            drop(rx);
            sys::exit_group(supervise(spec, tx))
        }
        Fork::Parent { child, .. } => {
            drop(tx);
            // The supervisor holds what the spec holds now (the network
            // lock, until it has recorded the container): ours would keep
            // the lock held, and the supervisor waiting for it.
            drop(spec);
            // The supervisor's word: one byte once the payload runs, or the
            // error's text.
            let mut said = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(n @ 1..) = rustix::io::read(&rx, &mut buf) {
                said.extend_from_slice(&buf[..n]);
            }
            if said == [0] {
                return Ok(());
            }
            // It failed (and exited): reap it; the container is gone with it.
            let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
            Err(decode(&said)
                .unwrap_or_else(|| Error::invalid(Step::Clone, "the container's supervisor died")))
        }
    }
}

/// The supervisor: its own session, no terminal, the container's output
/// into the log; returns its exit status.
fn supervise(spec: Spec, tx: OwnedFd) -> i32 {
    let _ = rustix::process::setsid();
    // It outlives the caller: it keeps no directory of the caller's busy
    // (an unmount there would fail). What it uses is named by absolute
    // paths by now.
    let _ = rustix::process::chdir("/");
    // Nothing the caller had open stays open with us (a pipe it waits on
    // would never end): only the channel back.
    let mut keep = spec.held_fds();
    keep.push(rustix::fd::AsRawFd::as_raw_fd(&tx));
    crate::heapsort::sort(&mut keep);
    let _ = sys::close_fds_keeping(3, &keep);
    let waited = crate::process::WAITED;
    let started = (|| -> Result<_> {
        let old = signal::block(waited).ctx(Step::SignalMask)?;
        let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .ctx_at(Step::Usage, "/dev/null")?;
        // Its output: a pty of its own (-t), kept for `cella attach`, or
        // a pipe for each stream; either way into the log.
        let running;
        let outputs = if spec.payload.terminal {
            let (theirs, ours) = crate::console::sockets(true, None, true, "the container")?;
            running = container::create(spec, Stdio::default(), theirs, old)?;
            let ours = ours.ok_or_else(|| Error::new(Step::Console, Errno::PIPE))?;
            let master = crate::console::receive(&ours)?;
            offer_terminal(&running.record_dir(), master.as_fd())?;
            (master, None)
        } else {
            let pipe =
                || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(Step::SyncPipe);
            let (out_rx, out_tx) = pipe()?;
            let (err_rx, err_tx) = pipe()?;
            let stdio = Stdio {
                stdin: Some(null.as_fd()),
                stdout: Some(out_tx.as_fd()),
                stderr: Some(err_tx.as_fd()),
            };
            running = container::start(spec, stdio, old)?;
            (out_rx, Some(err_rx))
        };
        // Nothing of the caller's terminal stays with us.
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
        Ok((running, outputs))
    })();
    let (running, outputs) = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = rustix::io::write(&tx, &encode(&e));
            return 125;
        }
    };
    let _ = rustix::io::write(&tx, &[0]);
    drop(tx);
    // Both streams into the one log, each read as it comes.
    let (out, err) = outputs;
    let log = std::cell::RefCell::new(Log::open(&running.record_dir()));
    let mut to_out = |bytes: &[u8]| log.borrow_mut().append(Output::Stdout, bytes);
    let mut to_err = |bytes: &[u8]| log.borrow_mut().append(Output::Stderr, bytes);
    let mut streams = vec![crate::process::Stream {
        from: out.as_fd(),
        to: &mut to_out,
        drain: true,
    }];
    if let Some(err) = &err {
        streams.push(crate::process::Stream {
            from: err.as_fd(),
            to: &mut to_err,
            drain: true,
        });
    }
    let relay = crate::process::Relay {
        streams,
        resize: None,
    };
    match running.wait_relaying(relay) {
        Ok(outcome) => i32::from(outcome.code),
        Err(_) => 125,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_whole() {
        let e = Error::new(Step::Exec, Errno::NOENT).at("nosuch");
        let back = decode(&encode(&e)).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.exit_code(), 127);
        let u = Error::usage("a container named x exists");
        assert_eq!(decode(&encode(&u)), Some(u));
        assert_eq!(decode(&[0]), None);
    }
}
