//! Compiled seccomp filters installed for real. A filter cannot be removed,
//! so each test re-runs itself in a fresh copy of this test binary, which
//! sets no_new_privs, installs the filter on its test thread and checks
//! what the kernel then answers.

use cella::seccomp::{self, Action, ArgCmp, Op, Profile, Rule};
use cella::sys::{self, Fork};
use rustix::fs::{Mode, SeekFrom};
use rustix::io::Errno;
use rustix::process::WaitOptions;
use std::process::Command;

const CHILD: &str = "CELLA_SECCOMP_CHILD";

/// True in the child copy, where the caller does the work; in the parent,
/// runs the child and asserts that `test` (the caller's name) passed there.
fn in_child(test: &str) -> bool {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

fn install(p: &Profile) {
    let filter = seccomp::compile(p).unwrap();
    assert_eq!(
        sys::seccomp::install(&[], 0).map(|_| ()),
        Err(Errno::INVAL),
        "an empty program"
    );
    rustix::thread::set_no_new_privs(true).unwrap();
    sys::seccomp::install(&filter, 0).unwrap();
}

#[test]
fn custom_profile_in_the_kernel() {
    if !in_child("custom_profile_in_the_kernel") {
        return;
    }
    let rule = |name: &str, errno: u16, args: Vec<ArgCmp>| Rule {
        names: vec![name.into()],
        action: Action::Errno(errno),
        args,
    };
    // Differs from 0x2_0000_0001 in the high word only.
    let offset = ArgCmp {
        index: 1,
        value: 0x1_0000_0001,
        value_two: 0,
        op: Op::EqualTo,
    };
    install(&Profile {
        default: Action::Allow,
        architectures: Vec::new(),
        rules: vec![
            rule("getcwd", 1, Vec::new()),
            rule("mkdir", 95, Vec::new()),
            rule("mkdirat", 95, Vec::new()),
            rule("lseek", 77, vec![offset]),
        ],
    });
    assert_eq!(rustix::process::getcwd(Vec::new()), Err(Errno::PERM));
    let dir = std::env::temp_dir().join("cella-seccomp-never-made");
    assert_eq!(rustix::fs::mkdir(&dir, Mode::RWXU), Err(Errno::OPNOTSUPP));
    assert!(!dir.exists());
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    let seek = |to| rustix::fs::seek(&file, SeekFrom::Start(to));
    assert_eq!(seek(0x1_0000_0001), Err(Errno::from_raw_os_error(77)));
    assert_eq!(seek(0x2_0000_0001), Ok(0x2_0000_0001));
    assert_eq!(seek(1), Ok(1));
    assert!(rustix::process::getpid().as_raw_nonzero().get() > 0);
}

#[test]
fn default_profile_in_the_kernel() {
    if !in_child("default_profile_in_the_kernel") {
        return;
    }
    install(&seccomp::default_profile());

    // Files and processes work as usual.
    let dir = std::env::temp_dir().join(format!("cella-seccomp-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "x").unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "x");
    std::fs::remove_dir_all(&dir).unwrap();
    if std::path::Path::new("/bin/true").exists() {
        assert!(Command::new("/bin/true").status().unwrap().success());
    }
    // clone3 fails with ENOSYS, so fork_into falls back to clone, which is
    // allowed without namespace flags.
    match sys::fork_into(0, None).unwrap() {
        Fork::Child { .. } => sys::exit_group(7),
        Fork::Parent { child, .. } => {
            let (_, status) = rustix::process::waitpid(Some(child), WaitOptions::empty())
                .unwrap()
                .unwrap();
            assert_eq!(status.exit_status(), Some(7));
        }
    }

    // Refused: namespaces, mounts.
    let newuser = u64::from(linux_raw_sys::general::CLONE_NEWUSER);
    match sys::fork_into(newuser, None) {
        Err(e) => assert_eq!(e, Errno::PERM),
        Ok(Fork::Child { .. }) => sys::exit_group(0),
        Ok(Fork::Parent { child, .. }) => {
            let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
            panic!("clone(CLONE_NEWUSER) was allowed");
        }
    }
    // ENOENT without the filter; this fails before the path is looked at.
    let none: Option<&std::ffi::CStr> = None;
    let flags = rustix::mount::MountFlags::empty();
    let mount = rustix::mount::mount("none", "/nonexistent/cella", "tmpfs", flags, none);
    assert_eq!(mount, Err(Errno::PERM));
}
