//! docker's `run` flags as `cella run` takes them (issue 12, point 2),
//! row by row as the README's table lists them: each flag's effect seen
//! from inside the container (and, for files and limits, from the host),
//! and the flags cella has no feature for refused with a message saying
//! so, leaving nothing behind.

mod support;

use std::time::{Duration, Instant};
use support::*;

/// `cella run --rootfs ROOT ARGS... -- sh -c SCRIPT`: its output.
fn inside(root: &std::path::Path, args: &[&str], script: &str) -> String {
    ok(sh(root, args, script))
}

#[test]
fn each_docker_flag_does_what_docker_does() {
    let _g = serial();
    let root = rootfs("docker-flags");
    let data = root
        .parent()
        .unwrap()
        .join(format!("docker-flags-data-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("in"), "from the host\n").unwrap();
    let d = data.to_str().unwrap();
    let env_file = data.join("env.list");
    std::fs::write(
        &env_file,
        "# comment\n\nA=from-file\nB=also # not a comment\nC=overridden\n",
    )
    .unwrap();
    let probe_ro = "cat /data/in; touch /data/x 2>/dev/null && echo writable || echo read-only";
    let volume = format!("{d}:/data:ro");
    // docker's other -v options, as compose files and SELinux hosts' habits write them.
    let volume_z = format!("{d}:/data:Z,ro,rprivate");
    let volume_rw = format!("{d}:/data:z,delegated");
    let probe_rw = "cat /data/in; touch /data/x && echo writable && rm /data/x";
    let mount = format!("type=bind,source={d},target=/data,readonly");
    let env_file_arg = env_file.to_str().unwrap();
    let rows: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["-v", &volume], probe_ro, "from the host\nread-only\n"),
        (
            vec!["-v", &volume_z],
            probe_ro,
            "from the host\nread-only\n",
        ),
        (
            vec!["-v", &volume_rw],
            probe_rw,
            "from the host\nwritable\n",
        ),
        (
            vec!["--mount", &mount],
            probe_ro,
            "from the host\nread-only\n",
        ),
        (
            vec![
                "--mount",
                "type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=750",
            ],
            "grep ' /scratch ' /proc/mounts | grep -o 'size=[0-9]*k,mode=750'",
            "size=1024k,mode=750\n",
        ),
        (
            vec!["--tmpfs", "/tmp:size=10m,mode=700,noexec"],
            "grep ' /tmp ' /proc/mounts | grep -o 'noexec.*size=[0-9]*k,mode=700'",
            "noexec,relatime,size=10240k,mode=700\n",
        ),
        // A tmpfs asked for is noexec unless `exec`, as docker's (both
        // spellings); nosuid and nodev always.
        (
            vec!["--tmpfs", "/t", "--mount", "type=tmpfs,target=/m"],
            "for d in /t /m; do cp /bin/busybox $d/true; $d/true 2>/dev/null && echo ran || echo refused; \
             grep \" $d \" /proc/mounts | grep -o nosuid,nodev,noexec; done",
            "refused\nnosuid,nodev,noexec\nrefused\nnosuid,nodev,noexec\n",
        ),
        (
            vec!["--tmpfs", "/t:exec"],
            "cp /bin/busybox /t/true; /t/true && echo ran",
            "ran\n",
        ),
        (
            vec!["-m", "32m", "--memory-swap", "64m"],
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
             cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo 67108864",
            "33554432\n67108864\n",
        ),
        (
            vec!["--memory", "1.5g"],
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
            "1610612736\n",
        ),
        (vec!["--network", "none"], "ls /sys/class/net", "lo\n"),
        (
            vec!["--env-file", env_file_arg, "-e", "C=from-e"],
            "echo $A; echo $B; echo $C",
            "from-file\nalso # not a comment\nfrom-e\n",
        ),
        (
            vec!["--pids-limit", "20"],
            "cat /sys/fs/cgroup/pids/pids.max",
            "20\n",
        ),
        (
            vec!["--cpus", "0.5"],
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
            "50000\n",
        ),
        (
            vec!["--cpu-shares", "512"],
            "cat /sys/fs/cgroup/cpu/cpu.shares",
            "512\n",
        ),
        (
            vec!["--cpuset-cpus", "0"],
            "grep Cpus_allowed_list /proc/self/status",
            "Cpus_allowed_list:\t0\n",
        ),
        (
            vec!["--ulimit", "nofile=100:200"],
            "ulimit -n; ulimit -Hn",
            "100\n200\n",
        ),
        (
            vec!["--cap-drop", "ALL", "--cap-add", "CHOWN"],
            "grep CapEff /proc/self/status",
            "CapEff:\t0000000000000001\n",
        ),
        (
            vec![
                "--security-opt",
                "label=disable",
                "--security-opt",
                "apparmor=unconfined",
            ],
            "echo ran",
            "ran\n",
        ),
        (
            vec!["--init"],
            "cat /proc/1/cmdline | tr '\\0' ' '",
            "cella-init -- sh -c cat /proc/1/cmdline | tr '\\0' ' ' ",
        ),
        (vec!["-h", "box"], "hostname", "box\n"),
        (vec!["--hostname", "box2"], "hostname", "box2\n"),
        (vec!["-w", "/made/here"], "pwd", "/made/here\n"),
        (vec!["--workdir", "/tmp"], "pwd", "/tmp\n"),
        (
            vec!["--read-only"],
            "touch /x 2>/dev/null && echo writable || echo read-only",
            "read-only\n",
        ),
        (
            vec!["--device", "/dev/null:/dev/xnull"],
            "echo hi > /dev/xnull && echo written",
            "written\n",
        ),
        (vec!["--rm"], "echo ran", "ran\n"),
        (vec!["-u", "1000:1000"], "id -u; id -g", "1000\n1000\n"),
        (vec!["-e", "K=V"], "echo $K", "V\n"),
    ];
    for (args, script, want) in &rows {
        assert_eq!(&inside(&root, args, script), want, "{args:?}");
    }
    assert!(!root.join("tmp:size=10m,mode=700,noexec").exists());
    assert!(!data.join("x").exists());
    let _ = std::fs::remove_dir_all(&data);
}

/// `--stop-signal` and `--stop-timeout` are what `cella stop` uses.
#[test]
fn stop_signal_and_timeout_are_what_stop_uses() {
    let _g = serial();
    let root = rootfs("docker-stop");
    let name = format!("docker-stop-{}", std::process::id());
    ok(cella(&[
        "run",
        "-d",
        "--name",
        &name,
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "1",
        "--rootfs",
        root.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        // TERM ignored: only USR1 (then the KILL after 1 s) ends it.
        "trap 'echo usr1 > /got; exit 0' USR1; trap '' TERM; touch /tmp/ready; \
         while :; do sleep 0.1; done",
    ]));
    let start = Instant::now();
    while !root.join("tmp/ready").exists() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    ok(cella(&["stop", &name]));
    assert_eq!(std::fs::read_to_string(root.join("got")).unwrap(), "usr1\n");
    ok(cella(&["rm", &name]));
}

/// docker's flags for what cella does not have yet: one line saying so,
/// exit 125, nothing left.
#[test]
fn docker_flags_without_a_feature_are_refused_saying_why() {
    let _g = serial();
    let root = rootfs("docker-refused");
    let r = root.to_str().unwrap();
    let cgroups = cella_cgroups();
    for (args, expected) in [
        (
            vec!["-p", "80:80"],
            "-p, --ip, --bridge and --subnet are for a container on a bridge (--net bridge)",
        ),
        (vec!["--publish", "80"], "invalid value '80' for --publish"),
        (vec!["-P"], "-P: give each published port with -p"),
        (
            vec!["--entrypoint", "/bin/sh"],
            "--entrypoint: needs an image (cella run [OPTIONS] IMAGE)",
        ),
        (
            vec!["--pull", "always"],
            "--pull: cella pulls no images: bring one over as a file",
        ),
        (
            vec!["--restart", "always"],
            "--restart: restart policies are cella init's",
        ),
        (vec!["--gpus", "all"], "--gpus: GPUs are not supported"),
        (
            vec!["--network", "my-net"],
            "invalid value 'my-net' for --network: expected 'bridge', 'host' or 'none'",
        ),
        (vec!["-v", "data:/data"], "named volumes are not supported"),
        (vec!["-v", "/tmp:/data:ro,rw"], "expected SRC:DST[:OPTIONS]"),
        (
            vec!["-v", "/tmp:/data:rshared"],
            "expected SRC:DST[:OPTIONS]",
        ),
        (
            vec!["--mount", "type=volume,source=data,target=/d"],
            "named volumes are not supported",
        ),
        (
            vec!["--memory-swap", "64m"],
            "--memory-swap: needs --memory",
        ),
        (
            vec!["-m", "64m", "--memory-swap", "32m"],
            "must be at least --memory",
        ),
        (vec!["--cpus", "4096"], "--cpus"),
        (vec!["--tmpfs", "/t:bogus"], "--tmpfs"),
        (vec!["--stop-signal", "SIGFOO"], "--stop-signal"),
        (
            vec!["--security-opt", "apparmor=docker-default"],
            "--security-opt",
        ),
        (vec!["-d", "-i"], "-dit, then `cella attach NAME`"),
    ] {
        let mut argv = vec!["run", "--rootfs", r];
        argv.extend(&args);
        argv.extend(["--", "true"]);
        let out = cella(&argv);
        assert_eq!(code(&out), 125, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // --cpus past this machine's CPUs names the range.
    let online = std::thread::available_parallelism().unwrap().get();
    let too_many = (online + 1).to_string();
    let out = cella(&["run", "--rootfs", r, "--cpus", &too_many, "--", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(&format!("the range is 0.01 to {online}.00")),
        "{}",
        stderr(&out)
    );
    assert_no_new_cgroups(&cgroups);
}
