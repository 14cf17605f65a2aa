//! The one state store: a `cella run` container is recorded from start to
//! end, so the runtime's verbs find it by name while it runs (`list`,
//! `state`, `ps`, `pause`, `resume`, `kill`), and what a killed cella left
//! of one is repaired by the next command that meets it.

#![cfg(feature = "oci")]

mod support;

use rustix::process::Signal;
use std::time::Duration;
use support::*;

fn verb(args: &[&str]) -> std::process::Output {
    cella_timed(args, Duration::from_secs(20))
}

#[test]
fn a_run_container_is_managed_by_name_while_it_runs() {
    let _g = serial();
    let root = rootfs("store-run");
    let name = format!("store-{}", std::process::id());
    let run = spawn_ready(&root, &name, "sleep 60");
    let list = ok(verb(&["list"]));
    let line = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(line.split_whitespace().nth(2), Some("running"), "{line}");
    let state = ok(verb(&["state", &name]));
    assert!(
        state.contains("\"status\":\"running\"") && state.contains(&format!("\"id\":\"{name}\"")),
        "{state}"
    );
    let ps = ok(verb(&["ps", &name]));
    assert!(ps.contains("sleep 60"), "{ps}");
    ok(verb(&["pause", &name]));
    assert!(ok(verb(&["state", &name])).contains("\"status\":\"paused\""));
    ok(verb(&["resume", &name]));
    assert!(ok(verb(&["state", &name])).contains("\"status\":\"running\""));
    // The record is private, as every container's.
    let dir = std::path::Path::new("/run/cella").join(&name);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // exec joins it, with the process its options describe.
    let exec = ok(verb(&[
        "exec",
        "-e",
        "EXTRA=1",
        &name,
        "sh",
        "-c",
        "echo $EXTRA $(hostname) $$",
    ]));
    let pid: u32 = exec
        .strip_prefix(&format!("1 {name} "))
        .unwrap_or_else(|| panic!("{exec}"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        pid > 1 && pid < 10,
        "a pid of the container's namespace: {exec}"
    );
    ok(verb(&["kill", &name, "KILL"]));
    let out = run.output(Duration::from_secs(20));
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    // Gone with it.
    assert!(!dir.exists());
    assert!(code(&verb(&["state", &name])) == 125);
}

#[test]
fn a_killed_runs_record_is_repaired_by_the_next_command() {
    let _g = serial();
    let root = rootfs("store-killed");
    let name = format!("killed-{}", std::process::id());
    let run = spawn_ready(&root, &name, "sleep 60");
    kill(run.id(), Signal::KILL);
    drop(run);
    let dir = std::path::Path::new("/run/cella").join(&name);
    assert!(dir.exists(), "a SIGKILLed cella leaves its record");
    // Seen as stopped, and removed by `list`.
    let state = ok(verb(&["state", &name]));
    assert!(state.contains("\"status\":\"stopped\""), "{state}");
    let list = ok(verb(&["list"]));
    assert!(!list.contains(&name), "{list}");
    assert!(!dir.exists());
    // Its cgroups went with the record, not left for the next start.
    let leaves: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .map(|h| h.unwrap().path().join(format!("cella/ctr-{name}")))
        .filter(|leaf| leaf.exists())
        .collect();
    assert!(leaves.is_empty(), "left: {leaves:?}");
    // The name is free again, record and cgroup.
    let run = spawn_ready(&root, &name, "sleep 60");
    kill(run.id(), Signal::KILL);
    drop(run);
    let out = run_in(&root, &["--name", &name], &["echo", "again"]);
    assert_eq!(stdout(&out), "again\n", "{}", stderr(&out));
    assert!(!dir.exists());
}

/// A payload that exec's a set-user-ID program loses its parent-death
/// signal (the kernel clears it on such an exec), so a SIGKILLed cella
/// leaves it running. The next command that meets its record ends it:
/// a container does not outlive its cella for longer than that.
#[test]
fn a_payload_that_outlives_its_killed_cella_is_ended_by_the_next_command() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;
    let _g = serial();
    let root = rootfs("store-setuid");
    // (busybox runs the applet its name says.)
    std::fs::create_dir(root.join("suid")).unwrap();
    let sleep = root.join("suid/sleep");
    std::fs::copy(root.join("bin/busybox"), &sleep).unwrap();
    std::fs::set_permissions(&sleep, std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let name = format!("setuid-{}", std::process::id());
    let ready = root.join("tmp/ready");
    // Its output goes nowhere: the survivor would hold a pipe open.
    let mut run = spawn_silent(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--name",
        &name,
        "-u",
        "1000",
        "--",
        "sh",
        "-c",
        "touch /tmp/ready; exec /suid/sleep 300",
    ]);
    wait_for(&ready, Duration::from_secs(20));
    let state = ok(verb(&["state", &name]));
    let pid: i32 = state
        .split("\"pid\":")
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{state}"));
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let cmdline = || std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while cmdline() != b"/suid/sleep\x00300\x00" {
        assert!(std::time::Instant::now() < deadline, "never exec'd");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(run.id(), Signal::KILL);
    assert_eq!(run.wait().unwrap().signal(), Some(9));
    std::thread::sleep(Duration::from_millis(300));
    let alive = || {
        std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    assert!(
        alive(),
        "the payload outlived its cella (what this test is about)"
    );
    // The next command ends it, and frees the name.
    let list = ok(verb(&["list"]));
    assert!(!list.contains(&name), "{list}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive() {
        assert!(std::time::Instant::now() < deadline, "still running: {pid}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!std::path::Path::new("/run/cella").join(&name).exists());
    let out = run_in(&root, &["--name", &name], &["echo", "again"]);
    assert_eq!(stdout(&out), "again\n", "{}", stderr(&out));
}

#[test]
fn a_run_name_held_by_an_oci_container_is_a_clash() {
    let _g = serial();
    let root = rootfs("store-clash");
    let name = format!("clash-{}", std::process::id());
    let dir = std::path::Path::new("/run/cella").join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    // A stopped OCI container's record stays until `delete`: not garbage.
    std::fs::write(
        dir.join("state"),
        format!("cella-state 1\nkind oci\nid {name}\npid 0\npid-start 0\n"),
    )
    .unwrap();
    let out = run_in(&root, &["--name", &name], &["true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(&format!("a container named {name} exists")),
        "{}",
        stderr(&out)
    );
    assert!(dir.join("state").exists());
    ok(verb(&["delete", &name]));
    assert!(!dir.exists());
}

#[test]
fn kill_without_a_signal_is_dockers_kill_unless_runc_is_asked() {
    let _g = serial();
    let root = rootfs("store-kill");
    let name = format!("killdef-{}", std::process::id());
    // A payload that ignores SIGTERM: only docker's default (KILL) ends it.
    let run = spawn_ready(&root, &name, "trap '' TERM; sleep 60");
    ok(verb(&["kill", &name]));
    let out = run.output(Duration::from_secs(20));
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    // With a global option before the verb (as orchestrators call it), or
    // invoked as `runc`, runc's default: TERM.
    let runc = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("runc");
    let _ = std::fs::remove_file(&runc);
    std::os::unix::fs::symlink(cella_bin(), &runc).unwrap();
    for as_runc in [false, true] {
        let run = spawn_ready(&root, &name, "trap 'exit 3' TERM; sleep 60 & wait");
        let out = if as_runc {
            std::process::Command::new(&runc)
                .args(["kill", &name])
                .output()
                .unwrap()
        } else {
            verb(&["--root", "/run/cella", "kill", &name])
        };
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = run.output(Duration::from_secs(20));
        assert_eq!(code(&out), 3, "as runc: {as_runc}: {}", stderr(&out));
    }
    std::fs::remove_file(&runc).unwrap();
}
