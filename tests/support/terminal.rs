//! A terminal the tests hold, as a person's: a pty pair whose peer cella
//! gets as stdin, stdout and stderr, and whose master the test types into
//! and reads from.
#![allow(dead_code)]

use rustix::fd::OwnedFd;
use rustix::pty::OpenptFlags;
use rustix::termios::{self, Winsize};
use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pty pair the test owns: the master it types into and reads from, and
/// the terminal (peer) cella is given as stdin, stdout and stderr.
pub struct OuterTerminal {
    master: std::fs::File,
    pub peer: OwnedFd,
    seen: Arc<Mutex<Vec<u8>>>,
}

/// A new pty: its master and its peer (the terminal), neither inherited
/// by what the test runs (a master some child holds never hangs up).
pub fn pty_pair() -> (OwnedFd, OwnedFd) {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .unwrap();
    (master, peer)
}

impl OuterTerminal {
    pub fn open(rows: u16, cols: u16) -> OuterTerminal {
        let (master, peer) = pty_pair();
        let t = OuterTerminal {
            master: std::fs::File::from(master),
            peer,
            seen: Arc::default(),
        };
        t.resize(rows, cols);
        let mut reader = t.master.try_clone().unwrap();
        let seen = t.seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        t
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        termios::tcsetwinsize(&self.peer, size).unwrap();
    }

    pub fn stdio(&self) -> Stdio {
        Stdio::from(self.peer.try_clone().unwrap())
    }

    /// What came out so far, carriage returns dropped.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).replace('\r', "")
    }

    pub fn wait_for(&self, want: &str) {
        let start = Instant::now();
        while !self.text().contains(want) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {want:?} on the terminal; it shows: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Drop what was typed and nobody read.
    pub fn flush_input(&self) {
        rustix::termios::tcflush(&self.peer, rustix::termios::QueueSelector::IFlush).unwrap();
    }

    pub fn type_in(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    pub fn modes(&self) -> (String, String, String) {
        let t = termios::tcgetattr(&self.peer).unwrap();
        (
            format!("{:?}", t.input_modes),
            format!("{:?}", t.output_modes),
            format!("{:?}", t.local_modes),
        )
    }

    /// cella with `args`, this terminal as its stdio.
    pub fn cella(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(super::cella_bin())
            .args(args)
            .stdin(self.stdio())
            .stdout(self.stdio())
            .stderr(self.stdio())
            .spawn()
            .unwrap()
    }
}
