//! The OCI side's terminals and environment as runc gives them (issue 11,
//! point 7): a foreground `run` and `exec -t` with no `--console-socket`
//! relay the pty themselves, on a real terminal the test holds; an exec's
//! pty never becomes the container's `/dev/console`, so tty execs can
//! follow one another (containerd's `kubectl exec -it`); the pty belongs to
//! the process's user; a process with no `HOME` gets its passwd home.
#![cfg(feature = "oci")]

mod support;

use rustix::fd::OwnedFd;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bundle::*;
use support::terminal::OuterTerminal;
use support::*;

/// `cella --root STATE run --bundle DIR ID` on `term`, as runc's users run it.
fn run_on(term: &OuterTerminal, b: &Bundle) -> std::process::Child {
    let state = b.state.to_str().unwrap();
    term.cella(&[
        "--root",
        state,
        "run",
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ])
}

/// [`wait_code`], saying what `term` showed if it does not end in 30 s.
fn wait_code_showing(mut child: std::process::Child, term: &OuterTerminal) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cella did not end within 30 s; the terminal shows {:?}",
                term.text()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_code(child: std::process::Child) -> i32 {
    let out = wait_output(child, Duration::from_secs(30));
    out.status.code().unwrap_or(-1)
}

#[test]
fn a_foreground_run_relays_its_terminal_raw_sized_and_restored() {
    let _g = serial();
    let b = Bundle::new(
        "term-run",
        &[
            "sh",
            "-c",
            // (PID 1 of its namespace: SIGINT reaches it only with a
            // handler; the trap's 130 shows it came, from the pty.)
            "trap 'exit 130' INT; tty; stty size; echo ready; read line; echo \"got:$line\"; \
             while :; do stty size; sleep 0.1; done",
        ],
        Cfg {
            terminal: true,
            ..Cfg::default()
        },
    );
    let mut term = OuterTerminal::open(33, 77);
    let before = term.modes();
    let cella = run_on(&term, &b);
    let pid = cella.id() as i32;
    term.wait_for("ready");
    let text = term.text();
    assert!(text.contains("/dev/pts/0\n"), "the payload's tty: {text:?}");
    assert!(
        text.contains("33 77\n"),
        "the caller's size, given to the pty: {text:?}"
    );
    // Raw while it runs: the caller's line discipline no longer echoes or
    // turns ctrl-C into a signal; the container's does.
    let during = term.modes();
    assert!(
        !during.2.contains("ICANON") && !during.2.contains("ISIG"),
        "{during:?}"
    );
    term.type_in(b"hello\r");
    term.wait_for("got:hello\n");
    // The size followed: a resized terminal signals its foreground group.
    term.resize(40, 90);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::WINCH,
    )
    .unwrap();
    term.wait_for("40 90\n");
    // ctrl-C is a byte to us and SIGINT inside: the shell dies of it.
    term.type_in(b"\x03");
    assert_eq!(wait_code_showing(cella, &term), 130, "{:?}", term.text());
    assert_eq!(term.modes(), before, "the caller's terminal as it was");
    b.assert_gone();
}

/// Everything read from `master` until `end` shows or it closes.
fn read_until(master: &OwnedFd, end: &str) -> String {
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let start = Instant::now();
    while !String::from_utf8_lossy(&out).contains(end) && start.elapsed() < Duration::from_secs(10)
    {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

fn console_mounts(pid: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/dev/console"))
        .count()
}

#[test]
fn tty_execs_follow_one_another_and_never_bind_dev_console() {
    let _g = serial();
    let b = Bundle::new("term-exec", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let state = ok(b.oci(&["state", &b.id]));
    let pid = state.split("\"pid\":").nth(1).unwrap();
    let pid: String = pid.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(console_mounts(&pid), 0);
    // As containerd's shim: a console socket per session, one after another.
    let sock = b.socket("exec-console.sock");
    for session in 0..3 {
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).unwrap();
        let args = [
            "--root",
            b.state.to_str().unwrap(),
            "exec",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            &b.id,
            "sh",
            "-c",
            &format!("tty; echo session-{session}-done"),
        ];
        let exec = runtime_in_background(&args);
        let master = receive_fd(&listener);
        let out = read_until(&master, &format!("session-{session}-done"));
        // Held until the process is gone: closing it first hangs the
        // session up (SIGHUP), as closing a terminal window would.
        let done = exec.join().unwrap();
        drop(master);
        assert_eq!(code(&done), 0, "session {session}: {}", stderr(&done));
        assert!(out.contains("/dev/pts/"), "session {session}: {out}");
        assert_eq!(
            console_mounts(&pid),
            0,
            "session {session} left /dev/console"
        );
    }
    // With no socket, in the foreground, cella relays the pty itself; the
    // pty belongs to the exec's user.
    let out = b.oci(&[
        "exec",
        "-t",
        "--user",
        "1000:1000",
        &b.id,
        "sh",
        "-c",
        "tty; ls -ln $(tty) | awk '{print \"owner=\" $3}'",
    ]);
    let text = stdout(&out).replace('\r', "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("owner=1000\n"), "{text}");
    // Detached, with no socket: refused, as runc does.
    let out = b.oci(&["exec", "-t", "-d", &b.id, "true"]);
    refused(
        &out,
        "detached exec -t without a socket",
        "needs --console-socket",
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn a_process_without_home_gets_its_users_home_from_the_containers_passwd() {
    let _g = serial();
    let b = Bundle::new(
        "home",
        &["sh", "-c", "echo home=$HOME; exec sleep 1000"],
        Cfg::default(),
    );
    std::fs::write(
        b.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root-home:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    let log = b.dir.join("out");
    let state = b.state.to_str().unwrap().to_owned();
    let cella = Command::new(cella_bin())
        .args([
            "--root",
            &state,
            "run",
            "-d",
            "--bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    assert_eq!(wait_code(cella), 0);
    wait_until(|| std::fs::read_to_string(&log).unwrap().contains("home="));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "home=/root-home\n");
    let home_of = |user: &str| {
        let out = b.oci(&["exec", "--user", user, &b.id, "sh", "-c", "echo $HOME"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    assert_eq!(home_of("1000:1000"), "/home/app");
    assert_eq!(home_of("4242:4242"), "/", "no entry: /");
    // An explicit HOME stays.
    let out = b.oci(&[
        "exec",
        "--env",
        "HOME=/mine",
        &b.id,
        "sh",
        "-c",
        "echo $HOME",
    ]);
    assert_eq!(stdout(&out).trim(), "/mine");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn a_hostile_passwd_neither_leads_to_the_hosts_nor_wedges_create() {
    let _g = serial();
    for (tag, plant) in [("home-link", "link"), ("home-fifo", "fifo")] {
        let b = Bundle::new(tag, &["sh", "-c", "echo home=$HOME"], Cfg::default());
        let passwd = b.rootfs().join("etc/passwd");
        std::fs::remove_file(&passwd).unwrap();
        if plant == "link" {
            // Absolute and climbing: on the host it would be the host's file
            // (whose root has HOME /root); inside the root it is itself.
            std::os::unix::fs::symlink("/../../../../../../etc/passwd", &passwd).unwrap();
        } else {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &passwd,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .unwrap();
        }
        let out = runtime_with(
            &[
                "--root",
                b.state.to_str().unwrap(),
                "run",
                "--bundle",
                b.dir.to_str().unwrap(),
                &b.id,
            ],
            Stdio::null(),
            Duration::from_secs(20),
        );
        assert_eq!(code(&out), 0, "{tag}: {}", stderr(&out));
        assert_eq!(stdout(&out), "home=/\n", "{tag}");
        b.assert_gone();
    }
}

fn wait_until(f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bundle_from_cella_spec_runs_runcs_interactive_shell() {
    let _g = serial();
    let b = Bundle::new("spec-shell", &["true"], Cfg::default());
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    ok(runtime(&["spec", "--bundle", b.dir.to_str().unwrap()]));
    let again = runtime(&["spec", "--bundle", b.dir.to_str().unwrap()]);
    refused(&again, "a second spec", "exists; remove it first");
    let mut term = OuterTerminal::open(24, 80);
    // As a runc user would: `runc spec`, a rootfs, `runc run ID` on a terminal.
    let cella = run_on(&term, &b);
    term.type_in(
        b"echo in-$((6*7)); touch /x || echo read-only; wc -c < /proc/timer_list; \
          ls /sys/fs/cgroup | grep -c . ; hostname; exit 3\r",
    );
    assert_eq!(wait_code(cella), 3, "{:?}", term.text());
    let text = term.text();
    assert!(text.contains("\nin-42\n"), "{text:?}");
    assert!(
        text.contains("\nread-only\n"),
        "the root is read-only: {text:?}"
    );
    assert!(
        text.contains("\n0\n"),
        "/proc/timer_list is masked: {text:?}"
    );
    assert!(text.contains("\ncella\n"), "{text:?}");
    assert!(
        !text.contains("\n0\ncella"),
        "/sys/fs/cgroup is mounted: {text:?}"
    );
    b.assert_gone();
}

/// A process.json as containerd's shim writes it for `kubectl exec -it`:
/// a terminal, no `HOME` in the environment.
fn cri_process(args: &[&str]) -> String {
    format!(
        r#"{{"terminal": true, "user": {{"uid": 0, "gid": 0}}, "args": [{}], "env": ["PATH=/bin"], "cwd": "/"}}"#,
        quoted(args)
    )
}

#[test]
fn containerds_cri_sequence_of_calls() {
    let _g = serial();
    let b = Bundle::new(
        "cri",
        &["sh", "-c", "read line; echo got-$line"],
        Cfg {
            terminal: true,
            ..Cfg::default()
        },
    );
    let state = b.state.to_str().unwrap().to_owned();
    // create --console-socket --pid-file, as the shim does, then start.
    let sock = b.socket("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let pid_file = b.dir.join("pid");
    let args = [
        "--root",
        &state,
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &b.id,
    ];
    let creator = runtime_in_background(&args);
    let mut console = std::fs::File::from(receive_fd(&listener));
    ok(creator.join().unwrap());
    ok(b.oci(&["start", &b.id]));
    // Two `exec --process --console-socket --detach` in a row, each with
    // no HOME: a terminal of its own, and runc's HOME.
    for session in 0..2 {
        let process = b.dir.join(format!("process-{session}.json"));
        std::fs::write(
            &process,
            cri_process(&[
                "sh",
                "-c",
                &format!("tty; echo home=$HOME; echo exec-{session}-done"),
            ]),
        )
        .unwrap();
        let exec_sock = b.socket(&format!("exec-{session}.sock"));
        let exec_listener = UnixListener::bind(&exec_sock).unwrap();
        let pid_file = b.dir.join(format!("exec-{session}.pid"));
        let args = [
            "--root",
            &state,
            "exec",
            "--process",
            process.to_str().unwrap(),
            "--console-socket",
            exec_sock.to_str().unwrap(),
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &b.id,
        ];
        let exec = runtime_in_background(&args);
        let master = receive_fd(&exec_listener);
        ok(exec.join().unwrap());
        let out = read_until(&master, &format!("exec-{session}-done"));
        assert!(out.contains("/dev/pts/"), "session {session}: {out}");
        assert!(out.contains("home=/root\n"), "session {session}: {out}");
        drop(master);
    }
    // The container's own terminal still works after them.
    console.write_all(b"hello\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    let start = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("got-hello") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
        match console.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    assert!(String::from_utf8_lossy(&seen).contains("got-hello"));
    // It has exited: delete --force, as the shim does after exit.
    b.wait_status("stopped");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}
