//! An unprivileged user for the rootless tests: `cellatest`, with a
//! subordinate id range, made once on a fresh machine; and cella run as it.
#![allow(dead_code)]

use super::cella_bin;
use std::process::{Command, Output};

pub const USER: &str = "cellatest";

/// Run the test binary of cella as `uid:gid` with `args` (60 s at most).
pub fn as_user(uid: u32, gid: u32, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .args([
            "setpriv",
            "--reuid",
            &uid.to_string(),
            "--regid",
            &gid.to_string(),
            "--clear-groups",
        ])
        .arg(cella_bin())
        .args(args)
        .output()
        .unwrap()
}

/// A user with a subordinate range, created once (CI runs on a fresh machine).
pub fn user_with_range() -> (u32, u32, String) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            })
    };
    if id("-u").is_none() {
        let ok = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", USER])
            .status()
            .unwrap()
            .success();
        assert!(ok, "useradd {USER}");
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            std::fs::write(file, format!("{text}{USER}:300000:65536\n")).unwrap();
        }
    }
    let range = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{USER}:")).map(str::to_owned))
        .unwrap();
    (id("-u").unwrap(), id("-g").unwrap(), range)
}
