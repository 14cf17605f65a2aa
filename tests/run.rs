//! `cella run` end to end: the real binary, real namespaces, real cgroups,
//! a real busybox rootfs. Every property is looked at from inside (what the
//! payload sees) and from outside (the host is unchanged).

mod support;

use rustix::process::Signal;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

fn run_in(root: &Path, extra: &[&str], cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--rootfs", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(cmd);
    cella(&args)
}

fn sh(root: &Path, extra: &[&str], script: &str) -> std::process::Output {
    run_in(root, extra, &["sh", "-c", script])
}

#[test]
fn stdio_passes_through_and_exit_status_is_the_payloads() {
    let _g = serial();
    let root = rootfs("stdio");
    let mut child = std::process::Command::new(cella_bin())
        .args([
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "cat; echo err >&2; exit 3",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello through stdin\n")
        .unwrap();
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(stdout(&out), "hello through stdin\n");
    assert_eq!(stderr(&out), "err\n");
    assert_eq!(code(&out), 3);
    assert_eq!(code(&sh(&root, &[], "exit 0")), 0);
}

#[test]
fn hostname_is_the_containers_and_the_hosts_never_changes() {
    let _g = serial();
    let root = rootfs("hostname");
    let before = host_hostname();
    assert_eq!(
        ok(run_in(&root, &["--hostname", "inside-box"], &["hostname"])),
        "inside-box\n"
    );
    // Default: the container's name.
    assert_eq!(
        ok(run_in(&root, &["--name", "named-box"], &["hostname"])),
        "named-box\n"
    );
    // Without a name: a generated one, different each run.
    let a = ok(run_in(&root, &[], &["hostname"]));
    let b = ok(run_in(&root, &[], &["hostname"]));
    assert!(a.starts_with("cella-") && a.len() == 19, "{a:?}");
    assert_ne!(a, b);
    // The payload may even change it: only its own namespace is affected.
    assert_eq!(
        ok(sh(&root, &[], "hostname changed-inside; hostname")),
        "changed-inside\n"
    );
    assert_eq!(host_hostname(), before);
}

#[test]
fn payload_is_pid_1_and_sees_only_its_own_processes() {
    let _g = serial();
    let root = rootfs("pid");
    let out = ok(sh(&root, &[], "echo $$; sleep 5 & ps -o pid,comm; kill $!"));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    let ps: Vec<&str> = lines.skip(1).collect();
    // sh (1), the sleep, ps itself: nothing of the host's hundreds.
    assert_eq!(ps.len(), 3, "{ps:?}");
    assert!(ps[0].trim_start().starts_with("1 "), "{ps:?}");
    assert!(
        ps.iter().all(|l| l
            .trim_start()
            .split(' ')
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            < 10),
        "{ps:?}"
    );
    // /proc is a fresh instance: only container pids are listed.
    let pids = ok(sh(&root, &[], "ls /proc | grep -c '^[0-9]'"));
    assert!(pids.trim().parse::<u32>().unwrap() <= 3, "{pids}");
}

#[test]
fn namespaces_differ_from_the_hosts() {
    let _g = serial();
    let root = rootfs("ns");
    let inside = ok(sh(
        &root,
        &[],
        "for n in uts pid mnt ipc net cgroup; do readlink /proc/self/ns/$n; done",
    ));
    for (line, ns) in inside
        .lines()
        .zip(["uts", "pid", "mnt", "ipc", "net", "cgroup"])
    {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(
            line,
            host.to_str().unwrap(),
            "{ns} namespace is shared with the host"
        );
    }
    // --net host shares exactly the network namespace.
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let shared = ok(run_in(
        &root,
        &["--net", "host"],
        &["readlink", "/proc/self/ns/net"],
    ));
    assert_eq!(shared.trim(), host_net.to_str().unwrap());
}

#[test]
fn new_network_namespace_has_only_lo_and_it_is_up() {
    let _g = serial();
    let root = rootfs("net");
    assert_eq!(ok(run_in(&root, &[], &["ls", "/sys/class/net"])), "lo\n");
    let flags = ok(run_in(&root, &[], &["cat", "/sys/class/net/lo/flags"]));
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP");
    assert!(
        ok(run_in(&root, &[], &["ping", "-c1", "-W2", "127.0.0.1"])).contains("1 packets received")
    );
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(host.len() > 1, "the host has more than lo");
    let inside = ok(run_in(&root, &["--net", "host"], &["ls", "/sys/class/net"]));
    assert_eq!(inside.lines().count(), host.len());
}

#[test]
fn root_is_the_rootfs_and_a_chroot_escape_cannot_reach_the_host() {
    let _g = serial();
    let root = rootfs("escape");
    let listing = ok(run_in(&root, &[], &["ls", "/"]));
    let mut expected: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    expected.sort();
    assert_eq!(listing.lines().collect::<Vec<_>>(), expected);
    // A host file outside the rootfs.
    let marker = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("escape-marker-{}", std::process::id()));
    std::fs::write(&marker, "host").unwrap();
    let m = marker.to_str().unwrap();
    // Negative control: under a plain chroot the same attack works.
    let control = std::process::Command::new("chroot")
        .arg(&root)
        .args(["/bin/probe", "escape", m])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&control.stdout).trim(),
        "ESCAPED",
        "the attack must work on chroot"
    );
    // Under cella it ends at the rootfs.
    let out = ok(run_in(&root, &[], &["/bin/probe", "escape", m]));
    assert!(out.starts_with("CONTAINED "), "{out}");
    assert!(
        out.contains("bin") && out.contains(".escape") && !out.contains("work"),
        "{out}"
    );
    std::fs::remove_file(&marker).unwrap();
}

#[test]
fn host_mount_table_is_identical_before_during_and_after() {
    let _g = serial();
    let root = rootfs("mounts");
    let data =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bind-data-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let before = host_mounts();
    let bind = format!("{}:/data", data.display());
    let child = spawn(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--tmpfs",
        "/scratch",
        "--bind",
        &bind,
        "--",
        "sh",
        "-c",
        "mount | wc -l > /data/count; touch /data/ready; sleep 2",
    ]);
    wait_for(&data.join("ready"), Duration::from_secs(20));
    let during = host_mounts();
    let status = child.wait();
    assert!(status.success());
    let inside: u32 = std::fs::read_to_string(data.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(inside >= 8, "the container had its own mounts ({inside})");
    assert_eq!(during, before, "mounts leaked to the host while running");
    assert_eq!(host_mounts(), before, "mounts left on the host");
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn dev_sys_and_proc_are_set_up() {
    let _g = serial();
    let root = rootfs("dev");
    let listing = ok(run_in(&root, &[], &["ls", "/dev"]));
    let names: Vec<&str> = listing.lines().collect();
    for n in [
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ] {
        assert!(names.contains(&n), "/dev/{n} missing: {names:?}");
    }
    let script = "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 8 /dev/urandom | wc -c \
        && (echo x > /dev/full 2>/dev/null && echo full-writable || echo full-refuses) \
        && ls /dev/pts && touch /dev/shm/f && echo shm-ok \
        && (touch /sys/x 2>/dev/null && echo sys-rw || echo sys-ro) && readlink /dev/stdout";
    let out = ok(sh(&root, &[], script));
    assert_eq!(
        out,
        "4\n8\nfull-refuses\nptmx\nshm-ok\nsys-ro\n/proc/self/fd/1\n"
    );
    let mounts = ok(run_in(&root, &[], &["cat", "/proc/mounts"]));
    for (target, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        assert!(
            mounts.lines().any(|l| l.split(' ').nth(1) == Some(target) && l.split(' ').nth(2) == Some(fstype)),
            "{target} {fstype}:\n{mounts}"
        );
    }
    assert!(
        mounts.lines().any(|l| l.contains(" /sys sysfs ro,")),
        "{mounts}"
    );
}

#[test]
fn rootfs_with_symlinked_proc_sys_or_dev_is_refused() {
    let _g = serial();
    for special in ["proc", "sys", "dev"] {
        let root = rootfs(&format!("symlink-{special}"));
        std::fs::remove_dir(root.join(special)).unwrap();
        std::os::unix::fs::symlink("/tmp", root.join(special)).unwrap();
        let cgroups = cella_cgroups();
        let out = run_in(&root, &[], &["true"]);
        assert_eq!(code(&out), 125, "{special}");
        assert!(
            stderr(&out).contains(&format!("/{special} is a symlink")),
            "{}",
            stderr(&out)
        );
        assert_eq!(cella_cgroups(), cgroups);
    }
}

#[test]
fn without_rootfs_the_host_root_is_read_only_with_private_proc_dev_and_tmp() {
    let _g = serial();
    let marker = Path::new("/tmp").join(format!("cella-host-tmp-{}", std::process::id()));
    std::fs::write(&marker, "").unwrap();
    let out = ok(cella(&[
        "run",
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "ls /; (touch /etc/cella-x 2>/dev/null && echo etc-rw || echo etc-ro); ls -A /tmp | wc -l; touch /tmp/y && echo tmp-rw; echo $$; ls /dev/null",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    let mut host_root: Vec<String> = std::fs::read_dir("/")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    host_root.sort();
    assert_eq!(&lines[..host_root.len()], &host_root[..]);
    assert_eq!(
        &lines[host_root.len()..],
        ["etc-ro", "0", "tmp-rw", "1", "/dev/null"]
    );
    assert!(!Path::new("/etc/cella-x").exists() && !Path::new("/tmp/y").exists());
    std::fs::remove_file(marker).unwrap();
}

#[test]
fn cgroup_limits_are_in_place_before_the_payload_and_removed_after() {
    let _g = serial();
    let root = rootfs("limits");
    let name = format!("limits-{}", std::process::id());
    let before = cella_cgroups();
    let child = spawn(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--name",
        &name,
        "--memory",
        "16m",
        "--pids",
        "20",
        "--cpus",
        "0.5",
        "--cpu-weight",
        "512",
        "--io-weight",
        "500",
        "--",
        "sh",
        "-c",
        "cat /proc/self/cgroup > /tmp/cg; touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05; done",
    ]);
    wait_for(&root.join("tmp/ready"), Duration::from_secs(20));
    let read = |controller: &str, v1: &str, v2: &str| {
        let dir = cgroup_parent(controller).join(&name);
        std::fs::read_to_string(dir.join(if cgroup_v2() { v2 } else { v1 }))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(
        read("memory", "memory.limit_in_bytes", "memory.max"),
        "16777216"
    );
    assert_eq!(read("pids", "pids.max", "pids.max"), "20");
    if cgroup_v2() {
        assert_eq!(read("cpu", "", "cpu.max"), "50000 100000");
        assert_eq!(read("cpu", "", "cpu.weight"), "512");
    } else {
        assert_eq!(read("cpu", "cpu.cfs_quota_us", ""), "50000");
        assert_eq!(read("cpu", "cpu.cfs_period_us", ""), "100000");
        assert_eq!(
            read("cpu", "cpu.shares", ""),
            (2 + 511 * 262_142 / 9_999).to_string()
        );
        // blkio.weight (CFQ) or blkio.bfq.weight (BFQ), whichever the kernel has.
        let dir = cgroup_parent("blkio").join(&name);
        let weight = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .expect("an I/O weight file");
        assert_eq!(
            weight
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("default ")
                .trim(),
            (10 + 499 * 990 / 9_999).to_string()
        );
    }
    // From outside: the payload is in the container's cgroup.
    let procs = read("pids", "cgroup.procs", "cgroup.procs");
    let pid1 = children(child.id());
    assert_eq!(pid1.len(), 1);
    assert!(
        procs.lines().any(|p| p == pid1[0].to_string()),
        "{procs} lacks {pid1:?}"
    );
    let host_view = std::fs::read_to_string(format!("/proc/{}/cgroup", pid1[0])).unwrap();
    assert!(host_view.contains(&format!("/cella/{name}")), "{host_view}");
    // From inside: a cgroup namespace rooted at it.
    let inside = std::fs::read_to_string(root.join("tmp/cg")).unwrap();
    assert!(inside.lines().all(|l| l.ends_with(":/")), "{inside}");
    std::fs::write(root.join("tmp/go"), "").unwrap();
    assert!(child.wait().success());
    assert_eq!(cella_cgroups(), before, "the cgroup is removed");
}

#[test]
fn fork_bomb_under_pids_20_never_exceeds_20() {
    let _g = serial();
    let root = rootfs("forkbomb");
    let name = format!("bomb-{}", std::process::id());
    let child = spawn(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--name",
        &name,
        "--pids",
        "20",
        "--",
        "sh",
        "-c",
        "touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; b() { b | b & }; b; sleep 30",
    ]);
    wait_for(&root.join("tmp/ready"), Duration::from_secs(20));
    let dir = cgroup_parent("pids").join(&name);
    // The limit is there before the bomb goes off.
    assert_eq!(
        std::fs::read_to_string(dir.join("pids.max"))
            .unwrap()
            .trim(),
        "20"
    );
    std::fs::write(root.join("tmp/go"), "").unwrap();
    let (mut peak, start) = (0u32, Instant::now());
    while start.elapsed() < Duration::from_secs(3) {
        if let Ok(s) = std::fs::read_to_string(dir.join("pids.current")) {
            peak = peak.max(s.trim().parse().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The bomb really ran into the limit...
    assert!(peak >= 15, "the bomb did not go off (peak {peak})");
    assert!(peak <= 20, "pids.current reached {peak}");
    let events = std::fs::read_to_string(dir.join("pids.events")).unwrap_or_default();
    // ...and the host is still usable.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    // End it: killing the container's PID 1 tears down its pid namespace.
    for pid in children(child.id()) {
        kill(pid, Signal::KILL);
    }
    let status = child.wait();
    assert_eq!(status.code(), Some(137), "{events}");
    assert!(!dir.exists(), "the cgroup is removed");
}

#[test]
fn memory_hog_is_oom_killed_with_137_and_a_message() {
    let _g = serial();
    let root = rootfs("oom");
    let before = cella_cgroups();
    let out = run_in(&root, &["--memory", "16m"], &["/bin/probe", "hog", "64"]);
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    assert!(!stdout(&out).contains("SURVIVED"));
    assert!(stderr(&out).contains("memory limit"), "{}", stderr(&out));
    // The same hog with room to spare survives: the limit did the killing.
    assert!(
        ok(run_in(
            &root,
            &["--memory", "128m"],
            &["/bin/probe", "hog", "64"]
        ))
        .contains("SURVIVED 64")
    );
    assert_eq!(cella_cgroups(), before);
}

#[test]
fn tiny_limits_still_run_true() {
    let _g = serial();
    let root = rootfs("tiny");
    ok(run_in(&root, &["--pids", "1"], &["/bin/true"]));
    // One more process is refused under --pids 1.
    let out = sh(&root, &["--pids", "1"], "/bin/true && echo forked");
    assert!(!stdout(&out).contains("forked"));
    ok(run_in(&root, &["--memory", "1m"], &["/bin/true"]));
}

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
        "cella: exec no-such-command: No such file or directory\n"
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
    let out = run_in(&root, &["-w", "/missing"], &["pwd"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("chdir /missing: No such file or directory"),
        "{}",
        stderr(&out)
    );

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
fn only_stdio_reaches_the_payload() {
    let _g = serial();
    let root = rootfs("fds");
    assert_eq!(
        ok(run_in(&root, &["--memory", "64m"], &["/bin/probe", "fds"])),
        "0 1 2 3\n",
        "3 is read_dir's own"
    );
    assert_eq!(
        ok(sh(
            &root,
            &["--init", "--pids", "10"],
            "ls /proc/1/fd | tr '\\n' ' '"
        )),
        "0 1 2 "
    );
}

#[test]
fn a_running_name_cannot_be_reused_and_is_left_alone() {
    let _g = serial();
    let root = rootfs("dupname");
    let name = format!("dup-{}", std::process::id());
    let ready = root.join("tmp/ready");
    let first = spawn(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        "touch /tmp/ready; sleep 2",
    ]);
    wait_for(&ready, Duration::from_secs(20));
    let out = run_in(&root, &["--name", &name], &["true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("File exists"), "{}", stderr(&out));
    assert!(
        cgroup_parent("pids").join(&name).exists(),
        "the running container's cgroup is intact"
    );
    assert!(first.wait().success());
    assert!(!cgroup_parent("pids").join(&name).exists());
}

#[test]
fn bad_input_exits_125_or_127_with_a_clear_message_and_leaves_nothing() {
    let _g = serial();
    let root = rootfs("bad");
    let file = root.join("etc/passwd");
    let r = root.to_str().unwrap();
    let long = "h".repeat(65);
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["run", "--rootfs", "/nonexistent-rootfs", "true"],
            125,
            "rootfs /nonexistent-rootfs: No such file or directory",
        ),
        (
            vec!["run", "--rootfs", file.to_str().unwrap(), "true"],
            125,
            "Not a directory",
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
            "--hostname: must be 1 to 64 bytes",
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
                "run", "--rootfs", r, "--memory", "16m", "-w", "/nowhere", "true",
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
        assert_eq!(cella_cgroups(), cgroups, "{args:?} left a cgroup");
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
}

#[test]
fn cella_itself_is_not_inside_the_container() {
    let _g = serial();
    let root = rootfs("noexec");
    // Without --init the payload replaced cella's child: /proc/1/exe is busybox.
    assert_eq!(
        ok(run_in(&root, &[], &["readlink", "/proc/1/exe"])),
        "/bin/busybox\n"
    );
    // No path inside leads to the cella binary.
    let bin = std::fs::canonicalize(cella_bin()).unwrap();
    assert_eq!(
        code(&run_in(&root, &[], &["test", "-e", bin.to_str().unwrap()])),
        1
    );
}

#[cfg(target_arch = "x86_64")]
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
    assert!(!cgroup_parent("pids").join(&name).exists());
}

#[test]
fn a_limit_the_host_cannot_enforce_is_an_error() {
    let _g = serial();
    let root = rootfs("nopids");
    // A private mount namespace whose /sys/fs/cgroup has the memory
    // hierarchy but no pids controller: a host without it, for real.
    let script = r#"mount -t tmpfs none /sys/fs/cgroup && mkdir /sys/fs/cgroup/memory \
        && mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory && exec "$@""#;
    let run = |extra: &[&str]| {
        let name = format!("nopids-{}", std::process::id());
        let out = std::process::Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
                cella_bin(),
                "run",
            ])
            .args(["--rootfs", root.to_str().unwrap(), "--name", &name])
            .args(extra)
            .args(["--", "sh", "-c", "cat /proc/self/cgroup | grep -c memory:/"])
            .output()
            .unwrap();
        assert!(
            !cgroup_parent("memory").join(&name).exists(),
            "nothing left in the real hierarchy"
        );
        out
    };
    let before = cella_cgroups();
    let out = run(&["--pids", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(
        err,
        "cella: cgroup --pids: the pids cgroup controller is not available on this host\n"
    );
    // Without the limit the same host runs the container, in its memory cgroup.
    let out = run(&["--memory", "32m"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cella_cgroups(), before);
}
