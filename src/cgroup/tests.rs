use super::limits::{cpu_shares, plan as limits, v1_io_weight};
use super::*;
use crate::spec::Limits;

fn all_limits() -> Limits {
    Limits {
        memory: Some(16 << 20),
        pids: Some(20),
        cpu_quota: Some(50_000),
        cpu_weight: Some(100),
        io_weight: Some(500),
        ..Limits::default()
    }
}

fn files(ws: &[Write]) -> Vec<(&str, &str)> {
    ws.iter()
        .map(|w| (w.file(), w.choices[0].1.as_str()))
        .collect()
}

#[test]
fn v2_writes() {
    let ws = limits(Layout::V2, &all_limits());
    assert_eq!(
        files(&ws),
        [
            ("memory.max", "16777216"),
            ("memory.swap.max", "0"),
            ("pids.max", "20"),
            ("cpu.max", "50000 100000"),
            ("cpu.weight", "100"),
            ("io.weight", "default 500"),
        ]
    );
    assert!(!ws[1].required, "swap is best effort");
    assert_eq!(ws[5].choices[1].0, "io.bfq.weight");
}

#[test]
fn v1_writes_period_before_quota() {
    let ws = limits(Layout::V1, &all_limits());
    assert_eq!(
        files(&ws),
        [
            ("memory.limit_in_bytes", "16777216"),
            ("memory.memsw.limit_in_bytes", "16777216"),
            ("pids.max", "20"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "50000"),
            ("cpu.shares", "2597"),
            ("blkio.weight", "59"),
        ]
    );
    assert_eq!(ws[6].choices[1], ("blkio.bfq.weight".into(), "59".into()));
    assert!(limits(Layout::V1, &Limits::default()).is_empty());
}

/// docker's --memory-swap (memory plus swap), --cpu-shares and
/// --cpuset-cpus, as each layout takes them.
#[test]
fn swap_shares_and_cpuset() {
    let l = Limits {
        memory: Some(16 << 20),
        memory_swap: Some(48 << 20),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0-1".into()),
        ..Limits::default()
    };
    assert_eq!(
        files(&limits(Layout::V1, &l)),
        [
            ("memory.limit_in_bytes", "16777216"),
            ("memory.memsw.limit_in_bytes", "50331648"),
            ("cpu.shares", "512"),
            ("cpuset.cpus", "0-1"),
        ]
    );
    assert_eq!(
        files(&limits(Layout::V2, &l)),
        [
            ("memory.max", "16777216"),
            ("memory.swap.max", "33554432"),
            ("cpu.weight", "20"),
            ("cpuset.cpus", "0-1"),
        ]
    );
    let unlimited = Limits {
        memory_swap: Some(-1),
        ..l
    };
    assert_eq!(
        files(&limits(Layout::V2, &unlimited))[1],
        ("memory.swap.max", "max")
    );
    assert_eq!(
        files(&limits(Layout::V1, &unlimited))[1],
        ("memory.memsw.limit_in_bytes", "-1")
    );
}

#[test]
fn weight_conversions_hit_both_ends() {
    assert_eq!((cpu_shares(1), cpu_shares(10_000)), (2, 262_144));
    assert_eq!((v1_io_weight(1), v1_io_weight(10_000)), (10, 1000));
}

/// A plain directory standing in for a v1 `/sys/fs/cgroup` with the given
/// hierarchies (mkdir there creates no interface files).
struct FakeRoot(PathBuf);

impl FakeRoot {
    fn new(tag: &str, hierarchies: &[&str]) -> FakeRoot {
        let root = std::env::temp_dir().join(format!("cella-cg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for h in hierarchies {
            std::fs::create_dir_all(root.join(h)).unwrap();
            std::fs::write(root.join(h).join("cgroup.procs"), "").unwrap();
        }
        FakeRoot(root)
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn request<'a>(
    path: &'a str,
    wanted: &'a [(&'static str, Option<&'static str>)],
    writes: &'a [Write],
    owned: bool,
) -> Request<'a> {
    Request {
        path,
        hierarchies: Hierarchies::Wanted(wanted),
        writes,
        devices: &[],
        owned,
    }
}

#[test]
fn a_write_the_host_cannot_enforce_fails_and_leaves_nothing() {
    let root = FakeRoot::new("enforce", &["memory", "pids"]);
    let writes = limits(
        Layout::V1,
        &Limits {
            pids: Some(5),
            ..Limits::default()
        },
    );
    let wanted = [("memory", None), ("pids", Some("--pids"))];
    let err = create(&root.0, &request("cella/ctr-c1", &wanted, &writes, true))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("--pids: this host's pids controller cannot enforce it"),
        "{err}"
    );
    assert!(!root.0.join("pids/cella").exists() && !root.0.join("memory/cella").exists());
}

#[test]
fn a_missing_controller_is_an_error_naming_the_option() {
    let root = FakeRoot::new("missing", &["memory"]);
    let wanted = [("memory", None), ("pids", Some("--pids"))];
    let err = create(&root.0, &request("cella/ctr-c", &wanted, &[], true))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "cgroup --pids: the pids cgroup controller is not available on this host"
    );
    assert!(!root.0.join("memory/cella").exists());
    // Device rules need the devices hierarchy: none here, so no cgroup.
    let rules = devices::docker_default(&[]);
    let req = Request {
        devices: &rules,
        ..request("cella/ctr-c", &[("memory", None)], &[], true)
    };
    let err = create(&root.0, &req).err().unwrap().to_string();
    assert!(
        err.contains("device rules: the devices cgroup controller is not available"),
        "{err}"
    );
    assert!(!root.0.join("memory/cella").exists());
}

#[test]
fn oci_paths_are_made_in_every_hierarchy_and_undone_on_failure() {
    let root = FakeRoot::new("oci", &["memory", "pids"]);
    let bad = [Write::new(
        "pids",
        "pids.nope",
        "1".into(),
        "linux.resources.pids.limit",
    )];
    let req = |writes| Request {
        path: "/a/b/c",
        hierarchies: Hierarchies::All,
        writes,
        devices: &[],
        owned: false,
    };
    assert!(create(&root.0, &req(&bad)).is_err());
    assert!(!root.0.join("memory/a").exists() && !root.0.join("pids/a").exists());
    let planned = plan(&root.0, &req(&[])).unwrap();
    let made = create(&root.0, &req(&[])).unwrap().cgroup;
    assert_eq!(made, planned, "plan names what create makes");
    assert_eq!(made.dirs.len(), 2);
    assert!(root.0.join("pids/a/b/c").is_dir());
    // An existing cgroup is used as it is, as runc does; a failure over
    // it leaves it, since it was not made here.
    let again = create(&root.0, &req(&[])).unwrap();
    assert_eq!(
        again.cgroup, made,
        "an empty one is taken as the container's"
    );
    // With a process of someone else's in it, it is recorded as theirs,
    // for delete to leave it and that process alone.
    std::fs::write(root.0.join("pids/a/b/c/cgroup.procs"), "4242\n").unwrap();
    let shared = create(&root.0, &req(&[])).unwrap().cgroup;
    assert_eq!(shared.existing, vec![root.0.join("pids/a/b/c")]);
    assert_eq!(
        shared.made().collect::<Vec<_>>(),
        vec![root.0.join("memory/a/b/c")]
    );
    assert!(create(&root.0, &req(&bad)).is_err());
    assert!(
        root.0.join("pids/a/b/c").is_dir(),
        "someone else's cgroup is left alone"
    );
}

#[test]
fn an_abandoned_cgroup_is_reclaimed_a_locked_one_is_a_clash() {
    let root = FakeRoot::new("reclaim", &["memory", "pids"]);
    let wanted = [("memory", None), ("pids", None)];
    let first = create(&root.0, &request("cella/ctr-web", &wanted, &[], true)).unwrap();
    assert_eq!(first.locks.len(), 2);
    assert!(!first.reclaimed);
    // Locked by its owner: the name is taken, and the cgroup stays.
    let clash = create(&root.0, &request("cella/ctr-web", &wanted, &[], true))
        .err()
        .unwrap();
    assert_eq!(clash.errno, Some(Errno::EXIST));
    assert!(root.0.join("pids/cella/ctr-web").is_dir());
    // Its owner is gone (the kernel dropped the locks): taken over.
    drop(first.locks);
    let second = create(&root.0, &request("cella/ctr-web", &wanted, &[], true)).unwrap();
    assert!(second.reclaimed);
    // A populated leftover is a running container, not garbage.
    drop(second.locks);
    std::fs::write(root.0.join("pids/cella/ctr-web/cgroup.procs"), "4242\n").unwrap();
    let populated = create(&root.0, &request("cella/ctr-web", &wanted, &[], true))
        .err()
        .unwrap();
    assert_eq!(populated.errno, Some(Errno::EXIST));
}

#[test]
fn sweep_removes_only_abandoned_empty_leaves() {
    let root = FakeRoot::new("sweep", &["memory", "pids"]);
    let wanted = [("memory", None), ("pids", None)];
    let live = create(&root.0, &request("cella/ctr-live", &wanted, &[], true)).unwrap();
    let dead = create(&root.0, &request("cella/ctr-dead", &wanted, &[], true)).unwrap();
    let busy = create(&root.0, &request("cella/ctr-busy", &wanted, &[], true)).unwrap();
    drop(dead.locks);
    drop(busy.locks);
    std::fs::write(root.0.join("memory/cella/ctr-busy/cgroup.procs"), "7\n").unwrap();
    std::fs::create_dir(root.0.join("memory/cella/not-ours")).unwrap();
    // memory/ctr-dead and pids/ctr-dead, pids/ctr-busy (its memory leaf holds a process).
    assert_eq!(
        sweep(&root.0, Layout::V1),
        ["ctr-dead", "ctr-dead", "ctr-busy"].map(String::from)
    );
    for (h, leaf, kept) in [
        ("memory", "ctr-live", true),
        ("pids", "ctr-live", true),
        ("memory", "ctr-dead", false),
        ("pids", "ctr-dead", false),
        ("memory", "ctr-busy", true),
        ("memory", "not-ours", true),
    ] {
        assert_eq!(
            root.0.join(h).join("cella").join(leaf).exists(),
            kept,
            "{h}/{leaf}"
        );
    }
    drop(live);
}

#[test]
fn docker_device_rules_deny_first_then_allow() {
    let rules = devices::docker_default(&[]);
    let lines: Vec<String> = rules.iter().map(devices::line).collect();
    assert_eq!(lines[0], "a *:* rwm");
    assert!(!rules[0].allow && rules[1..].iter().all(|r| r.allow));
    for l in [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
    ] {
        assert!(lines.iter().any(|x| x == l), "{l} in {lines:?}");
    }
    // No block device may be read or written, no char device beyond the list.
    assert!(
        !lines
            .iter()
            .skip(1)
            .any(|l| l.starts_with('b') && l.contains('r'))
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("c 1:11") || l.starts_with("c 1:1 "))
    );
    for ok in ["r", "rw", "rwm", "mwr", "m"] {
        assert!(devices::valid_access(ok), "{ok}");
    }
    for bad in ["", "x", "rr", "rwmr", "rwx"] {
        assert!(!devices::valid_access(bad), "{bad}");
    }
}
