//! An OCI container's cgroup where runc's habits meet a host someone else
//! set up (issue 11, point 8): a `cgroupsPath` that already exists (empty,
//! busy, frozen), a payload that made cgroups of its own below its leaf,
//! a cpuset parent made empty by someone else, and the cgroup2 mount of
//! a hybrid host. Each test looks at the host's cgroup files itself.
#![cfg(feature = "oci")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::bundle::*;
use support::*;

const ROOT: &str = "/sys/fs/cgroup";

/// The host's cgroup hierarchies (v1 controllers, the hybrid cgroup2
/// mount), or the one root on v2.
fn hierarchies() -> Vec<PathBuf> {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        return vec![PathBuf::from(ROOT)];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir() && e.path().join("cgroup.procs").exists())
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    hierarchies().into_iter().find(|h| {
        h.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split(',')
            .any(|c| c == controller)
    })
}

/// `rel` below every hierarchy.
fn leaves(rel: &str) -> Vec<PathBuf> {
    hierarchies()
        .iter()
        .map(|h| h.join(rel.trim_start_matches('/')))
        .collect()
}

/// Make `dirs` as an administrator would; in a v1 cpuset hierarchy with
/// the CPUs and memory nodes of their parent (a new one has none, and no
/// process could be moved in).
fn make_all(dirs: &[PathBuf]) {
    for d in dirs {
        let mut path = PathBuf::from(ROOT);
        for part in d.strip_prefix(ROOT).unwrap() {
            path.push(part);
            let _ = std::fs::create_dir(&path);
            let cpus = path.join("cpuset.cpus");
            if cpus.exists()
                && !path.join("cgroup.controllers").exists()
                && std::fs::read_to_string(&cpus).unwrap().trim().is_empty()
            {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(path.parent().unwrap().join(f)).unwrap();
                    std::fs::write(path.join(f), v.trim()).unwrap();
                }
            }
        }
    }
}

fn remove_all(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// Whether `pid` runs (a zombie, ended and not yet reaped, does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(") ").next().unwrap().starts_with('Z'))
}

/// A host process, killed and reaped however the test ends.
struct Squatter(std::process::Child);

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_existing_empty_cgroup_is_used_and_removed_with_the_container() {
    let _g = serial();
    let b = Bundle::new("cg-existing", &["sleep", "1000"], Cfg::default());
    let leaf = format!("cella-oci-test/{}", b.id);
    let dirs = leaves(&leaf);
    // Plain mkdir: a v1 cpuset leaf then has no CPUs until cella gives it some.
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let out = b.create(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let pid = b.pid();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("/{leaf}\n")), "{own}");
    ok(b.oci(&["delete", "--force", &b.id]));
    for d in &dirs {
        assert!(!d.exists(), "{} left", d.display());
    }
    b.assert_gone();
}

/// An empty `cgroupsPath` is none, as runc takes it: the container gets
/// the default `/ID` (it was taken for the root cgroup, and refused).
#[test]
fn an_empty_cgroups_path_is_the_default_one() {
    let _g = serial();
    let b = Bundle::new("cg-empty", &["sleep", "1000"], Cfg::default());
    b.edit_config(|c| {
        let given = format!("\"cgroupsPath\": \"/cella-oci-test/{}\"", b.id);
        assert!(c.contains(&given));
        c.replace(&given, "\"cgroupsPath\": \"\"")
    });
    let out = b.create(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", b.pid())).unwrap();
    assert!(own.contains(&format!(":/{}\n", b.id)), "{own}");
    ok(b.oci(&["delete", "--force", &b.id]));
    assert!(leaves(&b.id).iter().all(|d| !d.exists()));
    b.assert_gone();
}

#[test]
fn an_existing_busy_cgroup_is_warned_of_and_a_frozen_one_refused() {
    let _g = serial();
    let b = Bundle::new("cg-busy", &["sleep", "1000"], Cfg::default());
    let leaf = format!("cella-oci-test/{}", b.id);
    let dirs = leaves(&leaf);
    // Frozen: refused before anything is made or removed.
    let Some(freezer) = v1_hierarchy("freezer").or_else(|| {
        Path::new(ROOT)
            .join("cgroup.controllers")
            .exists()
            .then(|| PathBuf::from(ROOT))
    }) else {
        panic!("no freezer on this host");
    };
    let frozen_leaf = freezer.join(&leaf);
    std::fs::create_dir_all(&frozen_leaf).unwrap();
    let (file, frozen, thawed) = if freezer == Path::new(ROOT) {
        ("cgroup.freeze", "1", "0")
    } else {
        ("freezer.state", "FROZEN", "THAWED")
    };
    std::fs::write(frozen_leaf.join(file), frozen).unwrap();
    let out = b.create(&[]);
    refused(
        &out,
        "a frozen cgroup",
        "container's cgroup unexpectedly frozen",
    );
    assert!(frozen_leaf.exists(), "someone else's cgroup was removed");
    for d in dirs.iter().filter(|d| **d != frozen_leaf) {
        assert!(!d.exists(), "{} made for a refused container", d.display());
    }
    std::fs::write(frozen_leaf.join(file), thawed).unwrap();
    std::fs::remove_dir(&frozen_leaf).unwrap();
    // Busy: a process of the host's already there; used, with runc's warning.
    make_all(&dirs);
    let squatter = Squatter(
        Command::new("sleep")
            .arg("1000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    for d in &dirs {
        std::fs::write(d.join("cgroup.procs"), squatter.0.id().to_string()).unwrap();
    }
    let out = b.create(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: container's cgroup is not empty: 1 process(es) found"),
        "{}",
        stderr(&out)
    );
    let pid = b.pid();
    // kill --all signals the container's processes, not the host's.
    ok(b.oci(&["kill", "--all", &b.id, "KILL"]));
    wait_until(
        "the container's PID 1 to die",
        Duration::from_secs(5),
        || !running(pid),
    );
    let mut squatter = squatter;
    assert!(
        squatter.0.try_wait().unwrap().is_none(),
        "kill --all killed a host process that was in the cgroup before the container"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    // The container goes; the host's process and cgroup stay (runc 1.1
    // killed the process with the container and removed the cgroup).
    assert!(!running(pid), "the container's PID 1 outlived delete");
    assert!(
        squatter.0.try_wait().unwrap().is_none(),
        "delete killed a host process that was in the cgroup before the container"
    );
    for d in &dirs {
        assert!(
            d.is_dir(),
            "delete removed {}, which it did not make",
            d.display()
        );
    }
    drop(squatter);
    remove_all(&dirs);
    b.assert_gone();
}

#[test]
fn delete_force_removes_a_cgroup_whose_payload_made_cgroups_below_it() {
    let _g = serial();
    let b = Bundle::new("cg-nested", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    ok(b.oci(&["start", &b.id]));
    let pid = b.pid();
    let leaf = format!("cella-oci-test/{}", b.id);
    // As a payload managing its own cgroups would: a child cgroup in each
    // hierarchy, itself moved there, the leaf left with no process.
    let subs: Vec<PathBuf> = leaves(&leaf)
        .iter()
        .map(|d| d.join("worker/inner"))
        .collect();
    make_all(
        &leaves(&leaf)
            .iter()
            .map(|d| d.join("worker"))
            .collect::<Vec<_>>(),
    );
    make_all(&subs);
    for s in &subs {
        std::fs::write(s.join("cgroup.procs"), pid.to_string()).unwrap();
    }
    let out = b.oci(&["delete", "--force", &b.id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!running(pid), "the payload survived");
    for d in leaves(&leaf) {
        assert!(!d.exists(), "{} left", d.display());
    }
    b.assert_gone();
}

#[test]
fn an_empty_cpuset_parent_made_by_someone_else_gets_its_ancestors_cpus() {
    let _g = serial();
    let Some(cpuset) = v1_hierarchy("cpuset") else {
        eprintln!("skipped: no v1 cpuset hierarchy (cgroup v2 has no empty-cpuset trap)");
        return;
    };
    let b = Bundle::new("cg-cpuset", &["sh", "-c", "echo in"], Cfg::default());
    let parent = format!("cella-oci-cpuset-{}", std::process::id());
    b.edit_config(|c| c.replace("/cella-oci-test/", &format!("/{parent}/")));
    let made = cpuset.join(&parent);
    let _ = std::fs::remove_dir(&made);
    std::fs::create_dir(&made).unwrap();
    assert_eq!(
        std::fs::read_to_string(made.join("cpuset.cpus"))
            .unwrap()
            .trim(),
        ""
    );
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    let cpus = std::fs::read_to_string(made.join("cpuset.cpus")).unwrap();
    remove_all(&leaves(&parent));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "in\n");
    assert_eq!(
        cpus.trim(),
        std::fs::read_to_string(cpuset.join("cpuset.cpus"))
            .unwrap()
            .trim()
    );
    b.assert_gone();
}

#[test]
fn on_a_hybrid_host_the_container_is_in_the_cgroup2_hierarchy_too() {
    let _g = serial();
    let unified = Path::new(ROOT).join("unified");
    if !unified.join("cgroup.procs").exists() {
        eprintln!("skipped: not a hybrid host");
        return;
    }
    let b = Bundle::new("cg-hybrid", &["sleep", "1000"], Cfg::default());
    ok(b.create(&[]));
    let pid = b.pid();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let leaf = format!("/cella-oci-test/{}", b.id);
    assert!(own.lines().any(|l| l == format!("0::{leaf}")), "{own}");
    ok(b.oci(&["delete", "--force", &b.id]));
    assert!(!unified.join(leaf.trim_start_matches('/')).exists());
    b.assert_gone();
}

#[test]
fn network_priorities_and_class_go_to_net_cls_and_net_prio_where_mounted() {
    let _g = serial();
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        eprintln!("skipped: cgroup v2 has no net_cls or net_prio (unit tested)");
        return;
    }
    let b = Bundle::new(
        "net-cls",
        &["sleep", "1000"],
        Cfg {
            linux: r#""resources": {"network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 7}]}},"#,
            ..Cfg::default()
        },
    );
    // This host mounts neither: refused, naming the field.
    let out = b.create(&[]);
    refused(
        &out,
        "no net_cls here",
        "linux.resources.network.classID: the net_cls cgroup controller is not available",
    );
    // In a mount namespace of the test's own with the v1 hierarchies
    // mounted afresh, net_cls,net_prio among them.
    let leaf = format!("cella-oci-test/{}", b.id);
    let script = format!(
        r#"set -e
mount -t tmpfs cgroups /sys/fs/cgroup
for c in pids memory devices freezer net_cls,net_prio; do
    mkdir "/sys/fs/cgroup/$c"; mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
done
{cella} --root {state} create --bundle {dir} {id}
echo "classid $(cat /sys/fs/cgroup/net_cls,net_prio/{leaf}/net_cls.classid)"
grep '^lo ' /sys/fs/cgroup/net_cls,net_prio/{leaf}/net_prio.ifpriomap
{cella} --root {state} delete --force {id}
test ! -e /sys/fs/cgroup/net_cls,net_prio/{leaf} && echo removed
rmdir /sys/fs/cgroup/net_cls,net_prio/cella-oci-test 2>/dev/null || true
"#,
        cella = cella_bin(),
        state = b.state.display(),
        dir = b.dir.display(),
        id = b.id,
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "classid 1048577\nlo 7\nremoved\n");
    b.assert_gone();
}
