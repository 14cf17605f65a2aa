//! `cella init`: cella as the machine's PID 1 (an initramfs `/init`), or as
//! a supervisor of the containers a configuration file describes.
//!
//! The order, one step per function: block the signals it handles; mount
//! `/proc`, `/sys`, `/dev`, `/run` and cgroup2 with every controller
//! enabled; read the configuration; load its kernel modules; bring `lo` and
//! the configured interfaces up and set the hostname;
//! start the containers in file order; then one loop over a signalfd and the
//! containers' output pipes: reap every child (orphans included), restart by
//! policy with exponential backoff, and on SIGTERM, SIGINT (ctrl-alt-del) or
//! SIGPWR, or once nothing is left to run, stop the containers (SIGTERM, a
//! grace period, SIGKILL), unmount, sync, and power off or reboot.
//!
//! PID 1 must never exit (the kernel panics): every failure ends in the
//! emergency shell, if one is configured, and then in a power-off.

mod console;

use crate::config::{self, Config, Log, OnExit, Restart};
use crate::container::{self, Running, Stdio};
use crate::error::Result;
use crate::spec;
use crate::sys::{self, signal, signal::SigSet};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::time::Timespec;

/// Signals PID 1 handles; everything else keeps its default (and the kernel
/// never delivers a default-action signal to PID 1).
const HANDLED: SigSet = SigSet::empty()
    .with(Signal::CHILD)
    .with(Signal::TERM)
    .with(Signal::INT)
    .with(Signal::POWER)
    .with(Signal::USR1)
    .with(Signal::USR2);

/// A run this long proves the container works: its backoff starts over.
const HEALTHY_MS: u64 = 10_000;
const MAX_BACKOFF_SECS: u64 = 30;

/// Run the init. Returns only when cella is not PID 1 (a supervisor in a
/// normal system or in a test), with the status to exit with.
pub fn run(config_path: Option<String>) -> u8 {
    let pid1 = rustix::process::getpid().is_init();
    if signal::block(HANDLED).is_err() {
        say("cella: cannot block signals");
    }
    let mut init = Init {
        pid1,
        mounted: Vec::new(),
        action: OnExit::PowerOff,
    };
    if pid1 {
        // ctrl-alt-del becomes SIGINT to us instead of an instant reboot.
        let _ = rustix::system::reboot(rustix::system::RebootCommand::CadOff);
        init.mount_system();
    } else {
        // Orphans of the containers' runtimes come to us, not to our parent.
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    }
    let cmdline = read_small("/proc/cmdline");
    let cmdline = config::cmdline(&cmdline);
    let path = config_path
        .or(cmdline.config.clone())
        .unwrap_or_else(|| config::DEFAULT_PATH.to_owned());
    let text = crate::input::read(std::path::Path::new(&path), config::MAX_SIZE)
        .and_then(|bytes| crate::input::text(bytes, &path));
    let config = text
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|text| config::parse(text, &path))
        .and_then(|mut c| config::apply_overrides(&mut c, &cmdline).map(|()| c));
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            say(&format!("cella: {e}"));
            // The kernel command line wins; else the broken file's own
            // `emergency` line, if it has one.
            let from_file = text.as_deref().ok().and_then(config::emergency_line);
            return init.fail(cmdline.get("emergency").or(from_file.as_deref()));
        }
    };
    init.action = config.on_exit;
    init.load_modules(&config.modules);
    init.network_and_hostname(&config);
    let code = Supervisor::new(&config).run();
    init.shut_down(code)
}

/// The machine-level state PID 1 owns.
struct Init {
    pid1: bool,
    /// What this init mounted, to unmount at the end (in reverse).
    mounted: Vec<&'static str>,
    action: OnExit,
}

impl Init {
    /// `/proc`, `/sys`, `/dev`, `/run`, and cgroup2 at `/sys/fs/cgroup`, each
    /// unless something is mounted there already (an initramfs may have done it).
    fn mount_system(&mut self) {
        let mounts: [(&'static str, &'static str, Option<&std::ffi::CStr>); 5] = [
            ("/proc", "proc", None),
            ("/sys", "sysfs", None),
            ("/dev", "devtmpfs", Some(c"mode=755")),
            ("/run", "tmpfs", Some(c"mode=755")),
            ("/sys/fs/cgroup", "cgroup2", None),
        ];
        for (target, fstype, data) in mounts {
            let _ = rustix::fs::mkdir(target, Mode::from_raw_mode(0o755));
            if is_mount_point(target) {
                continue;
            }
            let flags = rustix::mount::MountFlags::NOSUID;
            match rustix::mount::mount(fstype, target, fstype, flags, data) {
                Ok(()) => self.mounted.push(target),
                Err(e) => say(&format!(
                    "cella: mount {fstype} on {target}: {}",
                    crate::error::strerror(e)
                )),
            }
        }
        // Let containers have every controller the kernel offers.
        let available = read_small("/sys/fs/cgroup/cgroup.controllers");
        for controller in available.split_whitespace() {
            let _ = write_file(
                "/sys/fs/cgroup/cgroup.subtree_control",
                &format!("+{controller}"),
            );
        }
    }

    /// The configuration's kernel modules, in order, by PID 1 only (a
    /// supervisor on a running system leaves the kernel alone). One already
    /// loaded or built in is fine; any other failure is said and the boot
    /// goes on: what needed the module fails later with its own message.
    fn load_modules(&self, modules: &[config::Module]) {
        if !self.pid1 {
            return;
        }
        for module in modules {
            if let Err(e) = load_module(module) {
                say(&format!(
                    "cella: module {}: {}",
                    module.path,
                    crate::error::strerror(e)
                ));
            }
        }
    }

    fn network_and_hostname(&self, config: &Config) {
        if !self.pid1 {
            return;
        }
        if let Err(e) = sys::loopback_up() {
            say(&format!(
                "cella: bring up lo: {}",
                crate::error::strerror(e)
            ));
        }
        #[cfg(feature = "net")]
        if let Err(e) = crate::net::host::configure(&config.network) {
            say(&format!("cella: {e}"));
        }
        let hostname = config.hostname.as_deref().unwrap_or("cella");
        if let Err(e) = rustix::system::sethostname(hostname.as_bytes()) {
            say(&format!(
                "cella: sethostname {hostname}: {}",
                crate::error::strerror(e)
            ));
        }
    }

    /// Bad configuration: the emergency shell if one is configured, then the
    /// configured end (power off by default).
    fn fail(self, emergency: Option<&str>) -> u8 {
        if let Some(shell) = emergency {
            say(&format!("cella: starting emergency shell {shell}"));
            run_shell(shell);
        }
        self.shut_down(125)
    }

    /// Unmount what we mounted, sync, and power off or reboot. As PID 1
    /// this does not return.
    fn shut_down(self, code: u8) -> u8 {
        if !self.pid1 {
            return code;
        }
        for target in self.mounted.iter().rev() {
            let _ = rustix::mount::unmount(*target, rustix::mount::UnmountFlags::DETACH);
        }
        rustix::fs::sync();
        let command = match self.action {
            OnExit::PowerOff => rustix::system::RebootCommand::PowerOff,
            OnExit::Reboot => rustix::system::RebootCommand::Restart,
        };
        say(match self.action {
            OnExit::PowerOff => "cella: powering off",
            OnExit::Reboot => "cella: rebooting",
        });
        loop {
            let _ = rustix::system::reboot(command);
            // Only reached without CAP_SYS_BOOT: PID 1 still must not exit.
            let _ = rustix::thread::nanosleep(&Timespec {
                tv_sec: 3600,
                tv_nsec: 0,
            });
        }
    }
}

/// One configured container and its life so far.
struct Slot<'c> {
    config: &'c config::Container,
    running: Option<Running>,
    /// When a restart is due (the loop's clock, [`now_ms`]).
    restart_at: Option<u64>,
    started_at: u64,
    /// It started once: a later start that fails is a failure for its
    /// restart policy, not the end of it.
    ever_started: bool,
    failures: u32,
    /// Restarts so far, for `on-failure:N`.
    restarts: u32,
    /// The read end of the console relay, and the partial line it holds.
    relay: Option<OwnedFd>,
    pending: Vec<u8>,
    /// Since when it waits for a `needs-network` interface's address.
    waited_since: Option<u64>,
}

struct Supervisor<'c> {
    slots: Vec<Slot<'c>>,
    grace_ms: u64,
    /// Set once stopping began: when SIGKILL is due.
    kill_at: Option<u64>,
    /// The first container's failure code, as this init's exit status.
    code: u8,
}

impl<'c> Supervisor<'c> {
    fn new(config: &'c Config) -> Self {
        let slots = config
            .containers
            .iter()
            .map(|c| Slot {
                config: c,
                running: None,
                restart_at: Some(0),
                started_at: 0,
                ever_started: false,
                failures: 0,
                restarts: 0,
                relay: None,
                pending: Vec::new(),
                waited_since: None,
            })
            .collect();
        Supervisor {
            slots,
            grace_ms: config.grace_secs.saturating_mul(1000),
            kill_at: None,
            code: 0,
        }
    }

    /// Start everything, then serve signals, output and timers until every
    /// container has ended for good. Returns the exit status.
    fn run(mut self) -> u8 {
        let sigfd = match signal::signalfd(HANDLED) {
            Ok(fd) => fd,
            Err(e) => {
                say(&format!("cella: signalfd: {}", crate::error::strerror(e)));
                return 125;
            }
        };
        loop {
            let now = now_ms();
            if self.kill_at.is_none() {
                for i in 0..self.slots.len() {
                    if self.slots[i].restart_at.is_some_and(|t| t <= now) {
                        self.start(i, now);
                    }
                }
            }
            let running = self.slots.iter().any(|s| s.running.is_some());
            let relaying = self.slots.iter().any(|s| s.relay.is_some());
            let waiting =
                self.kill_at.is_none() && self.slots.iter().any(|s| s.restart_at.is_some());
            // Done when nothing runs or will, and all output is on the console.
            if !running && !waiting && !relaying {
                return self.code;
            }
            if self.kill_at.is_some_and(|at| now >= at) {
                self.signal_all(Signal::KILL);
            }
            self.wait_for_events(&sigfd, now);
        }
    }

    /// Poll the signalfd and the relays, no longer than the next timer.
    fn wait_for_events(&mut self, sigfd: &OwnedFd, now: u64) {
        let next_timer = self
            .slots
            .iter()
            .filter_map(|s| s.restart_at)
            .chain(self.kill_at)
            .map(|t| t.saturating_sub(now))
            .min();
        // (At least 10 ms: a timer due now is served by the loop, whose
        // SIGKILLs are not sent again in a busy loop while they take.)
        let timeout = next_timer.map(|ms| {
            let ms = ms.max(10);
            Timespec {
                tv_sec: (ms / 1000) as i64,
                tv_nsec: ((ms % 1000) * 1_000_000) as i64,
            }
        });
        // The console, while output waits for it.
        let console = console::pending();
        let mut fds = vec![PollFd::new(sigfd, PollFlags::IN)];
        if let Some(fd) = &console {
            fds.push(PollFd::new(fd, PollFlags::OUT));
        }
        let relays_from = fds.len();
        let mut owners = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(relay) = &slot.relay {
                fds.push(PollFd::new(relay, PollFlags::IN));
                owners.push(i);
            }
        }
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => say(&format!("cella: poll: {}", crate::error::strerror(e))),
        }
        let console_ready = console.is_some() && !fds[1].revents().is_empty();
        let ready: Vec<(usize, bool)> = fds[relays_from..]
            .iter()
            .zip(&owners)
            .filter(|(fd, _)| !fd.revents().is_empty())
            .map(|(fd, &i)| (i, fd.revents().intersects(PollFlags::HUP | PollFlags::ERR)))
            .collect();
        let signals_ready = !fds[0].revents().is_empty();
        drop(fds);
        if console_ready {
            console::flush();
        }
        for (i, hangup) in ready {
            self.relay_output(i, hangup);
        }
        if signals_ready {
            while let Some(sig) = signal::read_signalfd(sigfd) {
                self.handle_signal(sig);
            }
        }
    }

    fn handle_signal(&mut self, sig: i32) {
        if sig == Signal::CHILD.as_raw() {
            self.reap();
        } else if self.kill_at.is_none() {
            say("cella: stopping the containers");
            self.kill_at = Some(now_ms() + self.grace_ms);
            for slot in &mut self.slots {
                slot.restart_at = None;
            }
            self.signal_all(Signal::TERM);
        }
    }

    fn signal_all(&self, sig: Signal) {
        for slot in &self.slots {
            if let Some(r) = &slot.running {
                let _ = rustix::process::kill_process(r.pid, sig);
            }
        }
    }

    fn start(&mut self, i: usize, now: u64) {
        let slot = &mut self.slots[i];
        slot.restart_at = None;
        let name = slot.config.name().to_owned();
        // `needs-network IFACE`: not before the interface has an address
        // (asked again each second, never waited on), at most 60 s late.
        if let Some(iface) = slot.config.needs_network.iter().find(|n| !has_address(n)) {
            if slot.waited_since.is_none() {
                say(&format!("cella: {name}: waiting for {iface}'s address"));
            }
            let since = *slot.waited_since.get_or_insert(now);
            if now < since + 60_000 {
                slot.restart_at = Some(now + 1000);
                return;
            }
            say(&format!(
                "cella: {name}: {iface} has no address after 60 s: starting anyway"
            ));
        }
        slot.waited_since = None;
        match start_container(slot.config) {
            Ok((running, relay)) => {
                if running.reclaimed() {
                    say(&format!(
                        "cella: {name}: removed the cgroup an earlier run left behind"
                    ));
                }
                say(&format!("cella: {name}: started"));
                slot.running = Some(running);
                slot.relay = relay;
                slot.started_at = now;
                slot.ever_started = true;
            }
            Err(e) => {
                say(&format!("cella: {name}: {e}"));
                if self.code == 0 {
                    self.code = e.exit_code();
                }
                // A container that cannot even start will not start later:
                // no restart, whatever the policy. One that ran before
                // (its image caught mid-update, say) failed this time:
                // its policy says whether and when to try again.
                // (The failed attempt counts as its start: a run long
                // ago must not reset the backoff of every retry to 1 s.)
                if slot.ever_started {
                    slot.started_at = now;
                    self.schedule_restart(i, e.exit_code());
                }
            }
        }
    }

    /// Reap every exited child; containers get their outcome and policy.
    fn reap(&mut self) {
        // wait4(-1): orphans re-parented to PID 1 are reaped here too.
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            if let Some(i) = self.slot_of(pid) {
                let slot = &mut self.slots[i];
                let Some(running) = slot.running.take() else {
                    continue;
                };
                let outcome = running.finish(status);
                let name = slot.config.name();
                if outcome.oom_killed {
                    say(&format!(
                        "cella: {name}: killed by the OOM killer: memory limit reached"
                    ));
                }
                say(&format!(
                    "cella: {name}: exited with status {}",
                    outcome.code
                ));
                if let Some(e) = outcome.cleanup {
                    say(&format!("cella: {name}: {e}"));
                }
                if outcome.code != 0 && self.code == 0 {
                    self.code = outcome.code;
                }
                self.schedule_restart(i, outcome.code);
            }
        }
    }

    fn slot_of(&self, pid: Pid) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.running.as_ref().is_some_and(|r| r.pid == pid))
    }

    fn schedule_restart(&mut self, i: usize, code: u8) {
        if self.kill_at.is_some() {
            return;
        }
        let now = now_ms();
        let slot = &mut self.slots[i];
        let again = match slot.config.restart {
            Restart::No => false,
            Restart::OnFailure(_) => code != 0,
            Restart::Always => true,
        };
        if !again {
            return;
        }
        if let Restart::OnFailure(Some(max)) = slot.config.restart
            && slot.restarts >= max
        {
            say(&format!(
                "cella: {}: not restarting: failed {} times (restart on-failure:{max})",
                slot.config.name(),
                max + 1
            ));
            return;
        }
        slot.restarts += 1;
        if now.saturating_sub(slot.started_at) >= HEALTHY_MS {
            slot.failures = 0;
        }
        let delay = backoff(slot.failures);
        slot.failures += 1;
        say(&format!(
            "cella: {}: restarting in {delay}s",
            slot.config.name()
        ));
        slot.restart_at = Some(now + delay * 1000);
    }

    /// Copy a container's output to the console, a `[name] ` prefix per line.
    fn relay_output(&mut self, i: usize, hangup: bool) {
        let slot = &mut self.slots[i];
        let Some(relay) = &slot.relay else { return };
        let mut buf = [0u8; 4096];
        let closed = match rustix::io::read(relay, &mut buf) {
            Ok(0) => true,
            Ok(n) => {
                slot.pending.extend_from_slice(&buf[..n]);
                false
            }
            Err(Errno::AGAIN | Errno::INTR) => hangup,
            Err(_) => true,
        };
        let prefix = format!("[{}] ", slot.config.name());
        let mut out = Vec::new();
        while let Some(end) = slot.pending.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(prefix.as_bytes());
            out.extend(slot.pending.drain(..=end));
        }
        if (closed || slot.pending.len() >= buf.len()) && !slot.pending.is_empty() {
            out.extend_from_slice(prefix.as_bytes());
            out.append(&mut slot.pending);
            out.push(b'\n');
        }
        console::write(&out);
        if closed {
            slot.relay = None;
        }
    }
}

/// Build the container's spec and start it, with its output going to a
/// console relay pipe or its log file; stdin is /dev/null.
fn start_container(c: &config::Container) -> Result<(Running, Option<OwnedFd>)> {
    use crate::error::{Ctx, Step};
    let spec = spec::build(c.args.clone())?;
    for n in &spec.notes {
        say(&format!("cella: {}: {n}", c.name()));
    }
    for w in &spec.warnings {
        say(&format!("cella: {}: warning: {w}", c.name()));
    }
    let null = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .ctx_at(Step::Usage, "/dev/null")?;
    let (out, relay) = match &c.log {
        Log::Console => {
            let (rx, tx) =
                rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(Step::SyncPipe)?;
            rustix::fs::fcntl_setfl(&rx, OFlags::NONBLOCK).ctx(Step::SyncPipe)?;
            (tx, Some(rx))
        }
        Log::File(path) => {
            // Non-blocking: a FIFO there with no reader must not hold PID 1;
            // and only a regular file is a log.
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::APPEND
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            let fd = rustix::fs::open(path.as_str(), flags, Mode::from_raw_mode(0o644))
                .ctx_at(Step::Usage, path)?;
            let st = rustix::fs::fstat(&fd).ctx_at(Step::Usage, path)?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
            {
                return Err(crate::error::Error::usage(format!(
                    "log {path}: not a regular file"
                )));
            }
            rustix::fs::fcntl_setfl(&fd, OFlags::APPEND).ctx_at(Step::Usage, path)?;
            (fd, None)
        }
    };
    let stdio = Stdio {
        stdin: Some(null.as_fd()),
        stdout: Some(out.as_fd()),
        stderr: Some(out.as_fd()),
    };
    // The payload gets an empty signal mask, as PID 1 itself started with.
    let running = container::start(spec, stdio, SigSet::empty())?;
    Ok((running, relay))
}

/// Seconds before restart number `failures + 1`: 1, 2, 4, ... up to 30.
pub fn backoff(failures: u32) -> u64 {
    (1u64 << failures.min(5)).min(MAX_BACKOFF_SECS)
}

/// Run the emergency shell on the console and wait for it.
fn run_shell(shell: &str) {
    let Ok(path) = std::ffi::CString::new(shell) else {
        return;
    };
    let argv = sys::CStrArray::new(vec![path.clone()]);
    let envp = sys::CStrArray::new(vec![c"PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_owned()]);
    match sys::fork() {
        Ok(sys::Fork::Child { .. }) => {
            sys::mark_child();
            let _ = signal::set_mask(SigSet::empty());
            let _ = rustix::process::setsid();
            let e = sys::execve(&path, &argv, &envp);
            // One line, in pieces: nothing allocated after a raw fork.
            let err = rustix::stdio::stderr();
            for piece in [
                b"cella: emergency shell ".as_slice(),
                shell.as_bytes(),
                b": ",
                crate::error::strerror(e).as_bytes(),
                b"\n",
            ] {
                let _ = crate::input::write_all(err, piece);
            }
            sys::exit_group(127);
        }
        Ok(sys::Fork::Parent { child, .. }) => {
            // Reap everything until the shell itself is gone.
            while let Ok(Some((pid, _))) = rustix::process::wait(WaitOptions::empty()) {
                if pid == child {
                    break;
                }
            }
        }
        Err(e) => say(&format!("cella: fork: {}", crate::error::strerror(e))),
    }
}

fn is_mount_point(path: &str) -> bool {
    // A mount point's device differs from its parent's (or it is `/`).
    let parent = match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => return false,
    };
    match (rustix::fs::stat(path), rustix::fs::stat(parent)) {
        (Ok(a), Ok(b)) => a.st_dev != b.st_dev,
        _ => false,
    }
}

/// Monotonic seconds since this init started.
/// Milliseconds since the first call: the loop's clock (whole seconds
/// would cut a grace period short by up to one).
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// `finit_module(2)` of one module file. A `.xz`, `.gz` or `.zst` file is
/// handed to the kernel to decompress (`MODULE_INIT_COMPRESSED_FILE`, 5.17+).
fn load_module(module: &config::Module) -> rustix::io::Result<()> {
    const MODULE_INIT_COMPRESSED_FILE: i32 = 4;
    let file = rustix::fs::open(
        module.path.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let params = std::ffi::CString::new(module.params.as_str()).map_err(|_| Errno::INVAL)?;
    let compressed = [".xz", ".gz", ".zst"]
        .iter()
        .any(|ext| module.path.ends_with(ext));
    let flags = if compressed {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    };
    match rustix::system::finit_module(&file, &params, flags) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

fn read_small(path: &str) -> String {
    crate::input::system_text(path).unwrap_or_default()
}

fn write_file(path: &str, value: &str) -> rustix::io::Result<()> {
    crate::input::write_system(path, value)
}

/// Whether interface `name` has an IPv4 address (without networking
/// built in, no container is held back).
fn has_address(name: &str) -> bool {
    #[cfg(feature = "net")]
    return crate::net::host::has_address(name);
    #[cfg(not(feature = "net"))]
    {
        let _ = name;
        true
    }
}

/// One line to the console (PID 1's stdout), never blocking.
/// A status line on the console, cut to [`LINE_MAX`] bytes: errors echo
/// configuration lines and values of any length, and the console queue
/// takes whole lines only (one over its size would be dropped whole).
fn say(line: &str) {
    let mut end = line.len().min(LINE_MAX);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let mut text = String::with_capacity(end + 32);
    text.push_str(&line[..end]);
    if end < line.len() {
        text.push_str(&format!(" [{} more bytes]", line.len() - end));
    }
    text.push('\n');
    console::write(text.as_bytes());
}

const LINE_MAX: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let delays: Vec<u64> = (0..8).map(backoff).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
