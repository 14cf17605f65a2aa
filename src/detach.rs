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
use crate::spec::Spec;
use crate::sys::{self, Fork, signal};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::WaitOptions;
use std::path::{Path, PathBuf};

/// Each log file stops at this size; the one before is kept as `log.1`.
pub const LOG_MAX: u64 = 1 << 20;

/// A log is rotated once it would pass this, at the end of the line under
/// way: the room left to [`LOG_MAX`] holds that line's end, since one read
/// of the payload's output is at most 16 KiB.
const ROTATE_AT: u64 = LOG_MAX - (64 << 10);

/// The container's log, in its directory of the state store.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("log")
}

/// The log before the current one, kept at rotation.
fn kept_log_path(dir: &Path) -> PathBuf {
    dir.join("log.1")
}

/// A reader of a container's log that follows it across rotation, so no
/// byte is skipped, read twice or joined to another file's: it keeps the
/// file it reads open and reads it to its end; once the log's path names
/// another file (the supervisor renamed this one to `log.1` and opened a
/// new `log`), it reads the old one to its end once more (its last line
/// may have come after the first look) and moves to the new one, from its
/// start. A reader that falls a whole file behind (the writer rotated
/// twice since its last look) reads the file between from `log.1`; one
/// that falls two behind has lost one, as the log keeps no more.
pub struct LogReader {
    path: PathBuf,
    kept: PathBuf,
    /// The file being read, its inode, and how far it was read.
    file: Option<(OwnedFd, u64, u64)>,
}

impl LogReader {
    fn new(dir: &Path) -> LogReader {
        LogReader {
            path: log_path(dir),
            kept: kept_log_path(dir),
            file: None,
        }
    }

    /// All the log in `dir` keeps (`log.1`, then `log`), and a reader of
    /// what comes after. The current file is opened first: if it becomes
    /// `log.1` meanwhile, it is read once, as the current one.
    pub fn whole(dir: &Path) -> (LogReader, Vec<u8>) {
        let mut reader = LogReader::new(dir);
        reader.open_current();
        let mut out = Vec::new();
        let current = reader.file.as_ref().map(|(_, ino, _)| *ino);
        reader.read_kept_unless(&[current], &mut out);
        out.extend(reader.read_new());
        (reader, out)
    }

    /// A reader of the log in `dir` from its end now: what comes next.
    pub fn at_end(dir: &Path) -> LogReader {
        let mut reader = LogReader::new(dir);
        reader.open_current();
        if let Some((fd, _, at)) = &mut reader.file {
            *at = rustix::fs::fstat(&*fd).map_or(0, |st| st.st_size as u64);
        }
        reader
    }

    /// Hold the file now at the log's path, to be read from its start.
    fn open_current(&mut self) {
        self.file = crate::input::open_file(&self.path)
            .ok()
            .and_then(|(fd, _)| Some((rustix::fs::fstat(&fd).ok()?.st_ino, fd)))
            .map(|(ino, fd)| (fd, ino, 0));
    }

    /// Append all of `log.1` to `out`, unless it is one of the files
    /// (inodes) `not`.
    fn read_kept_unless(&self, not: &[Option<u64>], out: &mut Vec<u8>) {
        if let Ok((kept, _)) = crate::input::open_file(&self.kept)
            && rustix::fs::fstat(&kept).is_ok_and(|st| !not.contains(&Some(st.st_ino)))
        {
            read_to_end(&kept, &mut 0, out);
        }
    }

    /// What was written since the last call (at most two log files).
    pub fn read_new(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.file.is_none() {
            self.open_current();
        }
        let Some((fd, ino, at)) = &mut self.file else {
            return out;
        };
        read_to_end(fd, at, &mut out);
        let now = rustix::fs::stat(&self.path).ok().map(|st| st.st_ino);
        if now.is_none_or(|now| now == *ino) {
            return out;
        }
        // Rotated: this file's last bytes; the new one held at once (read
        // from the next call); and if the log rotated twice since the last
        // look, the file between, kept now as `log.1` (neither this one
        // nor the new), whole.
        read_to_end(fd, at, &mut out);
        let read = Some(*ino);
        self.open_current();
        let new = self.file.as_ref().map(|(_, ino, _)| *ino);
        self.read_kept_unless(&[read, new], &mut out);
        out
    }
}

/// Append what `fd` holds from `at` to `out`, moving `at` on: all of it,
/// since a log file never holds more than [`LOG_MAX`] (the bound kept
/// here all the same).
fn read_to_end(fd: &OwnedFd, at: &mut u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 16 << 10];
    let mut left = LOG_MAX as usize;
    while left > 0 {
        match rustix::io::pread(fd, &mut buf[..left.min(16 << 10)], *at) {
            Ok(n @ 1..) => {
                out.extend_from_slice(&buf[..n]);
                *at += n as u64;
                left -= n;
            }
            _ => return,
        }
    }
}

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
        // a pipe; either way into the log.
        let running;
        let out = if spec.payload.terminal {
            let (theirs, ours) = crate::console::sockets(true, None, true, "the container")?;
            running = container::create(spec, Stdio::default(), theirs, old)?;
            let ours = ours.ok_or_else(|| Error::new(Step::Console, Errno::PIPE))?;
            let master = crate::console::receive(&ours)?;
            offer_terminal(&running.record_dir(), master.as_fd())?;
            master
        } else {
            let (out_rx, out_tx) =
                rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(Step::SyncPipe)?;
            let stdio = Stdio {
                stdin: Some(null.as_fd()),
                stdout: Some(out_tx.as_fd()),
                stderr: Some(out_tx.as_fd()),
            };
            running = container::start(spec, stdio, old)?;
            out_rx
        };
        // Nothing of the caller's terminal stays with us.
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
        Ok((running, out))
    })();
    let (running, out) = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = rustix::io::write(&tx, &encode(&e));
            return 125;
        }
    };
    let _ = rustix::io::write(&tx, &[0]);
    drop(tx);
    let mut log = Log::open(&running.record_dir());
    let mut to_log = |bytes: &[u8]| log.append(bytes);
    let relay = crate::process::Relay {
        streams: vec![crate::process::Stream {
            from: out.as_fd(),
            to: &mut to_log,
            drain: true,
        }],
        resize: None,
    };
    match running.wait_relaying(relay) {
        Ok(outcome) => i32::from(outcome.code),
        Err(_) => 125,
    }
}

/// The container's output, appended to `log` and rotated at [`LOG_MAX`].
struct Log {
    path: PathBuf,
    old: PathBuf,
    file: Option<OwnedFd>,
    size: u64,
}

impl Log {
    fn open(dir: &Path) -> Log {
        let path = log_path(dir);
        let mut log = Log {
            old: kept_log_path(dir),
            path,
            file: None,
            size: 0,
        };
        log.reopen();
        log
    }

    fn reopen(&mut self) {
        self.file = rustix::fs::open(
            &self.path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .ok();
        self.size = self
            .file
            .as_ref()
            .and_then(|f| rustix::fs::fstat(f).ok())
            .map_or(0, |st| st.st_size as u64);
    }

    /// Append `bytes`, rotating a log that would pass [`ROTATE_AT`].
    fn append(&mut self, mut bytes: &[u8]) {
        if self.size + bytes.len() as u64 > ROTATE_AT {
            // The line under way ends in this file, so each file (and the
            // one kept) starts with a whole line: a read of the pipe can
            // end mid-line. Never past LOG_MAX, which `logs` reads at most.
            let room = LOG_MAX.saturating_sub(self.size) as usize;
            let fits = &bytes[..bytes.len().min(room)];
            if let Some(end) = fits.iter().position(|b| *b == b'\n') {
                self.write(&bytes[..=end]);
                bytes = &bytes[end + 1..];
            }
            let _ = rustix::fs::rename(&self.path, &self.old);
            self.reopen();
        }
        self.write(bytes);
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(f) = &self.file {
            let _ = crate::input::write_all(f.as_fd(), bytes);
        }
        self.size += bytes.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_log_starts_with_a_whole_line() {
        let dir = std::env::temp_dir().join(format!("cella-log-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = Log::open(&dir);
        let line = [b'x'; 99];
        let mut text = Vec::new();
        for _ in 0..(LOG_MAX as usize / 100 + 50) {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        // Chunks that end mid-line, as a lagging read of the pipe gives.
        for chunk in text.chunks(4096 + 7) {
            log.append(chunk);
        }
        let current = std::fs::read(log_path(&dir)).unwrap();
        let kept = std::fs::read(dir.join("log.1")).unwrap();
        assert!(
            !current.is_empty() && current.len().is_multiple_of(100),
            "{}",
            current.len()
        );
        assert!(kept.len().is_multiple_of(100) && kept.len() as u64 <= LOG_MAX);
        let _ = std::fs::remove_dir_all(&dir);
    }

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
