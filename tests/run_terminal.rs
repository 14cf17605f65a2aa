//! `cella run`'s terminals as docker gives them (issue 12, point 1), on a
//! real terminal the test holds: `-it` is an interactive shell on a pty of
//! the container's (its tty, job control, ctrl-C and ctrl-Z acting inside,
//! the window size followed, the caller's terminal restored); without
//! `-t` the payload holds no descriptor of the caller's terminal at all
//! (stdin `/dev/null` without `-i`, the output through pipes cella
//! relays), so it can neither read what is typed there nor ioctl it.

mod support;

use std::time::{Duration, Instant};
use support::terminal::OuterTerminal;
use support::*;

fn wait_code(child: std::process::Child) -> i32 {
    wait_output(child, Duration::from_secs(30))
        .status
        .code()
        .unwrap_or(-1)
}

/// A detached container `name` on `root` that sleeps, to exec into.
fn sleeping_detached(root: &std::path::Path, name: &str) {
    let root = root.to_str().unwrap();
    ok(cella(&[
        "run", "-d", "--name", name, "--rootfs", root, "--", "sleep", "100",
    ]));
}

/// The state letter of process `pid` (`T`: stopped).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(") ").next().unwrap().chars().next().unwrap()
}

#[test]
fn run_it_is_an_interactive_shell_on_a_terminal_of_its_own() {
    let _g = serial();
    let root = rootfs("run-it");
    let mut term = OuterTerminal::open(33, 77);
    let before = term.modes();
    let cella = term.cella(&["run", "-it", "--rootfs", root.to_str().unwrap(), "--", "sh"]);
    let pid = cella.id();
    // (What is typed is echoed: wait for output the typing does not show.)
    term.wait_for("/ # ");
    term.type_in(b"tty; stty size; echo term=$TERM; echo rea\"\"dy\r");
    term.wait_for("ready\n");
    let text = term.text();
    assert!(text.contains("/dev/pts/0\n"), "the payload's tty: {text:?}");
    assert!(text.contains("33 77\n"), "the caller's size: {text:?}");
    assert!(text.contains("term=xterm\n"), "{text:?}");
    assert!(!text.contains("job control turned off"), "{text:?}");
    // The caller's terminal is raw: keystrokes are bytes for the pty.
    let during = term.modes();
    assert!(
        !during.2.contains("ICANON") && !during.2.contains("ISIG"),
        "{during:?}"
    );
    // ctrl-C interrupts the foreground job inside, not cella.
    term.type_in(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    term.type_in(b"\x03");
    term.type_in(b"echo after=$?\r");
    term.wait_for("after=130\n");
    assert_ne!(state(pid), 'T');
    // ctrl-Z suspends the job inside; cella (on the host) runs on.
    term.type_in(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    term.type_in(b"\x1a");
    term.type_in(b"jobs; echo jobs-\"\"listed\r");
    term.wait_for("jobs-listed\n");
    let text = term.text();
    assert!(text.contains("Stopped"), "{text:?}");
    assert_ne!(state(pid), 'T', "cella was stopped on the host");
    // The window size follows the caller's (SIGWINCH reaches cella).
    term.resize(40, 90);
    kill(pid, rustix::process::Signal::WINCH);
    std::thread::sleep(Duration::from_millis(200));
    term.type_in(b"stty size\r");
    term.wait_for("40 90\n");
    // A full-screen editor works on it: vi writes what was typed.
    term.type_in(b"vi /tmp/note\r");
    std::thread::sleep(Duration::from_millis(500));
    term.type_in(b"ihello from vi");
    std::thread::sleep(Duration::from_millis(200));
    // (ESC alone: followed at once, vi would read an escape sequence.)
    term.type_in(b"\x1b");
    std::thread::sleep(Duration::from_millis(500));
    term.type_in(b":wq\r");
    std::thread::sleep(Duration::from_millis(300));
    term.type_in(b"cat /tmp/note; echo vi-\"\"done\r");
    term.wait_for("vi-done\n");
    assert!(
        term.text().contains("hello from vi\nvi-done\n"),
        "{:?}",
        term.text()
    );
    term.type_in(b"kill -9 %1; wait; echo kil\"\"led\r");
    term.wait_for("killed\n");
    // (ash refuses the first exit while it still counts a stopped job.)
    term.type_in(b"exit 7\r");
    term.type_in(b"exit 7\r");
    assert_eq!(wait_code(cella), 7, "{:?}", term.text());
    assert_eq!(term.modes(), before, "the caller's terminal as it was");
}

#[test]
fn without_t_the_payload_holds_nothing_of_the_callers_terminal() {
    let _g = serial();
    let root = rootfs("run-not-t");
    let r = root.to_str().unwrap();
    // The shell's own descriptors ($$: in $(...) fd 1 is the substitution's).
    let look = "for fd in 0 1 2; do echo $fd=$(readlink /proc/$$/fd/$fd); done; \
                (: < /dev/tty) 2>/dev/null && echo has-a-tty || echo no-tty";
    // `cella run [-i] --rootfs R -- sh -c SCRIPT` on the terminal.
    let sh_on = |term: &OuterTerminal, interactive: bool, script: &str| {
        let mut args = vec!["run", "--rootfs", r];
        if interactive {
            args.push("-i");
        }
        args.extend(["--", "sh", "-c", script]);
        term.cella(&args)
    };
    // No -i: stdin is /dev/null even on a terminal; the output goes
    // through pipes.
    let mut term = OuterTerminal::open(24, 80);
    let before = term.modes();
    let cella = sh_on(&term, false, look);
    assert_eq!(wait_code(cella), 0);
    term.wait_for("no-tty\n");
    let text = term.text();
    assert!(text.contains("0=/dev/null\n"), "{text:?}");
    assert!(
        !text.contains("/dev/pts"),
        "a descriptor of the terminal: {text:?}"
    );
    assert!(
        text.contains("1=pipe:") && text.contains("2=pipe:"),
        "{text:?}"
    );
    // What is typed meanwhile stays the caller's.
    let cella = sh_on(&term, false, "read line; echo got:$line; echo done");
    term.type_in(b"secret\n");
    assert_eq!(wait_code(cella), 0);
    term.wait_for("done\n");
    assert!(term.text().contains("got:\n"), "{:?}", term.text());
    // (It waits in the caller's terminal, for whoever reads it next.)
    term.flush_input();
    // -i: typed input reaches it, through a pipe too.
    let cella = sh_on(&term, true, &format!("{look}; read line; echo got:$line"));
    term.wait_for("no-tty\n");
    term.type_in(b"typed\n");
    assert_eq!(wait_code(cella), 0);
    term.wait_for("got:typed\n");
    let text = term.text();
    assert!(text.contains("0=pipe:"), "{text:?}");
    assert!(!text.contains("/dev/pts"), "{text:?}");
    assert_eq!(term.modes(), before, "the caller's terminal untouched");
    // ctrl-D (end of input) reaches it as end-of-file.
    let start = Instant::now();
    let cella = sh_on(&term, true, "cat; echo eof");
    term.type_in(b"line\n\x04");
    assert_eq!(wait_code(cella), 0);
    term.wait_for("eof\n");
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// Without a `/proc` (an initramfs's first steps), the output relayed to
/// the caller's terminal goes to a duplicate of it (no terminal can be
/// opened anew through `/proc/self/fd`): the run works as ever.
#[test]
fn without_proc_the_terminal_is_relayed_all_the_same() {
    let _g = serial();
    let root = rootfs("run-no-proc");
    let term = OuterTerminal::open(24, 80);
    let script = format!(
        "mount -t tmpfs none /proc && exec {} run --rootfs {} -- echo relayed",
        cella_bin(),
        root.display()
    );
    let child = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdin(term.stdio())
        .stdout(term.stdio())
        .stderr(term.stdio())
        .spawn()
        .unwrap();
    assert_eq!(wait_code(child), 0, "{}", term.text());
    term.wait_for("relayed\n");
}

/// `cella exec` into a `cella run` container follows docker's rules too:
/// `-it` a shell on a pty of the container's, without `-t` nothing of the
/// caller's terminal, without `-i` no stdin.
#[test]
fn exec_into_a_run_container_follows_the_same_rules() {
    let _g = serial();
    let root = rootfs("exec-it");
    let name = format!("exec-it-{}", std::process::id());
    sleeping_detached(&root, &name);
    let mut term = OuterTerminal::open(30, 100);
    let before = term.modes();
    let exec = term.cella(&["exec", "-it", &name, "sh"]);
    term.wait_for("# ");
    term.type_in(b"tty; stty size; echo rea\"\"dy\r");
    term.wait_for("ready\n");
    let text = term.text();
    assert!(text.contains("/dev/pts/0\n"), "{text:?}");
    assert!(text.contains("30 100\n"), "{text:?}");
    term.type_in(b"exit 3\r");
    assert_eq!(wait_code(exec), 3);
    assert_eq!(term.modes(), before);
    let exec = term.cella(&[
        "exec",
        &name,
        "sh",
        "-c",
        "for fd in 0 1 2; do echo $fd=$(readlink /proc/$$/fd/$fd); done; echo do\"\"ne",
    ]);
    assert_eq!(wait_code(exec), 0);
    term.wait_for("done\n");
    let text = term.text();
    assert!(text.contains("0=/dev/null\n"), "{text:?}");
    assert!(
        text.contains("1=pipe:") && text.contains("2=pipe:"),
        "{text:?}"
    );
    // Detached (-d): nothing at all of the caller's.
    let exec = term.cella(&[
        "exec",
        "-d",
        &name,
        "sh",
        "-c",
        "for fd in 0 1 2; do echo $fd=$(readlink /proc/$$/fd/$fd) >> /fds; done",
    ]);
    assert_eq!(wait_code(exec), 0);
    let fds = root.join("fds");
    let start = Instant::now();
    while std::fs::read_to_string(&fds).map_or(true, |t| t.lines().count() < 3) {
        assert!(start.elapsed() < Duration::from_secs(10), "no /fds");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&fds).unwrap();
    assert_eq!(text, "0=/dev/null\n1=/dev/null\n2=/dev/null\n");
    ok(cella(&["rm", "-f", &name]));
}

/// `run -dit` keeps a pty for `cella attach`: this terminal on it (typed
/// input in, its output out, the window size followed), ctrl-P ctrl-Q
/// leaving it running, and its exit status once it ends; `cella logs` has
/// what it wrote. `-d -i` without `-t` is refused (the input comes through
/// the terminal).
#[test]
fn attach_to_a_detached_terminal_and_leave_it_with_ctrl_p_ctrl_q() {
    let _g = serial();
    let root = rootfs("attach");
    let r = root.to_str().unwrap();
    let name = format!("attach-{}", std::process::id());
    ok(cella(&[
        "run", "-dit", "--name", &name, "--rootfs", r, "--", "sh",
    ]));
    let mut term = OuterTerminal::open(25, 100);
    let before = term.modes();
    let attached = term.cella(&["attach", &name]);
    std::thread::sleep(Duration::from_millis(300));
    term.type_in(b"tty; stty size; echo fir\"\"st\r");
    term.wait_for("first\n");
    let text = term.text();
    assert!(text.contains("/dev/pts/0\n"), "{text:?}");
    assert!(text.contains("25 100\n"), "{text:?}");
    // ctrl-P ctrl-Q: attach ends, the container runs on.
    term.type_in(b"\x10\x11");
    assert_eq!(wait_code(attached), 0, "{:?}", term.text());
    assert_eq!(term.modes(), before, "the caller's terminal restored");
    let ps = ok(cella(&["ps"]));
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&name) && l.contains("running")),
        "{ps}"
    );
    // Attached again: its exit status is attach's.
    let attached = term.cella(&["attach", &name]);
    std::thread::sleep(Duration::from_millis(300));
    term.type_in(b"echo sec\"\"ond; exit 4\r");
    assert_eq!(wait_code(attached), 4, "{:?}", term.text());
    term.wait_for("second\n");
    let logs = ok(cella(&["logs", &name]));
    assert!(logs.contains("first") && logs.contains("second"), "{logs}");
    ok(cella(&["rm", &name]));
    // No terminal: nothing to attach to; -d -i alone is refused.
    let plain = format!("{name}-plain");
    ok(cella(&[
        "run", "-d", "--name", &plain, "--rootfs", r, "--", "sleep", "30",
    ]));
    let out = cella(&["attach", &plain]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("it has no terminal"),
        "{}",
        stderr(&out)
    );
    ok(cella(&["rm", "-f", &plain]));
    let out = cella(&["run", "-di", "--rootfs", r, "--", "sh"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("-dit"), "{}", stderr(&out));
}

/// Files among the caller's stdio reach the payload through pipes, as
/// docker's do: given the file itself, it could open it anew through
/// `/proc/self/fd` with the access it likes (write a read-only stdin, read
/// the file its output is appended to). All of a file given as stdin goes
/// in, even to a payload that writes much before it reads.
#[test]
fn files_among_the_callers_stdio_reach_the_payload_through_pipes() {
    use std::process::{Command, Stdio};
    let _g = serial();
    let root = rootfs("run-files");
    let dir = root.parent().unwrap().join("run-files-io");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input");
    let body: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&input, &body).unwrap();
    let output = dir.join("output");
    std::fs::write(&output, "SECRET already in the file\n").unwrap();
    let small = dir.join("small");
    std::fs::write(&small, "given\n").unwrap();
    let run = |script: &str, stdin: &std::path::Path, out: Stdio| {
        let status = Command::new(cella_bin())
            .args([
                "run",
                "-i",
                "--rootfs",
                root.to_str().unwrap(),
                "--",
                "sh",
                "-c",
                script,
            ])
            .stdin(std::fs::File::open(stdin).unwrap())
            .stdout(out)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{script}: {status:?}");
    };
    let append = || {
        Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&output)
                .unwrap(),
        )
    };
    // Through its own descriptors: pipes, and neither file can be had.
    // (The stdin small enough that the pipe takes a line more.) Its stdout
    // is read back first, while nothing is in the pipe: read later, it
    // could take lines cella had not relayed yet (a pipe's own reader).
    run(
        "head -c 6 /proc/$$/fd/1 </dev/null & sleep 0.3; kill $! 2>/dev/null; \
         for fd in 0 1; do echo $fd=$(readlink /proc/$$/fd/$fd); done; \
         echo overwritten > /proc/$$/fd/0 && echo wrote; true",
        &small,
        append(),
    );
    assert_eq!(
        std::fs::read_to_string(&small).unwrap(),
        "given\n",
        "the read-only stdin was written"
    );
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.starts_with("SECRET already in the file\n"), "{text}");
    assert!(
        text.contains("0=pipe:") && text.contains("1=pipe:"),
        "{text}"
    );
    assert_eq!(
        text.matches("SECRET").count(),
        1,
        "the output file was read: {text}"
    );
    // All of the input, after 200,000 bytes of output first.
    std::fs::write(&output, "").unwrap();
    run("head -c 200000 /dev/zero; cat", &input, append());
    let got = std::fs::read(&output).unwrap();
    assert_eq!(got.len(), 300_000);
    assert_eq!(&got[200_000..], &body[..]);
}

/// `-it` with a pipe or a file for stdin is refused at once, as docker
/// refuses it ("the input device is not a TTY"): before, `echo abc |
/// cella run -it ... cat` waited forever for an end of input the pty never
/// passed on. Nothing is left of the container; `-i` alone takes the pipe.
#[test]
fn it_without_a_terminal_on_stdin_is_refused_and_i_alone_takes_the_pipe() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let _g = serial();
    let root = rootfs("it-pipe");
    let name = format!("it-pipe-{}", std::process::id());
    let before = cella_cgroups();
    let piped = |opts: &[&str]| {
        let mut cmd = Command::new(cella_bin());
        cmd.arg("run")
            .args(opts)
            .args(["--name", &name, "--rootfs", root.to_str().unwrap(), "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(b"abc\n");
        drop(stdin);
        wait_output(child, Duration::from_secs(20))
    };
    for opts in [&["-it"][..], &["-i", "-t"], &["--interactive", "--tty"]] {
        let out = piped(opts);
        assert_eq!(code(&out), 125, "{opts:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "cella: -it: the input device is not a TTY\n",
            "{opts:?}"
        );
        assert!(!std::path::Path::new("/run/cella").join(&name).exists());
        assert_no_new_cgroups(&before);
    }
    // With no stdin at all (/dev/null is no terminal either).
    let out = cella(&["run", "-it", "--rootfs", root.to_str().unwrap(), "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let out = piped(&["-i"]);
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "abc\n"),
        "{}",
        stderr(&out)
    );
    // exec -it into a running container: the same rule.
    sleeping_detached(&root, &name);
    let out = cella(&["exec", "-it", &name, "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the input device is not a TTY"),
        "{}",
        stderr(&out)
    );
    ok(cella(&["rm", "-f", &name]));
}
