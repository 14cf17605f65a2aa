//! cella as an OCI runtime, driven the way podman's conmon and containerd's
//! shim drive it: bundles on disk, `--root` state, create/start/state/kill/
//! delete, exec, the console socket, hooks, pause, update. Every test checks
//! from outside that a deleted or refused container leaves nothing behind.
#![cfg(feature = "oci")]

mod support;

use rustix::fd::AsFd;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bundle::*;
use support::*;

#[test]
fn create_holds_the_process_until_start_and_delete_removes_everything() {
    let _g = serial();
    let hostname = host_hostname();
    let mounts_before = host_mounts();
    let b = Bundle::new(
        "life",
        &["sh", "-c", "touch /started; exec sleep 1000"],
        Cfg::default(),
    );
    let pid_file = b.dir.join("pid");
    let out = b.create(&["--pid-file", pid_file.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The pid file exists when create returns, and names a live process.
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(b.status(), "created");
    let state = ok(b.oci(&["state", &b.id]));
    assert!(state.contains(&format!("\"pid\":{pid}")), "{state}");
    assert!(
        state.contains(&format!("\"bundle\":\"{}\"", b.dir.display())),
        "{state}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !b.rootfs().join("started").exists(),
        "the payload ran before start"
    );
    // Its limits and namespaces are already in place.
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/uts")).unwrap();
    assert_ne!(ns(&pid.to_string()), ns("self"));
    ok(b.oci(&["start", &b.id]));
    wait_for(&b.rootfs().join("started"), Duration::from_secs(10));
    assert_eq!(b.status(), "running");
    // start again, delete without --force: refused, nothing changes.
    let again = b.oci(&["start", &b.id]);
    assert_eq!(code(&again), 125);
    assert!(
        stderr(&again).contains("it is running"),
        "{}",
        stderr(&again)
    );
    let del = b.oci(&["delete", &b.id]);
    assert_eq!(code(&del), 125);
    assert_eq!(b.status(), "running");
    ok(b.oci(&["kill", &b.id, "KILL"]));
    b.wait_status("stopped");
    let st = ok(b.oci(&["state", &b.id]));
    assert!(st.contains("\"pid\":0"), "{st}");
    let k = b.oci(&["kill", &b.id, "TERM"]);
    assert_eq!(code(&k), 125, "kill of a stopped container is an error");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
    let gone = b.oci(&["state", &b.id]);
    assert!(
        stderr(&gone).contains("does not exist"),
        "{}",
        stderr(&gone)
    );
    assert_eq!(host_hostname(), hostname);
    assert_eq!(host_mounts(), mounts_before);
}

#[test]
fn the_payload_sees_its_config_applied() {
    let _g = serial();
    let script = "hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; \
        cat /proc/keys | wc -c; ls -l /proc/keys | cut -c1; echo x > /proc/sysrq-trigger || echo ro-ok; \
        echo nofile=$(ulimit -n) oom=$(cat /proc/self/oom_score_adj); ls /dev";
    let b = Bundle::new(
        "applied",
        &["sh", "-c", script],
        Cfg {
            linux: r#""resources": {"memory": {"limit": 33554432}, "pids": {"limit": 20}},"#,
            process: r#""rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}], "oomScoreAdj": 100,"#,
            ..Cfg::default()
        },
    );
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert!(out.starts_with("oci-applied\n"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000021"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000021"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(
        out.contains("\n0\nc\n"),
        "masked /proc/keys reads empty, a /dev/null bind: {out}"
    );
    assert!(out.contains("ro-ok"), "{out}");
    assert!(out.contains("nofile=256 oom=100"), "{out}");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "fd",
    ] {
        assert!(out.lines().any(|l| l == dev), "/dev/{dev} missing: {out}");
    }
    b.assert_gone();
}

#[test]
fn limits_from_the_config_are_enforced() {
    let _g = serial();
    let b = Bundle::new(
        "limits",
        &["sleep", "1000"],
        Cfg {
            linux: r#""resources": {"memory": {"limit": 33554432}, "pids": {"limit": 5}},"#,
            ..Cfg::default()
        },
    );
    ok(b.create(&[]));
    let pid = ok(b.oci(&["state", &b.id]));
    let pid: u32 = pid
        .split("\"pid\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mem_line = cg.lines().find(|l| l.contains(":memory:")).unwrap();
    let mem_dir = Path::new("/sys/fs/cgroup/memory")
        .join(mem_line.rsplit(':').next().unwrap().trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(mem_dir.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "33554432"
    );
    let pids_dir = mem_dir.to_str().unwrap().replace("/memory/", "/pids/");
    assert_eq!(
        std::fs::read_to_string(Path::new(&pids_dir).join("pids.max"))
            .unwrap()
            .trim(),
        "5"
    );
    // Raise it with update, from a resources file as podman does.
    let res = b.dir.join("res.json");
    std::fs::write(&res, r#"{"memory": {"limit": 16777216}}"#).unwrap();
    ok(b.oci(&["update", &format!("--resources={}", res.display()), &b.id]));
    assert_eq!(
        std::fs::read_to_string(mem_dir.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "16777216"
    );
    // Device rules are left as they were, as runc's update leaves them
    // (an orchestrator passes the whole resources).
    let devices_dir = mem_dir.to_str().unwrap().replace("/memory/", "/devices/");
    let list = Path::new(&devices_dir).join("devices.list");
    let before = std::fs::read_to_string(&list).unwrap();
    assert!(!before.is_empty());
    std::fs::write(
        &res,
        r#"{"memory": {"limit": 33554432}, "devices": [{"allow": false, "access": "rwm"}]}"#,
    )
    .unwrap();
    ok(b.oci(&["update", &format!("--resources={}", res.display()), &b.id]));
    assert_eq!(std::fs::read_to_string(&list).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(mem_dir.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "33554432"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn stdio_is_passed_through_and_only_preserved_fds_reach_the_payload() {
    let _g = serial();
    let b = Bundle::new(
        "fds",
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; echo three >&3; \
            for i in 3 4 5 6 7 8 9 10 11 12; do [ -e /proc/self/fd/$i ] && echo fd$i; done; \
            read line; echo got:$line",
        ],
        Cfg::default(),
    );
    // fd 3 is preserved (--preserve-fds 1), fd 4 is not.
    let (r3, w3) = rustix::pipe::pipe().unwrap();
    let (_r4, w4) = rustix::pipe::pipe().unwrap();
    let script = format!(
        "exec 3>&{} 4>&{}; exec {} --root {} create --preserve-fds 1 --bundle {} {}",
        w3.as_fd().as_raw_fd_i(),
        w4.as_fd().as_raw_fd_i(),
        cella_bin(),
        b.state.display(),
        b.dir.display(),
        b.id
    );
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    drop(w3);
    drop(w4);
    ok(b.oci(&["start", &b.id]));
    use std::io::Write;
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut three = String::new();
    std::fs::File::from(r3).read_to_string(&mut three).unwrap();
    assert_eq!(three, "three\n");
    assert_eq!(err, "err\n");
    let fds: Vec<&str> = out.lines().filter(|l| l.starts_with("fd")).collect();
    assert_eq!(fds, ["fd3"], "{out}");
    assert!(
        out.starts_with("out\n") && out.contains("got:hello"),
        "{out}"
    );
    b.wait_status("stopped");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
}

trait RawFd {
    fn as_raw_fd_i(&self) -> i32;
}
impl RawFd for rustix::fd::BorrowedFd<'_> {
    fn as_raw_fd_i(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

#[test]
fn bad_bundles_are_refused_naming_the_problem_and_leave_nothing() {
    let _g = serial();
    let cases: [(&str, &str, &str); 7] = [
        ("json", "{\"ociVersion\": \"1.0.2\",, }", "at byte 23"),
        (
            "field",
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"}, "linux": {"intelRdt": {}}}"#,
            "linux.intelRdt: not supported",
        ),
        (
            "seccompnotify",
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"}, "linux": {"namespaces": [{"type": "mount"}], "seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}}"#,
            "linux.seccomp.defaultAction",
        ),
        (
            "rootfs",
            r#"{"ociVersion": "1.0.2", "root": {"path": "nope"}, "process": {"args": ["sh"], "cwd": "/"}, "linux": {"namespaces": [{"type": "mount"}]}}"#,
            "nope",
        ),
        (
            "command",
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["/bin/no-such-command"], "cwd": "/"}, "linux": {"cgroupsPath": "/cella-oci-test/cella-oci-bad-command", "namespaces": [{"type": "mount"}, {"type": "pid"}]}}"#,
            "/bin/no-such-command",
        ),
        (
            "bind",
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"}, "mounts": [{"destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]}], "linux": {"namespaces": [{"type": "mount"}]}}"#,
            "mounts[0].source",
        ),
        (
            "gid",
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0, "additionalGids": [4294967294]}}, "linux": {"namespaces": [{"type": "mount"}]}}"#,
            "process.user.additionalGids[0]: an id must be at most 2147483647",
        ),
    ];
    for (tag, config, expected) in cases {
        let b = Bundle::new(&format!("bad-{tag}"), &["true"], Cfg::default());
        std::fs::write(b.dir.join("config.json"), config).unwrap();
        let log = b.dir.join("log.json");
        let out = b.oci(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format=json",
            "create",
            "--bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ]);
        assert_eq!(code(&out), 125, "{tag}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{tag}: {err}");
        assert_eq!(err.lines().count(), 1, "{tag}: one line: {err}");
        // The log file has it as runc's JSON line, which podman shows.
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged.starts_with("{\"level\":\"error\",\"msg\":\""),
            "{logged}"
        );
        assert!(
            logged.contains(expected) || logged.contains(&expected.replace('"', "\\\"")),
            "{logged}"
        );
        b.assert_gone();
        let leaf = Path::new("/sys/fs/cgroup/memory/cella-oci-test/cella-oci-bad-command");
        assert!(!leaf.exists());
    }
}

#[test]
fn a_second_create_with_the_same_id_is_refused_and_harmless() {
    let _g = serial();
    let b = Bundle::new("dup", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    let again = b.create(&[]);
    assert_eq!(code(&again), 125);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(b.status(), "created");
    ok(b.oci(&["start", &b.id]));
    assert_eq!(b.status(), "running");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn exec_joins_the_container() {
    let _g = serial();
    let b = Bundle::new("exec", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let out = ok(b.oci(&["exec", &b.id, "sh", "-c", "hostname; ps -o pid,comm; cat /proc/self/cgroup | grep memory; grep CapEff /proc/self/status"]));
    assert!(out.starts_with("oci-exec\n"), "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "1 sleep"),
        "PID 1 is the container's: {out}"
    );
    assert!(out.contains(&b.id), "same cgroup: {out}");
    assert!(out.contains("CapEff:\t0000000000000021"), "{out}");
    let code_out = b.oci(&["exec", &b.id, "sh", "-c", "exit 7"]);
    assert_eq!(code(&code_out), 7);
    // --process FILE, --detach, --pid-file: containerd's and conmon's way.
    let process = b.dir.join("process.json");
    std::fs::write(
        &process,
        r#"{"user": {"uid": 1000, "gid": 1000}, "args": ["sh", "-c", "id -u > /tmp/exec-ran; sleep 1000"], "env": ["PATH=/bin"], "cwd": "/tmp", "noNewPrivileges": true}"#,
    )
    .unwrap();
    let pid_file = b.dir.join("exec.pid");
    ok(b.oci(&[
        "exec",
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &b.id,
    ]));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Uid:\t1000\t1000\t1000\t1000"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let json = ok(b.oci(&["ps", "--format", "json", &b.id]));
    assert!(
        json.contains(&pid.to_string()),
        "ps lists the exec'd process: {json}"
    );
    ok(b.oci(&["kill", "--all", &b.id, "KILL"]));
    b.wait_status("stopped");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
}

#[test]
fn pause_and_resume_freeze_every_process() {
    let _g = serial();
    let b = Bundle::new(
        "pause",
        &[
            "sh",
            "-c",
            "while :; do date +%s%N > /tmp/tick; sleep 0.05; done",
        ],
        Cfg::default(),
    );
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    ok(b.oci(&["pause", &b.id]));
    assert_eq!(b.status(), "paused");
    let refused = b.oci(&["pause", &b.id]);
    assert_eq!(code(&refused), 125);
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
    let proc_state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let before = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap(),
        before,
        "frozen: {proc_state}"
    );
    ok(b.oci(&["resume", &b.id]));
    assert_eq!(b.status(), "running");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn the_console_socket_receives_the_pty_master() {
    let _g = serial();
    let b = Bundle::new(
        "tty",
        &[
            "sh",
            "-c",
            "tty; stty size; ls -l /dev/console | cut -c1; echo done",
        ],
        Cfg {
            terminal: true,
            process: r#""consoleSize": {"height": 40, "width": 100},"#,
            ..Cfg::default()
        },
    );
    let sock = b.socket("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let state = b.state.clone();
    let (dir, id) = (b.dir.clone(), b.id.clone());
    let creator = std::thread::spawn(move || {
        runtime(&[
            "--root",
            state.to_str().unwrap(),
            "create",
            "--bundle",
            dir.to_str().unwrap(),
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
        ])
    });
    let master = receive_fd(&listener);
    ok(creator.join().unwrap());
    ok(b.oci(&["start", &b.id]));
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&out).contains("done")
        && start.elapsed() < Duration::from_secs(10)
    {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let out = String::from_utf8_lossy(&out).replace('\r', "");
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("40 100"), "{out}");
    assert!(
        out.contains("\nc\n"),
        "/dev/console is the pty (a char device): {out}"
    );
    b.wait_status("stopped");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("cella-hooks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let hook = |name: &str| {
        format!(
            r#"{{"path": "/bin/sh", "args": ["sh", "-c", "read s; echo {name} $(hostname) \"$s\" >> {}"]}}"#,
            log.display()
        )
    };
    let top = format!(
        r#""hooks": {{"createRuntime": [{}], "createContainer": [{}], "poststart": [{}], "poststop": [{}]}},"#,
        hook("createRuntime"),
        hook("createContainer"),
        hook("poststart"),
        hook("poststop")
    );
    let b = Bundle::new(
        "hooks",
        &["true"],
        Cfg {
            top: &top,
            ..Cfg::default()
        },
    );
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    b.wait_status("stopped");
    ok(b.oci(&["delete", &b.id]));
    let text = std::fs::read_to_string(&log).unwrap();
    let order: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        order,
        ["createRuntime", "createContainer", "poststart", "poststop"],
        "{text}"
    );
    let host = host_hostname();
    let host = host.trim();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with(&format!("createRuntime {host} ")),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("createContainer oci-hooks "),
        "in the container's namespaces: {text}"
    );
    assert!(text.contains(&format!("\"id\":\"{}\"", b.id)), "{text}");
    // The spec's and runc's statuses: still `creating` for the create
    // hooks, `stopped` for poststop.
    let status = |line: usize| {
        let l = text.lines().nth(line).unwrap();
        l.split("\"status\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        [status(0), status(1), status(3)],
        ["creating", "creating", "stopped"],
        "{text}"
    );
    b.assert_gone();
    // A failing hook fails create, and nothing stays; the spec goes on at
    // delete: the poststop hooks run, the ones after a failing one too.
    std::fs::remove_file(&log).unwrap();
    let failing = format!(
        r#""hooks": {{"createRuntime": [{{"path": "/bin/false"}}], "poststop": [{{"path": "/bin/false"}}, {}]}},"#,
        hook("poststop")
    );
    let b = Bundle::new(
        "hookfail",
        &["true"],
        Cfg {
            top: &failing,
            ..Cfg::default()
        },
    );
    let out = b.create(&[]);
    assert_eq!(code(&out), 125);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.starts_with(&format!("poststop {host} ")), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"status\":\"stopped\""), "{text}");
    assert!(
        stderr(&out).contains("hooks.createRuntime[0] /bin/false"),
        "{}",
        stderr(&out)
    );
    b.assert_gone();
}

#[test]
fn list_features_and_spec() {
    let _g = serial();
    let b = Bundle::new("list", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    let list = ok(b.oci(&["list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&b.id) && l.contains("created")),
        "{list}"
    );
    let json = ok(b.oci(&["list", "--format", "json"]));
    assert!(json.starts_with('[') && json.contains(&b.id), "{json}");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
    let features = ok(cella(&["features"]));
    assert!(
        features.contains("\"ociVersionMax\":\"1.3.0\""),
        "{features}"
    );
    let spec_dir = b.dir.join("spec");
    std::fs::create_dir_all(&spec_dir).unwrap();
    ok(cella(&["spec", "--bundle", spec_dir.to_str().unwrap()]));
    assert!(
        std::fs::read_to_string(spec_dir.join("config.json"))
            .unwrap()
            .contains("\"ociVersion\"")
    );
    let again = cella(&["spec", "--bundle", spec_dir.to_str().unwrap()]);
    assert_eq!(code(&again), 125, "spec does not overwrite");
}

#[test]
fn systemd_cgroup_is_refused_clearly() {
    let out = cella(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        "/nonexistent",
        "x",
    ]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("--systemd-cgroup"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn user_and_time_namespaces_with_mappings_and_offsets() {
    let _g = serial();
    let b = Bundle::new(
        "userns",
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; cut -d. -f1 /proc/uptime; echo x > /dev/null && echo null-ok; \
            grep CapEff /proc/self/status",
        ],
        Cfg {
            linux: r#""uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
                "timeOffsets": {"boottime": {"secs": 31536000, "nanosecs": 0}},"#,
            ..Cfg::default()
        },
    );
    // The namespaces list of the template has no user or time: add them.
    b.edit_config(|c| {
        c.replace(
            r#"{"type": "mount"}]"#,
            r#"{"type": "mount"}, {"type": "user"}, {"type": "time"}]"#,
        )
    });
    let host_uptime: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    ok(b.create(&[]));
    let pid = ok(b.oci(&["state", &b.id]));
    let pid: u32 = pid
        .split("\"pid\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // From outside: the container's root is host uid 200000.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.contains("Uid:\t200000\t200000\t200000\t200000"),
        "{status}"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"],
        "{out}"
    );
    let inside: u64 = lines[2].parse().unwrap();
    assert!(
        inside >= host_uptime + 31_536_000 && inside < host_uptime + 31_536_000 + 60,
        "boottime offset: {inside} vs {host_uptime}"
    );
    assert_eq!(
        lines[3], "null-ok",
        "device nodes are bound in a user namespace: {out}"
    );
    assert!(lines[4].ends_with("0000000000000021"), "{out}");
    b.assert_gone();
}

#[test]
fn exec_into_a_container_with_its_own_user_namespace() {
    let _g = serial();
    let b = Bundle::new(
        "userns-exec",
        &["sleep", "1000"],
        Cfg {
            linux: r#""uidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}],"#,
            ..Cfg::default()
        },
    );
    b.edit_config(|c| {
        c.replace(
            r#"{"type": "mount"}]"#,
            r#"{"type": "mount"}, {"type": "user"}]"#,
        )
    });
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let out = ok(b.oci(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; hostname",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "300000", "65536"],
        "{out}"
    );
    assert_eq!(lines[2], "oci-userns-exec");
    // From outside, the exec'd process is the mapped uid, not root.
    let pid_file = b.dir.join("e.pid");
    ok(b.oci(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &b.id,
        "sleep",
        "1000",
    ]));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    assert!(
        status.contains("Uid:\t300000\t300000\t300000\t300000"),
        "{status}"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

/// (mount point, type, source) of each line of a `/proc/self/mountinfo`.
fn mounts_seen(mountinfo: &str) -> Vec<(String, String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            Some((point.to_owned(), r.next()?.to_owned(), r.next()?.to_owned()))
        })
        .collect()
}

/// The runtime spec: a mount's `source` is what is mounted. mountinfo shows
/// `proc proc`, not `proc none`, as runc gives it, for config.json's mounts
/// and for `cella run`'s own.
#[test]
fn every_mount_shows_its_source() {
    let _g = serial();
    let b = Bundle::new("sources", &["cat", "/proc/self/mountinfo"], Cfg::default());
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_mounted(
        "OCI",
        &out,
        &[
            ("/proc", "proc", "proc"),
            ("/sys", "sysfs", "sysfs"),
            ("/dev", "tmpfs", "tmpfs"),
            ("/dev/pts", "devpts", "devpts"),
            ("/tmp", "tmpfs", "tmpfs"),
        ],
    );
    b.assert_gone();
    let root = rootfs("sources-run");
    let out = ok(run_in(&root, &[], &["cat", "/proc/self/mountinfo"]));
    assert_mounted(
        "cella run",
        &out,
        &[
            ("/proc", "proc", "proc"),
            ("/sys", "sysfs", "sysfs"),
            ("/dev", "tmpfs", "tmpfs"),
            ("/dev/pts", "devpts", "devpts"),
            ("/dev/shm", "tmpfs", "shm"),
            ("/dev/mqueue", "mqueue", "mqueue"),
        ],
    );
}

/// Each `(mount point, type, source)` is in `mountinfo`.
fn assert_mounted(who: &str, mountinfo: &str, wanted: &[(&str, &str, &str)]) {
    let seen = mounts_seen(mountinfo);
    for (point, fstype, source) in wanted {
        assert!(
            seen.iter()
                .any(|(p, t, s)| p == point && t == fstype && s == source),
            "{who}: {point} {fstype} {source} not in {seen:?}"
        );
    }
}

/// What docker's profile allowed before Linux 5.3: none of `close_range`,
/// `faccessat2`, `openat2`, `clone3`, `pidfd_*`.
const OLD_DOCKER_SYSCALLS: &str = "accept accept4 access alarm arch_prctl bind brk capget capset \
    chdir chmod chown clock_getres clock_gettime clock_nanosleep clone close connect dup dup2 dup3 \
    epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_wait eventfd eventfd2 execve execveat \
    exit exit_group faccessat fadvise64 fallocate fchdir fchmod fchmodat fchown fchownat fcntl \
    fdatasync flock fork fstat fstatfs fsync ftruncate futex getcwd getdents getdents64 getegid \
    geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid getppid getpriority \
    getrandom getresgid getresuid getrlimit getrusage getsid getsockname getsockopt gettid \
    gettimeofday getuid getxattr ioctl kill lchown link linkat listen lseek lstat madvise mkdir \
    mkdirat mmap mprotect mremap munmap nanosleep newfstatat open openat pause pipe pipe2 poll \
    ppoll prctl pread64 prlimit64 pselect6 pwrite64 read readlink readlinkat readv recvfrom \
    recvmsg rename renameat rmdir rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo \
    rt_sigreturn rt_sigsuspend rt_sigtimedwait sched_getaffinity sched_yield select sendmsg \
    sendto set_robust_list set_tid_address setgid setgroups setitimer setpgid setresgid \
    setresuid setsid setsockopt setuid shutdown sigaltstack socket socketpair stat statfs \
    symlink symlinkat sysinfo tgkill time times tkill umask uname unlink unlinkat utimensat \
    vfork wait4 waitid write writev";

/// A profile written before the newer calls existed (older docker ones,
/// most hand-written ones) runs the container whether no_new_privs is on
/// (the filter goes in just before exec) or off (it goes in before the
/// user switch): cella's own steps after the filter (closing descriptors,
/// checking the command, waiting for `start`) use only calls such a
/// profile allows, and the payload's libc falls back from the newer ones.
#[test]
fn a_strict_old_profile_without_the_newer_calls_runs_the_container() {
    let _g = serial();
    let names = quoted(&OLD_DOCKER_SYSCALLS.split_whitespace().collect::<Vec<_>>());
    for nnp in [true, false] {
        let linux = format!(
            r#""seccomp": {{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{{"names": [{names}], "action": "SCMP_ACT_ALLOW"}}]}},"#
        );
        let b = Bundle::new(
            &format!("oldprofile-{nnp}"),
            &[
                "sh",
                "-c",
                // x86_64: clone3 (435) and faccessat2 (439) are past the
                // profile's highest call, mount (165) and kexec_load (246)
                // below it.
                "echo ok from $(cat /proc/self/status | grep -c Seccomp:.2); probe nr 435 439 165 246",
            ],
            Cfg {
                linux: &linux,
                ..Cfg::default()
            },
        );
        if !nnp {
            b.edit_config(|c| c.replace("\"noNewPrivileges\": true", "\"noNewPrivileges\": false"));
        }
        // Through create, start and delete, as podman and containerd do.
        let out = b.create(&[]);
        assert!(
            out.status.success(),
            "no_new_privs {nnp}: create: {}",
            stderr(&out)
        );
        ok(b.oci(&["start", &b.id]));
        b.wait_status("stopped");
        ok(b.oci(&["delete", &b.id]));
        b.assert_gone();
        let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some("ok from 1"),
            "no_new_privs {nnp}: the payload ran under the filter: {out}"
        );
        // runc 1.1's filters: ENOSYS past the highest call the profile
        // names (libc falls back to an older call), the default action
        // (here EPERM) for an unnamed call below it.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(lines.next(), Some("435=38 439=38 165=1 246=1"), "{out}");
        b.assert_gone();
        // `architectures` leaving out this machine's: the filter still
        // applies to it, as libseccomp (so runc) always adds the native one.
        #[cfg(target_arch = "x86_64")]
        {
            b.edit_config(|c| c.replace("[\"SCMP_ARCH_X86_64\"]", "[\"SCMP_ARCH_X86\"]"));
            let config = std::fs::read_to_string(b.dir.join("config.json")).unwrap();
            assert!(
                config.contains(r#""architectures": ["SCMP_ARCH_X86"]"#),
                "{config}"
            );
            let again = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
            assert_eq!(
                again, out,
                "no_new_privs {nnp}, native architecture not listed"
            );
            b.assert_gone();
        }
    }
}

/// runc's habits scripts rely on: `kill ID 0` says whether the container
/// is alive (exit 0) or not; `delete --force` of an id that does not exist
/// succeeds; `-v` prints the version.
#[test]
fn kill_zero_delete_force_of_nothing_and_dash_v() {
    let _g = serial();
    let b = Bundle::new("killzero", &["sh", "-c", "exit 0"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["kill", &b.id, "0"]));
    assert_eq!(b.status(), "created", "signal 0 changes nothing");
    ok(b.oci(&["start", &b.id]));
    b.wait_status("stopped");
    let stopped = b.oci(&["kill", &b.id, "0"]);
    assert_ne!(code(&stopped), 0, "a stopped container is not alive");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
    let nothing = b.oci(&["delete", "--force", &b.id]);
    assert_eq!(code(&nothing), 0, "{}", stderr(&nothing));
    let without_force = b.oci(&["delete", &b.id]);
    assert!(stderr(&without_force).contains("does not exist"));
    let version = ok(cella(&["-v"]));
    assert!(version.starts_with("cella "), "{version}");
}

/// The runtime spec: a failing poststart or poststop hook is a warning,
/// and the hooks after it in that phase still run (runc 1.1 stops at a
/// failing poststart hook; the spec wins).
#[test]
fn a_failing_poststart_or_poststop_hook_warns_and_the_rest_run() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("cella-hookwarn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let mark = |name: &str| {
        format!(
            r#"{{"path": "/bin/sh", "args": ["sh", "-c", "echo {name} >> {}"]}}"#,
            log.display()
        )
    };
    let fail = r#"{"path": "/bin/false"}"#;
    let top = format!(
        r#""hooks": {{"poststart": [{fail}, {}], "poststop": [{fail}, {}]}},"#,
        mark("poststart-after-failure"),
        mark("poststop-after-failure"),
    );
    let b = Bundle::new(
        "hookwarn",
        &["true"],
        Cfg {
            top: &top,
            ..Cfg::default()
        },
    );
    ok(b.create(&[]));
    let started = b.oci(&["start", &b.id]);
    assert_eq!(code(&started), 0, "{}", stderr(&started));
    assert!(
        stderr(&started).contains("warning") && stderr(&started).contains("hooks.poststart[0]"),
        "{}",
        stderr(&started)
    );
    b.wait_status("stopped");
    let deleted = b.oci(&["delete", &b.id]);
    assert_eq!(code(&deleted), 0, "{}", stderr(&deleted));
    assert!(
        stderr(&deleted).contains("hooks.poststop[0]"),
        "{}",
        stderr(&deleted)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "poststart-after-failure\npoststop-after-failure\n"
    );
    b.assert_gone();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The runtime spec's lifecycle: a failing startContainer hook is an error
/// of `start`, and the container is stopped (its program never runs, not
/// even on a second `start`); `delete` then runs its poststop hooks. And a
/// created container ends on a signal that ends a process by default
/// (runc's does): `kill ID TERM` before `start` stops it.
#[test]
fn a_failing_start_container_hook_or_a_term_before_start_stops_the_container() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("cella-hookstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let top = format!(
        r#""hooks": {{"startContainer": [{{"path": "/bin/false"}}], "poststop": [{{"path": "/bin/sh", "args": ["sh", "-c", "echo poststop >> {}"]}}]}},"#,
        log.display()
    );
    let b = Bundle::new(
        "hookstart",
        &["touch", "/ran"],
        Cfg {
            top: &top,
            ..Cfg::default()
        },
    );
    ok(b.create(&[]));
    let started = b.oci(&["start", &b.id]);
    assert_eq!(code(&started), 125, "{}", stderr(&started));
    assert!(
        stderr(&started).contains("hooks.startContainer[0]"),
        "{}",
        stderr(&started)
    );
    assert_eq!(b.status(), "stopped");
    let again = b.oci(&["start", &b.id]);
    assert_ne!(code(&again), 0);
    assert!(!b.rootfs().join("ran").exists(), "the program ran");
    ok(b.oci(&["delete", &b.id]));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "poststop\n");
    b.assert_gone();
    // SIGTERM, SIGHUP before start: stopped, the program never run; a
    // signal whose default is to be ignored changes nothing.
    b.edit_config(|c| {
        let hook = r#""startContainer": [{"path": "/bin/false"}], "#;
        assert!(c.contains(hook));
        c.replace(hook, "")
    });
    for sig in ["TERM", "HUP"] {
        ok(b.create(&[]));
        ok(b.oci(&["kill", &b.id, "WINCH"]));
        assert_eq!(b.status(), "created");
        ok(b.oci(&["kill", &b.id, sig]));
        assert_eq!(b.status(), "stopped", "{sig}");
        assert_ne!(code(&b.oci(&["start", &b.id])), 0);
        ok(b.oci(&["delete", &b.id]));
        b.assert_gone();
    }
    assert!(!b.rootfs().join("ran").exists(), "the program ran");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `linux.devices` makes nodes, `linux.resources.devices` says which may be
/// used: a node the rules refuse exists but cannot be opened (runc).
#[test]
fn a_device_node_does_not_widen_the_device_rules() {
    let _g = serial();
    // /dev/fuse (10:229) is harmless to open and in no default allow list.
    let node = r#""devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],"#;
    let script = "ls /dev/fuse && { exec 3</dev/fuse && echo opened; } 2>&1 | grep -o 'opened\\|Operation not permitted'";
    for (allow, want) in [
        ("", "Operation not permitted"),
        (
            r#", {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}"#,
            "opened",
        ),
    ] {
        let linux = format!(
            r#"{node} "resources": {{"devices": [{{"allow": false, "access": "rwm"}}{allow}]}},"#
        );
        let b = Bundle::new(
            "devnode",
            &["sh", "-c", script],
            Cfg {
                linux: &linux,
                ..Cfg::default()
            },
        );
        let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
        assert_eq!(out, format!("/dev/fuse\n{want}\n"), "rules {allow:?}");
        b.assert_gone();
    }
}

/// A `linux.devices` node under a default device's name is made as the
/// config says (its numbers, mode and owner), not left as the default
/// one, as runc makes it; a `/dev/ptmx` node replaces the link.
#[test]
fn a_configured_node_replaces_the_default_of_its_name() {
    let _g = serial();
    let nodes = r#""devices": [
      {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 384, "uid": 1000, "gid": 1000},
      {"path": "/dev/zero", "type": "c", "major": 1, "minor": 7, "fileMode": 416, "uid": 0, "gid": 0},
      {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 438, "uid": 0, "gid": 0}],"#;
    let b = Bundle::new(
        "devnames",
        &[
            "sh",
            "-c",
            "stat -c '%n %F %a %u %t:%T' /dev/null /dev/zero /dev/ptmx /dev/full",
        ],
        Cfg {
            linux: nodes,
            ..Cfg::default()
        },
    );
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(
        out,
        "/dev/null character special file 600 1000 1:3\n\
         /dev/zero character special file 640 0 1:7\n\
         /dev/ptmx character special file 666 0 5:2\n\
         /dev/full character special file 666 0 1:7\n"
    );
    b.assert_gone();
}

/// The runtime spec: unknown properties are ignored, at any depth; a
/// property it defines that cella cannot honour is refused by name; runc
/// 1.1's habits for kernel memory (accepted, a warning) and AppArmor (a
/// profile on a host without it is an error).
#[test]
fn unknown_properties_are_ignored_and_unhonourable_ones_named() {
    let _g = serial();
    let b = Bundle::new(
        "unknown",
        &["sh", "-c", "echo ran"],
        Cfg {
            top: r#""x-future": {"nested": [1, {"deeper": true}]},"#,
            process: r#""x-process-extra": "v","#,
            linux: r#""x-linux-extra": 1, "resources": {"x-res": {}, "memory": {"limit": 67108864, "x-mem": 2, "kernel": 1048576, "kernelTCP": 1048576}},"#,
            ..Cfg::default()
        },
    );
    b.edit_config(|c| {
        c.replace(
            r#""root": {"path": "rootfs","#,
            r#""root": {"x-root": 1, "path": "rootfs","#,
        )
        .replace(r#"{"type": "pid"}"#, r#"{"type": "pid", "x-ns": "y"}"#)
    });
    let config = std::fs::read_to_string(b.dir.join("config.json")).unwrap();
    assert!(
        config.contains("x-root") && config.contains("x-ns"),
        "{config}"
    );
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(stdout(&out), "ran\n", "{}", stderr(&out));
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains("warning")
            && err.contains("linux.resources.memory.kernel:")
            && err.contains("kernelTCP"),
        "{err}"
    );
    b.assert_gone();
    for (tag, edit, named) in [
        (
            "vm",
            r#""vm": {"hypervisor": {"path": "/x"}},"#,
            "vm: not supported",
        ),
        (
            "sched",
            r#""process": { "scheduler": {"policy": "SCHED_OTHER"},"#,
            "process.scheduler: not supported",
        ),
        (
            "personality",
            r#""linux": { "personality": {"domain": "LINUX"},"#,
            "linux.personality: not supported",
        ),
    ] {
        let b = Bundle::new(&format!("unhonoured-{tag}"), &["true"], Cfg::default());
        b.edit_config(|c| match tag {
            "vm" => c.replacen("\"ociVersion\"", &format!("{edit} \"ociVersion\""), 1),
            "sched" => c.replacen("\"process\": {", edit, 1),
            _ => c.replacen("\"linux\": {", edit, 1),
        });
        let out = b.create(&[]);
        refused(&out, tag, named);
        b.assert_gone();
    }
    // AppArmor: a profile asked for where it cannot be applied is an error.
    let b = Bundle::new(
        "apparmor",
        &["true"],
        Cfg {
            process: r#""apparmorProfile": "docker-default","#,
            ..Cfg::default()
        },
    );
    let out = b.create(&[]);
    refused(&out, "apparmor", "process.apparmorProfile");
    b.assert_gone();
}

/// `ro` with `rbind` makes only the top mount read-only (runc); `rro` makes
/// every mount of the tree read-only, with `mount_setattr(AT_RECURSIVE)`.
#[test]
fn ro_seals_the_top_of_a_recursive_bind_and_rro_the_whole_tree() {
    let _g = serial();
    let host = std::env::temp_dir().join(format!("cella-rro-{}", std::process::id()));
    let sub = host.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    // A mount under the bound directory: the tree a recursive bind takes.
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "cella-rro", sub.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
        }
    }
    let _unmount = Unmount(sub.clone());
    let b = Bundle::new(
        "rro",
        &[
            "sh",
            "-c",
            "for d in /top /tree; do for f in $d/x $d/sub/x; do touch $f 2>/dev/null && echo $f=rw || echo $f=ro; done; done",
        ],
        Cfg::default(),
    );
    let source = host.to_str().unwrap();
    b.edit_config(|c| {
        c.replacen(
            "\"mounts\": [",
            &format!(
                r#""mounts": [
    {{"destination": "/top", "type": "bind", "source": "{source}", "options": ["rbind", "ro"]}},
    {{"destination": "/tree", "type": "bind", "source": "{source}", "options": ["rbind", "rro"]}},"#
            ),
            1,
        )
    });
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(
        out, "/top/x=ro\n/top/sub/x=rw\n/tree/x=ro\n/tree/sub/x=ro\n",
        "ro: the top only; rro: every mount"
    );
    b.assert_gone();
}
