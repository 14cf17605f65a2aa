//! `cella run` end to end, the process: exit codes, signal forwarding,
//! `--init`, the options that shape the payload (env, workdir, user, mounts),
//! bad input that must leave nothing behind, and the clone fallback.

mod support;

use rustix::process::Signal;
use std::path::Path;
use std::time::Duration;
use support::*;

#[test]
fn exit_codes() {
    let _g = serial();
    let root = rootfs("codes");
    std::fs::write(root.join("not-executable"), "#!/bin/sh\n").unwrap();
    assert_eq!(code(&run_in(&root, &[], &["true"])), 0);
    assert_eq!(code(&sh(&root, &[], "exit 3")), 3);
    let out = run_in(&root, &[], &["/not-executable"]);
    assert_eq!(code(&out), 126);
    assert!(
        stderr(&out).contains("exec /not-executable: Permission denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&run_in(&root, &[], &["/etc"])), 126);
    let out = run_in(&root, &[], &["no-such-command"]);
    assert_eq!(code(&out), 127);
    assert_eq!(
        stderr(&out),
        "cella: exec no-such-command: No such file or directory (executable file not found in $PATH)\n"
    );
    // 137: the payload killed by SIGKILL (PID 2 under --init; PID 1 cannot
    // be killed from inside its own namespace).
    assert_eq!(code(&sh(&root, &["--init"], "kill -KILL $$")), 137);
    assert_eq!(code(&sh(&root, &["--init"], "kill -TERM $$")), 143);
    assert_eq!(code(&run_in(&root, &["--pids", "abc"], &["true"])), 125);
}

#[test]
fn signals_sent_to_cella_reach_the_payload() {
    let _g = serial();
    let root = rootfs("signals");
    for sig in [
        Signal::INT,
        Signal::TERM,
        Signal::HUP,
        Signal::QUIT,
        Signal::USR1,
        Signal::USR2,
        Signal::WINCH,
    ] {
        let n = sig.as_raw();
        let ready = root.join("tmp/ready");
        let _ = std::fs::remove_file(&ready);
        let script = format!(
            "trap 'echo got {n}; exit 9' {n}; touch /tmp/ready; while :; do sleep 0.02; done"
        );
        let child = spawn(&[
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ]);
        wait_for(&ready, Duration::from_secs(20));
        kill(child.id(), sig);
        let out = child.output(Duration::from_secs(20));
        assert_eq!(stdout(&out), format!("got {n}\n"));
        assert_eq!(code(&out), 9);
    }
}

#[test]
fn init_reaps_zombies_forwards_signals_and_returns_the_status() {
    let _g = serial();
    let root = rootfs("init");
    // PID 1 is the init, the payload is PID 2.
    assert_eq!(ok(sh(&root, &["--init"], "echo $$")), "2\n");
    // An orphan's zombie is reaped by the init.
    let out = ok(sh(
        &root,
        &["--init"],
        "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat,comm | grep -c '^Z' || true",
    ));
    assert_eq!(out.trim(), "0", "zombies left: {out}");
    // SIGTERM to cella reaches a payload that has no handler: 128+15.
    let ready = root.join("tmp/ready");
    let child = spawn(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--init",
        "--",
        "sh",
        "-c",
        "touch /tmp/ready; exec sleep 30",
    ]);
    wait_for(&ready, Duration::from_secs(20));
    kill(child.id(), Signal::TERM);
    let out = child.output(Duration::from_secs(20));
    assert_eq!(code(&out), 143);
    // The exit status passes through.
    assert_eq!(code(&sh(&root, &["--init"], "exit 42")), 42);
    assert_eq!(code(&run_in(&root, &["--init"], &["nope"])), 127);
}

#[test]
fn env_workdir_user_read_only_bind_and_tmpfs() {
    let _g = serial();
    let root = rootfs("options");
    let child = std::process::Command::new(cella_bin())
        .args([
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "-e",
            "FOO=bar",
            "--env",
            "CELLA_TEST_FROM_HOST",
        ])
        .args(["-e", "UNSET_ON_HOST", "-e", "PATH=/bin", "env"])
        .env("CELLA_TEST_FROM_HOST", "copied")
        .env_remove("UNSET_ON_HOST")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = ok(wait_output(child, Duration::from_secs(30)));
    let mut env: Vec<&str> = out.lines().collect();
    env.sort();
    assert!(
        env.contains(&"FOO=bar")
            && env.contains(&"CELLA_TEST_FROM_HOST=copied")
            && env.contains(&"PATH=/bin"),
        "{env:?}"
    );
    assert!(env.iter().any(|e| e.starts_with("HOSTNAME=")) && env.contains(&"HOME=/root"));
    assert!(
        !env.iter()
            .any(|e| e.starts_with("CARGO") || e.starts_with("UNSET_ON_HOST")),
        "the host environment does not leak: {env:?}"
    );

    std::fs::create_dir_all(root.join("srv/app")).unwrap();
    assert_eq!(
        ok(run_in(&root, &["-w", "/srv/app"], &["pwd"])),
        "/srv/app\n"
    );
    // A working directory that is not there is made, as docker makes it
    // (in the rootfs, for the user to see: it is no mount).
    let _ = std::fs::remove_dir_all(root.join("missing"));
    assert_eq!(
        ok(run_in(&root, &["-w", "/missing/deeper"], &["pwd"])),
        "/missing/deeper\n"
    );
    assert!(root.join("missing/deeper").is_dir());
    // Not in a read-only root: that is an error naming it.
    let out = run_in(&root, &["--read-only", "-w", "/absent"], &["pwd"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("chdir /absent: No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(!root.join("absent").exists());

    assert_eq!(
        ok(sh(&root, &["-u", "1000:1001"], "id -u; id -g; id -G")),
        "1000\n1001\n1001\n"
    );
    assert_eq!(
        ok(sh(
            &root,
            &["-u", "1000:1001"],
            "cat /proc/self/status | grep ^CapEff"
        ))
        .trim(),
        "CapEff:\t0000000000000000"
    );

    let out = ok(sh(
        &root,
        &["--read-only"],
        "touch /x 2>/dev/null && echo rw || echo ro; touch /dev/shm/x && echo shm-rw",
    ));
    assert_eq!(out, "ro\nshm-rw\n");
    assert!(!root.join("x").exists());

    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bind-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("in"), "from host").unwrap();
    let rw = format!("{}:/mnt/data", data.display());
    assert_eq!(
        ok(sh(
            &root,
            &["--bind", &rw],
            "cat /mnt/data/in; echo back > /mnt/data/out"
        )),
        "from host"
    );
    assert_eq!(std::fs::read_to_string(data.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/mnt/ro:ro", data.display());
    assert_eq!(
        ok(sh(
            &root,
            &["--bind", &ro],
            "echo x > /mnt/ro/out2 2>/dev/null && echo rw || echo ro"
        )),
        "ro\n"
    );
    assert!(!data.join("out2").exists());
    let file_bind = format!("{}:/etc/bound-file", data.join("in").display());
    assert_eq!(
        ok(run_in(
            &root,
            &["--bind", &file_bind],
            &["cat", "/etc/bound-file"]
        )),
        "from host"
    );

    let out = ok(sh(
        &root,
        &["--tmpfs", "/scratch"],
        "grep ' /scratch ' /proc/mounts | cut -d' ' -f3; touch /scratch/f && echo ok",
    ));
    assert_eq!(out, "tmpfs\nok\n");
    assert!(!root.join("scratch/f").exists());
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn bad_input_exits_125_or_127_with_a_clear_message_and_leaves_nothing() {
    let _g = serial();
    let root = rootfs("bad");
    let file = root.join("etc/passwd");
    let r = root.to_str().unwrap();
    let long = "h".repeat(65);
    // A data directory given as --rootfs by mistake.
    let data = root
        .parent()
        .unwrap()
        .join(format!("not-a-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "mine\n").unwrap();
    let d = data.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["run", "--rootfs", d, "--memory", "16m", "ls"],
            127,
            "has no bin/, etc/ or usr/: is it a root file system?",
        ),
        (
            vec!["run", "--rootfs", "/nonexistent-rootfs", "true"],
            125,
            "rootfs /nonexistent-rootfs: No such file or directory",
        ),
        (
            vec!["run", "--rootfs", file.to_str().unwrap(), "true"],
            125,
            "neither a directory nor a squashfs or erofs image",
        ),
        (vec!["run", "--frobnicate", "true"], 125, "--frobnicate"),
        (
            vec!["run", "--rootfs", r, "--memory", "abc", "true"],
            125,
            "invalid value 'abc' for --memory",
        ),
        (
            vec!["run", "--rootfs", r, "--pids", "-1", "true"],
            125,
            "invalid value '-1' for --pids",
        ),
        (
            vec!["run", "--rootfs", r, "--hostname", &long, "true"],
            125,
            "for --hostname: use 1-64 letters",
        ),
        (
            vec![
                "run",
                "--rootfs",
                r,
                "--bind",
                "/nonexistent-src:/x",
                "true",
            ],
            125,
            "bind mount /nonexistent-src: No such file or directory",
        ),
        (
            vec![
                "run",
                "--rootfs",
                r,
                "--memory",
                "16m",
                "--pids",
                "5",
                "/bin/missing",
            ],
            127,
            "exec /bin/missing: No such file or directory",
        ),
        (
            vec![
                "run",
                "--rootfs",
                r,
                "--memory",
                "16m",
                "--read-only",
                "-w",
                "/nowhere",
                "true",
            ],
            125,
            "chdir /nowhere",
        ),
        (vec!["frobnicate"], 125, "unknown command 'frobnicate'"),
        (vec!["run"], 125, "no command given"),
    ];
    let (mounts, cgroups) = (host_mounts(), cella_cgroups());
    for (args, want, needle) in cases {
        let out = cella(&args);
        let err = stderr(&out);
        assert_eq!(code(&out), want, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with("cella: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_no_new_cgroups(&cgroups);
        assert_eq!(host_mounts(), mounts, "{args:?} left a mount");
        let left: Vec<String> = cella_processes()
            .iter()
            .map(|p| {
                format!(
                    "{p}: {}",
                    std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default()
                )
            })
            .collect();
        assert!(left.is_empty(), "{args:?} left a process: {left:?}");
    }
    assert!(!root.join("x").exists());
    let in_data: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        in_data,
        ["notes.txt"],
        "nothing made in a directory that is no rootfs"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn without_clone3_cella_falls_back_to_clone() {
    let _g = serial();
    let root = rootfs("noclone3");
    let name = format!("noclone3-{}", std::process::id());
    let probe = probe_bin();
    let out = std::process::Command::new(&probe)
        .args([
            "no-clone3",
            cella_bin(),
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "--name",
            &name,
        ])
        .args([
            "--pids",
            "10",
            "--memory",
            "32m",
            "--",
            "sh",
            "-c",
            "echo $$; hostname; ls /sys/class/net",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clone3 blocked with ENOSYS"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("1\n{name}\nlo\n"),
        "{err}"
    );
    assert!(out.status.success());
    assert!(!container_cgroup("pids", &name).exists());
}

/// `-u` as docker resolves it (issue 12, point 3), in the container's own
/// passwd and group files, never the host's: names and numbers, the
/// primary group from passwd (never the uid as a group), supplementary
/// groups from /etc/group, HOME from passwd (`/` without an entry); the
/// same for `exec` into the container and for `cella init`'s `user` key.
#[test]
fn users_and_groups_by_name_come_from_the_containers_own_files() {
    let _g = serial();
    let root = rootfs("users");
    std::fs::create_dir_all(root.join("home/app")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         app:x:1000:1001:App:/home/app:/bin/sh\n\
         svc:x:42:42::/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nsvc:x:42:\napp:x:1001:\naudio:x:29:other,app\nstaff:x:50:\n",
    )
    .unwrap();
    let who = "echo $(id -u) $(id -g) $(id -G) $HOME";
    for (user, want) in [
        ("app", "1000 1001 1001 29 /home/app"),
        ("1000", "1000 1001 1001 29 /home/app"),
        ("app:staff", "1000 50 50 29 /home/app"),
        ("app:7", "1000 7 7 29 /home/app"),
        // A number without an entry: group 0 (docker's), home /; 42 is
        // svc's, whose group it gets (not "42 as a group" by accident).
        ("4242", "4242 0 0 /"),
        ("42", "42 42 42 /nonexistent"),
        ("4242:4243", "4242 4243 4243 /"),
    ] {
        let out = ok(sh(&root, &["-u", user], who));
        assert_eq!(out.trim(), want, "-u {user}");
    }
    // Root by default, with root's home from passwd.
    assert_eq!(ok(sh(&root, &[], who)).trim(), "0 0 0 /root");
    // Names the container does not have are refused, even the host's.
    for (user, missing) in [
        (
            "nobody",
            "unable to find user nobody: no matching entries in passwd file",
        ),
        (
            "app:wheel",
            "unable to find group wheel: no matching entries in group file",
        ),
    ] {
        let out = sh(&root, &["-u", user], "true");
        assert_eq!(code(&out), 125, "-u {user}");
        assert_eq!(stderr(&out), format!("cella: --user {user}: {missing}\n"));
    }
    // A passwd that is a symlink to the host's is read inside the root.
    std::fs::rename(root.join("etc/passwd"), root.join("etc/passwd.real")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd.real", root.join("etc/passwd")).unwrap();
    assert_eq!(
        ok(sh(&root, &["-u", "app"], who)).trim(),
        "1000 1001 1001 29 /home/app"
    );
    std::fs::remove_file(root.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../etc/passwd",
        root.join("etc/passwd"),
    )
    .unwrap();
    let out = sh(&root, &["-u", "nobody"], "true");
    assert_eq!(
        code(&out),
        125,
        "the host's passwd was read: {}",
        stdout(&out)
    );
    std::fs::remove_file(root.join("etc/passwd")).unwrap();
    std::fs::rename(root.join("etc/passwd.real"), root.join("etc/passwd")).unwrap();

    // exec into a running container: the same resolution.
    let name = format!("users-{}", std::process::id());
    let running = spawn_ready(&root, &name, "sleep 30");
    let out = cella(&["exec", "-u", "app", &name, "sh", "-c", who]);
    assert_eq!(
        stdout(&out).trim(),
        "1000 1001 1001 29 /home/app",
        "{}",
        stderr(&out)
    );
    ok(cella(&["kill", &name]));
    running.wait();
}

/// Signals ignored by whoever started cella (a script's background job
/// ignores SIGINT and SIGQUIT) are not ignored in the payload: it starts
/// with every default action, so ctrl-C and `trap` work inside.
#[test]
fn the_payload_starts_with_no_signal_ignored() {
    let _g = serial();
    let root = rootfs("sigign");
    let script = format!(
        "trap '' INT QUIT HUP; exec {} run --rootfs {} -- grep SigIgn /proc/self/status",
        cella_bin(),
        root.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SigIgn:\t0000000000000000\n"
    );
}
