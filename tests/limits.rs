//! `cella run` end to end, cgroups: limits written before the payload runs
//! and seen from outside, a fork bomb and a memory hog contained, tiny limits
//! that still work, names that clash, and hosts that cannot enforce a limit.

mod support;

use std::path::Path;

use rustix::process::Signal;
use std::time::{Duration, Instant};
use support::*;

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
        let dir = container_cgroup(controller, &name);
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
        let dir = container_cgroup("blkio", &name);
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
    assert!(
        host_view.contains(&format!("/cella/ctr-{name}")),
        "{host_view}"
    );
    // From inside: a cgroup namespace rooted at it.
    let inside = std::fs::read_to_string(root.join("tmp/cg")).unwrap();
    assert!(inside.lines().all(|l| l.ends_with(":/")), "{inside}");
    std::fs::write(root.join("tmp/go"), "").unwrap();
    assert!(child.wait().success());
    assert_no_new_cgroups(&before);
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
    let dir = container_cgroup("pids", &name);
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
    assert_no_new_cgroups(&before);
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
fn a_running_name_cannot_be_reused_and_is_left_alone() {
    let _g = serial();
    let root = rootfs("dupname");
    let name = format!("dup-{}", std::process::id());
    let first = spawn_ready(&root, &name, "sleep 2");
    let out = run_in(&root, &["--name", &name], &["true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(&format!("a container named {name} exists")),
        "{}",
        stderr(&out)
    );
    assert!(
        container_cgroup("pids", &name).exists(),
        "the running container's cgroup is intact"
    );
    assert!(first.wait().success());
    assert!(!container_cgroup("pids", &name).exists());
}

/// `cella run` on a host whose `/sys/fs/cgroup` has only `hierarchies`: a
/// private mount namespace with a tmpfs there and those v1 hierarchies
/// mounted, a host without the others for real.
fn run_on_host_with(
    hierarchies: &[&str],
    root: &Path,
    name: &str,
    extra: &[&str],
) -> std::process::Output {
    let mounts: String = hierarchies
        .iter()
        .map(|h| {
            format!(
                "mkdir /sys/fs/cgroup/{h} && mount -t cgroup -o {h} cgroup /sys/fs/cgroup/{h} && "
            )
        })
        .collect();
    let script = format!("mount -t tmpfs none /sys/fs/cgroup && {mounts}exec \"$@\"");
    std::process::Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
            cella_bin(),
            "run",
        ])
        .args(["--rootfs", root.to_str().unwrap(), "--name", name])
        .args(extra)
        .args([
            "--",
            "sh",
            "-c",
            "cat /proc/self/cgroup | grep -c -e memory:/ -e devices:/",
        ])
        .output()
        .unwrap()
}

#[test]
fn a_limit_the_host_cannot_enforce_is_an_error() {
    let _g = serial();
    let root = rootfs("nopids");
    let name = format!("nopids-{}", std::process::id());
    let before = cella_cgroups();
    let out = run_on_host_with(&["memory", "devices"], &root, &name, &["--pids", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(
        err,
        "cella: cgroup --pids: the pids cgroup controller is not available on this host\n"
    );
    // Without the limit the same host runs the container, in its memory
    // and devices cgroups.
    let out = run_on_host_with(&["memory", "devices"], &root, &name, &["--memory", "32m"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !container_cgroup("memory", &name).exists(),
        "nothing left in the real hierarchy"
    );
    assert_no_new_cgroups(&before);
}

#[test]
fn no_device_rules_no_container() {
    let _g = serial();
    let root = rootfs("nodevices");
    let name = format!("nodevices-{}", std::process::id());
    // A host with cgroups but no devices controller: the container would
    // have every device, so it does not run; --privileged (every device,
    // asked for) does.
    let out = run_on_host_with(&["memory", "pids"], &root, &name, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("device rules: the devices cgroup controller is not available on this host")
            && err.contains("--privileged"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "the payload never ran");
    let out = run_on_host_with(&["memory", "pids"], &root, &name, &["--privileged"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without any cgroup file system: refused too.
    let out = run_on_host_with(&[], &root, &name, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("no cgroup file system mounted") && err.contains("--privileged"),
        "{err}"
    );
}

#[test]
fn the_container_sees_its_own_cgroup_read_only() {
    let _g = serial();
    let root = rootfs("cgview");
    let name = format!("cgview-{}", std::process::id());
    let (mem, pids) = if cgroup_v2() {
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max")
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max",
        )
    };
    // Programs size themselves from these files (JVMs, Go's and Node's
    // runtimes): they show the container's own limits, and cannot change them.
    let script = format!("cat {mem} {pids}; (echo 1000 > {pids}) 2>&1; cat {pids}");
    let out = ok(run_in(
        &root,
        &["--name", &name, "--memory", "48m", "--pids", "30"],
        &["sh", "-c", &script],
    ));
    assert_eq!(
        out,
        format!(
            "{}\n30\nsh: can't create {pids}: Read-only file system\n30\n",
            48 << 20
        )
    );
    // --privileged: the view is writable, as docker's.
    let script = format!("echo 31 > {pids} && cat {pids}");
    let out = ok(run_in(
        &root,
        &["--privileged", "--pids", "30"],
        &["sh", "-c", &script],
    ));
    assert_eq!(out, "31\n");
}
