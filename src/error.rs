//! cella's one error type: the step that failed, the errno, and the object
//! (path or value) it failed on.
//!
//! [`Step`] lists every setup step in the order cella performs them; it is
//! also the code the child sends to the parent over the sync pipe, and the
//! word that starts each message. Only `main` prints an [`Error`].

use rustix::io::Errno;
use std::fmt::{self, Write as _};

/// Every step of `cella run`, in order. The discriminant is the wire code.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The command line itself (the message says what was wrong).
    Usage = 1,
    Rootfs,
    CgroupSetup,
    CgroupCreate,
    CgroupLimit,
    SyncPipe,
    Clone,
    // ---- in the child, in order ----
    SetHostname,
    MakeRootPrivate,
    LoopbackUp,
    CgroupNamespace,
    CloneRoot,
    AttachRoot,
    EnterRoot,
    MakeMountpoint,
    ReadOnlyRoot,
    MountProc,
    MountSys,
    MountDev,
    MakeDevice,
    MountDevPts,
    MountShm,
    MountMqueue,
    MountTmpfs,
    CopyUp,
    BindMount,
    PivotRoot,
    DetachOldRoot,
    Chroot,
    CgroupJoin,
    Workdir,
    SetUser,
    CloseFds,
    SignalMask,
    ForkPayload,
    Exec,
    Mount,
    Sysctl,
    MaskPath,
    ReadOnlyPath,
    JoinNamespace,
    UserNamespace,
    Console,
    Session,
    Rlimit,
    OomScoreAdj,
    Capabilities,
    /// Confine execution to the container's root (Landlock).
    ConfineExec,
    NoNewPrivs,
    Seccomp,
    /// Hand the seccomp listener to the agent at `listenerPath`.
    SeccompAgent,
    WaitStart,
    Hook,
    State,
    // ---- back in the parent ----
    Wait,
    CgroupRemove,
    /// A bridge container's network (`--net bridge`).
    Network,
    /// An image file's loop device, its file system, the overlay over a
    /// root (`--rootfs FILE`, `--overlay`).
    AttachImage,
    MountImage,
    MountOverlay,
}

impl Step {
    /// All steps, indexable by `code - 1`.
    const ALL: [Step; 60] = [
        Step::Usage,
        Step::Rootfs,
        Step::CgroupSetup,
        Step::CgroupCreate,
        Step::CgroupLimit,
        Step::SyncPipe,
        Step::Clone,
        Step::SetHostname,
        Step::MakeRootPrivate,
        Step::LoopbackUp,
        Step::CgroupNamespace,
        Step::CloneRoot,
        Step::AttachRoot,
        Step::EnterRoot,
        Step::MakeMountpoint,
        Step::ReadOnlyRoot,
        Step::MountProc,
        Step::MountSys,
        Step::MountDev,
        Step::MakeDevice,
        Step::MountDevPts,
        Step::MountShm,
        Step::MountMqueue,
        Step::MountTmpfs,
        Step::CopyUp,
        Step::BindMount,
        Step::PivotRoot,
        Step::DetachOldRoot,
        Step::Chroot,
        Step::CgroupJoin,
        Step::Workdir,
        Step::SetUser,
        Step::CloseFds,
        Step::SignalMask,
        Step::ForkPayload,
        Step::Exec,
        Step::Mount,
        Step::Sysctl,
        Step::MaskPath,
        Step::ReadOnlyPath,
        Step::JoinNamespace,
        Step::UserNamespace,
        Step::Console,
        Step::Session,
        Step::Rlimit,
        Step::OomScoreAdj,
        Step::Capabilities,
        Step::ConfineExec,
        Step::NoNewPrivs,
        Step::Seccomp,
        Step::SeccompAgent,
        Step::WaitStart,
        Step::Hook,
        Step::State,
        Step::Wait,
        Step::CgroupRemove,
        Step::Network,
        Step::AttachImage,
        Step::MountImage,
        Step::MountOverlay,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Step> {
        Step::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// The word(s) a message starts with: the operation that failed.
    pub fn name(self) -> &'static str {
        match self {
            Step::Usage => "usage",
            Step::Rootfs => "rootfs",
            Step::CgroupSetup => "cgroup",
            Step::CgroupCreate => "create cgroup",
            Step::CgroupLimit => "set cgroup limit",
            Step::SyncPipe => "pipe",
            Step::Clone => "clone3",
            Step::SetHostname => "sethostname",
            Step::MakeRootPrivate => "make / private",
            Step::LoopbackUp => "bring up lo",
            Step::CgroupNamespace => "unshare cgroup namespace",
            Step::CloneRoot => "open_tree",
            Step::AttachRoot => "move_mount",
            Step::EnterRoot => "enter new root",
            Step::MakeMountpoint => "create mount point",
            Step::ReadOnlyRoot => "make root read-only",
            Step::MountProc => "mount proc",
            Step::MountSys => "mount sysfs",
            Step::MountDev => "mount /dev",
            Step::MakeDevice => "create device",
            Step::MountDevPts => "mount devpts",
            Step::MountShm => "mount /dev/shm",
            Step::MountMqueue => "mount mqueue",
            Step::MountTmpfs => "mount tmpfs",
            Step::CopyUp => "copy into tmpfs",
            Step::BindMount => "bind mount",
            Step::PivotRoot => "pivot_root",
            Step::DetachOldRoot => "detach old root",
            Step::Chroot => "chroot",
            Step::CgroupJoin => "join cgroup",
            Step::Workdir => "chdir",
            Step::SetUser => "set user",
            Step::CloseFds => "close file descriptors",
            Step::SignalMask => "restore signal mask",
            Step::ForkPayload => "fork payload",
            Step::Exec => "exec",
            Step::Mount => "mount",
            Step::Sysctl => "write sysctl",
            Step::MaskPath => "mask path",
            Step::ReadOnlyPath => "make path read-only",
            Step::JoinNamespace => "setns",
            Step::UserNamespace => "write id mappings",
            Step::Console => "set up console",
            Step::Session => "setsid",
            Step::Rlimit => "setrlimit",
            Step::OomScoreAdj => "write oom_score_adj",
            Step::Capabilities => "set capabilities",
            Step::ConfineExec => "confine exec to the root (landlock)",
            Step::NoNewPrivs => "set no_new_privs",
            Step::Seccomp => "install seccomp filter",
            Step::SeccompAgent => "send the seccomp listener to the agent",
            Step::WaitStart => "wait for start",
            Step::Hook => "hook",
            Step::State => "state",
            Step::Wait => "wait",
            Step::CgroupRemove => "remove cgroup",
            Step::Network => "network",
            Step::AttachImage => "attach loop device",
            Step::MountImage => "mount image",
            Step::MountOverlay => "mount overlay",
        }
    }
}

/// A failure of cella itself (never of the payload).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub step: Step,
    pub errno: Option<Errno>,
    /// The path or value the step failed on, or for `Usage` the whole message.
    pub what: Option<Box<str>>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A failed std call at `step`, by its errno (EIO if it has none).
    pub fn from_io(step: Step, e: std::io::Error) -> Self {
        Error::new(step, Errno::from_io_error(&e).unwrap_or(Errno::IO))
    }

    pub fn new(step: Step, errno: Errno) -> Self {
        Error {
            step,
            errno: Some(errno),
            what: None,
        }
    }

    /// A command-line or configuration error; `msg` is the whole message.
    pub fn usage(msg: impl Into<Box<str>>) -> Self {
        Error {
            step: Step::Usage,
            errno: None,
            what: Some(msg.into()),
        }
    }

    /// A step that failed on `what` without an errno (a refused value).
    pub fn invalid(step: Step, what: impl Into<Box<str>>) -> Self {
        Error {
            step,
            errno: None,
            what: Some(what.into()),
        }
    }

    pub fn at(mut self, what: impl Into<Box<str>>) -> Self {
        self.what = Some(what.into());
        self
    }

    /// The exit status `cella run` reports for this error: 127 when the
    /// command was not found, 126 when it could not be executed, else 125.
    pub fn exit_code(&self) -> u8 {
        match (self.step, self.errno) {
            (Step::Exec, Some(Errno::NOENT)) => 127,
            (Step::Exec, Some(_)) => 126,
            _ => 125,
        }
    }
}

/// Attach a step to a rustix result at the call site: `op().ctx(Step::X)?`.
pub trait Ctx<T> {
    fn ctx(self, step: Step) -> Result<T>;
    fn ctx_at(self, step: Step, what: &str) -> Result<T>;
}

impl<T> Ctx<T> for rustix::io::Result<T> {
    fn ctx(self, step: Step) -> Result<T> {
        self.map_err(|e| Error::new(step, e))
    }
    fn ctx_at(self, step: Step, what: &str) -> Result<T> {
        self.map_err(|e| Error::new(step, e).at(what))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.step != Step::Usage {
            f.write_str(self.step.name())?;
            if self.what.is_some() {
                f.write_str(" ")?;
            }
        }
        if let Some(what) = &self.what {
            write_escaped(f, what)?;
        }
        if let Some(e) = self.errno {
            write!(f, ": {}", strerror(e))?;
            if let Some(hint) = hint(self.step, e) {
                write!(f, " ({hint})")?;
            }
        }
        Ok(())
    }
}

/// Values in messages come from users (names, paths, JSON): a control
/// character in one must not split the one line an error is, or move the
/// terminal's cursor. They are shown escaped, as `\n` or `\u{1b}`.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str(&escaped(text))
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`, `\u{9b}`):
/// what cella prints of an image's, a bundle's or a user's strings in
/// messages and tables (`ps`, `images`), so they can neither split a line
/// nor drive the terminal.
pub fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

// Debug is Display: one readable line, and no derived Debug code in the binary.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A short explanation for the failures people actually hit.
fn hint(step: Step, e: Errno) -> Option<&'static str> {
    match (step, e) {
        (Step::Clone, Errno::PERM) => Some("cella run needs root"),
        (Step::CgroupCreate, Errno::EXIST) => Some("a container with this name is running"),
        (Step::CgroupLimit, Errno::BUSY) => Some("the limit is below current usage"),
        // Worded as Go's exec does: podman and containerd match these words.
        (Step::Exec, Errno::NOENT) => Some("executable file not found in $PATH"),
        (Step::Exec, Errno::ACCESS) => Some("permission denied"),
        (Step::PivotRoot | Step::Chroot, Errno::INVAL) => {
            Some("the new root must be a directory on a mountable file system")
        }
        (_, Errno::NOSPC)
            if matches!(step, Step::MountTmpfs | Step::BindMount | Step::MountProc) =>
        {
            Some("the mount table is full (fs.mount-max)")
        }
        _ => None,
    }
}

/// The C library's message for an errno, for the ones cella can meet;
/// rustix's Display would add "(os error N)".
pub fn strerror(e: Errno) -> &'static str {
    match e {
        Errno::PERM => "Operation not permitted",
        Errno::NOENT => "No such file or directory",
        Errno::SRCH => "No such process",
        Errno::INTR => "Interrupted system call",
        Errno::IO => "I/O error",
        Errno::TOOBIG => "Argument list too long",
        Errno::NOEXEC => "Exec format error",
        Errno::BADF => "Bad file descriptor",
        Errno::CHILD => "No child processes",
        Errno::AGAIN => "Resource temporarily unavailable",
        Errno::NOMEM => "Out of memory",
        Errno::ACCESS => "Permission denied",
        Errno::FAULT => "Bad address",
        Errno::BUSY => "Device or resource busy",
        Errno::EXIST => "File exists",
        Errno::XDEV => "Invalid cross-device link",
        Errno::NODEV => "No such device",
        Errno::NOTDIR => "Not a directory",
        Errno::ISDIR => "Is a directory",
        Errno::INVAL => "Invalid argument",
        Errno::NFILE => "Too many open files in system",
        Errno::MFILE => "Too many open files",
        Errno::TXTBSY => "Text file busy",
        Errno::FBIG => "File too large",
        Errno::NOSPC => "No space left on device",
        Errno::ROFS => "Read-only file system",
        Errno::MLINK => "Too many links",
        Errno::RANGE => "Result not representable",
        Errno::NAMETOOLONG => "File name too long",
        Errno::NOSYS => "Function not implemented",
        Errno::NOTEMPTY => "Directory not empty",
        Errno::LOOP => "Too many levels of symbolic links",
        Errno::OPNOTSUPP => "Operation not supported",
        Errno::OVERFLOW => "Value too large for defined data type",
        Errno::NXIO => "No such device or address",
        Errno::PIPE => "Broken pipe",
        Errno::CANCELED => "Operation canceled",
        Errno::PROTO => "Protocol error",
        Errno::CONNREFUSED => "Connection refused",
        Errno::NOBUFS => "No buffer space available",
        // A damaged file system (erofs, ext4).
        Errno::UCLEAN => "Structure needs cleaning",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_step_path_and_errno() {
        let e = Error::new(Step::PivotRoot, Errno::INVAL).at("/srv/rootfs");
        assert_eq!(
            e.to_string(),
            "pivot_root /srv/rootfs: Invalid argument (the new root must be a directory on a mountable file system)"
        );
        assert_eq!(
            Error::usage("unknown option '--x'").to_string(),
            "unknown option '--x'"
        );
        assert_eq!(
            Error::new(Step::SetHostname, Errno::PERM).to_string(),
            "sethostname: Operation not permitted"
        );
    }

    #[test]
    fn user_values_cannot_split_the_line() {
        let e = Error::usage("invalid container id 'a\nb\u{1b}[2J'");
        assert_eq!(e.to_string(), "invalid container id 'a\\nb\\u{1b}[2J'");
        assert!(!e.to_string().contains('\n'));
        let e = Error::new(Step::CgroupCreate, Errno::EXIST).at("/x/\ty");
        assert_eq!(e.to_string().lines().count(), 1);
    }

    #[test]
    fn step_codes_round_trip() {
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i + 1, "{}", s.name());
            assert_eq!(Step::from_code(s.code()), Some(*s));
        }
        assert_eq!(Step::from_code(0), None);
        assert_eq!(Step::from_code(200), None);
    }

    #[test]
    fn exec_failures_map_to_126_and_127() {
        assert_eq!(Error::new(Step::Exec, Errno::NOENT).exit_code(), 127);
        assert_eq!(Error::new(Step::Exec, Errno::ACCESS).exit_code(), 126);
        assert_eq!(Error::new(Step::MountProc, Errno::NOENT).exit_code(), 125);
    }
}
