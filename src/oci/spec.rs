//! `spec`: the config.json `runc spec` writes, so bundles and scripts made
//! for runc start from the same defaults (an interactive `sh` on a
//! terminal, a read-only root, the usual mounts including a read-only
//! `/sys/fs/cgroup`, three capabilities, masked and read-only paths, every
//! device refused), and its `--rootless` form.

/// The example config. `cgroup_ns`: the host is cgroup v2 (runc adds a
/// cgroup namespace only then). `rootless`: the caller's (euid, egid),
/// mapped to root in a user namespace, with no network namespace, `/sys`
/// bound from the host, no `gid=` mount option and no cgroup settings.
pub fn example(cgroup_ns: bool, rootless: Option<(u32, u32)>) -> String {
    let caps = r#"["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]"#;
    let (devpts_gid, sys, resources, network, user) = match rootless {
        None => (
            r#", "gid=5""#,
            r#"{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}"#,
            "\n    \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},",
            r#", {"type": "network"}"#,
            String::new(),
        ),
        Some((uid, gid)) => (
            "",
            r#"{"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}"#,
            "",
            "",
            format!(
                "\n    \"uidMappings\": [{{\"containerID\": 0, \"hostID\": {uid}, \"size\": 1}}],\
                 \n    \"gidMappings\": [{{\"containerID\": 0, \"hostID\": {gid}, \"size\": 1}}],"
            ),
        ),
    };
    let cgroup = if cgroup_ns {
        r#", {"type": "cgroup"}"#
    } else {
        ""
    };
    let userns = if rootless.is_some() {
        r#", {"type": "user"}"#
    } else {
        ""
    };
    format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": true,
    "user": {{"uid": 0, "gid": 0}},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {{"bounding": {caps}, "effective": {caps}, "permitted": {caps}}},
    "rlimits": [{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}}],
    "noNewPrivileges": true
  }},
  "root": {{"path": "rootfs", "readonly": true}},
  "hostname": "cella",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"{devpts_gid}]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}},
    {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}},
    {sys},
    {{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}}
  ],
  "linux": {{{user}{resources}
    "namespaces": [{{"type": "pid"}}{network}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}{cgroup}{userns}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::config;
    use linux_raw_sys::general as g;

    fn decode(text: &str) -> config::Config {
        let doc = crate::json::parse(text.as_bytes()).unwrap();
        config::decode(&doc, std::path::Path::new("/b")).unwrap()
    }

    #[test]
    fn the_example_is_runcs() {
        let c = decode(&example(false, None));
        let p = c.process.unwrap();
        assert_eq!(p.args, ["sh"]);
        assert!(p.terminal && c.root_readonly);
        assert!(c.mounts.iter().any(|m| m.destination == "/sys/fs/cgroup"));
        assert!(c.linux.has(g::CLONE_NEWNET) && !c.linux.has(g::CLONE_NEWCGROUP));
        assert!(!c.linux.has(g::CLONE_NEWUSER));
        assert!(decode(&example(true, None)).linux.has(g::CLONE_NEWCGROUP));
    }

    #[test]
    fn the_rootless_example_maps_the_caller_and_keeps_the_hosts_network() {
        let text = example(false, Some((1000, 100)));
        let c = decode(&text);
        assert!(c.linux.has(g::CLONE_NEWUSER) && !c.linux.has(g::CLONE_NEWNET));
        assert_eq!(c.linux.uid_mappings.len(), 1);
        assert_eq!(c.linux.uid_mappings[0].host, 1000);
        assert_eq!(c.linux.gid_mappings[0].host, 100);
        assert!(!text.contains("gid=5") && !text.contains("\"resources\""));
        let sys = c.mounts.iter().find(|m| m.destination == "/sys").unwrap();
        assert_eq!(sys.source, "/sys");
    }
}
