//! The verbs that act on an existing container: `start`, `state`, `kill`,
//! `delete`, `list`, `ps`, `pause`, `resume`, `update`. Each checks the
//! status the runtime spec requires first, so a refused operation changes
//! nothing.

use super::cgroups;
use super::config::{self, Config};
use super::hooks;
use super::state::{self, State, Status};
use crate::cgroup::Layout;
use crate::error::{Error, Result, Step};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use std::path::Path;

/// The container's config as saved at create.
pub fn saved_config(root: &Path, st: &State) -> Result<Config> {
    let doc = config::read_json(&state::dir(root, &st.id).join("config.json"))?;
    config::decode(&doc, &st.bundle)
}

fn refuse(verb: &str, id: &str, status: Status) -> Error {
    Error::usage(format!(
        "cannot {verb} container {id}: it is {}",
        status.name()
    ))
}

/// What failed without failing the verb: to the log now, and returned
/// for `main` to print on stderr.
fn warner(warnings: &mut Vec<Error>) -> impl FnMut(&Error) + '_ {
    |e: &Error| {
        super::log::error(&format!("warning: {e}"));
        warnings.push(e.clone());
    }
}

/// Let the created container `id` run; returns the poststart hooks'
/// failures (warnings).
pub fn start(root: &Path, id: &str) -> Result<Vec<Error>> {
    let _serial = crate::store::lock(root, id);
    let st = State::load(root, id)?;
    let status = st.status(root);
    if status != Status::Created {
        return Err(refuse("start", id, status));
    }
    let cfg = saved_config(root, &st)?;
    let json = state::to_json(&st, Status::Created);
    if let Err(e) = hooks::run(
        "hooks.startContainer",
        &cfg.hooks.start_container,
        &json,
        Some(st.pid),
    ) {
        // The spec's lifecycle: the container is stopped, and goes on at
        // `delete` (which runs the poststop hooks), never to run its
        // program.
        st.kill();
        return Err(e);
    }
    let fifo = state::fifo(root, id);
    let fd = match rustix::fs::open(
        &fifo,
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // No reader: the container process is gone.
        Err(Errno::NXIO) => return Err(refuse("start", id, Status::Stopped)),
        Err(e) => return Err(Error::new(Step::WaitStart, e).at(fifo.display().to_string())),
    };
    rustix::io::write(&fd, &[0]).map_err(|e| Error::new(Step::WaitStart, e))?;
    let _ = std::fs::remove_file(&fifo);
    let json = state::to_json(&st, Status::Running);
    let mut warnings = Vec::new();
    hooks::run_warning(
        "hooks.poststart",
        &cfg.hooks.poststart,
        &json,
        &mut warner(&mut warnings),
    );
    Ok(warnings)
}

pub fn print_state(root: &Path, id: &str) -> Result<String> {
    let st = State::load(root, id)?;
    let passwd = crate::input::system_text("/etc/passwd").unwrap_or_default();
    let owner = owner(&root.join(&st.id), &passwd);
    let mut out = state::with_owner(&st, st.status(root), &owner);
    out.push('\n');
    Ok(out)
}

/// A signal by name or number ([`crate::cli::signal`]).
pub fn parse_signal(s: &str) -> Result<Signal> {
    crate::cli::signal(s).ok_or_else(|| Error::usage(format!("unknown signal '{s}'")))
}

/// Send `sig` to the container's PID 1 (every process with `all`);
/// `None` is signal 0: only whether it is alive, as runc's `kill ID 0`.
pub fn kill(root: &Path, id: &str, sig: Option<Signal>, all: bool) -> Result<()> {
    let st = State::load(root, id)?;
    let status = st.status(root);
    if status == Status::Stopped && (!all || sig.is_none()) {
        return Err(refuse("kill", id, status));
    }
    let Some(sig) = sig else {
        return Ok(());
    };
    if all {
        signal_all(&st, sig);
        return Ok(());
    }
    // A created container's PID 1 is still cella's, waiting for `start`
    // with no handler, and as a PID namespace's init the kernel spares it
    // every signal but SIGKILL: it ends as the program would have, on a
    // signal whose default is to end a process (runc's init is ended too).
    if status == Status::Created && ends_by_default(sig) {
        st.kill();
        return Ok(());
    }
    let pid = Pid::from_raw(st.pid).ok_or_else(|| refuse("kill", id, Status::Stopped))?;
    rustix::process::kill_process(pid, sig)
        .map_err(|e| Error::new(Step::State, e).at(format!("kill {}", st.pid)))
}

/// Whether a process with `sig`'s default disposition ends on it (not
/// one that is ignored, or stops or continues it).
fn ends_by_default(sig: Signal) -> bool {
    use Signal as S;
    !matches!(
        sig,
        S::CHILD | S::CONT | S::URG | S::WINCH | S::STOP | S::TSTP | S::TTIN | S::TTOU
    )
}

/// Signal every process of the container's cgroup. A frozen cgroup is
/// thawed after, so SIGKILL takes effect. In a cgroup others' processes
/// were in before the container, only the container's: those of its PID
/// namespace, or with none of its own, its PID 1.
fn signal_all(st: &State, sig: Signal) {
    let mut pids = st.cgroup.pids();
    if !st.cgroup.existing.is_empty() {
        let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let theirs = ns(st.pid).filter(|_| st.own_pid_ns);
        pids.retain(|p| theirs.is_some() && ns(*p) == theirs);
    }
    if st.alive() && !pids.contains(&st.pid) {
        pids.push(st.pid);
    }
    for p in pids {
        if let Some(pid) = Pid::from_raw(p) {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
    if sig == Signal::KILL && st.cgroup.frozen() {
        let _ = st.cgroup.freeze(false);
    }
}

/// Remove container `id` (killing it with `force`); returns the poststop
/// hooks' failures (warnings).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<Vec<Error>> {
    let _serial = crate::store::lock(root, id);
    let st = match State::load(root, id) {
        Ok(st) => st,
        // A `create` killed before it wrote the state leaves its directory
        // and nothing else (the state is written before any cgroup or
        // process exists): `--force` removes it, as runc does.
        Err(_) if force && state::is_unrecorded(root, id) => {
            return crate::store::remove_dir(root, id).map(|_| Vec::new());
        }
        // Nothing to delete: done, as runc's `delete --force` says.
        Err(_) if force && state::check_id(id).is_ok() && !state::dir(root, id).exists() => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let status = st.status(root);
    if status != Status::Stopped && !force {
        return Err(Error::usage(format!(
            "cannot delete container {id}: it is {} (stop it first, or use --force)",
            status.name()
        )));
    }
    let cfg = saved_config(root, &st);
    if st.pid == 0 {
        // A `create` killed before it forked: nothing of ours ran, and the
        // recorded cgroup may not be ours (its path could clash with
        // another container's). Only an empty directory goes.
        for dir in st.cgroup.made() {
            let _ = rustix::fs::rmdir(dir);
        }
    } else {
        st.kill();
        st.cgroup.remove()?;
    }
    let mut warnings = Vec::new();
    if let Ok(cfg) = &cfg {
        let json = state::to_json(&st, Status::Stopped);
        hooks::run_warning(
            "hooks.poststop",
            &cfg.hooks.poststop,
            &json,
            &mut warner(&mut warnings),
        );
    }
    crate::store::remove_dir(root, id).map(|_| warnings)
}

pub fn list(root: &Path, json: bool, quiet: bool) -> String {
    // What killed cellas left of supervised containers goes first.
    crate::net::sweep(root);
    let mut out = String::new();
    let states: Vec<State> = state::ids(root)
        .iter()
        .filter_map(|id| State::load(root, id).ok())
        .collect();
    let passwd = crate::input::system_text("/etc/passwd").unwrap_or_default();
    if json {
        out.push('[');
        for (i, st) in states.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let owner = owner(&root.join(&st.id), &passwd);
            out.push_str(&state::with_owner(st, st.status(root), &owner));
        }
        out.push_str("]\n");
        return out;
    }
    if quiet {
        for st in &states {
            out.push_str(&st.id);
            out.push('\n');
        }
        return out;
    }
    let mut rows = vec![
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec(),
    ];
    for st in &states {
        let status = st.status(root);
        let pid = if status == Status::Stopped { 0 } else { st.pid };
        rows.push(vec![
            st.id.clone(),
            pid.to_string(),
            status.name().to_owned(),
            st.bundle.display().to_string(),
            st.created.clone(),
            owner(&root.join(&st.id), &passwd),
        ]);
    }
    align(&rows)
}

/// Who owns a container's record (runc's OWNER): the name the host's
/// `passwd` gives its uid, else the number.
fn owner(dir: &Path, passwd: &str) -> String {
    let Ok(st) = rustix::fs::stat(dir) else {
        return String::new();
    };
    crate::users::entries(passwd)
        .find(|u| u.uid == st.st_uid)
        .map_or_else(|| st.st_uid.to_string(), |u| u.name.to_owned())
}

/// Columns as runc's tables align them (Go's tabwriter: each column but
/// the last as wide as its widest cell plus 3, at least 12).
fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max();
            (widest.unwrap_or(0) + 3).max(12)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// `ps`: the container's pids (json), or as runc does, the host's `ps`
/// (with `ps_args`, default `-ef`) narrowed to the container's processes;
/// where there is no `ps` (an initramfs), cella's own PID and CMD table.
pub fn ps(root: &Path, id: &str, json: bool, ps_args: &[String]) -> Result<String> {
    let st = State::load(root, id)?;
    let mut pids = st.cgroup.pids();
    crate::heapsort::sort(&mut pids);
    let mut out = String::new();
    if json {
        out.push('[');
        for (i, p) in pids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&p.to_string());
        }
        out.push_str("]\n");
        return Ok(out);
    }
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    if let Some((code, listed)) = host_ps(&args) {
        if code != 0 {
            return Err(Error::usage(format!(
                "ps {}: exited with status {code}",
                args.join(" ")
            )));
        }
        let text = String::from_utf8_lossy(&listed);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let Some(column) = header.split_whitespace().position(|h| h == "PID") else {
            return Err(Error::usage("ps: no PID column in its output"));
        };
        out.push_str(header);
        out.push('\n');
        for line in lines {
            let pid = line
                .split_whitespace()
                .nth(column)
                .and_then(|p| p.parse().ok());
            if pid.is_some_and(|p: i32| pids.contains(&p)) {
                out.push_str(line);
                out.push('\n');
            }
        }
        return Ok(out);
    }
    let mut rows = vec![vec!["PID".to_owned(), "CMD".to_owned()]];
    for p in pids {
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        rows.push(vec![p.to_string(), cmd.join(" ")]);
    }
    Ok(align(&rows))
}

pub fn pause(root: &Path, id: &str, frozen: bool) -> Result<()> {
    let _serial = crate::store::lock(root, id);
    let st = State::load(root, id)?;
    let status = st.status(root);
    let (verb, wanted) = if frozen {
        ("pause", Status::Running)
    } else {
        ("resume", Status::Paused)
    };
    if status != wanted {
        return Err(refuse(verb, id, status));
    }
    st.cgroup.freeze(frozen)
}

/// `update`: new limits from a resources JSON file (`-` for stdin) and/or
/// the runc flags. Device rules are not updated, as runc's `update` leaves
/// them: an orchestrator passes a container's whole resources (containerd's
/// CRI does), and rewriting its rules would deny its devices a moment (v1)
/// or fail (v2, an eBPF filter set at create).
pub fn update(root: &Path, id: &str, resources: config::Resources) -> Result<()> {
    let _serial = crate::store::lock(root, id);
    let st = State::load(root, id)?;
    let status = st.status(root);
    if status == Status::Stopped {
        return Err(refuse("update", id, status));
    }
    let layout = if st.cgroup.v2 { Layout::V2 } else { Layout::V1 };
    let writes = cgroups::writes(layout, &resources)?;
    // v1 wants memory+swap >= memory at every moment: when raising the
    // limit above the current memory+swap, swap goes first.
    match st.cgroup.apply(&writes) {
        Err(e) if e.errno == Some(Errno::INVAL) && !st.cgroup.v2 => {
            let (swap, rest): (Vec<_>, Vec<_>) = writes
                .into_iter()
                .partition(|w| w.file() == "memory.memsw.limit_in_bytes");
            st.cgroup.apply(&swap)?;
            st.cgroup.apply(&rest)
        }
        other => other,
    }
}

/// The host's `ps` run with `args`: its exit code and output (1 MiB at
/// most); `None` where there is no `ps` to run.
fn host_ps(args: &[&str]) -> Option<(u8, Vec<u8>)> {
    use crate::sys::{CStrArray, Fork};
    use std::ffi::CString;
    let mut argv = vec![CString::from(c"ps")];
    for a in args {
        argv.push(CString::new(*a).ok()?);
    }
    let exec = crate::process::Exec {
        candidates: vec![c"/bin/ps".into(), c"/usr/bin/ps".into()],
        argv: CStrArray::new(argv),
        envp: CStrArray::new(vec![c"PATH=/usr/bin:/bin".into()]),
        ..Default::default()
    };
    let (rx, tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    let child = match crate::sys::fork().ok()? {
        Fork::Child { .. } => {
            crate::sys::mark_child();
            if rustix::stdio::dup2_stdout(&tx).is_ok() {
                crate::process::exec(&exec);
            }
            crate::sys::exit_group(127)
        }
        Fork::Parent { child, .. } => child,
    };
    drop(tx);
    let mut listed = Vec::new();
    let mut buf = [0u8; 4096];
    while listed.len() < 1 << 20 {
        match rustix::io::read(&rx, &mut buf) {
            Ok(0) => break,
            Ok(n) => listed.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(_) => break,
        }
    }
    drop(rx);
    let code = crate::process::reap(child).ok()?;
    // 127: no ps here (an initramfs): cella's own table instead.
    (code != 127).then_some((code, listed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_align_as_gos_tabwriter() {
        let rows: Vec<Vec<String>> = vec![
            vec!["ID".into(), "PID".into(), "OWNER".into()],
            vec!["a-much-longer-id".into(), "42".into(), "root".into()],
        ];
        assert_eq!(
            super::align(&rows),
            "ID                 PID         OWNER\na-much-longer-id   42          root\n"
        );
    }
}
