//! Containers managed by name, as docker users do: `cella run -d` returns
//! once the payload runs and leaves it to a supervisor of its own, which
//! keeps its output and its exit status; `ps`, `logs`, `stop`, `wait`,
//! `rm` act on it by name. Nothing is left after `rm`; a killed supervisor
//! takes its container with it and the next command cleans the record.

#![cfg(feature = "manage")]

mod support;

use rustix::process::Signal;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

fn verb(args: &[&str]) -> std::process::Output {
    cella_timed(args, Duration::from_secs(30))
}

/// `rm -f` of the named containers however the test ends: a failing test
/// leaves no kept record or running container behind.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = verb(&["rm", "-f", name]);
        }
    }
}

fn record(name: &str) -> std::path::PathBuf {
    Path::new("/run/cella").join(name)
}

/// Wait (up to `secs`) until container `name`'s record is there (`true`)
/// or gone (`false`).
fn await_record(name: &str, there: bool, secs: u64) {
    let start = Instant::now();
    while record(name).exists() != there {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{name}: the record is still {}",
            if there { "missing" } else { "there" }
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The supervisor of container `name` (a cella process whose child is the
/// container's PID 1).
fn supervisor_of(name: &str) -> u32 {
    let state = std::fs::read_to_string(record(name).join("state")).unwrap();
    let pid: u32 = state
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .unwrap()
        .parse()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_detached_container_from_run_to_rm() {
    let _g = serial();
    let root = rootfs("detach-life");
    let name = format!("life-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    // A payload that ignores SIGTERM: `stop -t 2` must end it with SIGKILL.
    // Its comment is a terminal's escape sequence, which `ps` shows escaped.
    let script = "trap '' TERM; echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done # \u{1b}[2J";
    let started = Instant::now();
    let out = run_in(
        &root,
        &[
            "-d",
            "--name",
            &name,
            "-e",
            "FROM_RUN=yes",
            "--memory",
            "32m",
        ],
        &["sh", "-c", script],
    );
    assert_eq!(stdout(&out), format!("{name}\n"), "{}", stderr(&out));
    // Its supervisor keeps no directory of the caller's busy.
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", supervisor_of(&name))).unwrap();
    assert_eq!(cwd, Path::new("/"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "run -d returned at once"
    );
    let ps = ok(verb(&["ps"]));
    let line = ps
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(line.contains("\trunning\t"), "{line}");
    assert!(line.ends_with(" # \\u{1b}[2J"), "{line}");
    assert!(!ps.contains('\x1b'), "{ps}");
    // -q: the names alone, as `docker ps -q` (for `rm $(ps -aq)`).
    let quiet = ok(verb(&["ps", "-q"]));
    assert!(
        quiet.lines().any(|l| l == name) && quiet.lines().all(|l| !l.contains('\t')),
        "{quiet}"
    );
    // logs -f follows while it runs (head ends it after three lines).
    let follow = std::process::Command::new("sh")
        .args(["-c", &format!("{} logs -f {name} | head -n 3", cella_bin())])
        .output()
        .unwrap();
    let followed = String::from_utf8_lossy(&follow.stdout);
    assert!(followed.starts_with("started\ntick 0\n"), "{followed}");
    // inspect: the record and the options it was run with, as JSON.
    let shown = ok(verb(&["inspect", &name]));
    let all = cella::json::parse(shown.as_bytes()).unwrap_or_else(|e| panic!("{e}: {shown}"));
    // An array, as docker's, of the one asked for.
    let [v] = all.as_array().unwrap() else {
        panic!("{shown}")
    };
    let twice = ok(verb(&["inspect", &name, &name]));
    let both = cella::json::parse(twice.as_bytes()).unwrap_or_else(|e| panic!("{e}: {twice}"));
    assert_eq!(both.as_array().map(<[_]>::len), Some(2), "{twice}");
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        (text("Name"), text("Kind"), text("Status")),
        (name.clone(), "run".into(), "running".into())
    );
    let options: Vec<&str> = v
        .get("Options")
        .and_then(|o| o.as_array())
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str())
        .collect();
    assert!(
        options.windows(2).any(|w| w == ["-e", "FROM_RUN=yes"]),
        "{shown}"
    );
    // exec: in its namespaces and cgroup, with its environment and
    // security profile.
    let exec = ok(verb(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo $FROM_RUN $(hostname); cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep -E '^(CapEff|Seccomp):' /proc/self/status",
    ]));
    let want_mem = if cgroup_v2() {
        String::new()
    } else {
        format!("{}\n", 32 << 20)
    };
    assert!(
        exec.starts_with(&format!("yes {name}\n{want_mem}")),
        "{exec}"
    );
    assert!(
        exec.contains("CapEff:\t00000000a80425fb") && exec.contains("Seccomp:\t2"),
        "{exec}"
    );
    // A command that cannot run: docker's codes, as run gives them (127
    // not found, 126 not executable), with the one line saying why; the
    // payload's own code passed on as it is.
    for (cmd, want, why) in [
        (&["nosuchcommand"][..], 127, "executable file not found"),
        (&["-d", "nosuchcommand"], 127, "executable file not found"),
        (&["/etc"], 126, "permission denied"),
        (&["sh", "-c", "exit 125"], 125, ""),
    ] {
        let mut args = vec!["exec"];
        args.extend(cmd.iter().take_while(|a| a.starts_with('-')));
        args.push(&name);
        args.extend(cmd.iter().skip_while(|a| a.starts_with('-')));
        let out = verb(&args);
        assert_eq!(code(&out), want, "{cmd:?}: {}", stderr(&out));
        if !why.is_empty() {
            assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
            assert!(stderr(&out).contains(why), "{cmd:?}: {}", stderr(&out));
        }
    }
    let stopping = Instant::now();
    ok(verb(&["stop", "-t", "2", &name]));
    let took = stopping.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(ok(verb(&["wait", &name])), "137\n");
    let ps = ok(verb(&["ps", "-a"]));
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&name) && l.contains("exited (137)")),
        "{ps}"
    );
    assert!(!ok(verb(&["ps"])).contains(&name), "not running any more");
    let logs = ok(verb(&["logs", "--tail", "1", &name]));
    assert!(logs.starts_with("tick "), "{logs}");
    // docker's `--tail all`: every line, as without --tail.
    let all = ok(verb(&["logs", "--tail", "all", &name]));
    assert!(all.starts_with("started\ntick 0\n"), "{all}");
    assert_eq!(all, ok(verb(&["logs", &name])));
    assert_eq!(code(&verb(&["logs", "--tail", "some", &name])), 125);
    ok(verb(&["rm", &name]));
    assert!(!record(&name).exists());
    assert!(container_cgroups_of(&name).is_empty());
    assert_eq!(code(&verb(&["logs", &name])), 125);
    // A command that is not there: run -d says so as run does (127), and
    // leaves nothing.
    let out = run_in(&root, &["-d", "--name", &name], &["nosuchcommand"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    assert!(!record(&name).exists());
    assert!(container_cgroups_of(&name).is_empty());
}

fn container_cgroups_of(name: &str) -> Vec<std::path::PathBuf> {
    cella_cgroups()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(name))
        .collect()
}

#[test]
fn rm_refuses_a_running_container_unless_forced_and_rm_removes_with_it() {
    let _g = serial();
    let root = rootfs("detach-rm");
    let name = format!("rmf-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    ok(run_in(&root, &["-d", "--name", &name], &["sleep", "60"]));
    let out = verb(&["rm", &name]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("it is running"), "{}", stderr(&out));
    ok(verb(&["rm", "-f", &name]));
    assert!(!record(&name).exists());
    // --rm: the record goes with the container.
    ok(run_in(&root, &["-d", "--rm", "--name", &name], &["true"]));
    await_record(&name, false, 10);
    assert!(container_cgroups_of(&name).is_empty());
    // `wait` on one that goes when it ends (`--rm`, or a foreground run)
    // gives its status all the same, as docker's, and the record goes
    // after.
    ok(run_in(
        &root,
        &["-d", "--rm", "--name", &name],
        &["sh", "-c", "sleep 0.5; exit 3"],
    ));
    assert_eq!(ok(verb(&["wait", &name])), "3\n");
    await_record(&name, false, 5);
    let foreground = spawn_command(
        std::process::Command::new(cella_bin())
            .args(["run", "--rootfs", root.to_str().unwrap(), "--name", &name])
            .args(["sh", "-c", "sleep 0.5; exit 4"]),
    );
    await_record(&name, true, 10);
    assert_eq!(ok(verb(&["wait", &name])), "4\n");
    assert_eq!(code(&foreground.output(Duration::from_secs(10))), 4);
    await_record(&name, false, 5);
    assert!(container_cgroups_of(&name).is_empty());
}

#[test]
fn a_killed_supervisor_takes_its_container_and_the_next_command_cleans_up() {
    let _g = serial();
    let root = rootfs("detach-kill");
    let name = format!("killsup-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    ok(run_in(&root, &["-d", "--name", &name], &["sleep", "60"]));
    let sup = supervisor_of(&name);
    kill(sup, Signal::KILL);
    let start = Instant::now();
    while ok(verb(&["ps", "-a"])).contains(&name) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the record stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!record(&name).exists());
    // Its cgroup goes with the next start.
    ok(run_in(&root, &[], &["true"]));
    assert!(container_cgroups_of(&name).is_empty());
}

#[test]
fn output_held_by_a_process_left_behind_does_not_wedge_the_supervisor() {
    let _g = serial();
    let root = rootfs("detach-holder");
    let name = format!("holder-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    // With the host's pid namespace, the background sleep outlives the
    // payload and keeps its output pipe open: the supervisor must still
    // see the end, keep what was written, and kill what was left.
    ok(run_in(
        &root,
        &["-d", "--pid", "host", "--name", &name],
        &["sh", "-c", "echo first; sleep 120 & echo last"],
    ));
    let started = Instant::now();
    let waited = verb(&["wait", &name]);
    assert_eq!(stdout(&waited), "0\n", "{}", stderr(&waited));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "wait took {:?}: the supervisor waited for the writer left behind",
        started.elapsed()
    );
    let logs = ok(verb(&["logs", &name]));
    assert_eq!(logs, "first\nlast\n");
    assert!(
        container_cgroups_of(&name).is_empty(),
        "the sleep was killed with its cgroup"
    );
    ok(verb(&["rm", &name]));
    assert!(!record(&name).exists());
}

/// The store's file system filled by a detached container's own log: its
/// output is dropped, not blocked on, and how it ended is still recorded
/// (the record keeps room for that from the start); `rm` leaves nothing.
/// In a mount namespace of the test's, with a 64 KiB tmpfs as the store.
#[test]
fn a_log_that_fills_the_store_still_records_how_the_container_ended() {
    let _g = serial();
    let root = rootfs("detach-full");
    let name = format!("full-{}", std::process::id());
    let script = format!(
        r#"set -e
mkdir -p /run/cella
mount -t tmpfs -o size=64k,mode=0700 tmpfs /run/cella
dd if=/dev/zero of=/run/cella/fill bs=1k count=24 2>/dev/null
C={cella}
$C run -d --rootfs {root} --name {name} sh -c 'i=0; while [ $i -lt 5000 ]; do echo 0123456789012345678901234567890123456789; i=$((i+1)); done; exit 3'
echo "wait $($C wait {name})"
echo "logged $($C logs {name} | wc -c)"
$C ps -a | grep {name}
$C rm {name}
echo "left $(ls -A /run/cella | tr '\n' ' ')""#,
        cella = cella_bin(),
        root = root.display(),
    );
    let out = spawn_command(
        std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(&script),
    )
    .output(Duration::from_secs(60));
    let said = stdout(&out);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(said.contains("wait 3\n"), "{said}{}", stderr(&out));
    // The log did fill the file system: of its 205,000 bytes, what a
    // 64 KiB one holds.
    let logged: usize = said
        .lines()
        .find_map(|l| l.strip_prefix("logged "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(usize::MAX);
    assert!((1..64 * 1024).contains(&logged), "{said}");
    assert!(said.contains("exited (3)"), "{said}");
    assert!(said.contains("left fill \n"), "{said}");
    assert!(container_cgroups_of(&name).is_empty());
}

#[test]
fn twenty_detached_containers_at_once() {
    let _g = serial();
    let root = rootfs("detach-many");
    let tag = format!("many{}", std::process::id());
    let _cleanup = Cleanup((0..20).map(|i| format!("{tag}-{i}")).collect());
    let children: Vec<_> = (0..20)
        .map(|i| {
            spawn(&[
                "run",
                "--rootfs",
                root.to_str().unwrap(),
                "-d",
                "--name",
                &format!("{tag}-{i}"),
                "--",
                "sh",
                "-c",
                "echo hi; sleep 1",
            ])
        })
        .collect();
    for c in children {
        let out = c.output(Duration::from_secs(60));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    for i in 0..20 {
        assert_eq!(ok(verb(&["wait", &format!("{tag}-{i}")])), "0\n");
        assert_eq!(ok(verb(&["logs", &format!("{tag}-{i}")])), "hi\n");
        ok(verb(&["rm", &format!("{tag}-{i}")]));
    }
    assert!(container_cgroups_of(&tag).is_empty());
    assert!(
        !std::fs::read_dir("/run/cella")
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(&tag))
    );
}

#[cfg(feature = "oci")]
#[test]
fn an_oci_container_in_the_default_store_is_managed_by_name_too() {
    let _g = serial();
    let b = support::bundle::Bundle::new("detach-oci", &["sleep", "60"], Default::default());
    let id = b.id.clone();
    let _cleanup = Cleanup(vec![id.clone()]);
    let dir = b.dir.to_str().unwrap().to_owned();
    // No --root: the default store, where `ps` and `inspect` look.
    ok(support::bundle::runtime(&["create", "--bundle", &dir, &id]));
    ok(support::bundle::runtime(&["start", &id]));
    let ps = ok(verb(&["ps"]));
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&id) && l.contains("sleep 60")),
        "{ps}"
    );
    let shown = ok(verb(&["inspect", &id]));
    let all = cella::json::parse(shown.as_bytes()).unwrap_or_else(|e| panic!("{e}: {shown}"));
    let v = &all.as_array().unwrap()[0];
    assert_eq!(v.get("Kind").and_then(|k| k.as_str()), Some("oci"));
    let args = v
        .get("Config")
        .and_then(|c| c.get("process"))
        .and_then(|p| p.get("args"));
    assert!(args.is_some(), "the saved config: {shown}");
    ok(verb(&["stop", "-t", "1", &id]));
    ok(verb(&["rm", &id]));
    assert!(!record(&id).exists());
}

/// Lines `first..=last` of the test payload's `line-N` output, each once and
/// in order: what `logs` must show, however the file was rotated or read.
fn numbered_lines(text: &str) -> Vec<u32> {
    text.lines()
        .map(|l| {
            l.strip_prefix("line-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a payload line: {l:?}"))
        })
        .collect()
}

/// `logs` gives each line back on the stream it was written to, as docker
/// does (`logs NAME 2>/dev/null` keeps stdout's); `-t` puts the time the
/// line was written before it; a terminal's output (`-t` at run) is
/// stdout's. `--tail` counts lines of both streams.
#[test]
fn logs_keep_stdout_and_stderr_apart_and_give_times() {
    let _g = serial();
    let root = rootfs("detach-streams");
    let name = format!("streams-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    let before = cella::store::now_rfc3339();
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &[
            "sh",
            "-c",
            "echo out-1; echo err-1 >&2; printf 'out-'; sleep 0.3; echo 2; echo err-2 >&2",
        ],
    ));
    assert_eq!(ok(verb(&["wait", &name])), "0\n");
    let after = cella::store::now_rfc3339();
    let out = verb(&["logs", &name]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "out-1\nout-2\n");
    assert_eq!(stderr(&out), "err-1\nerr-2\n");
    let out = verb(&["logs", "--tail", "2", &name]);
    assert_eq!(
        (stdout(&out), stderr(&out)),
        ("out-2\n".into(), "err-2\n".into())
    );
    // -t: each line after the time it began, in the run's time.
    let out = verb(&["logs", "--timestamps", &name]);
    let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, text) in lines.iter().zip(["out-1", "out-2"]) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, text);
        assert_eq!(time.len(), before.len(), "{time}");
        assert!(
            *time >= *before && *time <= *after,
            "{before} {time} {after}"
        );
    }
    let err = stderr(&verb(&["logs", "-t", &name]));
    assert!(
        err.lines()
            .all(|l| l.ends_with(" err-1") || l.ends_with(" err-2")),
        "{err}"
    );
    ok(verb(&["rm", &name]));
    // A terminal has one stream: stdout's.
    ok(run_in(
        &root,
        &["-dt", "--name", &name],
        &["sh", "-c", "echo on-tty; echo also-tty >&2"],
    ));
    ok(verb(&["wait", &name]));
    let out = verb(&["logs", &name]);
    assert_eq!(stdout(&out), "on-tty\r\nalso-tty\r\n");
    assert_eq!(stderr(&out), "");
    ok(verb(&["rm", &name]));
}

#[test]
fn logs_follow_every_line_once_and_keep_one_rotation() {
    let _g = serial();
    let root = rootfs("detach-logs");
    let name = format!("logs-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    // Followed from the start: each line arrives after `logs -f` began, so
    // every one of them comes through the follow loop, once.
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &[
            "sh",
            "-c",
            "sleep 0.5; i=0; while [ $i -lt 15 ]; do echo line-$i; i=$((i+1)); sleep 0.1; done",
        ],
    ));
    let follow = verb(&["logs", "-f", &name]);
    assert_eq!(code(&follow), 0, "{}", stderr(&follow));
    assert_eq!(
        numbered_lines(&stdout(&follow)),
        (0..15).collect::<Vec<_>>()
    );
    ok(verb(&["wait", &name]));
    ok(verb(&["rm", &name]));
    // Past the 1 MiB limit the log rotates once: `logs` shows the kept
    // file and the current one, a contiguous run that ends with the last
    // line, and no more than the two files hold.
    let pad = "x".repeat(60);
    let script = format!("i=0; while [ $i -lt 30000 ]; do echo line-$i-{pad}; i=$((i+1)); done");
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &["sh", "-c", &script],
    ));
    assert_eq!(ok(verb(&["wait", &name])), "0\n");
    let all = ok(verb(&["logs", &name]));
    assert!(record(&name).join("log.1").exists(), "rotated");
    assert!(all.len() <= 2 << 20, "{} bytes", all.len());
    let lines = numbered_lines(&all);
    let first = lines[0];
    assert!(first > 0, "the oldest output went with the rotation");
    assert_eq!(lines, (first..30000).collect::<Vec<_>>());
    // -f on an exited container shows what there is and returns.
    let follow = verb(&["logs", "-f", "--tail", "2", &name]);
    assert_eq!(numbered_lines(&stdout(&follow)), vec![29998, 29999]);
    ok(verb(&["rm", &name]));
}

/// A log rotating under a fast writer: `logs -f` gives each line whole,
/// once, in order, never one file's bytes joined to another's; `logs`
/// never takes the moment between a rotation's rename and the new file
/// for a container without a log.
#[test]
fn logs_follow_rotations_whole_and_logs_never_miss_the_log() {
    let _g = serial();
    let root = rootfs("detach-rotate");
    let name = format!("rotate-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    // About 2.3 MB of records: two rotations while `logs -f` follows.
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &["sh", "-c", "sleep 0.5; seq 1 50000; sleep 0.5"],
    ));
    let follow = verb(&["logs", "-f", &name]);
    assert_eq!(code(&follow), 0, "{}", stderr(&follow));
    let text = stdout(&follow);
    let numbers: Vec<u32> = text
        .lines()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("not a line seq wrote: {l:?}"))
        })
        .collect();
    assert_eq!(numbers.last(), Some(&50000));
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a line lost, repeated or joined");
    }
    assert_eq!(numbers[0], 1);
    ok(verb(&["rm", &name]));
    // A writer that never stops rotates the log all the time.
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz"],
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !record(&name).join("log.1").exists() {
        assert!(Instant::now() < deadline, "never rotated");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..30 {
        let out = verb(&["logs", "--tail", "1", &name]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // The last line, which may be the one under way.
        let last = stdout(&out);
        assert!(
            !last.is_empty() && "0123456789abcdefghijklmnopqrstuvwxyz\n".starts_with(&last),
            "{last:?}"
        );
    }
    ok(verb(&["rm", "-f", &name]));
}

/// `stop -t` of any size takes no arithmetic overflow; `exec -e` takes
/// entries as `run -e` does: `KEY` for the caller's value, `=VALUE`
/// refused.
#[test]
fn stop_takes_any_grace_and_exec_takes_env_entries_as_run_does() {
    let _g = serial();
    let root = rootfs("detach-exec-env");
    let name = format!("execenv-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    // (PID 1 of its namespace: it ends on SIGTERM only with a handler.)
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    ));
    let out = spawn_command(
        std::process::Command::new(cella_bin())
            .args([
                "exec",
                "-e",
                "FROM_CALLER",
                "-e",
                "UNSET_HERE",
                "-e",
                "GIVEN=1",
                &name,
                "env",
            ])
            .env("FROM_CALLER", "yes")
            .env_remove("UNSET_HERE"),
    )
    .output(Duration::from_secs(30));
    let env = stdout(&out);
    assert!(
        env.contains("FROM_CALLER=yes\n") && env.contains("GIVEN=1\n"),
        "{env}{}",
        stderr(&out)
    );
    assert!(!env.contains("UNSET_HERE"), "{env}");
    // HOSTNAME is the container's, as its hostname is; on the host's
    // network both are the host's.
    let names = "echo $HOSTNAME; hostname";
    assert_eq!(
        ok(verb(&["exec", &name, "sh", "-c", names])),
        format!("{name}\n{name}\n")
    );
    let on_host = format!("{name}-host");
    let _cleanup_host = Cleanup(vec![on_host.clone()]);
    ok(run_in(
        &root,
        &["-d", "--name", &on_host, "--net", "host"],
        &["sleep", "1000"],
    ));
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        ok(verb(&["exec", &on_host, "sh", "-c", names])),
        format!("{host}\n{host}\n")
    );
    ok(verb(&["rm", "-f", &on_host]));
    let out = verb(&["exec", "-e", "=x", &name, "true"]);
    assert_eq!(code(&out), 125);
    assert_eq!(
        stderr(&out),
        "cella: --env: '=x': expected KEY=VALUE or KEY\n"
    );
    let out = verb(&["stop", "-t", "1844674407370955162", &name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(verb(&["rm", &name]));
}

/// `kill` takes real-time signals, by number or as `SIGRTMIN+N`, as
/// docker's and runc's do.
#[test]
fn kill_sends_real_time_signals() {
    let _g = serial();
    let root = rootfs("detach-rt-signal");
    let name = format!("rtsig-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    ok(run_in(
        &root,
        &["-d", "--name", &name],
        &[
            "sh",
            "-c",
            "trap 'exit 37' 37; touch /tmp/up; while :; do sleep 0.1; done",
        ],
    ));
    wait_for(&root.join("tmp/up"), Duration::from_secs(20));
    let out = verb(&["kill", &name, "RTMIN+31"]);
    assert_eq!(code(&out), 125);
    assert_eq!(stderr(&out), "cella: unknown signal 'RTMIN+31'\n");
    ok(verb(&["kill", &name, "SIGRTMIN+3"]));
    assert_eq!(ok(verb(&["wait", &name])), "37\n");
    ok(verb(&["rm", &name]));
}
