//! What the payload's setup does last, shared by `cella run` and the OCI
//! child: resource limits and the OOM score while still privileged, the
//! switch to the payload's user with exactly its capability sets, and
//! no_new_privs with the seccomp filter right before exec (its listener,
//! if any, handed to the parent for the seccomp agent). Runs in the
//! forked child: no allocation; failures are sync records.

use crate::caps::Caps;
use crate::error::Step;
use crate::seccomp::Filter;
use crate::sync::Failure;
use crate::sys;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::io::Errno;
use rustix::process::{Gid, Resource, Rlimit, Uid};

fn fail(step: Step) -> impl Fn(Errno) -> Failure {
    move |e| Failure {
        step,
        errno: e.raw_os_error(),
        index: 0,
    }
}

/// Set `rlimits` (a failure names its index) and write `oom_score_adj`
/// through `/proc/self`, checked to be a procfs (a bind over it cannot
/// redirect the write).
pub fn set_limits(
    rlimits: &[(Resource, Rlimit)],
    oom_score_adj: Option<&[u8]>,
) -> Result<(), Failure> {
    for (i, (resource, limit)) in rlimits.iter().enumerate() {
        rustix::process::setrlimit(*resource, *limit).map_err(|e| Failure {
            step: Step::Rlimit,
            errno: e.raw_os_error(),
            index: i as u16,
        })?;
    }
    if let Some(adj) = oom_score_adj {
        let f = rustix::fs::open(
            c"/proc/self/oom_score_adj",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(fail(Step::OomScoreAdj))?;
        crate::mount::verify_procfs(&f).map_err(fail(Step::OomScoreAdj))?;
        rustix::io::write(&f, adj).map_err(fail(Step::OomScoreAdj))?;
    }
    Ok(())
}

/// Who the payload runs as and what it may do.
pub struct Privileges<'a> {
    pub caps: &'a Caps,
    /// Every capability the kernel knows (the bounding set is trimmed).
    pub known_caps: u64,
    pub no_new_privs: bool,
    pub seccomp: Option<&'a Filter>,
    /// Where the filter's listener goes: the channel to the parent.
    pub listener_to: Option<BorrowedFd<'a>>,
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [Gid],
    /// Rootless without newgidmap: setgroups is denied, and the only group
    /// is already the user's own.
    pub setgroups_may_be_denied: bool,
}

/// Shrink the bounding set while CAP_SETPCAP is still ours; install a
/// filter that cannot rely on no_new_privs while CAP_SYS_ADMIN is; switch
/// user keeping the permitted set, then set the capability sets.
pub fn drop_to(p: &Privileges<'_>) -> Result<(), Failure> {
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    p.caps
        .shrink_bounding(p.known_caps)
        .map_err(fail(Step::Capabilities))?;
    if !p.no_new_privs
        && let Some(filter) = p.seccomp
    {
        install(filter, p.listener_to)?;
    }
    rustix::thread::set_keep_capabilities(true).map_err(fail(Step::SetUser))?;
    match set_thread_groups(p.groups) {
        Err(Errno::PERM) if p.setgroups_may_be_denied => {}
        other => other.map_err(fail(Step::SetUser))?,
    }
    let (uid, gid) = (Uid::from_raw(p.uid), Gid::from_raw(p.gid));
    set_thread_res_gid(gid, gid, gid).map_err(fail(Step::SetUser))?;
    set_thread_res_uid(uid, uid, uid).map_err(fail(Step::SetUser))?;
    rustix::thread::set_keep_capabilities(false).map_err(fail(Step::SetUser))?;
    p.caps.apply().map_err(fail(Step::Capabilities))
}

/// Just before exec: no_new_privs, then the seccomp filter (last, so it
/// need not allow cella's own setup calls).
pub fn lock_down(
    no_new_privs: bool,
    seccomp: Option<&Filter>,
    listener_to: Option<BorrowedFd<'_>>,
) -> Result<(), Failure> {
    if no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(fail(Step::NoNewPrivs))?;
        if let Some(filter) = seccomp {
            install(filter, listener_to)?;
        }
    }
    Ok(())
}

/// The filter in; its listener, if it has one, to the parent, which takes
/// it to the seccomp agent (ours closes as we return).
fn install(filter: &Filter, listener_to: Option<BorrowedFd<'_>>) -> Result<(), Failure> {
    let listener =
        sys::seccomp::install(&filter.program, filter.flags).map_err(fail(Step::Seccomp))?;
    if let (Some(fd), Some(to)) = (listener, listener_to) {
        crate::sync::send_listener(to, fd.as_fd()).map_err(fail(Step::SeccompAgent))?;
    }
    Ok(())
}
