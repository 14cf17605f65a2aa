//! A `cella run -d` container's log, in its directory of the state store:
//! its format, the supervisor's writer with its rotation, and the reader
//! `logs` and `attach` follow it with.
//!
//! One record per line of output, as podman's `k8s-file` logs keep them:
//! `TIME STREAM TAG TEXT` and a newline; TIME is RFC 3339 UTC with
//! nanoseconds, STREAM `stdout` or `stderr`, TAG `F` where the payload's
//! line ended or `P` where a read of its output ended inside one (a
//! prompt), TEXT the line's bytes without its newline. So `logs` gives
//! each stream back on its own descriptor and, with `-t`, each line's
//! time, as `docker logs` does; and rotation falls between records, so
//! each file starts with a whole one.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use std::path::{Path, PathBuf};

/// Each log file stops at this size; the one before is kept as `log.1`.
pub const LOG_MAX: u64 = 1 << 20;

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
    /// The start of a record whose end was not written yet.
    partial: Vec<u8>,
}

impl LogReader {
    fn new(dir: &Path) -> LogReader {
        LogReader {
            path: log_path(dir),
            kept: kept_log_path(dir),
            file: None,
            partial: Vec::new(),
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
        reader.partial = out;
        let out = reader.read_new();
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

    /// The records written since the last call (at most two log files),
    /// whole: the start of one still being written waits for the next.
    pub fn read_new(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.partial);
        self.read_raw(&mut out);
        let whole = out.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = out.split_off(whole);
        out
    }

    /// Append what was written since the last call to `out`.
    fn read_raw(&mut self, out: &mut Vec<u8>) {
        if self.file.is_none() {
            self.open_current();
        }
        let Some((fd, ino, at)) = &mut self.file else {
            return;
        };
        read_to_end(fd, at, out);
        let now = rustix::fs::stat(&self.path).ok().map(|st| st.st_ino);
        if now.is_none_or(|now| now == *ino) {
            return;
        }
        // Rotated: this file's last bytes; the new one held at once (read
        // from the next call); and if the log rotated twice since the last
        // look, the file between, kept now as `log.1` (neither this one
        // nor the new), whole.
        read_to_end(fd, at, out);
        let read = Some(*ino);
        self.open_current();
        let new = self.file.as_ref().map(|(_, ino, _)| *ino);
        self.read_kept_unless(&[read, new], out);
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

/// Which of the payload's outputs a record holds (a terminal's is stdout).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Output {
    Stdout,
    Stderr,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Stdout => "stdout",
            Output::Stderr => "stderr",
        }
    }

    /// Its place in a pair kept per stream (stdout's, stderr's).
    fn index(self) -> usize {
        usize::from(self == Output::Stderr)
    }

    /// The descriptor `logs` prints it on.
    pub fn fd(self) -> u8 {
        match self {
            Output::Stdout => 1,
            Output::Stderr => 2,
        }
    }
}

/// One record, as read back.
#[derive(Debug, PartialEq)]
pub struct Entry<'a> {
    pub output: Output,
    /// When it was written (empty in a log an older cella wrote).
    pub time: &'a [u8],
    pub text: &'a [u8],
    /// The line ends here (`F`), or goes on in its stream's next record.
    pub ends_line: bool,
}

/// Append `part` (a line with its newline, or the start of one) as one
/// record written at `time`.
fn record(time: &str, output: Output, part: &[u8], out: &mut Vec<u8>) {
    let (text, tag) = match part.strip_suffix(b"\n") {
        Some(text) => (text, " F "),
        None => (part, " P "),
    };
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(output.name().as_bytes());
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// The records in `records` (whole ones, as [`LogReader`] gives them). A
/// line that is not a record (a log an older cella wrote) is a whole line
/// of stdout.
pub fn entries(records: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    records.split_inclusive(|b| *b == b'\n').map(entry)
}

/// One record, its newline included (see [`entries`]).
fn entry(record: &[u8]) -> Entry<'_> {
    let line = record.strip_suffix(b"\n").unwrap_or(record);
    parse(line).unwrap_or(Entry {
        output: Output::Stdout,
        time: b"",
        text: line,
        ends_line: true,
    })
}

fn parse(line: &[u8]) -> Option<Entry<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = fields.next()?;
    let output = match fields.next()? {
        b"stdout" => Output::Stdout,
        b"stderr" => Output::Stderr,
        _ => return None,
    };
    let ends_line = match fields.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Entry {
        output,
        time,
        text: fields.next()?,
        ends_line,
    })
}

/// The records of `records` that hold its last `n` lines, in the order the
/// lines ended (as docker's log keeps a line once it ends): a line begun
/// before another stream's ended after it; lines under way are the last.
pub fn last_lines(records: &[u8], n: usize) -> Vec<u8> {
    let raw: Vec<&[u8]> = records.split_inclusive(|b| *b == b'\n').collect();
    // Each record's line, numbered as the lines end.
    let mut line_of = vec![0; raw.len()];
    let mut open: [Vec<usize>; 2] = Default::default();
    let mut lines: usize = 0;
    let mut end_line = |open: &mut Vec<usize>| {
        for i in open.drain(..) {
            line_of[i] = lines;
        }
        lines += 1;
    };
    for (i, e) in raw.iter().map(|r| entry(r)).enumerate() {
        let open = &mut open[e.output.index()];
        open.push(i);
        if e.ends_line {
            end_line(open);
        }
    }
    for open in open.iter_mut().filter(|o| !o.is_empty()) {
        end_line(open);
    }
    let first = lines.saturating_sub(n);
    let mut out = Vec::new();
    for (record, line) in raw.into_iter().zip(line_of) {
        if line >= first {
            out.extend_from_slice(record);
        }
    }
    out
}

/// What `logs` prints of the records it reads: each line's text on its
/// stream's descriptor, with `-t` after the time the line began.
pub struct Printer {
    pub timestamps: bool,
    /// Whether each stream (stdout, stderr) is at the start of a line.
    mid_line: [bool; 2],
}

impl Printer {
    pub fn new(timestamps: bool) -> Printer {
        Printer {
            timestamps,
            mid_line: [false; 2],
        }
    }

    /// Print `records` through `emit` (a descriptor, bytes; false: nobody
    /// reads any more), a stream's run of records in one write; false once
    /// `emit` said so.
    pub fn print(&mut self, records: &[u8], emit: &mut dyn FnMut(u8, &[u8]) -> bool) -> bool {
        let mut run: Option<(Output, Vec<u8>)> = None;
        for e in entries(records) {
            if let Some((output, bytes)) = run.take_if(|(o, _)| *o != e.output)
                && !emit(output.fd(), &bytes)
            {
                return false;
            }
            let (_, bytes) = run.get_or_insert_with(|| (e.output, Vec::new()));
            let mid_line = &mut self.mid_line[e.output.index()];
            if self.timestamps && !*mid_line && !e.time.is_empty() {
                bytes.extend_from_slice(e.time);
                bytes.push(b' ');
            }
            bytes.extend_from_slice(e.text);
            if e.ends_line {
                bytes.push(b'\n');
            }
            *mid_line = !e.ends_line;
        }
        run.is_none_or(|(output, bytes)| emit(output.fd(), &bytes))
    }
}

/// The payload's output in `records`, both streams as one (a terminal's,
/// for `attach`).
pub fn text(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len());
    Printer::new(false).print(records, &mut |_, bytes| {
        out.extend_from_slice(bytes);
        true
    });
    out
}

/// The supervisor's writer of the log, rotated at [`LOG_MAX`].
pub struct Log {
    path: PathBuf,
    old: PathBuf,
    file: Option<OwnedFd>,
    size: u64,
}

impl Log {
    pub fn open(dir: &Path) -> Log {
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

    /// Append what the payload wrote on `output` (one read of it), a
    /// record per line; a record that would take the file past
    /// [`LOG_MAX`] starts the next one (the current kept as `log.1`).
    pub fn append(&mut self, output: Output, bytes: &[u8]) {
        let time = crate::store::now_rfc3339();
        let mut batch = Vec::with_capacity(bytes.len() + 64);
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            let done = batch.len();
            record(&time, output, part, &mut batch);
            if self.size + batch.len() as u64 > LOG_MAX {
                self.write(&batch[..done]);
                batch.drain(..done);
                let _ = rustix::fs::rename(&self.path, &self.old);
                self.reopen();
            }
        }
        self.write(&batch);
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
    fn a_rotated_log_starts_with_a_whole_record_and_loses_no_line() {
        let dir = std::env::temp_dir().join(format!("cella-log-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = Log::open(&dir);
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("{i:06}{}\n", "x".repeat(93)).as_bytes());
        }
        // Chunks that end mid-line, as a lagging read of the pipe gives.
        for chunk in text.chunks(4096 + 7) {
            log.append(Output::Stdout, chunk);
        }
        let current = std::fs::read(log_path(&dir)).unwrap();
        let kept = std::fs::read(dir.join("log.1")).unwrap();
        for file in [&current, &kept] {
            assert!(file.len() as u64 <= LOG_MAX, "{}", file.len());
            assert!(file[..30].iter().all(|b| b"0123456789-T:.Z".contains(b)));
            assert!(parse(file.split(|b| *b == b'\n').next().unwrap()).is_some());
        }
        // What the two files keep is the output's end, whole.
        let both = [&kept[..], &current[..]].concat();
        let back = super::text(&both);
        assert!(back.len() > LOG_MAX as usize / 2 && text.ends_with(&back));
        assert!(
            back.starts_with(b"0") && back.len().is_multiple_of(100),
            "{}",
            back.len()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn records(parts: &[(Output, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (output, part)) in parts.iter().enumerate() {
            let time = format!("2026-12-02T10:00:0{i}.000000000Z");
            record(&time, *output, part.as_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn records_read_back_with_their_stream_time_and_line_end() {
        use Output::{Stderr, Stdout};
        let log = records(&[(Stdout, "a b\n"), (Stderr, "prompt> "), (Stdout, "\n")]);
        assert_eq!(
            String::from_utf8(log.clone()).unwrap(),
            "2026-12-02T10:00:00.000000000Z stdout F a b\n\
             2026-12-02T10:00:01.000000000Z stderr P prompt> \n\
             2026-12-02T10:00:02.000000000Z stdout F \n"
        );
        let got: Vec<_> = entries(&log).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1],
            Entry {
                output: Stderr,
                time: b"2026-12-02T10:00:01.000000000Z",
                text: b"prompt> ",
                ends_line: false
            }
        );
        assert_eq!((got[2].text, got[2].ends_line), (&b""[..], true));
        // A log an older cella wrote: its lines are stdout's.
        let old: Vec<_> = entries(b"plain line\nstdout F x\n").collect();
        assert!(
            old.iter()
                .all(|e| e.output == Stdout && e.time.is_empty() && e.ends_line)
        );
        assert_eq!(old[1].text, b"stdout F x");
    }

    #[test]
    fn the_last_lines_are_the_last_to_end_and_the_lines_under_way() {
        use Output::{Stderr, Stdout};
        let log = records(&[
            (Stdout, "one\n"),
            (Stdout, "tw"),
            (Stderr, "err\n"),
            (Stdout, "o\n"),
            (Stdout, "thr"),
        ]);
        let texts = |n| super::text(&last_lines(&log, n));
        assert_eq!(texts(0), b"");
        assert_eq!(texts(1), b"thr");
        // "tw" and "o" are one line, which ended after stderr's.
        assert_eq!(texts(2), b"two\nthr");
        assert_eq!(texts(3), b"twerr\no\nthr");
        assert_eq!(texts(4), super::text(&log));
        assert_eq!(texts(99), super::text(&log));
        assert_eq!(last_lines(b"", 3), b"");
        assert_eq!(last_lines(&log, 5), log);
    }

    #[test]
    fn logs_prints_each_stream_on_its_descriptor_with_its_lines_time() {
        use Output::{Stderr, Stdout};
        let log = records(&[
            (Stdout, "a\n"),
            (Stdout, "b"),
            (Stderr, "e\n"),
            (Stdout, "c\n"),
        ]);
        // What a printer gives of the log: (descriptor, text) per write.
        let printed = |timestamps: bool| {
            let mut got: Vec<(u8, String)> = Vec::new();
            let mut emit = |fd: u8, b: &[u8]| {
                got.push((fd, String::from_utf8(b.to_vec()).unwrap()));
                true
            };
            assert!(Printer::new(timestamps).print(&log, &mut emit));
            got
        };
        assert_eq!(
            printed(false),
            [
                (1, "a\nb".to_string()),
                (2, "e\n".to_string()),
                (1, "c\n".to_string())
            ]
        );
        // "c" goes on the line "b" began: no time of its own.
        assert_eq!(
            printed(true),
            [
                (
                    1,
                    "2026-12-02T10:00:00.000000000Z a\n2026-12-02T10:00:01.000000000Z b"
                        .to_string()
                ),
                (2, "2026-12-02T10:00:02.000000000Z e\n".to_string()),
                (1, "c\n".to_string())
            ]
        );
        // A reader gone stops it.
        assert!(!Printer::new(false).print(&log, &mut |_, _| false));
    }
}
