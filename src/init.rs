//! `--init`: the container's PID 1 as a tiny init (tini's job, catatonit's
//! shape), run by cella's forked child without exec'ing cella again.
//!
//! It forks the payload, then loops on one blocking signal wait: SIGCHLD
//! reaps every zombie (orphans are re-parented to PID 1), any other
//! forwarded signal goes to the payload. When the payload ends, init exits
//! with its status and the kernel kills whatever is left in the namespace.
//! After the fork there is no early return: init never bails.

use crate::error::Step;
use crate::process;
use crate::sync::{self, Failure};
use crate::sys::{self, Fork, signal::SigSet};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, kill_process};

/// Fork `payload` (which execs, or returns the failed step and errno) and
/// supervise it. `signals` are already blocked and include SIGCHLD.
pub fn run(tx: OwnedFd, signals: SigSet, payload: impl FnOnce() -> (Step, Errno)) -> ! {
    let child = match sys::fork() {
        Ok(Fork::Child { .. }) => {
            let (step, errno) = payload();
            sync::send(
                &tx,
                Failure {
                    step,
                    errno: errno.raw_os_error(),
                    index: 0,
                },
            );
            sys::exit_group(if errno == Errno::NOENT { 127 } else { 126 });
        }
        Ok(Fork::Parent { child, .. }) => child,
        Err(e) => {
            sync::send(
                &tx,
                Failure {
                    step: Step::ForkPayload,
                    errno: e.raw_os_error(),
                    index: 0,
                },
            );
            sys::exit_group(125);
        }
    };
    // Our copy of the pipe must close so the parent sees end-of-file once the
    // payload has exec'd.
    drop(tx);
    sys::exit_group(supervise(child, signals))
}

fn supervise(payload: Pid, signals: SigSet) -> i32 {
    loop {
        let Ok(sig) = sys::signal::wait(signals) else {
            continue;
        };
        if sig == Signal::CHILD.as_raw() {
            if let Some(code) = reap(payload) {
                return i32::from(code);
            }
        } else if let Some(s) = Signal::from_named_raw(sig) {
            let _ = kill_process(payload, s);
        }
    }
}

/// Reap every exited child; the payload's exit code once it is among them.
fn reap(payload: Pid) -> Option<u8> {
    let mut payload_code = None;
    // wait4(-1), not waitpid(0): the payload may have changed process group.
    while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
        if pid == payload {
            payload_code = Some(process::exit_code(status));
        }
    }
    payload_code
}
