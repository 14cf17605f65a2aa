//! Seccomp agents (issue 11, point 2): a `linux.seccomp` with
//! `SCMP_ACT_NOTIFY` and a `listenerPath` gets its filter installed with a
//! listener, which the runtime sends to the agent's unix socket together
//! with the container process state, as runc 1.1 does, for the container's
//! process and for an exec'd one. Seen from the agent's side (the message,
//! the descriptor, a notification arriving on it) and from the container's
//! (the notified call waits for the agent, then fails with ENOSYS once the
//! agent closes the listener; other calls are not held).
#![cfg(feature = "oci")]

mod support;

use cella::json::Value;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::bundle::*;
use support::*;

/// `linux.seccomp`: everything allowed but mkdir, which the agent at
/// `sock` answers.
fn notifying(sock: &Path, extra: &str) -> String {
    format!(
        r#""seccomp": {{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "{}",
           "listenerMetadata": "meta \"1\"", {extra}
           "syscalls": [{{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}}]}},"#,
        sock.display()
    )
}

/// An agent's socket for the bundle.
fn agent(b: &Bundle) -> (PathBuf, UnixListener) {
    let sock = b.socket("agent.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).unwrap();
    (sock, listener)
}

/// The message is the spec's container process state for `pid`, and the
/// descriptor a seccomp listener.
fn check_message(data: &[u8], fd: &OwnedFd, pid: i32, b: &Bundle, status: &str) {
    let text = String::from_utf8_lossy(data);
    let v = cella::json::parse(data).unwrap_or_else(|e| panic!("{e}: {text}"));
    let get = |k: &str| v.get(k).unwrap_or_else(|| panic!("no {k} in {text}"));
    assert!(get("ociVersion").as_str().is_some(), "{text}");
    let fds: Vec<_> = get("fds").as_array().unwrap().iter().collect();
    assert_eq!(fds.len(), 1, "{text}");
    assert_eq!(fds[0].as_str(), Some("seccompFd"), "{text}");
    assert_eq!(get("pid").as_i64(), Some(i64::from(pid)), "{text}");
    assert_eq!(get("metadata").as_str(), Some("meta \"1\""), "{text}");
    let state = get("state");
    let field = |k: &str| state.get(k).and_then(Value::as_str);
    assert_eq!(field("id"), Some(b.id.as_str()), "{text}");
    assert_eq!(field("status"), Some(status), "{text}");
    assert_eq!(field("bundle"), b.dir.to_str(), "{text}");
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    assert_eq!(target, Path::new("anon_inode:seccomp notify"));
}

/// Whether a notification arrives on the listener within 10 seconds.
fn notification_arrives(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let ten = Timespec {
        tv_sec: 10,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&ten)) == Ok(1) && fds[0].revents().contains(PollFlags::IN)
}

/// The file `name` in the rootfs, once the container has written it.
fn written(b: &Bundle, name: &str) -> String {
    let path = b.rootfs().join(name);
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "no {name}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    std::fs::read_to_string(path).unwrap()
}

const PAYLOAD: &str = "echo before > /before; mkdir /made 2> /err; echo $? > /result; sleep 100";

/// `create` hands the listener to the agent before it returns (state
/// `creating`, the container's pid, the metadata), with no_new_privs on
/// (the filter goes in last) and off (it goes in before the user switch).
/// After `start`, the payload's mkdir waits for the agent (a notification
/// is pending on the listener, the directory is not made); once the agent
/// closes the listener, it fails with ENOSYS, and the rest of the payload
/// runs.
#[test]
fn the_agent_gets_the_listener_and_the_containers_mkdir_waits_for_it() {
    let _g = serial();
    require_root();
    for nnp in [true, false] {
        let tag = format!("agent-{nnp}");
        let b = Bundle::new(&tag, &["sh", "-c", PAYLOAD], Cfg::default());
        let (sock, listener) = agent(&b);
        let linux = notifying(&sock, "");
        b.edit_config(|c| {
            c.replace("\"linux\": { ", &format!("\"linux\": {{ {linux}"))
                .replace(
                    "\"noNewPrivileges\": true",
                    &format!("\"noNewPrivileges\": {nnp}"),
                )
        });
        let out = b.create(&[]);
        assert!(out.status.success(), "nnp {nnp}: {}", stderr(&out));
        let (data, fd) = receive_message(&listener);
        check_message(&data, &fd, b.pid(), &b, "creating");
        ok(b.oci(&["start", &b.id]));
        assert!(
            notification_arrives(&fd),
            "nnp {nnp}: no notification for mkdir"
        );
        assert_eq!(written(&b, "before"), "before\n", "not held before mkdir");
        assert!(!b.rootfs().join("result").exists(), "mkdir did not wait");
        assert_eq!(b.status(), "running");
        drop(fd);
        assert_eq!(written(&b, "result"), "1\n", "nnp {nnp}");
        let err = std::fs::read_to_string(b.rootfs().join("err")).unwrap();
        assert!(err.contains("Function not implemented"), "nnp {nnp}: {err}");
        assert!(!b.rootfs().join("made").exists());
        ok(b.oci(&["delete", "--force", &b.id]));
        b.assert_gone();
    }
}

/// An exec'd process under the container's notifying profile: its
/// listener goes to the agent too, with the exec'd process's pid and the
/// container's state (`running`).
#[test]
fn an_exec_hands_its_own_listener_to_the_agent() {
    let _g = serial();
    require_root();
    let b = Bundle::new("agent-exec", &["sleep", "100"], Cfg::default());
    let (sock, listener) = agent(&b);
    let linux = notifying(&sock, "");
    b.edit_config(|c| c.replace("\"linux\": { ", &format!("\"linux\": {{ {linux}")));
    ok(b.oci(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    let (_, first) = receive_message(&listener);
    drop(first);
    let pid_file = b.dir.join("exec.pid");
    ok(b.oci(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &b.id,
        "sh",
        "-c",
        PAYLOAD,
    ]));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (data, fd) = receive_message(&listener);
    check_message(&data, &fd, pid, &b, "running");
    assert!(notification_arrives(&fd), "no notification for mkdir");
    assert_eq!(written(&b, "before"), "before\n");
    assert!(!b.rootfs().join("result").exists(), "mkdir did not wait");
    drop(fd);
    assert_eq!(written(&b, "result"), "1\n");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

/// No agent listening: `create` fails naming the socket, and leaves
/// nothing behind.
#[test]
fn without_an_agent_create_fails_and_leaves_nothing() {
    let _g = serial();
    require_root();
    let b = Bundle::new("agent-absent", &["true"], Cfg::default());
    let sock = b.socket("nobody.sock");
    let linux = notifying(&sock, "");
    b.edit_config(|c| c.replace("\"linux\": { ", &format!("\"linux\": {{ {linux}")));
    let out = b.create(&[]);
    refused(
        &out,
        "no agent",
        &format!(
            "cella: send the seccomp listener to the agent {}: No such file or directory",
            sock.display()
        ),
    );
    b.assert_gone();
}

/// What runc refuses, cella refuses, naming the property; filter flags are
/// honoured, an unknown one refused.
#[test]
fn notify_where_it_cannot_work_is_refused() {
    let _g = serial();
    require_root();
    let b = Bundle::new("agent-refused", &["true"], Cfg::default());
    let sock = b.socket("agent.sock");
    let base = notifying(&sock, "");
    let cases: [(&str, String, &str); 5] = [
        (
            "notify on write",
            base.replace(r#"["mkdir", "mkdirat"]"#, r#"["mkdir", "write"]"#),
            "linux.seccomp.syscalls[0].names: SCMP_ACT_NOTIFY cannot be used for write",
        ),
        (
            "notify on sendmsg",
            base.replace(r#"["mkdir", "mkdirat"]"#, r#"["sendmsg"]"#),
            "linux.seccomp.syscalls[0].names: SCMP_ACT_NOTIFY cannot be used for sendmsg",
        ),
        (
            "no listenerPath",
            base.replace(&format!(r#""listenerPath": "{}","#, sock.display()), ""),
            "linux.seccomp.listenerPath: missing",
        ),
        (
            "notify as the default",
            base.replace(
                r#""defaultAction": "SCMP_ACT_ALLOW""#,
                r#""defaultAction": "SCMP_ACT_NOTIFY""#,
            ),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
        ),
        (
            "unknown flag",
            notifying(&sock, r#""flags": ["SECCOMP_FILTER_FLAG_NONSENSE"],"#),
            "linux.seccomp.flags: unknown flag SECCOMP_FILTER_FLAG_NONSENSE",
        ),
    ];
    let original = std::fs::read_to_string(b.dir.join("config.json")).unwrap();
    for (what, linux, expected) in cases {
        std::fs::write(
            b.dir.join("config.json"),
            original.replace("\"linux\": { ", &format!("\"linux\": {{ {linux}")),
        )
        .unwrap();
        refused(&b.create(&[]), what, expected);
        b.assert_gone();
    }
    // The flags runc knows are installed with the filter (no agent needed
    // without a notify action; its path is then not contacted).
    let flags = r#""flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],"#;
    let linux = notifying(&sock, flags).replace("SCMP_ACT_NOTIFY", "SCMP_ACT_ERRNO");
    std::fs::write(
        b.dir.join("config.json"),
        original
            .replace("\"linux\": { ", &format!("\"linux\": {{ {linux}"))
            .replace(
                r#""args": ["true"]"#,
                r#""args": ["sh", "-c", "mkdir /x; grep Seccomp: /proc/self/status"]"#,
            ),
    )
    .unwrap();
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(!b.rootfs().join("x").exists(), "mkdir was refused");
    b.assert_gone();
}

/// `cella run` has no seccomp agent: a profile file that notifies is
/// refused, naming what.
#[test]
fn cella_run_refuses_a_notifying_profile() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("cella-agent-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("notify.json");
    let body = notifying(&dir.join("agent.sock"), "");
    let body = body
        .trim_start_matches(r#""seccomp": "#)
        .trim_end_matches(',');
    std::fs::write(&profile, body).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = cella(&["run", "--security-opt", &opt, "--", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("SCMP_ACT_NOTIFY needs a seccomp agent, which cella run does not support"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(dir);
}
