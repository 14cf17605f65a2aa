//! The cgroup v2 device filter (an eBPF program cella builds and attaches)
//! against the real kernel. The build hosts are hybrid: their cgroup2 mount
//! at /sys/fs/cgroup/unified holds no controller, but device programs
//! attach to any cgroup2 directory and the kernel checks them on open.

mod support;

use cella::cgroup::devices::DeviceRule;
use cella::cgroup::devices::rule_of_line;
use std::path::Path;
use std::process::Command;

fn rule(allow: bool, line: &str) -> DeviceRule {
    rule_of_line(allow, line).unwrap()
}

#[test]
fn a_denied_device_cannot_be_opened_an_allowed_one_can() {
    let _g = support::serial();
    let unified = Path::new("/sys/fs/cgroup/unified");
    let root = if unified.join("cgroup.procs").exists() {
        unified.to_path_buf()
    } else {
        Path::new("/sys/fs/cgroup").to_path_buf()
    };
    /// Removes the test cgroup however the test ends.
    struct Cgroup(std::path::PathBuf);
    impl Drop for Cgroup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let cg = Cgroup(root.join(format!("cella-devtest-{}", std::process::id())));
    let dir = &cg.0;
    std::fs::create_dir(dir).unwrap();
    let rules = [
        rule(false, "a *:* rwm"),
        rule(true, "c 1:3 rwm"),
        rule(true, "c 1:5 r"),
    ];
    cella::cgroup::attach_device_filter(dir, &rules).unwrap();
    // The shell moves itself into the cgroup, then opens devices.
    let script = format!(
        "echo $$ > {}/cgroup.procs; echo x > /dev/null && echo null-ok; \
         head -c1 /dev/zero >/dev/null && echo zero-read-ok; \
         echo x 2>/dev/null > /dev/zero || echo zero-write-refused; \
         head -c1 /dev/full 2>/dev/null || echo full-refused",
        dir.display()
    );
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Control: outside the cgroup /dev/full opens.
    let control = Command::new("/bin/sh")
        .arg("-c")
        .arg("head -c1 /dev/full | wc -c")
        .output()
        .unwrap();
    assert_eq!(
        text, "null-ok\nzero-read-ok\nzero-write-refused\nfull-refused\n",
        "{out:?}"
    );
    assert_eq!(String::from_utf8_lossy(&control.stdout).trim(), "1");
}
