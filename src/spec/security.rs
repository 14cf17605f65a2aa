//! The payload's security profile from `cella run`'s options: its
//! capabilities (docker's defaults, `--cap-add`/`--cap-drop`,
//! `--privileged`), no_new_privs, the seccomp filter (docker's profile,
//! precompiled where it can be, with the calls the added capabilities
//! open; or `--security-opt seccomp=FILE`), `--ulimit` and
//! `--oom-score-adj`.

use crate::caps::{self, Caps};
use crate::cli::{RunArgs, Seccomp};
use crate::error::{Error, Result};
use crate::seccomp;
use std::ffi::OsStr;

/// What the payload may do: docker's defaults unless `--privileged`,
/// `--cap-*` or `--security-opt` say otherwise.
pub(super) struct Security {
    pub(super) caps: Caps,
    /// Every capability the kernel knows (the bounding set is trimmed to `caps`).
    pub(super) known_caps: u64,
    pub(super) no_new_privs: bool,
    pub(super) seccomp: Option<seccomp::Filter>,
    /// `--ulimit`s, set before the user switch.
    pub(super) rlimits: Vec<(rustix::process::Resource, rustix::process::Rlimit)>,
    /// `--oom-score-adj`, as the text written to `/proc/self/oom_score_adj`.
    pub(super) oom_score_adj: Option<Vec<u8>>,
}

/// `--security-opt seccomp=FILE`: an OCI/docker profile, read with the
/// OCI runtime's JSON decoder, and its filter flags. `cella run` has no
/// seccomp agent: a profile that notifies is refused.
#[cfg(feature = "oci")]
fn profile_file(f: &OsStr) -> Result<(seccomp::Profile, u32)> {
    let refused = |what: &str| {
        Error::usage(format!(
            "--security-opt seccomp={}: {}",
            f.to_string_lossy(),
            what.trim_start_matches("config.json: ")
        ))
    };
    let doc = crate::oci::config::read_json(std::path::Path::new(f))?;
    let s = crate::oci::config::linux_seccomp(&doc)
        .map_err(|e| refused(e.what.as_deref().unwrap_or("")))?;
    if s.listener.is_some() {
        return Err(refused(
            "linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a seccomp agent, which cella run does not support",
        ));
    }
    Ok((s.profile, s.flags))
}

#[cfg(not(feature = "oci"))]
fn profile_file(f: &OsStr) -> Result<(seccomp::Profile, u32)> {
    Err(Error::usage(format!(
        "--security-opt seccomp={}: profile files need cella built with the oci feature",
        f.to_string_lossy()
    )))
}

/// The capabilities beyond docker's defaults that its profile answers
/// with more system calls ([`syscalls_of`]).
const CAPS_WITH_SYSCALLS: &str = "SYS_ADMIN SYS_BOOT SYS_MODULE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG SYS_NICE SYSLOG BPF";

/// Syscalls docker's profile allows only with capability `cap` beyond its
/// defaults: given the capability, the filter lets them through too. (A
/// match, not a table: no relocation per string.)
fn syscalls_of(cap: &str) -> &'static str {
    match cap {
        "SYS_ADMIN" => {
            "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare"
        }
        "SYS_BOOT" => "reboot",
        "SYS_MODULE" => "delete_module init_module finit_module",
        "SYS_PACCT" => "acct",
        "SYS_PTRACE" => {
            "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"
        }
        "SYS_RAWIO" => "iopl ioperm",
        "SYS_TIME" => "settimeofday stime clock_settime clock_settime64",
        "SYS_TTY_CONFIG" => "vhangup",
        "SYS_NICE" => "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
        "SYSLOG" => "syslog",
        "BPF" => "bpf",
        _ => "",
    }
}

/// The system calls `caps` open beyond docker's default profile.
fn cap_syscalls(caps: u64) -> Vec<String> {
    let mut names = Vec::new();
    for cap in CAPS_WITH_SYSCALLS.split(' ') {
        if caps::bit(cap).is_some_and(|b| caps & b != 0) {
            names.extend(syscalls_of(cap).split(' ').map(str::to_owned));
        }
    }
    names
}

fn with_cap_rules(mut p: seccomp::Profile, caps: u64) -> seccomp::Profile {
    let names = cap_syscalls(caps);
    if !names.is_empty() {
        // First matching rule wins: these go before the argument-checked ones.
        p.rules.insert(
            0,
            seccomp::Rule {
                names,
                action: seccomp::Action::Allow,
                args: Vec::new(),
            },
        );
    }
    p
}

/// The payload's capabilities, no_new_privs, seccomp filter and /proc view.
pub(super) fn security(args: &RunArgs) -> Result<Security> {
    let known = caps::all_known();
    let mut set = if args.privileged {
        known
    } else {
        caps::mask(caps::DOCKER_DEFAULT.split(' ')).unwrap_or(0)
    };
    let bits = |names: &[String]| -> u64 {
        names
            .iter()
            .map(|n| {
                if n.eq_ignore_ascii_case("all") {
                    known
                } else {
                    caps::bit(n).unwrap_or(0)
                }
            })
            .fold(0, |m, b| m | b)
    };
    set &= !bits(&args.cap_drop);
    set |= bits(&args.cap_add);
    // --privileged means every capability cella itself holds (a VM or an
    // outer container may have taken some away, and capset cannot add them).
    // Rootless, the payload is root of its own user namespace, with every
    // capability there.
    let held = if crate::rootless::active() {
        known
    } else {
        rustix::thread::capabilities(None).map_or(known, |c| c.permitted.bits())
    };
    set &= known & held;
    let compile = |p: seccomp::Profile| {
        seccomp::compile(&p).map_err(|e| Error::usage(format!("--security-opt seccomp: {e}")))
    };
    let program = |program| Some(seccomp::Filter { program, flags: 0 });
    let seccomp = match (&args.seccomp, args.privileged) {
        (Seccomp::Unconfined, _) | (Seccomp::Default, true) => None,
        // docker's profile as it stands comes precompiled where it can.
        (Seccomp::Default, false) => match seccomp::default_program() {
            Some(prog) if cap_syscalls(set).is_empty() => program(prog.to_vec()),
            _ => program(compile(with_cap_rules(seccomp::default_profile(), set))?),
        },
        (Seccomp::File(f), _) => {
            let (profile, flags) = profile_file(f)?;
            Some(seccomp::Filter {
                program: compile(profile)?,
                flags,
            })
        }
    };
    Ok(Security {
        caps: Caps::same(set),
        known_caps: known,
        no_new_privs: args.no_new_privileges,
        seccomp,
        rlimits: args
            .ulimits
            .iter()
            .filter_map(|(name, soft, hard)| {
                let lim = |v: u64| (v != u64::MAX).then_some(v);
                Some((
                    crate::process::rlimit_resource(name)?,
                    rustix::process::Rlimit {
                        current: lim(*soft),
                        maximum: lim(*hard),
                    },
                ))
            })
            .collect(),
        oom_score_adj: args.oom_score_adj.map(|n| n.to_string().into_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capability_opens_the_system_calls_docker_gives_it() {
        let bit = |name| caps::bit(name).unwrap();
        assert!(cap_syscalls(0).is_empty());
        let admin = cap_syscalls(bit("SYS_ADMIN"));
        assert!(admin.iter().any(|n| n == "mount") && admin.iter().any(|n| n == "unshare"));
        let two = cap_syscalls(bit("SYS_BOOT") | bit("BPF"));
        assert_eq!(two, ["reboot", "bpf"]);
        for cap in CAPS_WITH_SYSCALLS.split(' ') {
            assert!(
                caps::bit(cap).is_some() && !syscalls_of(cap).is_empty(),
                "{cap}"
            );
        }
    }
}
