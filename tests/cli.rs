//! The command line as a user meets it: help, version, and refusals. These
//! need no privileges and start no container.

use std::process::Command;

fn cella(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cella"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn help_and_version() {
    let (code, out, err) = cella(&["--help"]);
    assert_eq!((code, err.as_str()), (0, ""));
    // Every command, in groups, and each with its own help.
    for group in [
        "Containers, as docker runs them:",
        "A machine's PID 1",
        "The OCI runtime",
    ] {
        assert!(out.contains(group), "{out}");
    }
    for command in [
        "run", "exec", "ps", "logs", "attach", "stop", "kill", "pause", "update", "rm", "wait",
        "inspect", "init", "create", "start", "state", "delete", "list", "events", "spec",
        "features",
    ] {
        assert!(out.contains(command), "cella --help lacks {command}");
        let (code, help, err) = cella(&[command, "--help"]);
        assert_eq!((code, err.as_str()), (0, ""), "{command} --help");
        assert!(
            help.to_lowercase()
                .starts_with(&format!("usage: cella {command}")),
            "{command} --help: {help}"
        );
    }
    let (_, init, _) = cella(&["init", "--help"]);
    for key in [
        "hostname",
        "on-exit",
        "grace",
        "emergency",
        "command",
        "restart",
        "log",
        "rootfs",
    ] {
        assert!(init.contains(key), "init --help lacks {key}: {init}");
    }
    let (code, out, _) = cella(&["run", "--help"]);
    assert_eq!(code, 0);
    for option in [
        "--rootfs",
        "--name",
        "--hostname",
        "--net",
        "--memory",
        "--pids",
        "--cpus",
        "--cpu-weight",
        "--io-weight",
        "--init",
        "--env",
        "--workdir",
        "--user",
        "--read-only",
        "--bind",
        "--tmpfs",
        "--tty",
        "--interactive",
        "--volume",
        "--mount",
        "--memory-swap",
        "--network",
        "--env-file",
        "--stop-signal",
        "--stop-timeout",
        "--pids-limit",
        "--cpu-shares",
        "--cpuset-cpus",
        "no-new-privileges",
    ] {
        assert!(out.contains(option), "run --help lacks {option}");
    }
    let (code, out, _) = cella(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("cella {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_are_one_line_and_exit_125() {
    for (args, needle) in [
        (&[][..], "no command given"),
        (&["bogus"], "unknown command 'bogus'"),
        (&["rnu"], "did you mean 'run'?"),
        (&["run", "--memroy", "1m", "true"], "did you mean --memory?"),
        (&["run", "--detahc", "true"], "did you mean --detach?"),
        (&["--bogus"], "--bogus"),
        (&["run", "--memory", "12q", "true"], "--memory"),
        (&["run", "--cpus", "0", "true"], "--cpus"),
        (
            &["run", "--user", "no-such-user-anywhere", "true"],
            "--user",
        ),
    ] {
        let (code, out, err) = cella(args);
        assert_eq!(code, 125, "{args:?}");
        assert_eq!(out, "");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("cella: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}
