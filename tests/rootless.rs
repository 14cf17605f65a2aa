//! `cella run` started by unprivileged users: `nobody` (no subordinate ids:
//! only itself is mapped, to root) and a user with a subuid/subgid range
//! (the setuid helpers map the whole range). Seen from inside (root of its
//! own user namespace, docker's capabilities there, devices bound, cgroups
//! read-only) and tried against the host (root inside is nobody outside).

mod support;

use std::path::Path;

use support::users::*;
use support::*;

#[test]
fn nobody_is_root_of_its_own_namespace_and_nobody_on_the_host() {
    let _g = serial();
    let root = rootfs("rootless");
    // The rootfs belongs to the host's root: its mount points must exist.
    std::fs::create_dir_all(root.join("hostetc")).unwrap();
    let hostname = host_hostname();
    let mounts = host_mounts();
    let script = "id -u; cat /proc/self/uid_map; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; \
        echo x > /dev/null && echo null-ok; touch /sys/fs/cgroup/x 2>/dev/null || echo cgroup-ro; \
        touch /hostetc/cella-rootless-x 2>/dev/null || echo host-refused; hostname";
    let out = as_user(
        65534,
        65534,
        &[
            "run",
            "--memory",
            "64m",
            "--bind",
            "/etc:/hostetc",
            "--rootfs",
            root.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {text}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "65534", "1"],
        "{text}"
    );
    assert!(text.contains("CapEff:\t00000000a80425fb"), "{text}");
    assert!(
        text.contains("NoNewPrivs:\t0") && text.contains("Seccomp:\t2"),
        "{text}"
    );
    assert!(
        text.contains("null-ok"),
        "device nodes are bound from the host: {text}"
    );
    assert!(text.contains("cgroup-ro"), "S15: {text}");
    assert!(
        text.contains("host-refused"),
        "root inside is not root outside: {text}"
    );
    assert!(!Path::new("/etc/cella-rootless-x").exists());
    assert!(lines.last().unwrap().starts_with("cella-"), "{text}");
    // The limits could not be applied, and it says so.
    assert!(
        err.contains("rootless") && err.contains("--memory"),
        "{err}"
    );
    assert_eq!(host_hostname(), hostname);
    assert_eq!(host_mounts(), mounts);
}

#[test]
fn a_user_with_a_subordinate_range_gets_it_mapped() {
    let _g = serial();
    let (uid, gid, range) = user_with_range();
    let root = rootfs("rootless-range");
    let out = as_user(
        uid,
        gid,
        &[
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "--",
            "cat",
            "/proc/self/uid_map",
            "/proc/self/gid_map",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let maps: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let own = uid.to_string();
    assert_eq!(maps[0], ["0", own.as_str(), "1"], "{text}");
    let (start, count) = range.split_once(':').unwrap();
    assert_eq!(maps[1], ["1", start, count], "{text}");
    // A uid from the range works inside, and is a subordinate id outside.
    let out = as_user(
        uid,
        gid,
        &[
            "run",
            "-u",
            "1000:1000",
            "--rootfs",
            root.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "id -u; id -g",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1000\n1000\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rootless_bad_input_still_leaves_nothing() {
    let _g = serial();
    let root = rootfs("rootless-bad");
    let out = as_user(
        65534,
        65534,
        &[
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "--",
            "/no/such/command",
        ],
    );
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let out = as_user(
        65534,
        65534,
        &["run", "--rootfs", "/root/no-such-dir", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().count(),
        1,
        "{out:?}"
    );
}

/// Image files and overlays need loop devices and overlays of the host's:
/// a rootless start is refused in one line, before anything is mounted.
#[test]
fn rootless_image_files_and_overlays_are_refused() {
    let _g = serial();
    let root = rootfs("rootless-image");
    let file = root.with_extension("sqfs");
    let mut bytes = b"hsqs".to_vec();
    bytes.resize(8192, 0);
    std::fs::write(&file, bytes).unwrap();
    let r = root.to_str().unwrap();
    for args in [
        vec!["run", "--rootfs", file.to_str().unwrap(), "--", "true"],
        vec!["run", "--rootfs", r, "--overlay", "--", "true"],
    ] {
        let out = as_user(65534, 65534, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("need root"), "{err}");
    }
}
