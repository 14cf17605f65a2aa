//! The OCI verbs as runc 1.1's users call them (issue 11, point 9):
//! `--help` on every verb, `--debug` lines in the log, `update` with
//! runc's flags and `-1`, `exec --ignore-paused` and `--cgroup`,
//! `run --keep`, aligned `list` and `ps` tables, and `events` (stats and
//! OOM records). Each is checked from the host's side too.
#![cfg(feature = "oci")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bundle::*;
use support::*;

const VERBS: [&str; 15] = [
    "create", "run", "start", "state", "kill", "delete", "exec", "list", "ps", "pause", "resume",
    "update", "events", "spec", "features",
];

/// The container's cgroup directory for `controller` (v1) or its one
/// directory (v2), from its own /proc entry.
fn cgroup_of(pid: i32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, names, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if names.split(',').any(|n| n == controller) {
            return Path::new("/sys/fs/cgroup").join(names).join(&path[1..]);
        }
        if names.is_empty() && Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return Path::new("/sys/fs/cgroup").join(&path[1..]);
        }
    }
    panic!("no {controller} cgroup in {text}");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_owned()
}

#[test]
fn every_verb_answers_help() {
    for verb in VERBS {
        let out = cella(&["--root", "/nonexistent", verb, "--help"]);
        assert_eq!(code(&out), 0, "{verb}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with(&format!("usage: cella {verb}")),
            "{verb}: {}",
            stdout(&out)
        );
    }
    // What follows an exec's id is the command's own.
    let out = cella(&["--root", "/nonexistent", "exec", "c1", "sh", "--help"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("c1"), "{}", stderr(&out));
}

#[test]
fn debug_lines_go_to_the_log() {
    let _g = serial();
    let b = Bundle::new("debug", &["true"], Cfg::default());
    let log = b.dir.join("runtime.log");
    let out = runtime(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "--root",
        b.state.to_str().unwrap(),
        "run",
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("level=debug"), "{text}");
    assert!(text.contains(&format!("{}: created, pid", b.id)), "{text}");
    assert!(
        text.contains(&format!("{}: exited, code 0", b.id)),
        "{text}"
    );
    b.assert_gone();
}

#[test]
fn update_takes_runcs_flags_and_minus_one() {
    let _g = serial();
    let b = Bundle::new("update-flags", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    let pid = b.pid();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (mem, soft, pids) = (
        cgroup_of(pid, "memory"),
        cgroup_of(pid, "memory"),
        cgroup_of(pid, "pids"),
    );
    let (limit, reservation) = if v2 {
        ("memory.max", "memory.low")
    } else {
        ("memory.limit_in_bytes", "memory.soft_limit_in_bytes")
    };
    ok(b.oci(&[
        "update",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "--pids-limit",
        "50",
        "--cpu-share",
        "512",
        &b.id,
    ]));
    assert_eq!(read(&mem.join(limit)), (64 << 20).to_string());
    assert_eq!(read(&soft.join(reservation)), (32 << 20).to_string());
    assert_eq!(read(&pids.join("pids.max")), "50");
    ok(b.oci(&["update", "--memory", "-1", "--pids-limit", "-1", &b.id]));
    let unlimited = read(&mem.join(limit));
    assert!(
        unlimited == "max" || unlimited.parse::<u64>().unwrap() > 1 << 60,
        "{unlimited}"
    );
    assert_eq!(read(&pids.join("pids.max")), "max");
    let bad = b.oci(&["update", "--memory", "-2", &b.id]);
    refused(&bad, "a negative limit", "--memory: '-2'");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn exec_ignore_paused_and_into_a_cgroup_below() {
    let _g = serial();
    let b = Bundle::new("exec-flags", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let pid = b.pid();
    ok(b.oci(&["pause", &b.id]));
    let out = b.oci(&["exec", &b.id, "true"]);
    refused(&out, "exec into a paused container", "--ignore-paused");
    // Allowed, and as with runc the process waits, frozen, for resume.
    let ran = Path::new(&format!("/proc/{pid}/root/tmp/ran")).to_path_buf();
    let mut exec = Command::new(cella_bin())
        .args([
            "--root",
            b.state.to_str().unwrap(),
            "exec",
            "-d",
            "--ignore-paused",
            &b.id,
            "touch",
            "/tmp/ran",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!ran.exists(), "ran while paused");
    ok(b.oci(&["resume", &b.id]));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = exec.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "exec still waiting after resume"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    while !ran.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the exec never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // --cgroup: a cgroup below the container's, for every controller or
    // for those named.
    let mem = cgroup_of(pid, "memory");
    let pids = cgroup_of(pid, "pids");
    std::fs::create_dir(mem.join("sub")).unwrap();
    if pids != mem {
        std::fs::create_dir(pids.join("sub")).unwrap();
    }
    let out = b.oci(&[
        "exec",
        "--cgroup",
        "memory:sub",
        &b.id,
        "cat",
        "/proc/self/cgroup",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let own = stdout(&out);
    let line = |c: &str| {
        own.lines()
            .find(|l| {
                l.split(':').nth(1).unwrap().split(',').any(|n| n == c) || l.starts_with("0::")
            })
            .unwrap()
            .to_owned()
    };
    assert!(line("memory").ends_with(&format!("{}/sub", b.id)), "{own}");
    if pids != mem {
        assert!(line("pids").ends_with(&b.id), "only memory's: {own}");
    }
    let out = b.oci(&["exec", "--cgroup", "../../x", &b.id, "true"]);
    refused(
        &out,
        "a cgroup outside",
        "not a path below the container's cgroup",
    );
    let out = b.oci(&["exec", "--cgroup", "missing", &b.id, "true"]);
    assert_eq!(code(&out), 125, "a cgroup that does not exist");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn run_keep_leaves_the_stopped_container_for_delete() {
    let _g = serial();
    let b = Bundle::new("keep", &["sh", "-c", "exit 7"], Cfg::default());
    let out = b.oci(&["run", "--keep", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert_eq!(b.status(), "stopped");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
}

#[test]
fn list_and_ps_tables_are_aligned_as_runcs() {
    let _g = serial();
    let b = Bundle::new("tables", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let pid = b.pid();
    let list = ok(b.oci(&["list"]));
    let mut lines = list.lines();
    let header = lines.next().unwrap();
    let row = lines.find(|l| l.starts_with(&b.id)).unwrap();
    for (column, value) in [
        ("PID", pid.to_string()),
        ("STATUS", "running".into()),
        ("OWNER", "root".into()),
    ] {
        let at = header.find(column).unwrap();
        assert_eq!(&row[at..at + value.len()], value, "{list}");
    }
    // `state` and `list --format json` agree with the table on the owner.
    assert!(ok(b.oci(&["state", &b.id])).contains("\"owner\":\"root\""));
    let json = ok(b.oci(&["list", "--format", "json"]));
    assert!(json.contains("\"owner\":\"root\""), "{json}");
    // Go's tabwriter: at least 12 wide, 3 spaces after the widest cell.
    assert_eq!(
        header.find("PID").unwrap(),
        (b.id.len() + 3).max(12),
        "{list}"
    );
    let ps = ok(b.oci(&["ps", &b.id]));
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    let column = header.split_whitespace().position(|h| h == "PID").unwrap();
    let listed: Vec<String> = lines
        .map(|l| l.split_whitespace().nth(column).unwrap().to_owned())
        .collect();
    assert_eq!(listed, [pid.to_string()], "{ps}");
    let ps = ok(b.oci(&["ps", &b.id, "--", "-o", "pid,comm"]));
    assert!(
        ps.lines().nth(1).unwrap().trim_end().ends_with("sleep"),
        "{ps}"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn events_report_stats_and_the_oom_killer() {
    let _g = serial();
    let b = Bundle::new(
        "events",
        &["sh", "-c", "sleep 1; x=a; while :; do x=$x$x; done"],
        Cfg {
            linux: r#""resources": {"memory": {"limit": 16777216, "swap": 16777216}},"#,
            ..Cfg::default()
        },
    );
    ok(b.create(&[]));
    let once = ok(b.oci(&["events", "--stats", &b.id]));
    assert!(once.starts_with("{\"type\":\"stats\""), "{once}");
    assert!(once.contains("\"limit\":16777216"), "{once}");
    assert!(once.contains("\"pids\":{\"current\":1"), "{once}");
    let out_file = b.dir.join("events.out");
    let mut events = Command::new(cella_bin())
        .args([
            "--root",
            b.state.to_str().unwrap(),
            "events",
            "--interval",
            "200ms",
            &b.id,
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .spawn()
        .unwrap();
    ok(b.oci(&["start", &b.id]));
    // events ends by itself once the container has stopped.
    let start = Instant::now();
    while events.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "events never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        text.lines()
            .filter(|l| l.contains("\"type\":\"stats\""))
            .count()
            >= 2,
        "{text}"
    );
    assert!(
        text.contains(&format!("{{\"type\":\"oom\",\"id\":\"{}\"}}", b.id)),
        "{text}"
    );
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
}
