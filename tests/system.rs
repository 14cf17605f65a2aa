//! `cella init` on the build host: run as PID 1 of a new PID, mount and UTS
//! namespace (`unshare`), so it takes the same path as on a real machine
//! (system mounts it finds in place are kept, `reboot()` ends the namespace
//! with SIGINT instead of powering the host off). Checks order, console
//! prefixes, log files, restart policies with backoff, the stop sequence on
//! SIGTERM, SIGINT and SIGPWR, and refusal of bad configuration.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

struct Init {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

/// `cella init --config FILE` as PID 1 of new PID, mount and UTS namespaces.
fn start_init(config: &Path) -> Init {
    let mut child = init_command(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    Init {
        child,
        lines,
        seen: Vec::new(),
    }
}

impl Drop for Init {
    /// A failed test must not leave an init and its containers running:
    /// stop it the way a machine is stopped, then make sure.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        if let Some(&pid1) = children(self.child.id()).first() {
            kill(pid1, rustix::process::Signal::TERM);
        }
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Init {
    /// Collect console lines until one contains `needle`.
    fn expect(&mut self, needle: &str, limit: Duration) {
        let start = Instant::now();
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = limit.checked_sub(start.elapsed()).unwrap_or_default();
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    self.kill_all();
                    panic!(
                        "no line with {needle:?} within {limit:?}; console:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Wait for the end; return (how unshare ended, whole console). unshare
    /// re-raises its child's terminating signal, so a powered-off namespace
    /// shows as unshare killed by SIGINT.
    fn finish(mut self, limit: Duration) -> (Ended, Vec<String>) {
        let seen = self.wait_end(limit);
        (seen.0, seen.1)
    }

    fn wait_end(&mut self, limit: Duration) -> (Ended, Vec<String>) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                self.kill_all();
                panic!(
                    "init did not end within {limit:?}:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        use std::os::unix::process::ExitStatusExt;
        let ended = match (status.code(), status.signal()) {
            (Some(130), _) | (_, Some(2)) => Ended::PoweredOff,
            (Some(129), _) | (_, Some(1)) => Ended::Rebooted,
            (code, signal) => Ended::Other(code, signal),
        };
        (ended, std::mem::take(&mut self.seen))
    }

    /// A failing test's end: the namespace's PID 1 first (killing only
    /// unshare left it running, orphaned, with its containers), then
    /// unshare.
    fn kill_all(&mut self) {
        if let Some(&pid1) = children(self.child.id()).first() {
            kill(pid1, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
    }

    /// The host pid of the namespace's PID 1 (cella).
    fn pid1(&self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(&pid) = children(self.child.id()).first() {
                return pid;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "unshare has no child"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn write_config(tag: &str, text: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("system-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("init.conf");
    std::fs::write(&path, text).unwrap();
    path
}

/// `cella init --config CONFIG` with its console on `stdout` and `stderr`
/// (files the test reads after), waited for to its end.
fn run_init_on(config: &Path, stdout: Stdio, stderr: Stdio) {
    let mut init = init_command(config)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while init.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "init did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A configuration of one container `app`, `restart always`, running
/// `command` on a busybox root reached through a symlink the test can
/// take away and put back: (the root, the link, the configuration).
fn app_on_a_linked_root(tag: &str, command: &str) -> (PathBuf, PathBuf, PathBuf) {
    let root = rootfs(&format!("system-{tag}"));
    let current = root.parent().unwrap().join(format!("system-{tag}-current"));
    let _ = std::fs::remove_file(&current);
    std::os::unix::fs::symlink(&root, &current).unwrap();
    let config = write_config(
        tag,
        &format!(
            "[container app]\nrootfs {}\nrestart always\ncommand {command}\n",
            current.display()
        ),
    );
    (root, current, config)
}

/// `reboot(POWER_OFF)` from PID 1 of a PID namespace kills it with SIGINT,
/// `reboot(RESTART)` with SIGHUP.
#[derive(Debug, PartialEq)]
enum Ended {
    PoweredOff,
    Rebooted,
    Other(Option<i32>, Option<i32>),
}
const POWERED_OFF: Ended = Ended::PoweredOff;

#[test]
fn containers_start_in_order_restart_by_policy_log_and_power_off() {
    let _g = serial();
    let root = rootfs("system-order");
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\naudio:x:29:app\n").unwrap();
    let cgroups = cella_cgroups();
    let host = host_hostname();
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("system-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = root.display();
    let d = dir.display();
    let config = write_config(
        "order",
        &format!(
            "hostname sys-test\ngrace 1\n\
             [container hello]\nrootfs {r}\ncommand sh -c 'echo pid=$$ host=$(hostname); echo partial line | tr -d \"\\n\"'\n\
             [container flaky]\nrootfs {r}\nbind {d}:/state\nrestart on-failure\n\
             command sh -c 'n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; echo attempt $n; [ $n -ge 3 ]'\n\
             [container job]\nrootfs {r}\nlog {d}/job.log\ncommand sh -c 'echo to the log; echo and stderr >&2'\n\
             [container done]\nrootfs {r}\nrestart on-failure\ncommand true\n\
             [container capped]\nrootfs {r}\nrestart on-failure:2\ncommand sh -c 'echo try; exit 3'\n\
             [container who]\nrootfs {r}\nuser app   # by name\nenv TAG=a#b\n\
             command sh -c 'echo $(id -u) $(id -G) $HOME $TAG \"#1\"' # a comment\n"
        ),
    );
    let init = start_init(&config);
    let (code, console) = init.finish(Duration::from_secs(60));
    let text = console.join("\n");
    assert_eq!(code, POWERED_OFF, "{text}");
    let started: Vec<&String> = console
        .iter()
        .filter(|l| l.ends_with(": started"))
        .collect();
    assert!(
        console.contains(&"[who] 1000 1001 29 /home/app a#b #1".to_owned()),
        "{text}"
    );
    // on-failure:2: the first run and two restarts, then no more.
    assert_eq!(
        console.iter().filter(|l| *l == "[capped] try").count(),
        3,
        "{text}"
    );
    assert!(
        text.contains("cella: capped: not restarting: failed 3 times (restart on-failure:2)"),
        "{text}"
    );
    assert_eq!(
        started[..4],
        [
            "cella: hello: started",
            "cella: flaky: started",
            "cella: job: started",
            "cella: done: started"
        ]
    );
    assert!(
        console.contains(&"[hello] pid=1 host=hello".to_owned()),
        "{text}"
    );
    assert!(
        console.contains(&"[hello] partial line".to_owned()),
        "a last line without newline is kept: {text}"
    );
    for n in 1..=3 {
        assert!(console.contains(&format!("[flaky] attempt {n}")), "{text}");
    }
    assert!(!text.contains("attempt 4"), "{text}");
    assert!(
        text.contains("cella: flaky: restarting in 1s")
            && text.contains("cella: flaky: restarting in 2s"),
        "{text}"
    );
    assert!(
        !text.contains("done: restarting"),
        "on-failure does not restart a success: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("job.log")).unwrap(),
        "to the log\nand stderr\n"
    );
    assert!(!text.contains("[job]"), "{text}");
    assert_eq!(
        console.last().map(String::as_str),
        Some("cella: powering off"),
        "{text}"
    );
    assert_eq!(
        host_hostname(),
        host,
        "the init's hostname stays in its UTS namespace"
    );
    assert_no_new_cgroups(&cgroups);
}

#[test]
fn sigterm_sigint_and_sigpwr_stop_the_containers_then_power_off() {
    let _g = serial();
    let root = rootfs("system-stop");
    let r = root.display();
    for sig in [
        rustix::process::Signal::TERM,
        rustix::process::Signal::INT,
        rustix::process::Signal::POWER,
    ] {
        let config = write_config(
            "stop",
            &format!(
                "grace 1\n\
                 [container stubborn]\nrootfs {r}\nrestart always\ncommand sleep 1000\n\
                 [container polite]\nrootfs {r}\ninit yes\ncommand sleep 1000\n\
                 [container repeat]\nrootfs {r}\nrestart always\ncommand echo tick\n"
            ),
        );
        let mut init = start_init(&config);
        init.expect("cella: polite: started", Duration::from_secs(20));
        // `always` restarts a container that succeeded, after the backoff.
        init.expect("cella: repeat: restarting in 2s", Duration::from_secs(20));
        assert!(
            init.seen.iter().filter(|l| *l == "[repeat] tick").count() >= 2,
            "{:?}",
            init.seen
        );
        let sent = Instant::now();
        kill(init.pid1(), sig);
        let (code, console) = init.finish(Duration::from_secs(30));
        let text = console.join("\n");
        assert_eq!(code, POWERED_OFF, "{sig:?}: {text}");
        assert!(text.contains("cella: stopping the containers"), "{text}");
        // The payload behind --init takes SIGTERM; the bare PID 1 ignores
        // it and is killed after the grace period; nothing restarts.
        assert!(
            text.contains("cella: polite: exited with status 143"),
            "{text}"
        );
        assert!(
            text.contains("cella: stubborn: exited with status 137"),
            "{text}"
        );
        let after_stop = &text[text.find("stopping the containers").unwrap()..];
        assert!(
            !after_stop.contains("restarting") && !after_stop.contains("started"),
            "{text}"
        );
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "{sig:?} took {:?}",
            sent.elapsed()
        );
    }
}

#[test]
fn bad_configuration_is_reported_on_the_console_and_nothing_runs() {
    let _g = serial();
    let root = rootfs("system-bad");
    let config = write_config(
        "bad",
        &format!(
            "[container a1]\nrootfs {}\ncommand true\nfrobnicate yes\n",
            root.display()
        ),
    );
    let (code, console) = start_init(&config).finish(Duration::from_secs(20));
    let text = console.join("\n");
    assert_eq!(code, POWERED_OFF, "{text}");
    assert!(
        text.contains(&format!(
            "cella: {}:4: unknown option 'frobnicate'",
            config.display()
        )),
        "{text}"
    );
    assert!(!text.contains("started"), "{text}");
    // A single-valued key given twice: which one was meant is unknown.
    let twice = write_config(
        "twice",
        &format!(
            "[container a1]\nrootfs {}\ncommand true\nmemory 64m\nmemory 1g\n",
            root.display()
        ),
    );
    let (code, console) = start_init(&twice).finish(Duration::from_secs(20));
    let text = console.join("\n");
    assert_eq!(code, POWERED_OFF, "{text}");
    assert!(
        text.contains(&format!(
            "cella: {}:5: memory is given twice (only one counts)",
            twice.display()
        )),
        "{text}"
    );
    assert!(!text.contains("started"), "{text}");
    let missing = write_config("missing", "");
    std::fs::remove_file(&missing).unwrap();
    let (code, console) = start_init(&missing).finish(Duration::from_secs(20));
    assert_eq!(code, POWERED_OFF);
    assert!(
        console.join("\n").contains("No such file or directory"),
        "{console:?}"
    );
}

#[test]
fn a_container_that_cannot_start_is_reported_once_and_the_others_run() {
    let _g = serial();
    let root = rootfs("system-broken");
    let config = write_config(
        "broken",
        &format!(
            "[container broken]\nrootfs /nonexistent-rootfs\nrestart always\ncommand true\n\
             [container fine]\nrootfs {}\ncommand echo fine\n",
            root.display()
        ),
    );
    let (code, console) = start_init(&config).finish(Duration::from_secs(20));
    let text = console.join("\n");
    assert_eq!(code, POWERED_OFF, "{text}");
    assert_eq!(
        console
            .iter()
            .filter(|l| l.contains("cella: broken: rootfs /nonexistent-rootfs"))
            .count(),
        1,
        "{text}"
    );
    assert!(console.contains(&"[fine] fine".to_owned()), "{text}");
}

#[test]
fn orphans_in_the_init_namespace_are_reaped() {
    let _g = serial();
    let root = rootfs("system-orphans");
    let config = write_config(
        "orphans",
        &format!(
            "grace 1\n[container c1]\nrootfs {}\ncommand sleep 1000\n",
            root.display()
        ),
    );
    let mut init = start_init(&config);
    init.expect("cella: c1: started", Duration::from_secs(20));
    let pid1 = init.pid1();
    let before = children(pid1);
    // A shell entering the init's PID namespace leaves two sleeps behind:
    // they are orphans, re-parented to the namespace's PID 1, cella.
    // Not .output(): the sleeps would hold its pipes open until they end.
    let status = Command::new("nsenter")
        .args([
            "-t",
            &pid1.to_string(),
            "-p",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "sleep 2 & sleep 2 & exit 0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let adopted =
        |pids: Vec<u32>| -> Vec<u32> { pids.into_iter().filter(|p| !before.contains(p)).collect() };
    let start = Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 2 && start.elapsed() < Duration::from_secs(2) {
        seen = adopted(children(pid1));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        seen.len(),
        2,
        "the orphans were re-parented to PID 1: {seen:?}"
    );
    // A zombie stays its parent's child until reaped: once the sleeps end,
    // they must disappear from PID 1's children.
    let start = Instant::now();
    while !adopted(children(pid1)).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "orphans not reaped: {:?}",
            adopted(children(pid1))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(pid1, rustix::process::Signal::TERM);
    let (code, console) = init.finish(Duration::from_secs(20));
    assert_eq!(code, POWERED_OFF, "{console:?}");
}

#[test]
fn on_exit_reboot_reboots() {
    let _g = serial();
    let root = rootfs("system-reboot");
    let config = write_config(
        "reboot",
        &format!(
            "on-exit reboot\n[container c1]\nrootfs {}\ncommand true\n",
            root.display()
        ),
    );
    let (ended, console) = start_init(&config).finish(Duration::from_secs(20));
    assert_eq!(ended, Ended::Rebooted, "{console:?}");
    assert_eq!(console.last().map(String::as_str), Some("cella: rebooting"));
}

#[test]
fn a_stalled_console_never_blocks_pid1() {
    let _g = serial();
    let root = rootfs("system-stalled");
    let ready = root.join("tmp/ready");
    let config = write_config(
        "stalled",
        &format!(
            "grace 1\n[container flood]\nrootfs {}\n\
             command sh -c 'touch /tmp/ready; while true; do echo flooding the console; done'\n",
            root.display()
        ),
    );
    // The console is a pipe nobody reads (a stalled serial line).
    let (console_rx, console_tx) = rustix::pipe::pipe().unwrap();
    let mut child = init_command(&config)
        .stdout(Stdio::from(console_tx))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&ready, Duration::from_secs(20));
    // Long enough for the pipe to fill many times over.
    std::thread::sleep(Duration::from_secs(1));
    let pid1 = children(child.id())[0];
    kill(pid1, rustix::process::Signal::TERM);
    let sent = Instant::now();
    // Still nobody reads: the stop sequence must not wait for the console.
    while child.try_wait().unwrap().is_none() {
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("PID 1 did not stop within 10 s with its console stalled");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    // What the console took before it stalled.
    let mut text = Vec::new();
    let mut buf = [0u8; 65536];
    rustix::fs::fcntl_setfl(&console_rx, rustix::fs::OFlags::NONBLOCK).unwrap();
    while let Ok(n) = rustix::io::read(&console_rx, &mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("[flood] flooding the console"), "{text}");
}

#[test]
fn a_configuration_that_is_a_fifo_or_not_utf8_is_refused_at_once() {
    let _g = serial();
    let fifo = write_config("fifo", "");
    std::fs::remove_file(&fifo).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let start = Instant::now();
    let (code, console) = start_init(&fifo).finish(Duration::from_secs(20));
    assert_eq!(code, POWERED_OFF, "{console:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        console.contains(&format!("cella: {}: not a regular file", fifo.display())),
        "{console:?}"
    );
    // Endless and oversized: refused without reading past the limit.
    for (path, needle) in [
        (
            PathBuf::from("/dev/zero"),
            "/dev/zero: not a regular file".to_owned(),
        ),
        (
            write_config("big", &"# padding\n".repeat(200_000)),
            String::new(),
        ),
    ] {
        let needle = if needle.is_empty() {
            format!("{}: larger than the limit of 1048576 bytes", path.display())
        } else {
            needle
        };
        let start = Instant::now();
        let (code, console) = start_init(&path).finish(Duration::from_secs(20));
        assert_eq!(code, POWERED_OFF, "{console:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(
            console.iter().any(|l| l.contains(&needle)),
            "{needle}: {console:?}"
        );
    }
    let bad = write_config("utf8", "");
    std::fs::write(&bad, b"grace 1\n[container \xff]\ncommand true\n").unwrap();
    let (code, console) = start_init(&bad).finish(Duration::from_secs(20));
    assert_eq!(code, POWERED_OFF, "{console:?}");
    assert!(
        console.contains(&format!("cella: {}:2: not valid UTF-8", bad.display())),
        "{console:?}"
    );
}

/// The grace period is given in full, whatever fraction of a second the
/// stop arrives at (the loop's clock once counted whole seconds, so `grace
/// 1` could be 0.1 s): a payload that needs half a second after SIGTERM
/// exits cleanly, on a stop sent at 2.85 s, at 3.35 s and at 3.6 s, while
/// another container's output keeps the loop busy.
#[test]
fn the_grace_period_is_given_in_full() {
    let _g = serial();
    let root = rootfs("system-grace");
    let config = write_config(
        "grace",
        &format!(
            "grace 1\n[container slow]\nrootfs {}\ninit yes\n\
             command sh -c 'trap \"sleep 0.5; echo clean-exit; exit 0\" TERM; sleep 1000 & wait'\n\
             [container chat]\nrootfs {}\ncommand sh -c 'while true; do echo chat; sleep 0.05; done'\n",
            root.display(),
            root.display()
        ),
    );
    for at in [2850, 3350, 3600] {
        let spawned = Instant::now();
        let mut init = start_init(&config);
        init.expect("cella: slow: started", Duration::from_secs(20));
        let pid1 = init.pid1();
        std::thread::sleep(Duration::from_millis(at).saturating_sub(spawned.elapsed()));
        kill(pid1, rustix::process::Signal::TERM);
        let (code, console) = init.finish(Duration::from_secs(20));
        let text = console.join("\n");
        assert_eq!(code, POWERED_OFF, "{text}");
        assert!(
            text.contains("[slow] clean-exit"),
            "stop at {at} ms: {text}"
        );
        assert!(
            text.contains("cella: slow: exited with status 0"),
            "stop at {at} ms: {text}"
        );
    }
}

/// A container that ran and then cannot start (its root caught mid-update)
/// fails by its restart policy, backs off and comes back once its root
/// does; only a container that never started is given up at once.
#[test]
fn a_container_that_ran_and_then_cannot_start_is_restarted_by_its_policy() {
    let _g = serial();
    let (root, current, config) = app_on_a_linked_root("restart-fail", "echo ran");
    let mut init = start_init(&config);
    init.expect("[app] ran", Duration::from_secs(20));
    init.expect("cella: app: restarting in 1s", Duration::from_secs(20));
    std::fs::remove_file(&current).unwrap();
    init.expect("cella: app: restarting in 2s", Duration::from_secs(20));
    assert!(
        init.seen
            .iter()
            .any(|l| l.starts_with(&format!("cella: app: rootfs {}", current.display()))),
        "{:?}",
        init.seen
    );
    std::os::unix::fs::symlink(&root, &current).unwrap();
    init.expect("cella: app: restarting in 4s", Duration::from_secs(20));
    assert_eq!(
        init.seen.iter().filter(|l| *l == "[app] ran").count(),
        2,
        "{:?}",
        init.seen
    );
    kill(init.pid1(), rustix::process::Signal::TERM);
    let (code, console) = init.finish(Duration::from_secs(20));
    assert_eq!(code, POWERED_OFF, "{console:?}");
    let _ = std::fs::remove_file(&current);
}

/// A status line of any length reaches the console, cut short: a line
/// of the configuration 70,000 bytes long is named in the error, not
/// dropped with the console called stalled. And a console that is a file
/// opened for appending is appended to.
#[test]
fn a_long_error_line_is_cut_and_an_appended_console_keeps_its_file() {
    let _g = serial();
    let root = rootfs("system-long");
    let config = write_config(
        "long",
        &format!(
            "[container a1]\nrootfs {}\ncommand true\n{} 1\n",
            root.display(),
            "x".repeat(70_000)
        ),
    );
    let console = config.with_file_name("console.log");
    std::fs::write(&console, "what the file held\n").unwrap();
    let out = std::fs::OpenOptions::new()
        .append(true)
        .open(&console)
        .unwrap();
    run_init_on(&config, out.into(), Stdio::null());
    let text = std::fs::read_to_string(&console).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("what the file held"), "{text}");
    let error = lines
        .find(|l| {
            l.starts_with(&format!(
                "cella: {}:4: unknown option 'xxx",
                config.display()
            ))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(error.len() <= 1100, "{}", error.len());
    assert!(error.ends_with(" more bytes]"), "{error}");
    assert!(!text.contains("stalled"), "{text}");
    assert!(text.contains("cella: powering off"), "{text}");
}

/// An emergency shell that cannot start says so in one line of its own
/// on the console; then the machine powers off. A relative `emergency`
/// is refused with the rest of a bad configuration, not ignored.
#[test]
fn an_emergency_shell_that_cannot_start_says_so_in_one_line() {
    let _g = serial();
    let config = write_config(
        "emergency",
        "emergency /nonexistent-shell\n[container a1]\nfrobnicate yes\n",
    );
    let console = config.with_file_name("console.log");
    let out = std::fs::File::create(&console).unwrap();
    run_init_on(&config, out.try_clone().unwrap().into(), out.into());
    // (The console a file opened without O_APPEND: the shell's line and
    // PID 1's share its offset, and none overwrites another.)
    let text = std::fs::read_to_string(&console).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("cella: {}:3: unknown option 'frobnicate'", config.display()).as_str()),
        "{text}"
    );
    assert!(
        lines.contains(&"cella: starting emergency shell /nonexistent-shell"),
        "{text}"
    );
    assert!(
        lines.contains(&"cella: emergency shell /nonexistent-shell: No such file or directory"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"cella: powering off"), "{text}");
    let relative = write_config(
        "emergency-relative",
        "emergency sh\n[container a1]\ncommand true\n",
    );
    let (_, console) = start_init(&relative).finish(Duration::from_secs(20));
    let text = console.join("\n");
    assert!(
        text.contains("emergency must be the absolute path of a shell, not 'sh'"),
        "{text}"
    );
    assert!(!text.contains("a1: started"), "{text}");
}

/// After a long healthy run, failed starts still back off: each retry
/// counts as a start (before, the run long ago reset every retry's
/// backoff to 1 s, for ever).
#[test]
fn failed_restarts_after_a_long_run_still_back_off() {
    let _g = serial();
    let (_, current, config) = app_on_a_linked_root("restart-long", "sh -c 'sleep 10.5; echo ran'");
    let mut init = start_init(&config);
    init.expect("cella: app: started", Duration::from_secs(20));
    std::fs::remove_file(&current).unwrap();
    // Healthy for over 10 s: the backoff starts again at 1 s.
    init.expect("cella: app: restarting in 1s", Duration::from_secs(30));
    // The retry fails: 2 s next, not 1 s again.
    init.expect("cella: app: restarting in 2s", Duration::from_secs(20));
    assert_eq!(
        init.seen
            .iter()
            .filter(|l| l.contains("restarting in 1s"))
            .count(),
        1,
        "{:?}",
        init.seen
    );
    kill(init.pid1(), rustix::process::Signal::TERM);
    let (code, console) = init.finish(Duration::from_secs(20));
    assert_eq!(code, POWERED_OFF, "{console:?}");
}
