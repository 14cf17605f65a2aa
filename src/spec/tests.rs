use super::*;
use crate::mount::{Kind, plan};

/// The mount ops of a `cella run` with `--tmpfs /run --bind /:/srv/data:ro`.
fn ops(host_root: bool, rootless: bool, privileged: bool) -> Vec<MountOp> {
    let binds = [crate::cli::Bind {
        source: "/".into(),
        target: "/srv/data".into(),
        read_only: true,
    }];
    let args = MountArgs {
        etc_binds: Vec::new(),
        tmpfs: &[crate::cli::Tmpfs::at("/run").unwrap()],
        workdir: None,
        binds: &binds,
        privileged,
    };
    let host = host_root.then_some(HostRoot { has_tmp: true });
    plan(filesystem(&args, host, rootless, Vec::new()).unwrap()).unwrap()
}

#[test]
fn dev_comes_before_what_lives_in_it_and_user_mounts_after_cellas() {
    let ops = ops(false, false, false);
    let targets: Vec<&str> = ops.iter().map(|o| o.target.as_str()).collect();
    assert_eq!(
        targets[..10],
        [
            "proc",
            "sys",
            "dev",
            "dev/pts",
            "dev/shm",
            "dev/mqueue",
            "sys/fs/cgroup",
            "run",
            "srv/data",
            "dev"
        ]
    );
    assert_eq!(ops[9].kind, Kind::DevNodes { listed: 0 });
    assert_eq!(
        ops[8].kind,
        Kind::Bind {
            source: c"/".to_owned(),
            is_dir: true,
            recursive: true,
            attrs: 0,
            tree_attrs: RDONLY,
        }
    );
    // docker's read-only paths, then its masked ones.
    assert_eq!(ops[10].target, "proc/bus");
    assert_eq!(ops[10].kind, Kind::ReadOnly);
    assert_eq!(ops.last().unwrap().kind, Kind::Mask);
}

#[test]
fn sysfs_is_read_only_and_proc_is_noexec() {
    let ops = ops(false, false, false);
    let attrs = |i: usize| match &ops[i].kind {
        Kind::Fs { attrs, .. } => *attrs,
        _ => unreachable!(),
    };
    assert_ne!(attrs(1) & RDONLY, 0);
    assert_ne!(attrs(0) & NOEXEC, 0);
    assert_eq!(attrs(2) & NODEV, 0, "/dev must allow device nodes");
}

#[test]
fn devpts_is_a_new_instance_with_the_tty_group_unless_rootless() {
    let options = |rootless: bool| match &ops(false, rootless, false)[3].kind {
        Kind::Fs {
            fstype, options, ..
        } if fstype == "devpts" => options.clone(),
        other => panic!("{other:?}"),
    };
    let root = options(false);
    assert!(root.contains(&("newinstance".into(), String::new())));
    assert!(root.contains(&("gid".into(), "5".into())));
    assert!(!options(true).iter().any(|(k, _)| k == "gid"));
}

#[test]
fn host_root_gets_a_private_tmp() {
    let has_tmp = |host| {
        ops(host, false, false)
            .iter()
            .any(|o| o.target == "tmp" && o.step == Step::MountTmpfs)
    };
    assert!(has_tmp(true));
    assert!(!has_tmp(false));
    // A host root without /tmp (an initramfs, read-only): none is
    // made, rather than a mount point its read-only clone cannot get.
    let args = MountArgs {
        etc_binds: Vec::new(),
        tmpfs: &[],
        workdir: None,
        binds: &[],
        privileged: false,
    };
    let host = Some(HostRoot { has_tmp: false });
    let ops = plan(filesystem(&args, host, false, Vec::new()).unwrap()).unwrap();
    assert!(!ops.iter().any(|o| o.target == "tmp"));
}

#[test]
fn privileged_sees_everything_and_may_write_its_cgroup() {
    let privileged = ops(false, false, true);
    assert!(
        !privileged
            .iter()
            .any(|o| matches!(o.kind, Kind::ReadOnly | Kind::Mask))
    );
    let cgroup_read_only = |ops: &[MountOp]| {
        ops.iter().find(|o| o.target == "sys/fs/cgroup").map(|o| {
            matches!(
                o.kind,
                Kind::Cgroup {
                    read_only: true,
                    ..
                }
            )
        })
    };
    assert_eq!(cgroup_read_only(&privileged), Some(false));
    assert_eq!(cgroup_read_only(&ops(false, false, false)), Some(true));
}

fn env(entries: &[&str], lookup: &[(&str, &str)]) -> Vec<String> {
    let entries: Vec<OsString> = entries.iter().map(OsString::from).collect();
    environment(&entries, "box", "/root", |k| {
        lookup
            .iter()
            .find(|(n, _)| OsStr::new(n) == k)
            .map(|(_, v)| OsString::from(v))
    })
    .unwrap()
    .into_iter()
    .map(|e| e.into_string().unwrap())
    .collect()
}

#[test]
fn default_environment_and_overrides() {
    assert_eq!(
        env(&[], &[]),
        [
            &format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=box",
            "HOME=/root"
        ]
    );
    let e = env(
        &["PATH=/x", "A=1", "A=2", "FROM_HOST", "UNSET"],
        &[("FROM_HOST", "v")],
    );
    assert_eq!(
        e,
        [
            "HOSTNAME=box",
            "HOME=/root",
            "PATH=/x",
            "A=2",
            "FROM_HOST=v"
        ]
    );
    // A key that is a prefix of another is not confused with it.
    let e = env(&["HOME2=x"], &[]);
    assert!(e.contains(&"HOME=/root".to_string()) && e.contains(&"HOME2=x".to_string()));
}

#[test]
fn command_candidates_follow_container_path() {
    let env = [OsString::from("PATH=/bin::/usr/bin")];
    let c = candidates(OsStr::new("ls"), &env).unwrap();
    assert_eq!(c, [c"/bin/ls".to_owned(), c"/usr/bin/ls".to_owned()]);
    let c = candidates(OsStr::new("./run.sh"), &env).unwrap();
    assert_eq!(c, [c"./run.sh".to_owned()]);
    assert!(candidates(OsStr::new(""), &env).is_err());
}

#[test]
fn targets_become_relative() {
    assert_eq!(relative("/a//b/./c/"), "a/b/c");
    assert_eq!(relative("/"), "");
    assert_eq!(relative("/a/../../b/./../c/d/.."), "c");
    assert_eq!(relative("/tmp/.."), "");
    for root in ["/", "//", "/.", "/tmp/..", "/a/b/../..", "/../"] {
        let e = mount_target(root, "--tmpfs").unwrap_err().to_string();
        assert!(
            e.contains("cannot be a mount destination (it is the container's root)"),
            "{root}: {e}"
        );
    }
    assert_eq!(mount_target("/dev/xvdc", "--device").unwrap(), "dev/xvdc");
}

#[test]
fn generated_names_are_valid_and_distinct() {
    let (a, b) = (generated_name().unwrap(), generated_name().unwrap());
    assert_ne!(a, b);
    assert_eq!(a.len(), 18);
    assert!(a.starts_with("cella-"));
}

#[cfg(feature = "image")]
#[test]
fn an_upper_layer_overlapping_a_lower_one_is_refused() {
    use super::root::refuse_overlap;
    let lower = [c"/srv/layers/2".to_owned(), c"/srv/rootfs".to_owned()];
    for upper in [
        "/srv/rootfs",
        "/srv/rootfs/data",
        "/srv",
        "/",
        "/srv/layers",
    ] {
        let e = refuse_overlap(upper.as_bytes(), &lower).unwrap_err();
        assert!(
            e.to_string().contains("overlaps the layer below it"),
            "{upper}: {e}"
        );
    }
    for upper in ["/srv/rootfs2", "/srv/root", "/data/upper", "/srv/layers/22"] {
        assert!(refuse_overlap(upper.as_bytes(), &lower).is_ok(), "{upper}");
    }
}
