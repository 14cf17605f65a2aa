//! Attacks that broke runc, crun and bubblewrap (../shared/reference/escapes.md,
//! S1-S19), each tried against cella and required to fail, with a control
//! where one makes sense (the same attack succeeding without the defence).
//! Also the default security profile of `cella run`, seen from inside.
#![cfg(feature = "oci")]

mod support;

use std::path::Path;
use support::bundle::*;
use support::*;

fn status_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} missing in {out}"))
        .split_whitespace()
        .nth(1)
        .unwrap()
}

/// The capability sets cella itself holds (the VM may lack some).
fn own_permitted() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    u64::from_str_radix(status_line(&s, "CapPrm:"), 16).unwrap()
}

#[test]
fn run_gets_dockers_capabilities_and_seccomp_filter_and_no_new_privs_on_request() {
    let _g = serial();
    let root = rootfs("profile");
    let out = ok(sh(
        &root,
        &[],
        "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status",
    ));
    // chown dac_override fowner fsetid kill setgid setuid setpcap
    // net_bind_service net_raw sys_chroot mknod audit_write setfcap
    assert_eq!(status_line(&out, "CapEff:"), "00000000a80425fb", "{out}");
    assert_eq!(status_line(&out, "CapBnd:"), "00000000a80425fb", "{out}");
    assert_eq!(status_line(&out, "CapPrm:"), "00000000a80425fb", "{out}");
    assert_eq!(
        status_line(&out, "CapInh:"),
        "0000000000000000",
        "S14: {out}"
    );
    assert_eq!(status_line(&out, "CapAmb:"), "0000000000000000", "{out}");
    // As docker's and podman's: setuid programs work (sudo), unless asked.
    assert_eq!(status_line(&out, "NoNewPrivs:"), "0", "{out}");
    assert_eq!(status_line(&out, "Seccomp:"), "2", "{out}");
    for on in [
        "no-new-privileges",
        "no-new-privileges=true",
        "no-new-privileges:true",
    ] {
        let out = ok(sh(
            &root,
            &["--security-opt", on, "-u", "1000"],
            "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        ));
        assert_eq!(status_line(&out, "NoNewPrivs:"), "1", "{on}: {out}");
        assert_eq!(status_line(&out, "Seccomp:"), "2", "{on}: {out}");
    }
    // --cap-drop ALL --cap-add NET_ADMIN: exactly that one.
    let out = ok(sh(
        &root,
        &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"],
        "grep CapEff /proc/self/status",
    ));
    assert_eq!(status_line(&out, "CapEff:"), "0000000000001000", "{out}");
    // --privileged: everything cella holds, no filter, no_new_privs kept
    // unless asked otherwise.
    let out = ok(sh(
        &root,
        &["--privileged", "--security-opt", "no-new-privileges=false"],
        "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
    ));
    assert_eq!(
        u64::from_str_radix(status_line(&out, "CapEff:"), 16).unwrap(),
        own_permitted(),
        "{out}"
    );
    assert_eq!(status_line(&out, "Seccomp:"), "0", "{out}");
    assert_eq!(status_line(&out, "NoNewPrivs:"), "0", "{out}");
    // Unknown names are refused before anything happens.
    let bad = run_in(&root, &["--cap-add", "CAP_NOPE"], &["true"]);
    assert_eq!(code(&bad), 125);
    assert!(stderr(&bad).contains("--cap-add"), "{}", stderr(&bad));
}

#[test]
fn the_default_filter_refuses_what_dockers_does() {
    let _g = serial();
    let root = rootfs("seccomp");
    let confined = ok(run_in(&root, &[], &["probe", "syscalls"]));
    let unconfined = ok(run_in(
        &root,
        &["--security-opt", "seccomp=unconfined"],
        &["probe", "syscalls"],
    ));
    for name in ["keyctl", "perf_event_open", "io_uring_setup", "add_key"] {
        let line = |out: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("{name}=")))
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            line(&confined),
            format!("{name}=1"),
            "EPERM under the filter: {confined}"
        );
        assert_ne!(
            line(&unconfined),
            format!("{name}=1"),
            "control: the call is not refused otherwise: {unconfined}"
        );
    }
    // clone3 answers ENOSYS, so libc falls back to clone (which stays usable).
    assert!(confined.contains("clone3=38"), "{confined}");
    assert!(unconfined.contains("clone3=22"), "{unconfined}");
    let out = ok(sh(
        &root,
        &[],
        "sh -c 'echo child'; unshare -U true 2>/dev/null || echo unshare-refused; mount -t tmpfs t /mnt 2>/dev/null || echo mount-refused",
    ));
    assert_eq!(out, "child\nunshare-refused\nmount-refused\n");
    // A profile file of one's own, OCI format: mkdir fails with EOPNOTSUPP.
    let profile = root.parent().unwrap().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]}"#,
    )
    .unwrap();
    let out = sh(
        &root,
        &["--security-opt", &format!("seccomp={}", profile.display())],
        "mkdir /tmp/x; echo rc=$?",
    );
    assert!(stdout(&out).contains("rc=1"), "{}", stdout(&out));
    assert!(stderr(&out).contains("not supported"), "{}", stderr(&out));
    // A broken profile is refused with its problem named.
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap();
    let out = run_in(
        &root,
        &["--security-opt", &format!("seccomp={}", profile.display())],
        &["true"],
    );
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("SCMP_ACT_NOTIFY"), "{}", stderr(&out));
}

#[test]
fn proc_is_masked_and_read_only_where_docker_does_it() {
    let _g = serial();
    let root = rootfs("masked");
    let script = "cat /proc/keys | wc -c; ls -l /proc/keys | cut -c1; \
        echo x 2>/dev/null > /proc/keys; cat /proc/keys | wc -c; \
        echo 1 2>/dev/null > /proc/sys/vm/drop_caches || echo sys-ro; \
        echo h 2>/dev/null > /proc/sysrq-trigger || echo sysrq-ro";
    let out = ok(sh(&root, &["--cap-add", "SYS_ADMIN"], script));
    // A write to a masked file goes to /dev/null: it reads empty after.
    assert_eq!(
        out, "0\nc\n0\nsys-ro\nsysrq-ro\n",
        "S10: masked files read empty, take no writes"
    );
    // Control: --privileged shows the real /proc/keys.
    let out = ok(sh(&root, &["--privileged"], "cat /proc/keys | wc -c"));
    assert_ne!(
        out.trim(),
        "0",
        "control: the host's /proc/keys is not empty"
    );
}

#[test]
fn s18_a_non_tty_payload_cannot_push_keystrokes_into_the_callers_terminal() {
    let _g = serial();
    let root = rootfs("tiocsti");
    let probe = root.join("bin/probe");
    // Control: the probe itself, run straight under the same pty, can.
    let control = std::process::Command::new("script")
        .args(["-qec", &format!("{} tiocsti", probe.display()), "/dev/null"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("TIOCSTI ok"),
        "control: {control:?}"
    );
    let cmd = format!(
        "{} run --rootfs {} -- probe tiocsti",
        cella_bin(),
        root.display()
    );
    let out = std::process::Command::new("timeout")
        .args(["60", "script", "-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // It holds no descriptor of the caller's terminal at all (issue 12):
    // its stdin is /dev/null, so there is no terminal to push into.
    assert!(text.contains("TIOCSTI errno=25"), "{text}");
    // -i: its stdin is a pipe cella relays, not the terminal either.
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "script",
            "-qec",
            &cmd.replace(" run ", " run -i "),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TIOCSTI errno=25"), "{text}");
}

#[test]
fn s1_the_runtime_binary_is_never_reachable_from_the_container() {
    let _g = serial();
    // The payload is exec'd directly: its /proc/self/exe is its own.
    let b = Bundle::new("s1", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    // While created, PID 1 is still cella's code: not dumpable, so another
    // process of the container (even root) cannot open its exe or fds.
    let out = ok(b.oci(&["exec", &b.id, "sh", "-c", "readlink /proc/self/exe; cat /proc/1/exe > /dev/null 2>&1 || echo exe-refused; readlink /proc/1/fd/3 || echo fd-refused; readlink /proc/1/exe || echo link-refused"]));
    assert_eq!(
        out, "/bin/busybox\nexe-refused\nfd-refused\nlink-refused\n",
        "{out}"
    );
    ok(b.oci(&["start", &b.id]));
    // Control: once the payload runs, PID 1 is busybox's sleep. (Its exe
    // is out of an exec'd process's reach now for another reason: each is
    // confined by Landlock apart, see the next test.)
    let out = ok(b.oci(&["exec", &b.id, "cat", "/proc/1/comm"]));
    assert_eq!(out, "sleep\n");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

/// S1 through the payload's own exec: a program of the container that is a
/// script for `/proc/self/exe` names the runtime's binary while cella's
/// child execs it, and would start the host's cella inside the container,
/// dumpable, where any process there could open `/proc/PID/exe` and write
/// the binary once no cella runs. Nothing outside the container's root
/// can be executed from it (Landlock): the exec fails (126 for `run`), for
/// `run` and for `exec` into a running container, whose other processes never
/// get the binary. Run with a copy of cella, which must stay as it was.
#[test]
fn s1_a_script_for_proc_self_exe_cannot_start_the_runtime_inside() {
    use std::process::Command;
    use std::time::Duration;
    let _g = serial();
    let root = rootfs("s1-exe-run");
    let copy = root.parent().unwrap().join("cella-s1-copy");
    std::fs::copy(cella_bin(), &copy).unwrap();
    let original = std::fs::read(&copy).unwrap();
    let copied = |args: &[&str]| {
        spawn_command(
            Command::new(&copy)
                .args(args)
                .stdin(std::process::Stdio::null()),
        )
        .output(Duration::from_secs(30))
    };
    let evil = |root: &Path| {
        std::fs::write(root.join("bin/evil"), "#!/proc/self/exe\n").unwrap();
        std::fs::set_permissions(
            root.join("bin/evil"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    };
    // `cella run`: the payload itself.
    evil(&root);
    let out = copied(&["run", "--rootfs", root.to_str().unwrap(), "/bin/evil"]);
    assert_eq!(code(&out), 126, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("exec /bin/evil: Permission denied"),
        "{}",
        stderr(&out)
    );
    // `exec` into a container whose PID 1 watches for a process running
    // the copy and opens its binary when one comes.
    let watch = "i=0; while [ $i -lt 4000 ] && [ ! -e /tmp/stop ]; do \
                 for p in /proc/[0-9]*; do case \"$(readlink $p/exe 2>/dev/null)\" in \
                 *cella-s1-copy*) head -c 1 $p/exe >/dev/null 2>&1 && echo $p >> /tmp/got;; esac; \
                 done; i=$((i+1)); done; sleep 1000";
    let b = Bundle::new("s1-exe", &["sh", "-c", watch], Cfg::default());
    evil(&b.rootfs());
    let state = b.state.to_str().unwrap();
    let bundle = b.dir.to_str().unwrap();
    // (create leaves a process holding what it was given as stdio.)
    for args in [
        &["create", "--bundle", bundle, &b.id][..],
        &["start", &b.id],
    ] {
        let status = Command::new(&copy)
            .args(["--root", state])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    }
    for _ in 0..3 {
        let out = copied(&["--root", state, "exec", &b.id, "/bin/evil"]);
        // (The OCI verbs' failures are 125.)
        assert_eq!(code(&out), 125, "{}{}", stdout(&out), stderr(&out));
        assert!(
            stderr(&out).contains("Permission denied"),
            "{}",
            stderr(&out)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let got = copied(&[
        "--root",
        state,
        "exec",
        &b.id,
        "sh",
        "-c",
        "touch /tmp/stop; cat /tmp/got",
    ]);
    assert_eq!(
        stdout(&got),
        "",
        "the container opened the runtime's binary"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
    assert!(
        std::fs::read(&copy).unwrap() == original,
        "the binary was written"
    );
}

#[test]
fn s3_a_created_container_holds_no_host_descriptor_and_cwd_cannot_reach_one() {
    let _g = serial();
    let b = Bundle::new("s3", &["true"], Cfg::default());
    ok(b.create(&[]));
    let st = ok(b.oci(&["state", &b.id]));
    let pid: u32 = st
        .split("\"pid\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let n = e.file_name().to_str().unwrap().parse().unwrap();
            (
                n,
                std::fs::read_link(e.path()).unwrap().display().to_string(),
            )
        })
        .collect();
    fds.sort();
    let extra: Vec<&(u32, String)> = fds.iter().filter(|(n, _)| *n > 2).collect();
    assert_eq!(extra.len(), 1, "only the start fifo beyond stdio: {fds:?}");
    assert!(extra[0].1.ends_with("exec.fifo"), "{fds:?}");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
    // cwd through /proc/self/fd/N of a runtime descriptor: refused for run
    // and for a bundle, never a host directory.
    let root = rootfs("s3cwd");
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}/../../..");
        let out = run_in(&root, &["-w", &cwd], &["sh", "-c", "pwd; ls /"]);
        assert_eq!(code(&out), 125, "run -w {cwd}: {}", stdout(&out));
    }
    for n in [3, 4, 5, 6, 7, 8] {
        let cwd = format!("/proc/self/fd/{n}/../../..");
        let b = Bundle::new("s3b", &["pwd"], Cfg::default());
        b.edit_config(|c| c.replace("\"cwd\": \"/\"", &format!("\"cwd\": \"{cwd}\"")));
        let out = b.create(&[]);
        assert_eq!(code(&out), 125, "cwd {cwd}: {}", stderr(&out));
        assert!(stderr(&out).contains("chdir"), "{}", stderr(&out));
        b.assert_gone();
    }
}

#[test]
fn s4_s5_s6_mount_targets_never_leave_the_rootfs() {
    let _g = serial();
    let tag = std::process::id();
    let host_abs = format!("/tmp/cella-s4-abs-{tag}");
    let host_dotdot = format!("/tmp/cella-s4-dotdot-{tag}");
    let host_dangling = format!("/tmp/cella-s4-dangling-{tag}");
    let host_s6 = format!("/tmp/cella-s6-{tag}");
    let b = Bundle::new("s4", &["true"], Cfg::default());
    let r = b.rootfs();
    std::os::unix::fs::symlink("/tmp", r.join("abs")).unwrap();
    std::fs::remove_dir_all(r.join("etc")).ok();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::os::unix::fs::symlink(format!("{host_s6}/resolv.conf"), r.join("etc/resolv.conf"))
        .unwrap();
    let source = b.dir.join("resolv.conf");
    std::fs::write(&source, "nameserver 192.0.2.1\n").unwrap();
    let abs_name = Path::new(&host_abs)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let mounts = format!(
        r#""mounts": [
            {{"destination": "/proc", "type": "proc", "source": "proc"}},
            {{"destination": "/abs/{abs_name}", "type": "tmpfs", "source": "tmpfs"}},
            {{"destination": "/../../..{host_dotdot}", "type": "tmpfs", "source": "tmpfs"}},
            {{"destination": "/etc/resolv.conf", "type": "bind", "source": "{}", "options": ["rbind", "ro"]}}
        ],"#,
        source.display()
    );
    b.edit_config(|c| {
        let start = c.find("\"mounts\"").unwrap();
        let end = c.find("\"linux\"").unwrap();
        format!("{}{mounts}\n  {}", &c[..start], &c[end..])
    });
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(out, "");
    for host in [&host_abs, &host_dotdot, &host_dangling, &host_s6] {
        assert!(!Path::new(host).exists(), "{host} was created on the host");
    }
    // They landed inside the rootfs instead.
    assert!(r.join("tmp").join(&abs_name).is_dir());
    assert!(r.join(host_dotdot.trim_start_matches('/')).is_dir());
    assert!(
        r.join(host_s6.trim_start_matches('/'))
            .join("resolv.conf")
            .exists()
    );
    b.assert_gone();
    // A mount on a dangling symlink: made inside the rootfs, or refused.
    let b = Bundle::new("s4dangling", &["true"], Cfg::default());
    std::os::unix::fs::symlink(&host_dangling, b.rootfs().join("dangling")).unwrap();
    b.edit_config(|c| c.replace(r#"{"destination": "/tmp", "type": "tmpfs""#,
        r#"{"destination": "/dangling", "type": "tmpfs", "source": "tmpfs"}, {"destination": "/tmp", "type": "tmpfs""#,));
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(
        !Path::new(&host_dangling).exists(),
        "{host_dangling} was created on the host"
    );
    assert!(
        code(&out) == 125
            || b.rootfs()
                .join(host_dangling.trim_start_matches('/'))
                .is_dir(),
        "{}",
        stderr(&out)
    );
    b.assert_gone();
    // The same through cella run's --tmpfs and --bind.
    let root = rootfs("s4run");
    std::os::unix::fs::symlink("/tmp", root.join("abs")).unwrap();
    let data = root.parent().unwrap().join("s4data");
    std::fs::create_dir_all(&data).unwrap();
    ok(run_in(
        &root,
        &[
            "--tmpfs",
            &format!("/abs/{abs_name}"),
            "--bind",
            &format!("{}:/../../..{host_dotdot}", data.display()),
        ],
        &["true"],
    ));
    assert!(!Path::new(&host_abs).exists() && !Path::new(&host_dotdot).exists());
    assert!(root.join("tmp").join(&abs_name).is_dir());
}

#[test]
fn s7_s12_symlinked_proc_sys_or_dev_are_refused() {
    let _g = serial();
    for special in ["proc", "sys"] {
        let b = Bundle::new(&format!("s7{special}"), &["true"], Cfg::default());
        let target = b.rootfs().join(special);
        std::fs::remove_dir_all(&target).unwrap();
        std::os::unix::fs::symlink("/tmp/x", &target).unwrap();
        let out = b.create(&[]);
        assert_eq!(code(&out), 125);
        assert!(
            stderr(&out).contains(&format!("/{special} is a symlink")),
            "{}",
            stderr(&out)
        );
        b.assert_gone();
    }
    // S12: a bundle without its own /dev mount and a rootfs /dev -> /tmp:
    // device nodes are made under the rootfs, never in the host's /tmp.
    let b = Bundle::new("s12", &["true"], Cfg::default());
    b.drop_mounts("/dev");
    std::fs::remove_dir_all(b.rootfs().join("dev")).unwrap();
    std::os::unix::fs::symlink("/mnt", b.rootfs().join("dev")).unwrap();
    let marker = Path::new("/mnt/urandom");
    let existed = marker.exists();
    ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(
        marker.exists(),
        existed,
        "a device node appeared in the host's /mnt"
    );
    assert!(
        b.rootfs().join("mnt/urandom").exists(),
        "nodes made under the rootfs"
    );
    b.assert_gone();
}

#[test]
fn s9_sysctls_are_written_only_to_a_real_procfs() {
    let _g = serial();
    // A tmpfs over /proc/sys: the sysctl write must not land in it.
    let b = Bundle::new(
        "s9",
        &["true"],
        Cfg {
            linux: r#""sysctl": {"net.ipv4.ip_forward": "1"},"#,
            ..Cfg::default()
        },
    );
    b.edit_config(|c| c.replace(r#"{"destination": "/tmp", "type": "tmpfs""#,
        r#"{"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}, {"destination": "/tmp", "type": "tmpfs""#,));
    let out = b.create(&[]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("write sysctl /proc/sys/net/ipv4/ip_forward"),
        "{}",
        stderr(&out)
    );
    b.assert_gone();
    // Control: with the real procfs it is applied, in the container's own
    // network namespace only.
    let b = Bundle::new(
        "s9ok",
        &["cat", "/proc/sys/net/ipv4/ip_forward"],
        Cfg {
            linux: r#""sysctl": {"net.ipv4.ip_forward": "1"},"#,
            ..Cfg::default()
        },
    );
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    // readonlyPaths has /proc/sys: sysctls are written before it is sealed.
    assert_eq!(
        ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id])),
        "1\n"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host
    );
    b.assert_gone();
}

#[test]
fn s10_a_hostile_dev_null_is_never_used_for_masking() {
    let _g = serial();
    // No /dev mount: the image's own /dev stays, with /dev/null a symlink
    // to a host file the attacker would like to make writable.
    let b = Bundle::new(
        "s10",
        &[
            "sh",
            "-c",
            "cat /proc/keys | wc -c; echo x 2>/dev/null >/proc/keys || echo ro",
        ],
        Cfg::default(),
    );
    b.drop_mounts("/dev");
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null"))
        .unwrap();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(out, "0\nro\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
    b.assert_gone();
}

#[test]
fn s14_exec_gets_no_inheritable_capabilities_either() {
    let _g = serial();
    let b = Bundle::new("s14", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let out = ok(b.oci(&[
        "exec",
        &b.id,
        "grep",
        "-E",
        "^Cap(Inh|Amb)",
        "/proc/self/status",
    ]));
    assert_eq!(
        out,
        "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn s19_a_setuid_cella_refuses_to_run() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("cella-s19-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("cella");
    std::fs::copy(cella_bin(), &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            copy.to_str().unwrap(),
            "run",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to run setuid"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rlimits_and_oom_score_from_flags() {
    let _g = serial();
    let root = rootfs("rlimits");
    let out = ok(sh(
        &root,
        &[
            "--ulimit",
            "nofile=100:200",
            "--ulimit",
            "core=0",
            "--oom-score-adj",
            "500",
        ],
        "ulimit -n; ulimit -Hn; ulimit -c; cat /proc/self/oom_score_adj",
    ));
    assert_eq!(out, "100\n200\n0\n500\n");
    // Raising a hard limit above cella's own needs CAP_SYS_RESOURCE, which the
    // payload's setup has only if cella has it: either way the payload never
    // gets more than asked, and a refusal names the limit.
    let own_hard: u64 = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap_or(u64::MAX);
    let above = own_hard.saturating_add(1).to_string();
    let out = run_in(
        &root,
        &["--ulimit", &format!("nofile={above}:{above}")],
        &["sh", "-c", "ulimit -Hn"],
    );
    if code(&out) == 0 {
        assert_eq!(stdout(&out).trim(), above);
    } else {
        assert_eq!(code(&out), 125);
        assert!(stderr(&out).contains("setrlimit"), "{}", stderr(&out));
    }
}

#[test]
fn s4_a_mount_target_swapped_for_a_symlink_while_containers_start_stays_inside() {
    let _g = serial();
    let root = rootfs("s4race");
    let host_target = format!("/tmp/cella-s4race-{}", std::process::id());
    std::fs::create_dir_all(&host_target).unwrap();
    // rootfs/x flips between a directory and a symlink to the host path as
    // fast as it can, while containers mount a tmpfs at /x/sub.
    let x = root.join("x");
    let link = root.join("x.link");
    let dir = root.join("x.dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&host_target, &link).unwrap();
    std::fs::create_dir_all(&x).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, x, link) = (stop.clone(), x.clone(), link.clone());
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // renameat2(RENAME_EXCHANGE): x and x.link trade places.
                if rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &x,
                    rustix::fs::CWD,
                    &link,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .is_ok()
                {
                    flips += 1;
                }
            }
            flips
        })
    };
    let mut started = 0;
    for _ in 0..40 {
        let out = run_in(
            &root,
            &["--tmpfs", "/x/sub"],
            &["sh", "-c", "grep -c ' /x/sub ' /proc/self/mountinfo"],
        );
        if code(&out) == 0 {
            started += 1;
        }
        assert!(
            !Path::new(&host_target).join("sub").exists(),
            "a mount point was created on the host"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 100, "the race ran ({flips} swaps)");
    assert!(started > 0, "some containers started");
    // Whatever the container saw as /x, it was inside the rootfs: the host
    // path has nothing new, and no mount of ours is left on the host.
    assert_eq!(std::fs::read_dir(&host_target).unwrap().count(), 0);
    assert!(!host_mounts().contains(&host_target));
    let _ = std::fs::remove_dir_all(&host_target);
}

#[test]
fn s8_a_procfs_write_redirected_by_a_bind_is_refused() {
    let _g = serial();
    let root = rootfs("s8");
    let decoy = root.parent().unwrap().join("s8-decoy");
    std::fs::write(&decoy, "untouched\n").unwrap();
    // The bind lands on the container's own /proc/1/oom_score_adj: cella's
    // write must not go into the decoy file.
    let out = run_in(
        &root,
        &[
            "--oom-score-adj",
            "500",
            "--bind",
            &format!("{}:/proc/self/oom_score_adj", decoy.display()),
        ],
        &["true"],
    );
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains("oom_score_adj"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "untouched\n");
}

#[test]
fn s11_a_symlinked_dev_console_is_not_followed() {
    let _g = serial();
    // No /dev mount: the image's /dev stays, its console a symlink out.
    let b = Bundle::new(
        "s11",
        &["tty"],
        Cfg {
            terminal: true,
            ..Cfg::default()
        },
    );
    b.drop_mounts("/dev\"");
    std::os::unix::fs::symlink("/etc/cella-s11-console", b.rootfs().join("dev/console")).unwrap();
    let sock = b.socket("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = b.create(&["--console-socket", sock.to_str().unwrap()]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains("set up console"), "{}", stderr(&out));
    assert!(!b.rootfs().join("etc/cella-s11-console").exists());
    assert!(!Path::new("/etc/cella-s11-console").exists());
    b.assert_gone();
}

#[test]
fn s13_stdio_is_never_reopened_through_the_images_dev() {
    let _g = serial();
    // No /dev mount, the image's /dev/null a symlink to a host file, and a
    // payload running as uid 1000: a runtime that reopened /dev/null for
    // stdio after pivot_root would follow it (and chown it, as crun did).
    let target = format!("/tmp/cella-s13-{}", std::process::id());
    std::fs::write(&target, "host file\n").unwrap();
    let b = Bundle::new(
        "s13",
        &["sh", "-c", "echo out; echo err >&2"],
        Cfg::default(),
    );
    b.edit_config(|c| c.replace("\"uid\": 0, \"gid\": 0", "\"uid\": 1000, \"gid\": 1000"));
    b.drop_mounts("/dev");
    std::fs::remove_file(b.rootfs().join("dev/null")).ok();
    std::os::unix::fs::symlink(&target, b.rootfs().join("dev/null")).unwrap();
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(out, "out\n");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "the host file was chowned"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "host file\n");
    b.assert_gone();
    let _ = std::fs::remove_file(&target);
}
