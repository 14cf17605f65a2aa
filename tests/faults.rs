//! Faults are input too: `cella run` SIGKILLed at random moments, names
//! reused after a crash, processes left behind a PID 1 that shares the
//! host's PID namespace, many containers at once. Nothing may be left:
//! no process, no cgroup once one more cella command has run. Also what a
//! careless user or a hostile payload tries next: mounts over `/`, names
//! that break lines or meet cgroup files, limits the kernel refuses, and
//! `--init`'s PID 1 leaking cella's command line.
//!
//! The loops run `CELLA_FAULT_ITERATIONS` times (default 50, as in CI;
//! `size-report/faults.sh` runs more for docs/benchmark.md's figures).

mod support;

use rustix::process::Signal;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};
use support::*;

fn iterations() -> usize {
    std::env::var("CELLA_FAULT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// 0..max microseconds, from the clock (no crate for randomness).
fn random_us(max: u64) -> u64 {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (n.wrapping_mul(2_654_435_761) >> 7) % max
}

/// Host pids of processes whose environment holds `marker` (payloads
/// started with `-e MARK=marker`) or whose cgroup path mentions it.
fn marked_processes(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
            let cg = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
            // A setup child not yet in its cgroup nor exec'd still has its
            // cella's command line (`--name MARKER-N`), and may hold the
            // container's lock a moment after its cella is killed.
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&env).contains(marker)
                || cg.contains(marker)
                || String::from_utf8_lossy(&cmdline).contains(marker)
        })
        .collect()
}

/// Leaf directories of containers whose name contains `marker`.
fn marked_cgroups(marker: &str) -> Vec<std::path::PathBuf> {
    cella_cgroups()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(marker))
        .collect()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn sigkill_of_run_at_any_moment_leaves_no_process_and_no_cgroup() {
    let _g = serial();
    let root = rootfs("fault-run");
    let marker = format!("faultrun{}", std::process::id());
    let n = iterations();
    for i in 0..n {
        let name = format!("{marker}-{i}");
        let mark = format!("MARK={marker}");
        let mut child = spawn_silent(&[
            "run",
            "--rootfs",
            root.to_str().unwrap(),
            "--name",
            &name,
            "--memory",
            "32m",
            "--pids",
            "64",
            "-e",
            &mark,
            "--",
            "sleep",
            "30",
        ]);
        std::thread::sleep(Duration::from_micros(random_us(5_000)));
        let _ = child.kill();
        let _ = child.wait();
    }
    // The kernel kills each container as its cella dies (asynchronously).
    // A setup child may still be exiting once its memory (so its command
    // line) is gone: it holds its record's owner lock until its files go.
    let gone = wait_until(Duration::from_secs(10), || {
        marked_processes(&marker).is_empty() && held_records(&marker).is_empty()
    });
    let left = marked_processes(&marker);
    if !gone {
        for p in &left {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(*p as i32).unwrap(),
                Signal::KILL,
            );
        }
    }
    let mounts = host_mounts()
        .lines()
        .filter(|l| l.contains(root.to_str().unwrap()))
        .count();
    // A killed cella cannot remove its cgroups; the next cella does.
    ok(run_in(&root, &[], &["true"]));
    let cgroups = marked_cgroups(&marker);
    let records = marked_records(&marker);
    figure(&format!(
        "cella run SIGKILLed at 0-5 ms | {n} | {} | {mounts} | {} | {} |",
        left.len(),
        cgroups.len(),
        records.len()
    ));
    assert!(left.is_empty(), "processes outlived their cella: {left:?}");
    assert_eq!(mounts, 0, "mounts of the rootfs left on the host");
    assert_eq!(cgroups, Vec::<std::path::PathBuf>::new());
    assert_eq!(
        records,
        Vec::<String>::new(),
        "records left in the state store (still locked: {:?})",
        held_records(&marker)
    );
}

/// Records in the state store of containers whose name contains `marker`.
fn marked_records(marker: &str) -> Vec<String> {
    std::fs::read_dir("/run/cella")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.contains(marker))
                .collect()
        })
        .unwrap_or_default()
}

/// Marked records whose owner lock some process still holds (a killed
/// cella's setup child on its way out).
fn held_records(marker: &str) -> Vec<String> {
    marked_records(marker)
        .into_iter()
        .filter(|name| {
            std::fs::File::open(format!("/run/cella/{name}/owner")).is_ok_and(|f| {
                rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
            })
        })
        .collect()
}

/// What holds container `name`'s leaf in `controller` (for a failure's
/// message): its processes, and the pids holding a lock on it.
fn leaf_state(controller: &str, name: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let leaf = container_cgroup(controller, name);
    let procs = std::fs::read_to_string(leaf.join("cgroup.procs")).unwrap_or_default();
    let ino = std::fs::metadata(&leaf).map(|m| m.ino()).unwrap_or(0);
    let locks: Vec<String> = std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(5)
                .is_some_and(|f| f.ends_with(&format!(":{ino}")))
        })
        .map(|l| {
            let pid = l.split_whitespace().nth(4).unwrap_or("");
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!("{l} ({})", String::from_utf8_lossy(&cmd).replace('\0', " "))
        })
        .collect();
    format!(
        "\n{}: procs [{}], locks {locks:?}",
        leaf.display(),
        procs.trim().replace('\n', " ")
    )
}

/// A line for `size-report/faults.sh`, which collects them into a table.
fn figure(row: &str) {
    eprintln!("FIGURE | {row}");
}

#[test]
fn a_killed_runs_name_is_reclaimed_but_a_populated_one_is_a_clash() {
    let _g = serial();
    let root = rootfs("fault-name");
    let name = format!("reclaim-{}", std::process::id());
    let first = spawn_ready(&root, &name, "sleep 30");
    kill(first.id(), Signal::KILL);
    drop(first);
    assert!(wait_until(Duration::from_secs(10), || marked_processes(
        &name
    )
    .is_empty()));
    assert!(
        container_cgroup("pids", &name).exists(),
        "a SIGKILLed cella leaves its cgroup"
    );
    let out = run_in(&root, &["--name", &name], &["echo", "again"]);
    assert_eq!(
        stdout(&out),
        "again\n",
        "{}{}",
        stderr(&out),
        leaf_state("memory", &name)
    );
    assert!(
        stderr(&out).contains(&format!(
            "removed the cgroup an earlier container named {name} left behind"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!container_cgroup("pids", &name).exists());
    // Sharing the host's PID namespace, a background process survives its
    // killed cella (the parent-death signal reaches the payload's first
    // process only). The next command that meets the record ends the
    // container, survivors and all: a container does not outlive its
    // cella, and a crashed `cella run` never blocks its name.
    let ready = root.join("tmp/ready");
    let _ = std::fs::remove_file(&ready);
    let mut first = spawn_silent(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--name",
        &name,
        "--pid",
        "host",
        "--",
        "sh",
        "-c",
        "sleep 60 & touch /tmp/ready; wait",
    ]);
    wait_for(&ready, Duration::from_secs(20));
    let _ = first.kill();
    let _ = first.wait();
    let sleeps = || {
        marked_processes(&name).into_iter().filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x0060\x00")
        })
    };
    assert_eq!(
        sleeps().count(),
        1,
        "the background sleep outlived its cella"
    );
    let out = run_in(&root, &["--name", &name], &["echo", "mine"]);
    assert_eq!(stdout(&out), "mine\n", "{}", stderr(&out));
    assert_eq!(sleeps().count(), 0, "the survivor was ended");
    assert!(marked_cgroups(&name).is_empty());
    // A cgroup of that name that holds a live process, with no record
    // (made by hand here): the name is taken, and nothing is killed.
    let leaf = container_cgroup("pids", &name);
    std::fs::create_dir_all(&leaf).unwrap();
    let mut squatter = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(leaf.join("cgroup.procs"), squatter.id().to_string()).unwrap();
    let out = run_in(&root, &["--name", &name], &["true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a container with this name is running"),
        "{}",
        stderr(&out)
    );
    assert!(
        squatter.try_wait().unwrap().is_none(),
        "the squatter was killed"
    );
    let _ = squatter.kill();
    let _ = squatter.wait();
    ok(run_in(&root, &["--name", &name], &["true"]));
    assert!(marked_cgroups(&name).is_empty());
}

#[test]
fn pid_host_payloads_leave_nothing_behind() {
    let _g = serial();
    let root = rootfs("fault-pidhost");
    let marker = format!("pidhost{}", std::process::id());
    let start = Instant::now();
    let out = run_in(
        &root,
        &[
            "--pid",
            "host",
            "--memory",
            "32m",
            "--name",
            &marker,
            "-e",
            &format!("MARK={marker}"),
        ],
        &["sh", "-c", "sleep 31 & sleep 32 & exit 0"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no cleanup error");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        marked_processes(&marker).is_empty(),
        "the background sleeps survived"
    );
    assert!(marked_cgroups(&marker).is_empty());
    // The same through --init, and in cella init (tests/system.rs runs
    // containers through the same code).
    let out = run_in(
        &root,
        &[
            "--pid",
            "host",
            "--init",
            "--name",
            &marker,
            "-e",
            &format!("MARK={marker}"),
        ],
        &["sh", "-c", "sleep 33 & exit 3"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(marked_processes(&marker).is_empty());
    assert!(marked_cgroups(&marker).is_empty());
}

#[test]
fn many_containers_at_once_all_run_and_leave_nothing() {
    let _g = serial();
    let root = rootfs("fault-load");
    let marker = format!("load{}", std::process::id());
    let n = iterations();
    let children: Vec<_> = (0..n)
        .map(|i| {
            spawn(&[
                "run",
                "--rootfs",
                root.to_str().unwrap(),
                "--name",
                &format!("{marker}-{i}"),
                "--memory",
                "32m",
                "--pids",
                "16",
                "--",
                "sh",
                "-c",
                "echo $((6*7))",
            ])
        })
        .collect();
    let mut failed = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.output(Duration::from_secs(120));
        if (code(&out), stdout(&out).as_str()) != (0, "42\n") {
            failed.push(format!("container {i}: {} {}", code(&out), stderr(&out)));
        }
    }
    let (cgroups, processes) = (marked_cgroups(&marker), marked_processes(&marker));
    figure(&format!(
        "{n} concurrent `cella run --memory 32m --pids 16` | {} | {} | {} |",
        failed.len(),
        processes.len(),
        cgroups.len()
    ));
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(cgroups.is_empty(), "{cgroups:?}");
    assert!(processes.is_empty(), "{processes:?}");
}

#[test]
fn init_pid1_shows_a_fixed_name_not_cellas_command_line() {
    let _g = serial();
    let root = rootfs("fault-cmdline");
    let secret = "DB_PASSWORD=hunter2";
    let out = ok(run_in(
        &root,
        &["--init", "-e", secret, "--user", "1000:1000"],
        &["sh", "-c", "tr '\\0' '|' < /proc/1/cmdline"],
    ));
    assert_eq!(out, "cella-init -- sh -c tr '\\0' '|' < /proc/1/cmdline|");
    assert!(!out.contains("hunter2") && !out.contains(root.to_str().unwrap()));
}

#[test]
fn slash_is_never_a_mount_destination() {
    let _g = serial();
    let root = rootfs("fault-slash");
    let host_dir = root.parent().unwrap().join("fault-slash-src");
    std::fs::create_dir_all(&host_dir).unwrap();
    let bind = format!("{}:/", host_dir.display());
    let bind_dots = format!("{}:/tmp/../", host_dir.display());
    for extra in [
        vec!["--tmpfs", "/"],
        vec!["--tmpfs", "/tmp/.."],
        vec!["--bind", &bind],
        vec!["--bind", &bind_dots],
    ] {
        let out = run_in(&root, &extra, &["true"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 125, "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1);
        assert!(
            err.contains("cannot be a mount destination"),
            "{extra:?}: {err}"
        );
    }
}

#[test]
fn names_cannot_break_lines_and_any_valid_name_works() {
    let _g = serial();
    let root = rootfs("fault-names");
    for bad in ["a\nb", "x\u{1b}[2J", "a", "-a", "a/b", ".."] {
        let out = run_in(&root, &["--name", bad], &["true"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 125, "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad:?}: one line: {err:?}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    let err = stderr(&run_in(&root, &["--name", "a\nb"], &["true"]));
    assert!(err.contains("'a\\nb'"), "shown escaped: {err}");
    // Names of cgroup interface files are names like any other.
    for name in [
        "tasks",
        "cgroup.procs",
        "memory.limit_in_bytes",
        "notify_on_release",
    ] {
        let out = run_in(&root, &["--name", name, "--memory", "32m"], &["hostname"]);
        assert_eq!(
            stdout(&out),
            format!("{name}\n"),
            "{name}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn limits_are_checked_against_what_the_kernel_takes() {
    let _g = serial();
    let root = rootfs("fault-pids");
    let max = if cfg!(target_pointer_width = "64") {
        4_194_304u64
    } else {
        32_768
    };
    let out = run_in(&root, &["--pids", &(max + 1).to_string()], &["true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(&format!("from 1 to {max}")),
        "{}",
        stderr(&out)
    );
    // The largest value works: the kernel takes the write, or cella would fail.
    let out = run_in(&root, &["--pids", &max.to_string()], &["true"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A foreground `run` whose output nobody reads (a terminal whose other
/// side is not read, which cella relays to through a pipe of its own): cella
/// goes on forwarding signals and reaping, so `stop -t 1` ends the
/// container in about a second and its record and cgroups are gone, while
/// cella still waits to write what is left; once the reader goes, cella
/// ends too, with the container's status.
#[test]
fn a_stalled_reader_of_a_runs_output_never_holds_up_its_end() {
    let _g = serial();
    let root = rootfs("fault-stalled");
    let name = format!("stalled-{}", std::process::id());
    let (reader, terminal) = support::terminal::pty_pair();
    let mut run = Command::new(cella_bin())
        .args(["run", "--rootfs", root.to_str().unwrap(), "--name", &name])
        .args(["--memory", "32m", "--", "yes"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(terminal))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || !marked_cgroups(&name)
            .is_empty()),
        "it never started"
    );
    // Long enough for the terminal and cella's queue to fill.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let stop = cella_timed(&["stop", "-t", "1", &name], Duration::from_secs(30));
    assert_eq!(code(&stop), 0, "{}", stderr(&stop));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    assert!(
        wait_until(Duration::from_secs(5), || marked_records(&name).is_empty()
            && marked_cgroups(&name).is_empty()),
        "record {:?}, cgroups {:?}",
        marked_records(&name),
        marked_cgroups(&name)
    );
    // Still writing to the caller: ends once the reader goes.
    assert!(
        run.try_wait().unwrap().is_none(),
        "cella gave up its output"
    );
    drop(reader);
    let mut status = None;
    assert!(wait_until(Duration::from_secs(10), || {
        status = run.try_wait().unwrap();
        status.is_some()
    }));
    // SIGTERM as a PID 1 without a handler: SIGKILL after the grace.
    assert_eq!(status.unwrap().code(), Some(137));
    assert!(marked_processes(&name).is_empty());
}
