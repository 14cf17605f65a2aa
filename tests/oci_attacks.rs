//! cella as an OCI runtime under attack: bundles that try to reach the
//! host (sysctls, mounts over the root, control characters in ids and
//! cgroup paths), inputs that are not regular files or are too large, a
//! state directory that others could read, and a `create` or `delete`
//! killed half-way. Each test tries the attack or the fault and checks from
//! outside that it was refused (exit 125, one line naming the problem) or
//! cleaned, and that nothing of the container is left on the host.
#![cfg(feature = "oci")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::bundle::*;
use support::*;

/// `bundle.oci(args)` with a 10 s deadline.
fn oci_quick(b: &Bundle, args: &[&str]) -> Output {
    let mut all = vec!["--root", b.state.to_str().unwrap()];
    all.extend_from_slice(args);
    runtime_with(&all, Stdio::null(), Duration::from_secs(10))
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

/// A file of `size` bytes: `json` (valid) padded with spaces.
fn padded_json(path: &Path, json: &str, size: usize) {
    let mut bytes = json.as_bytes().to_vec();
    bytes.resize(size, b' ');
    std::fs::write(path, bytes).unwrap();
}

/// 0..`max_micros` microseconds, from the clock's nanoseconds.
fn random_micros(max_micros: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    // Mix the bits a little: consecutive calls are close in time.
    (nanos ^ (nanos >> 7)).wrapping_mul(0x9E37_79B9_7F4A_7C15) % max_micros
}

fn host_sysctl(key: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(key)).unwrap()
}

/// Host pids whose cgroup (in any hierarchy) is the leaf named `id`.
fn pids_in_cgroup_of(id: &str) -> Vec<u32> {
    let suffix = format!("/{id}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&suffix)))
        })
        .collect()
}

/// Host pids of the cella binary with `id` as one of their arguments (a
/// create's child before it runs the payload has create's command line).
fn cella_pids_for(id: &str) -> Vec<u32> {
    cella_processes()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == id.as_bytes()))
        })
        .collect()
}

/// The cgroup leaves `/sys/fs/cgroup/*/cella-oci-test/<id>` that exist.
fn cgroup_leaves_of(id: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("cella-oci-test").join(id))
        .filter(|p| p.exists())
        .collect()
}

/// How many times each fault loop runs (`size-report/faults.sh` asks for more).
fn iterations() -> usize {
    std::env::var("CELLA_FAULT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// The leftovers of `ids` as one line for `size-report/faults.sh`.
fn figure(root: &Path, fault: &str, ids: &[String]) {
    let count = |f: &dyn Fn(&str) -> usize| ids.iter().map(|id| f(id)).sum::<usize>();
    let processes = count(&|id| pids_in_cgroup_of(id).len() + cella_pids_for(id).len());
    let cgroups = count(&|id| cgroup_leaves_of(id).len());
    let dirs = count(&|id| usize::from(root.join(id).exists()));
    let mounts = host_mounts()
        .lines()
        .filter(|l| ids.iter().any(|id| l.contains(id.as_str())))
        .count();
    eprintln!(
        "FIGURE | {fault} | {} | {processes} | {mounts} | {cgroups} | {dirs} |",
        ids.len()
    );
}

/// Nothing of container `id` (state under `root`) is left: what
/// `Bundle::assert_gone` checks, for ids other than the bundle's own.
fn assert_id_gone(root: &Path, id: &str) {
    assert!(!root.join(id).exists(), "{id}: state directory left behind");
    assert_eq!(
        cgroup_leaves_of(id),
        Vec::<PathBuf>::new(),
        "{id}: cgroup left behind"
    );
    assert_eq!(
        pids_in_cgroup_of(id),
        Vec::<u32>::new(),
        "{id}: processes left in its cgroup"
    );
    assert_eq!(
        cella_pids_for(id),
        Vec::<u32>::new(),
        "{id}: cella processes left"
    );
}

/// Point the bundle's cgroupsPath at `/cella-oci-test/<id>` (one bundle
/// used for several container ids, each with its own cgroup).
fn config_for_id(template: &str, b: &Bundle, id: &str) -> String {
    let from = format!("\"/cella-oci-test/{}\"", b.id);
    assert!(template.contains(&from));
    template.replace(&from, &format!("\"/cella-oci-test/{id}\""))
}

/// `delete --force` every id on drop: a failing test leaves nothing running.
struct DeleteOnDrop<'a> {
    b: &'a Bundle,
    ids: Vec<String>,
}

impl Drop for DeleteOnDrop<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.b.oci(&["delete", "--force", id]);
        }
    }
}

/// Spawn cella with `args` (stdio to /dev/null), SIGKILL it after `delay`,
/// and reap it.
fn spawn_and_kill(args: &[&str], delay: Duration) {
    let mut child: Child = spawn_silent(args);
    std::thread::sleep(delay);
    // Kills it whether or not it has exited yet (not reaped: still ours).
    let _ = child.kill();
    child.wait().unwrap();
}

// ---------------------------------------------------------------------------
// 1. Sysctls

/// Replace `.0` with `.1` in config.json (the namespaces list).
type NamespacesEdit = Option<(&'static str, String)>;

/// Attack: a bundle writes sysctls that are the host's (vm.*,
/// kernel.core_pattern, which would run a program as host root),
/// kernel.hostname behind the OCI hostname's back, or net.* in the host's
/// network namespace (none of its own, or the host's joined by path). Each
/// must be refused by `run` and `create` with runc 1.1's words and leave the
/// host's value as it was. Sysctls of the container's own namespaces (net
/// with its network namespace, IPC, kernel.domainname with UTS) are applied
/// inside, and the host's values do not change.
#[test]
fn sysctls_of_the_host_are_refused_and_namespaced_ones_applied_inside() {
    let _g = serial();
    let watched = [
        "vm/swappiness",
        "kernel/core_pattern",
        "kernel/hostname",
        "net/ipv4/ping_group_range",
        "net/ipv4/ip_unprivileged_port_start",
        "kernel/shm_rmid_forced",
        "kernel/domainname",
    ];
    let host_values = || watched.map(host_sysctl);
    let before = host_values();
    let no_netns = (r#"{"type": "network"}, "#, String::new());
    // The host's network namespace joined by path: the test's own (cella's
    // too), and PID 1's where it can be read (some sandboxes hide it).
    let join = |path: &str| {
        (
            r#"{"type": "network"}"#,
            format!(r#"{{"type": "network", "path": "{path}"}}"#),
        )
    };
    let own_netns = format!("/proc/{}/ns/net", std::process::id());
    // (tag, linux members, edit of the namespaces list, expected message)
    let mut cases: Vec<(&str, &str, NamespacesEdit, &str)> = vec![
        (
            "swappiness",
            r#""sysctl": {"vm.swappiness": "37"},"#,
            None,
            r#"sysctl "vm.swappiness" is not in a separate kernel namespace"#,
        ),
        (
            "core-pattern",
            r#""sysctl": {"kernel.core_pattern": "|/tmp/cella-pwned %p"},"#,
            None,
            r#"sysctl "kernel.core_pattern" is not in a separate kernel namespace"#,
        ),
        (
            "core-pattern-slash",
            r#""sysctl": {"kernel/core_pattern": "|/tmp/cella-pwned %p"},"#,
            None,
            r#"sysctl "kernel/core_pattern" is not in a separate kernel namespace"#,
        ),
        (
            "hostname",
            r#""sysctl": {"kernel.hostname": "pwned"},"#,
            None,
            r#"sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field"#,
        ),
        (
            "net-no-netns",
            r#""sysctl": {"net.ipv4.ping_group_range": "0 0"},"#,
            Some(no_netns),
            r#"sysctl "net.ipv4.ping_group_range" not allowed in host network namespace"#,
        ),
        (
            "net-host-netns-path",
            r#""sysctl": {"net.ipv4.ip_unprivileged_port_start": "80"},"#,
            Some(join(&own_netns)),
            r#"sysctl "net.ipv4.ip_unprivileged_port_start" not allowed in host network namespace"#,
        ),
    ];
    if std::fs::read_link("/proc/1/ns/net").is_ok() {
        cases.push((
            "net-init-netns-path",
            r#""sysctl": {"net.ipv4.ping_group_range": "0 0"},"#,
            Some(join("/proc/1/ns/net")),
            r#"sysctl "net.ipv4.ping_group_range" not allowed in host network namespace"#,
        ));
    }
    for (tag, sysctl, namespaces, expected) in cases {
        let b = Bundle::new(
            &format!("sysctl-{tag}"),
            &["touch", "/ran"],
            Cfg {
                linux: sysctl,
                ..Cfg::default()
            },
        );
        if let Some((from, to)) = namespaces {
            b.edit_config(|c| {
                assert!(c.contains(from));
                c.replace(from, &to)
            });
        }
        let run = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
        refused(&run, &format!("{tag}: run"), expected);
        b.assert_gone();
        refused(&b.create(&[]), &format!("{tag}: create"), expected);
        b.assert_gone();
        assert!(!b.rootfs().join("ran").exists(), "{tag}: the payload ran");
        assert_eq!(host_values(), before, "{tag}: a host sysctl changed");
    }

    let b = Bundle::new(
        "sysctl-inside",
        &[
            "cat",
            "/proc/sys/net/ipv4/ping_group_range",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
            "/proc/sys/kernel/shm_rmid_forced",
            "/proc/sys/kernel/domainname",
        ],
        Cfg {
            linux: r#""sysctl": {"net.ipv4.ping_group_range": "0 0",
                "net/ipv4/ip_unprivileged_port_start": "80",
                "kernel.shm_rmid_forced": "1",
                "kernel.domainname": "dom.example"},"#,
            ..Cfg::default()
        },
    );
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [vec!["0", "0"], vec!["80"], vec!["1"], vec!["dom.example"]],
        "{out}"
    );
    b.assert_gone();
    assert_eq!(host_values(), before, "a host sysctl changed");
}

// ---------------------------------------------------------------------------
// 2. State directory permissions

/// Attack: another user reads a container's saved config (its environment
/// holds secrets) or state from the state root. The root and each
/// container's directory must be 0700 and the files 0600, so `nobody` can
/// neither list nor read them; a root we own that is too open is tightened
/// by the next create; a root owned by someone else (who could swap files
/// under us) is refused and nothing is made in it.
#[test]
fn the_state_directory_is_private_and_a_foreign_root_is_refused() {
    let _g = serial();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // A state root under /tmp, so that only its own mode keeps nobody out.
    let base = std::env::temp_dir().join(format!("cella-attacks-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = Bundle::new("private", &["sleep", "1000"], Cfg::default());
    b.state = base.join("root");
    b.edit_config(|c| c.replace(r#""TERM=xterm""#, r#""TERM=xterm", "DB_PASSWORD=hunter2""#));

    ok(b.create(&[]));
    let cdir = b.state.join(&b.id);
    assert_eq!(mode(&b.state), 0o700, "state root");
    assert_eq!(mode(&cdir), 0o700, "container directory");
    assert_eq!(mode(&cdir.join("config.json")), 0o600, "config.json");
    assert_eq!(mode(&cdir.join("state")), 0o600, "state");
    let saved = std::fs::read_to_string(cdir.join("config.json")).unwrap();
    assert!(
        saved.contains("hunter2"),
        "the saved config holds the env: {saved}"
    );
    // nobody can reach base (the test means something), but not the root.
    let sanity = as_nobody(&["ls", base.to_str().unwrap()]);
    assert!(
        sanity.status.success(),
        "nobody can list {}",
        base.display()
    );
    let ls = as_nobody(&["ls", b.state.to_str().unwrap()]);
    assert!(!ls.status.success(), "nobody listed the state root: {ls:?}");
    assert!(!String::from_utf8_lossy(&ls.stdout).contains(&b.id));
    for file in ["config.json", "state"] {
        let cat = as_nobody(&["cat", cdir.join(file).to_str().unwrap()]);
        assert!(!cat.status.success(), "nobody read {file}: {cat:?}");
        assert!(!String::from_utf8_lossy(&cat.stdout).contains("hunter2"));
    }
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();

    // An existing root we own, left 0755: tightened by the next create.
    std::fs::set_permissions(&b.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(b.create(&[]));
    assert_eq!(mode(&b.state), 0o700, "the 0755 root was not tightened");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();

    // A root owned by nobody: refused, nothing made in it or elsewhere.
    let foreign = base.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    let own_root = std::mem::replace(&mut b.state, foreign.clone());
    refused(
        &b.create(&[]),
        "foreign root",
        "refusing to keep container state there",
    );
    assert_eq!(
        std::fs::read_dir(&foreign).unwrap().count(),
        0,
        "something was created in the foreign root"
    );
    b.assert_gone();
    b.state = own_root;
    drop(b);
    let _ = std::fs::remove_dir_all(&base);
}

// ---------------------------------------------------------------------------
// 3. Killed create and delete

/// Fault: `cella create` SIGKILLed at a random moment (0-20 ms after it
/// starts), 50 times with fresh ids. `delete --force` of each id must
/// succeed (or say it does not exist, if create died before recording
/// anything) and leave no state directory, no cgroup and no process; an id
/// can then be created, started and deleted normally. Then `delete
/// --force` SIGKILLed at 0-5 ms, 20 times: a second `delete --force` must
/// clean everything.
#[test]
fn a_killed_create_or_delete_is_cleaned_by_delete_force() {
    let _g = serial();
    let b = Bundle::new("killed", &["true"], Cfg::default());
    let config = b.dir.join("config.json");
    let template = std::fs::read_to_string(&config).unwrap();
    let (state, dir) = (b.state.to_str().unwrap(), b.dir.to_str().unwrap());
    let n = iterations();
    let ids: Vec<String> = (0..n).map(|i| format!("{}-{i}", b.id)).collect();
    let mut cleanup = DeleteOnDrop {
        b: &b,
        ids: ids.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids {
        std::fs::write(&config, config_for_id(&template, &b, id)).unwrap();
        let delay = Duration::from_micros(random_micros(20_000));
        spawn_and_kill(&["--root", state, "create", "--bundle", dir, id], delay);
        assert!(Instant::now() < deadline, "killed creates took too long");
    }
    let (mut deleted, mut absent) = (0, 0);
    // What the kills left, for the log: "created" (create had finished),
    // "stopped" (its child died with it), "does not exist", ...
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for id in &ids {
        let st = b.oci(&["state", id]);
        let text = stdout(&st);
        let what = match text.split("\"status\":\"").nth(1) {
            Some(rest) => rest.split('"').next().unwrap().to_owned(),
            None => stderr(&st).trim().replace(id.as_str(), "ID"),
        };
        *seen.entry(what).or_default() += 1;
        let del = b.oci(&["delete", "--force", id]);
        match code(&del) {
            0 => deleted += 1,
            _ if stderr(&del).contains("does not exist") => {
                refused(&del, &format!("{id}: delete"), "does not exist");
                absent += 1;
            }
            c => panic!("{id}: delete --force exited {c}: {}", stderr(&del)),
        }
    }
    eprintln!("killed creates: {seen:?}; {deleted} deleted, {absent} did not exist");
    figure(
        &b.state,
        "cella create SIGKILLed at 0-20 ms, then delete --force",
        &ids,
    );
    for id in &ids {
        assert_id_gone(&b.state, id);
    }
    // One of the ids again, from start to end.
    let id = &ids[ids.len() / 2];
    std::fs::write(&config, config_for_id(&template, &b, id)).unwrap();
    ok(b.oci(&["create", "--bundle", dir, id]));
    ok(b.oci(&["start", id]));
    let start = Instant::now();
    while !ok(b.oci(&["state", id])).contains("\"status\":\"stopped\"") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{id} did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ok(b.oci(&["delete", id]));
    assert_id_gone(&b.state, id);

    // delete --force killed half-way, then run again.
    let ids: Vec<String> = (0..n).map(|i| format!("{}-d{i}", b.id)).collect();
    cleanup.ids.extend(ids.iter().cloned());
    let mut finished_by_second = 0;
    for id in &ids {
        std::fs::write(&config, config_for_id(&template, &b, id)).unwrap();
        ok(b.oci(&["create", "--bundle", dir, id]));
        let delay = Duration::from_micros(random_micros(5_000));
        spawn_and_kill(&["--root", state, "delete", "--force", id], delay);
        let del = b.oci(&["delete", "--force", id]);
        assert!(
            code(&del) == 0 || stderr(&del).contains("does not exist"),
            "{id}: second delete --force (after one killed at {delay:?}): {}",
            stderr(&del)
        );
        finished_by_second += usize::from(code(&del) == 0);
        assert!(Instant::now() < deadline, "killed deletes took too long");
    }
    eprintln!("killed deletes: {finished_by_second} of {n} finished by the second delete");
    figure(
        &b.state,
        "cella delete --force SIGKILLed at 0-5 ms, then again",
        &ids,
    );
    for id in &ids {
        assert_id_gone(&b.state, id);
    }
    drop(cleanup);
}

// ---------------------------------------------------------------------------
// 4. Inputs that are not regular files or too large

/// Fault: every file cella reads (config.json, `exec --process`, `update
/// --resources`, `run --security-opt seccomp=`) is /dev/zero (endless), a
/// FIFO with no writer (would block for ever) or larger than the 4 MiB
/// limit; `update --resources -` reads endless stdin. Each must be refused
/// within 10 s with one line, and change nothing: no container made, the
/// running one untouched.
#[test]
fn inputs_that_are_not_regular_files_or_too_large_are_refused_quickly() {
    let _g = serial();
    const TOO_LARGE: usize = 5 << 20;
    let not_regular = "not a regular file";
    let too_large = "larger than the limit of 4194304 bytes";

    // config.json
    let b = Bundle::new("input-config", &["touch", "/ran"], Cfg::default());
    let config = b.dir.join("config.json");
    let good = std::fs::read_to_string(&config).unwrap();
    let create = |what: &str, expected: &str| {
        let out = oci_quick(&b, &["create", "--bundle", b.dir.to_str().unwrap(), &b.id]);
        refused(&out, what, expected);
        b.assert_gone();
    };
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    create("config.json -> /dev/zero", not_regular);
    mkfifo(&config);
    create("config.json a FIFO", not_regular);
    std::fs::remove_file(&config).unwrap();
    padded_json(&config, &good, TOO_LARGE);
    create("config.json of 5 MiB", too_large);
    assert!(!b.rootfs().join("ran").exists());
    drop(b);

    // exec --process and update --resources on a running container.
    let b = Bundle::new("input-exec", &["sleep", "30"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let fifo = b.dir.join("fifo");
    mkfifo(&fifo);
    let big = b.dir.join("big.json");
    let (fifo, big) = (fifo.to_str().unwrap(), big.to_str().unwrap());
    padded_json(
        Path::new(big),
        r#"{"args": ["touch", "/tmp/exec-ran"], "cwd": "/", "env": ["PATH=/bin"]}"#,
        TOO_LARGE,
    );
    for (file, expected) in [
        ("/dev/zero", not_regular),
        (fifo, not_regular),
        (big, too_large),
    ] {
        let out = oci_quick(&b, &["exec", "--process", file, &b.id]);
        refused(&out, &format!("exec --process {file}"), expected);
    }
    padded_json(
        Path::new(big),
        r#"{"memory": {"limit": 16777216}}"#,
        TOO_LARGE,
    );
    for (file, expected) in [
        ("/dev/zero", not_regular),
        (fifo, not_regular),
        (big, too_large),
    ] {
        let out = oci_quick(&b, &["update", "--resources", file, &b.id]);
        refused(&out, &format!("update --resources {file}"), expected);
    }
    let out = runtime_with(
        &[
            "--root",
            b.state.to_str().unwrap(),
            "update",
            "--resources",
            "-",
            &b.id,
        ],
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
        Duration::from_secs(10),
    );
    refused(
        &out,
        "update --resources - < /dev/zero",
        "larger than the limit",
    );
    // Only the payload is in the container, still running.
    assert_eq!(b.status(), "running");
    assert_eq!(
        pids_in_cgroup_of(&b.id).len(),
        1,
        "an exec'd process appeared"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
    assert!(!b.rootfs().join("tmp/exec-ran").exists());

    // run --security-opt seccomp=FILE (docker-style run).
    let root = rootfs("input-seccomp");
    let dir = root.parent().unwrap().join("input-seccomp-files");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let big = dir.join("big.json");
    padded_json(&big, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#, TOO_LARGE);
    for (file, expected) in [
        ("/dev/zero", not_regular),
        (fifo.to_str().unwrap(), not_regular),
        (big.to_str().unwrap(), too_large),
    ] {
        let opt = format!("seccomp={file}");
        let out = runtime_with(
            &[
                "run",
                "--security-opt",
                &opt,
                "--rootfs",
                root.to_str().unwrap(),
                "--",
                "touch",
                "/ran",
            ],
            Stdio::null(),
            Duration::from_secs(10),
        );
        refused(&out, &format!("run --security-opt {opt}"), expected);
        assert!(!root.join("ran").exists(), "{opt}: the payload ran");
    }
}

// ---------------------------------------------------------------------------
// 5. Mount destination /

/// Attack: a mount (or a device node) whose destination is the container's
/// root itself, spelled `/` or `/tmp/..`: it would replace the whole root.
/// Refused naming the entry, nothing left.
#[test]
fn the_root_is_not_a_mount_or_device_destination() {
    let _g = serial();
    for (tag, dest) in [("slash", "/"), ("dotdot", "/tmp/..")] {
        let b = Bundle::new(&format!("mount-{tag}"), &["touch", "/ran"], Cfg::default());
        b.edit_config(|c| {
            c.replace(
                r#""mounts": ["#,
                &format!(
                    r#""mounts": [
    {{"destination": "{dest}", "type": "tmpfs", "source": "tmpfs"}},"#
                ),
            )
        });
        let out = b.create(&[]);
        refused(&out, dest, "cannot be a mount destination");
        assert!(
            stderr(&out).contains("mounts[0]"),
            "names the entry: {}",
            stderr(&out)
        );
        b.assert_gone();
        assert!(!b.rootfs().join("ran").exists());
    }
    // A device node over the root (cella says devices must be under /dev).
    for (tag, path) in [("slash", "/"), ("dotdot", "/dev/..")] {
        let linux =
            format!(r#""devices": [{{"path": "{path}", "type": "c", "major": 1, "minor": 3}}],"#);
        let b = Bundle::new(
            &format!("device-{tag}"),
            &["touch", "/ran"],
            Cfg {
                linux: &linux,
                ..Cfg::default()
            },
        );
        refused(&b.create(&[]), path, "linux.devices[0].path");
        b.assert_gone();
        assert!(!b.rootfs().join("ran").exists());
    }
}

// ---------------------------------------------------------------------------
// 6. Control characters

/// Attack: control characters in an id or a cgroupsPath, to forge extra
/// lines in logs (and a cgroup named with them). The id is refused by every
/// verb with one line of stderr, the newline shown as `\n`; the
/// cgroupsPath is refused with one line, nothing made.
#[test]
fn control_characters_in_ids_and_cgroup_paths_are_refused_on_one_line() {
    let _g = serial();
    let b = Bundle::new("ctrl", &["touch", "/ran"], Cfg::default());
    let bad_id = "a\nb";
    let dir = b.dir.to_str().unwrap();
    for args in [
        vec!["create", "--bundle", dir, bad_id],
        vec!["run", "--bundle", dir, bad_id],
        vec!["state", bad_id],
        vec!["delete", "--force", bad_id],
    ] {
        let out = b.oci(&args);
        refused(&out, &format!("{args:?}"), "a\\nb");
    }
    assert!(!b.state.join(bad_id).exists());
    assert!(!b.rootfs().join("ran").exists());
    for (tag, json) in [("newline", "x\\ny"), ("escape", "x\\u001b[31my")] {
        let raw = json.replace("\\n", "\n").replace("\\u001b", "\u{1b}");
        b.edit_config(|c| {
            let from = format!("/cella-oci-test/{}", b.id);
            assert!(c.contains(&from));
            c.replace(&from, &format!("/cella-oci-test/{json}"))
        });
        let out = b.create(&[]);
        refused(&out, tag, "cgroupsPath");
        let err = stderr(&out);
        assert!(
            !err.contains('\u{1b}'),
            "{tag}: a raw control character: {err:?}"
        );
        b.assert_gone();
        assert_eq!(cgroup_leaves_of(&raw), Vec::<PathBuf>::new(), "{tag}");
        b.edit_config(|c| {
            c.replace(
                &format!("/cella-oci-test/{json}"),
                &format!("/cella-oci-test/{}", b.id),
            )
        });
    }
    assert!(!b.rootfs().join("ran").exists());
}

/// Attack: an id with a leading dot takes the form of the store's own
/// records being made or removed (`.NAME.PID`), which listings skip and
/// sweeps remove: such a container was hidden from `list` and, named
/// `.x.PID` after a dead pid, lost its record to the next `list` while it
/// ran, its process and cgroups left with nothing to delete them by. It is
/// refused, with one line and nothing made.
#[test]
fn an_id_with_a_leading_dot_is_refused() {
    let _g = serial();
    let b = Bundle::new("dot-id", &["touch", "/ran"], Cfg::default());
    let dir = b.dir.to_str().unwrap();
    for id in [".hidden", ".x.4000000"] {
        for args in [
            vec!["create", "--bundle", dir, id],
            vec!["run", "--bundle", dir, id],
        ] {
            let out = b.oci(&args);
            refused(&out, &format!("{args:?}"), id);
        }
        assert!(!b.state.join(id).exists());
        assert_eq!(cgroup_leaves_of(id), Vec::<PathBuf>::new(), "{id}");
    }
    assert!(!b.rootfs().join("ran").exists());
    // `cella run --name` follows the same rule.
    let out = run_in(&b.rootfs(), &["--name", ".hidden"], &["touch", "/ran"]);
    refused(&out, "run --name .hidden", ".hidden");
    assert!(!b.rootfs().join("ran").exists());
}

// ---------------------------------------------------------------------------
// 7. Small CLI refusals

/// Fault: options with values cella does not know: `--format bogus` for
/// list and ps (a shim would parse an empty or table output as JSON), and a
/// relative `exec --cwd`. Each is an error (125, one line), and an absolute
/// --cwd works.
#[test]
fn bad_formats_and_a_relative_exec_cwd_are_refused() {
    let _g = serial();
    let b = Bundle::new("cli-refusals", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    refused(
        &b.oci(&["list", "--format", "bogus"]),
        "list --format bogus",
        "bogus",
    );
    refused(
        &b.oci(&["ps", "--format", "bogus", &b.id]),
        "ps --format bogus",
        "bogus",
    );
    let out = b.oci(&["exec", "--cwd", "tmp", &b.id, "touch", "ran"]);
    refused(&out, "exec --cwd tmp", "--cwd");
    assert!(!b.rootfs().join("ran").exists() && !b.rootfs().join("tmp/ran").exists());
    assert_eq!(
        ok(b.oci(&["exec", "--cwd", "/tmp", &b.id, "pwd"])),
        "/tmp\n"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

// ---------------------------------------------------------------------------
// 8. A state directory without state file

/// Fault: `<root>/<id>/` exists with no state file (what a create killed in
/// its first steps leaves, here with a stray file): `state` says the
/// container does not exist, `delete --force` removes the directory, and
/// the id can be created again.
#[test]
fn delete_force_removes_a_state_directory_without_state_json() {
    let _g = serial();
    let b = Bundle::new("unrecorded", &["sleep", "1000"], Cfg::default());
    let cdir = b.state.join(&b.id);
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(cdir.join("stray"), "junk").unwrap();
    refused(&b.oci(&["state", &b.id]), "state", "does not exist");
    ok(b.oci(&["delete", "--force", &b.id]));
    assert!(!cdir.exists(), "delete --force left the directory");
    ok(b.create(&[]));
    assert_eq!(b.status(), "created");
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

/// Fault: a `create` killed after it recorded itself but before it forked
/// leaves a record with no process and the cgroup it was about to make;
/// that path may be another container's (a clashing `cgroupsPath`). Its
/// `delete --force` must not kill that container or remove its cgroup. And
/// a state file that is a FIFO is refused at once, not waited on.
#[test]
fn a_record_without_a_process_never_touches_another_containers_cgroup() {
    let _g = serial();
    let running = Bundle::new("victim", &["sleep", "1000"], Cfg::default());
    ok(running.create(&[]));
    ok(running.oci(&["start", &running.id]));
    let saved = std::fs::read_to_string(running.state.join(&running.id).join("state")).unwrap();
    let pid = running_pid(&saved);
    // What the killed create left: its own id, pid 0, the same cgroup.
    let ghost = format!("{}-ghost", running.id);
    let dir = running.state.join(&ghost);
    std::fs::create_dir(&dir).unwrap();
    let record = saved
        .replace(
            &format!("\nid {}\n", running.id),
            &format!("\nid {ghost}\n"),
        )
        .replace(&format!("\npid {pid}\n"), "\npid 0\n");
    assert_ne!(record, saved);
    std::fs::write(dir.join("state"), record).unwrap();
    std::fs::copy(running.dir.join("config.json"), dir.join("config.json")).unwrap();
    assert!(ok(running.oci(&["state", &ghost])).contains("\"status\":\"stopped\""));
    ok(running.oci(&["delete", "--force", &ghost]));
    assert!(!dir.exists());
    assert_eq!(
        running.status(),
        "running",
        "the other container was killed"
    );
    assert!(
        !cgroup_leaves_of(&running.id).is_empty(),
        "its cgroup was removed"
    );
    // A state file that is a FIFO: refused within the deadline.
    let fifo_dir = running.state.join(format!("{}-fifo", running.id));
    std::fs::create_dir(&fifo_dir).unwrap();
    mkfifo(&fifo_dir.join("state"));
    let out = oci_quick(&running, &["state", &format!("{}-fifo", running.id)]);
    refused(&out, "state FIFO", "not a regular file");
    std::fs::remove_file(fifo_dir.join("state")).unwrap();
    padded_json(&fifo_dir.join("state"), "{}", 5 << 20);
    let out = oci_quick(&running, &["state", &format!("{}-fifo", running.id)]);
    refused(&out, "state file of 5 MiB", "larger than the limit");
    std::fs::remove_dir_all(&fifo_dir).unwrap();
    ok(running.oci(&["delete", "--force", &running.id]));
    running.assert_gone();
}

/// The `pid` of a saved state.
fn running_pid(state: &str) -> i64 {
    let line = state.lines().find(|l| l.starts_with("pid ")).unwrap();
    line[4..].parse().unwrap()
}

// ---------------------------------------------------------------------------
// 9. No PID namespace: processes left behind by PID 1

/// Fault: without a PID namespace, PID 1's exit does not end the
/// container's other processes: two background sleeps outlive it. `delete`
/// of the stopped container must kill them and remove the cgroup.
#[test]
fn delete_without_a_pid_namespace_kills_what_pid_1_left() {
    let _g = serial();
    let b = Bundle::new(
        "no-pidns",
        &["sh", "-c", "sleep 300 & sleep 300 & exit 0"],
        Cfg::default(),
    );
    b.edit_config(|c| {
        assert!(c.contains(r#"{"type": "pid"}, "#));
        c.replace(r#"{"type": "pid"}, "#, "")
    });
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    b.wait_status("stopped");
    // The two sleeps outlive PID 1 (a forked child may not have run
    // sleep yet: wait for both).
    let start = Instant::now();
    let left = loop {
        let left = pids_in_cgroup_of(&b.id);
        let comms: Vec<String> = left
            .iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default())
            .collect();
        if comms == ["sleep\n", "sleep\n"] {
            break left;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "expected the two sleeps in the cgroup: {left:?} {comms:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    ok(b.oci(&["delete", &b.id]));
    let start = Instant::now();
    while left
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the sleeps {left:?} survived delete"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    b.assert_gone();
}

/// `run --bundle` blocks the signals it forwards while it waits; its
/// payload must not inherit that mask (a blocked SIGTERM would make `kill`
/// do nothing), as `create`'s payload does not.
#[test]
fn the_payload_of_run_gets_the_callers_signal_mask() {
    let _g = serial();
    let b = Bundle::new(
        "sigmask",
        &["sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"],
        Cfg::default(),
    );
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    b.assert_gone();
}

/// Concurrent verbs on one container serialize on its lock: five
/// `delete --force` at once each finish cleanly (done, or "does not
/// exist" once another has removed it) and nothing is left.
#[test]
fn concurrent_deletes_of_one_container_serialize() {
    let _g = serial();
    let b = Bundle::new("concurrent", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let state = b.state.to_str().unwrap().to_owned();
    let children: Vec<_> = (0..5)
        .map(|_| spawn(&["--root", &state, "delete", "--force", &b.id]))
        .collect();
    for child in children {
        let out = child.output(Duration::from_secs(30));
        assert!(
            code(&out) == 0 || stderr(&out).contains("does not exist"),
            "{}",
            stderr(&out)
        );
    }
    b.assert_gone();
}

/// A capability is granted only by its OCI name, `CAP_` and capitals, as
/// runc takes it: `sys_admin`, `SYS_ADMIN` or `cap_net_admin` would be
/// privileges the bundle's author's other runtimes never gave, and a name
/// no kernel has (`CAP_BOGUS`) is ignored with a warning, as runc does,
/// not a failure. An `exec --process` file is read the same way.
#[test]
fn capabilities_are_granted_only_by_their_oci_names() {
    let _g = serial();
    let b = Bundle::new(
        "capnames",
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Bnd|Eff|Prm)' /proc/self/status; sleep 1000",
        ],
        Cfg::default(),
    );
    let names =
        r#"["CAP_KILL", "CAP_BOGUS", "sys_admin", "SYS_ADMIN", "cap_net_admin", "Cap_Chown"]"#;
    b.edit_config(|c| {
        let start = c.find("\"capabilities\"").unwrap();
        let end = start + c[start..].find("},").unwrap() + 2;
        let caps = format!(
            r#""capabilities": {{"bounding": {names}, "effective": {names}, "permitted": {names}}},"#
        );
        format!("{}{caps}{}", &c[..start], &c[end..])
    });
    let out = b.create(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    for name in [
        "CAP_BOGUS",
        "sys_admin",
        "SYS_ADMIN",
        "cap_net_admin",
        "Cap_Chown",
    ] {
        assert!(
            err.contains(&format!("unknown capability {name} ignored")),
            "no warning for {name}: {err}"
        );
    }
    ok(b.oci(&["start", &b.id]));
    let pid = b.pid();
    let mut status = String::new();
    for _ in 0..200 {
        status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.contains("\nCapEff:\t0000000000000020") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // CAP_KILL (bit 5) only: neither CAP_SYS_ADMIN (21), CAP_NET_ADMIN (12)
    // nor CAP_CHOWN (0) under another spelling.
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert!(
            status.contains(&format!("\n{set}:\t0000000000000020\n")),
            "{set}: {status}"
        );
    }
    // exec --process: the same names, the same warnings, the same sets.
    let file = b.dir.join("process.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"args": ["sh", "-c", "grep -E '^CapEff' /proc/self/status"], "cwd": "/", "user": {{"uid": 0, "gid": 0}},
  "capabilities": {{"bounding": {names}, "effective": {names}, "permitted": {names}}}}}"#
        ),
    )
    .unwrap();
    let out = oci_quick(&b, &["exec", "--process", file.to_str().unwrap(), &b.id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "CapEff:\t0000000000000020");
    assert!(
        stderr(&out).contains("unknown capability sys_admin ignored"),
        "{}",
        stderr(&out)
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

/// A label for an LSM the host does not run is refused, as runc refuses it:
/// the process would run unconfined while its bundle asked otherwise.
#[test]
fn a_label_for_an_lsm_the_host_does_not_run_is_refused() {
    let _g = serial();
    if Path::new("/sys/fs/selinux/enforce").exists() {
        panic!("this test needs a host without SELinux");
    }
    let b = Bundle::new(
        "selinux",
        &["true"],
        Cfg {
            process: r#""selinuxLabel": "system_u:system_r:container_t:s0:c1,c2","#,
            ..Cfg::default()
        },
    );
    refused(
        &b.create(&[]),
        "an SELinux label without SELinux",
        "process.selinuxLabel: SELinux is not enabled on this host",
    );
    b.assert_gone();
}
