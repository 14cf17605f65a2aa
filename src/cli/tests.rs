//! Unit tests of the parent module.
use super::*;

fn run(args: &[&str]) -> Result<Command> {
    parse(
        std::iter::once("run")
            .chain(args.iter().copied())
            .map(OsString::from),
    )
}

fn run_ok(args: &[&str]) -> RunArgs {
    match run(args) {
        Ok(Command::Run(a)) => a,
        other => panic!("{args:?} gave {other:?}"),
    }
}

#[test]
fn top_level() {
    let p = |v: &[&str]| parse(v.iter().map(OsString::from));
    assert_eq!(p(&["--help"]), Ok(Command::Help));
    assert_eq!(p(&["-V"]), Ok(Command::Version));
    assert_eq!(run(&["--help"]), Ok(Command::RunHelp));
    assert!(p(&[]).is_err());
    assert!(
        p(&["frobnicate"])
            .unwrap_err()
            .to_string()
            .contains("unknown command 'frobnicate'")
    );
    assert!(p(&["--bogus"]).unwrap_err().to_string().contains("--bogus"));
}

#[test]
fn command_is_taken_verbatim_after_first_positional() {
    let a = run_ok(&["--pids", "5", "sh", "-c", "--memory", "--", "x"]);
    assert_eq!(a.pids, Some(5));
    assert_eq!(a.memory, None);
    assert_eq!(a.command, ["sh", "-c", "--memory", "--", "x"]);
    let b = run_ok(&["--init", "--", "--weird-name"]);
    assert!(b.init);
    assert_eq!(b.command, ["--weird-name"]);
}

#[test]
fn all_options_decode() {
    let a = run_ok(&[
        "--rootfs",
        "/r",
        "--name",
        "web-1",
        "--hostname",
        "box",
        "--net",
        "host",
        "--memory",
        "16m",
        "--pids",
        "20",
        "--cpus",
        "1.5",
        "--cpu-weight",
        "200",
        "--io-weight",
        "300",
        "-e",
        "A=1",
        "--env=B",
        "-w",
        "/srv",
        "-u",
        "1000:100",
        "--read-only",
        "--bind",
        "/a:/b:ro",
        "--bind",
        "rel:/c",
        "--tmpfs",
        "/t",
        "true",
    ]);
    assert_eq!(a.rootfs.as_deref(), Some("/r".as_ref()));
    assert_eq!(a.name.as_deref(), Some("web-1"));
    assert_eq!(a.hostname.as_deref(), Some("box"));
    assert_eq!(a.net, Net::Host);
    assert_eq!(a.memory, Some(16 << 20));
    assert_eq!(a.pids, Some(20));
    assert_eq!(a.cpu_quota, Some(150_000));
    assert_eq!((a.cpu_weight, a.io_weight), (Some(200), Some(300)));
    assert_eq!(a.env, ["A=1", "B"]);
    assert_eq!(a.workdir.as_deref(), Some("/srv"));
    assert_eq!(a.user.as_deref(), Some("1000:100"));
    assert!(a.read_only);
    assert_eq!(
        a.binds[0],
        Bind {
            source: "/a".into(),
            target: "/b".into(),
            read_only: true
        }
    );
    assert_eq!(
        a.binds[1],
        Bind {
            source: "rel".into(),
            target: "/c".into(),
            read_only: false
        }
    );
    assert_eq!(a.tmpfs, [crate::cli::docker::tmpfs("/t").unwrap()]);
    assert_eq!(a.command, ["true"]);
}

#[test]
fn sizes() {
    assert_eq!(size("4096"), Some(4096));
    assert_eq!(size("256k"), Some(256 << 10));
    assert_eq!(size("16M"), Some(16 << 20));
    assert_eq!(size("2g"), Some(2 << 30));
    assert_eq!(size("64mb"), Some(64 << 20));
    // docker's spellings too.
    assert_eq!(size("1.5m"), Some(3 << 19));
    assert_eq!(size("64MiB"), Some(64 << 20));
    for bad in ["abc", "", "m", "-1", "100", "99999999999999999999g", "16 m"] {
        assert_eq!(size(bad), None, "{bad}");
    }
}

#[test]
fn cpu_counts() {
    assert_eq!(cpus("1"), Some(100_000));
    assert_eq!(cpus("0.5"), Some(50_000));
    assert_eq!(cpus(".25"), Some(25_000));
    assert_eq!(cpus("2.00001"), Some(200_001));
    for bad in [
        "0", "0.001", "abc", "1.2.3", "-1", "", ".", "1.000001", "2000",
    ] {
        assert_eq!(cpus(bad), None, "{bad}");
    }
}

#[test]
fn bad_values_name_the_option() {
    for (args, needle) in [
        (&["--memory", "abc", "true"][..], "--memory"),
        (&["--pids", "-1", "true"], "--pids"),
        (&["--pids", "0", "true"], "--pids"),
        (&["--cpu-weight", "0", "true"], "--cpu-weight"),
        (&["--io-weight", "10001", "true"], "--io-weight"),
        (&["--hostname", &"h".repeat(65), "true"], "--hostname"),
        (&["--name", "../etc", "true"], "--name"),
        (&["--name", "", "true"], "--name"),
        (&["--net", "bridges", "true"], "--net"),
        (&["--ip", "10.88.0.300", "true"], "--ip"),
        (&["--bridge", "a-name-too-long0", "true"], "--bridge"),
        (&["--bridge", "a/b", "true"], "--bridge"),
        (&["--subnet", "10.88.0.0", "true"], "--subnet"),
        (&["--subnet", "10.88.0.0/31", "true"], "--subnet"),
        (&["--bind", "/a", "true"], "--bind"),
        (&["--bind", "/a:rel", "true"], "--bind"),
        (&["--bind", "/a:/b:rx", "true"], "--bind"),
        (&["--tmpfs", "tmp", "true"], "--tmpfs"),
        (&["-u", "4294967295", "true"], "--user"),
        (&["-u", "1:", "true"], "--user"),
        (&["-u", ":1", "true"], "--user"),
        (&["-u", "a b", "true"], "--user"),
        (&["--user", "1:2:3", "true"], "--user"),
        (&["-e", "=x", "true"], "--env"),
        (&["--frobnicate", "true"], "--frobnicate"),
        (&["--memory"], "--memory"),
        (&["--pids", "5"], "no command"),
    ] {
        let msg = run(args).unwrap_err().to_string();
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
}

#[test]
fn hostname_of_64_bytes_is_accepted() {
    assert_eq!(
        run_ok(&["--hostname", &"h".repeat(64), "x"])
            .hostname
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn security_options_decode() {
    let a = run_ok(&[
        "--cap-add",
        "net_admin",
        "--cap-drop",
        "ALL",
        "--privileged",
        "--security-opt",
        "seccomp=/p.json",
        "--security-opt",
        "no-new-privileges=false",
        "--ulimit",
        "nofile=1024:2048",
        "--ulimit",
        "core=0",
        "--ulimit",
        "stack=unlimited",
        "--oom-score-adj",
        "-500",
        "true",
    ]);
    assert_eq!(a.cap_add, ["net_admin"]);
    assert_eq!(a.cap_drop, ["ALL"]);
    assert!(a.privileged && !a.no_new_privileges);
    assert_eq!(a.seccomp, Seccomp::File("/p.json".into()));
    assert_eq!(
        a.ulimits,
        [
            ("RLIMIT_NOFILE".to_owned(), 1024, 2048),
            ("RLIMIT_CORE".to_owned(), 0, 0),
            ("RLIMIT_STACK".to_owned(), u64::MAX, u64::MAX)
        ]
    );
    assert_eq!(a.oom_score_adj, Some(-500));
    assert_eq!(
        run_ok(&["--security-opt", "seccomp=unconfined", "true"]).seccomp,
        Seccomp::Unconfined
    );
    for bad in [
        &["--cap-add", "CAP_NOPE"][..],
        &["--security-opt", "apparmor=x"],
        &["--security-opt", "seccomp="],
        &["--ulimit", "nofile=2:1"],
        &["--ulimit", "bogus=1"],
        &["--ulimit", "nofile"],
        &["--oom-score-adj", "1001"],
    ] {
        let mut args = bad.to_vec();
        args.push("true");
        assert!(run(&args).is_err(), "{bad:?}");
    }
}

/// S17 (crun's `exec -u` parsing bug ran the wrong user): every input
/// either decodes to exactly what it says or is refused.
#[test]
fn user_parsing_is_exact_on_any_input() {
    assert_eq!(user("0"), Some((0, None)));
    assert_eq!(user("1000:100"), Some((1000, Some(100))));
    assert_eq!(user("4294967294"), Some((u32::MAX - 1, None)));
    // (uid_t)-1 means "leave unchanged" to setresuid: never a user.
    assert_eq!(user("4294967295"), None);
    for bad in [
        "",
        ":",
        "1000:",
        ":1000",
        "-1",
        "4294967296",
        "1000:100:1",
        "root",
        "1e3",
        " 1",
        "1 ",
        "+1",
        "1000:abc",
        "0x10",
    ] {
        assert_eq!(user(bad), None, "{bad:?}");
    }
    // Random strings over the characters that matter: never a panic, and
    // an accepted one prints back to itself.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"0123456789:-+ ax";
    for _ in 0..20_000 {
        let mut s = String::new();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for k in 0..(x % 12) {
            s.push(alphabet[((x >> (k * 4)) % alphabet.len() as u64) as usize] as char);
        }
        if let Some((u, g)) = user(&s) {
            let back = match g {
                Some(g) => format!("{u}:{g}"),
                None => u.to_string(),
            };
            let norm = |x: &str| {
                x.split(':')
                    .map(|p| match p.trim_start_matches('0') {
                        "" => "0",
                        t => t,
                    })
                    .collect::<Vec<_>>()
                    .join(":")
            };
            assert_eq!(norm(&back), norm(&s), "{s:?}");
        }
    }
}

#[cfg(feature = "manage")]
#[test]
fn the_options_are_kept_as_typed_for_exec() {
    let a = run_ok(&["--name", "ab", "-e", "K=a b", "--", "sh", "-c", "x"]);
    assert_eq!(a.options, ["--name", "ab", "-e", "K=a b"]);
    let a = run_ok(&["--init", "sh"]);
    assert_eq!(a.options, ["--init"]);
    assert_eq!(a.command, ["sh"]);
}

#[test]
fn repeatable_options_are_run_options_that_add_to_a_list() {
    // Whole names, never a part of one.
    assert!(among(ULIMITS, "nofile") && !among(ULIMITS, "ile") && !among(ULIMITS, ""));
    for name in REPEATABLE.split(' ') {
        assert!(among(VALUED, name), "{name}");
        let mut a = RunArgs::default();
        let value = match name {
            "publish" => "8080:80",
            "dns" => "10.0.0.1",
            "add-host" => "db:10.0.0.2",
            "volume" | "bind" => "/srv:/srv",
            "mount" => "type=tmpfs,destination=/t",
            "device" => "/dev/null",
            "ulimit" => "nofile=10:10",
            "cap-add" | "cap-drop" => "CHOWN",
            "security-opt" => "no-new-privileges",
            "env" => "A=1",
            "tmpfs" => "/t",
            _ => "word",
        };
        set_option(&mut a, name, value).unwrap();
        let once = format!("{a:?}");
        set_option(&mut a, name, value).unwrap();
        // A list grows; a single value given again would leave it as it was.
        // (`security-opt` sets a different setting by each of its forms.)
        if name != "security-opt" {
            assert_ne!(format!("{a:?}"), once, "{name}");
        }
    }
    let mut a = RunArgs::default();
    set_option(&mut a, "memory", "1m").unwrap();
    let once = format!("{a:?}");
    set_option(&mut a, "memory", "1m").unwrap();
    assert_eq!(format!("{a:?}"), once);
}
