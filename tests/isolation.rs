//! `cella run` end to end, isolation: what the payload sees (hostname, PID 1,
//! namespaces, its root, /dev, /sys, /proc, its descriptors) and what the host
//! keeps (hostname, mount table, files outside the rootfs). Real binary, real
//! kernel, real busybox rootfs; each property looked at from both sides.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

#[test]
fn stdio_passes_through_and_exit_status_is_the_payloads() {
    let _g = serial();
    let root = rootfs("stdio");
    let piped = |interactive: bool| {
        let mut args = vec!["run", "--rootfs", root.to_str().unwrap()];
        if interactive {
            args.push("-i");
        }
        args.extend(["--", "sh", "-c", "cat; echo err >&2; exit 3"]);
        std::process::Command::new(cella_bin())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Without -i, as docker: stdin is /dev/null, whatever ours is.
    let mut child = piped(false);
    use std::io::Write;
    let _ = child.stdin.take().unwrap().write_all(b"not for it\n");
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(stdout(&out), "");
    assert_eq!(code(&out), 3);
    let mut child = piped(true);
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
    // By default the payload lacks CAP_SYS_ADMIN and cannot change it...
    let refused = sh(
        &root,
        &[],
        "hostname changed-inside 2>/dev/null || echo refused; hostname",
    );
    assert!(ok(refused).starts_with("refused\ncella-"));
    // ...given the capability it may: only its own namespace is affected.
    assert_eq!(
        ok(sh(
            &root,
            &["--cap-add", "SYS_ADMIN"],
            "hostname changed-inside; hostname"
        )),
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
        assert_no_new_cgroups(&cgroups);
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

#[test]
fn pid_host_shares_the_host_processes_and_only_that() {
    let _g = serial();
    let root = rootfs("pidhost");
    let out = ok(sh(
        &root,
        &["--pid", "host"],
        "echo $$; ls /proc | grep -c '^[0-9]'",
    ));
    let mut lines = out.lines();
    let pid: u32 = lines.next().unwrap().parse().unwrap();
    let visible: u32 = lines.next().unwrap().parse().unwrap();
    assert!(pid > 1, "not PID 1 in the host's namespace: {pid}");
    assert!(visible > 20, "the host's processes are visible: {visible}");
    // Everything else stays private.
    let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    let uts = ok(run_in(
        &root,
        &["--pid", "host"],
        &["readlink", "/proc/self/ns/uts"],
    ));
    assert_ne!(uts.trim(), host_uts.to_str().unwrap());
    let err = stderr(&cella(&["run", "--pid", "shared", "true"]));
    assert!(err.contains("invalid value 'shared' for --pid"), "{err}");
}
