//! Option values as `cella run` and `cella init` decode them: numbers,
//! CPU counts, names, users, `--ulimit`, `--device`, `-v`, each with the
//! rule its error message quotes; and lexopt's errors in cella's words.

use super::{Bind, Device};
use crate::error::Error;
use rustix::process::Signal;

pub(super) const ULIMIT_RULE: &str =
    "expected NAME=SOFT[:HARD] (nofile, nproc, core, ...; -1 or unlimited)";

/// Whether `word` is one of the space-separated `words` (the name lists
/// here are strings, not tables: a table costs a relocation per name).
pub fn among(words: &str, word: &str) -> bool {
    words.split(' ').any(|w| w == word)
}

/// The rlimits `--ulimit` knows, as docker names them.
pub const ULIMITS: &str = concat!(
    "cpu fsize data stack core rss nproc nofile memlock as locks sigpending msgqueue ",
    "nice rtprio rttime",
);

/// `nofile=1024:2048`, `core=0`, `stack=unlimited`.
pub(super) fn ulimit(s: &str) -> Option<(String, u64, u64)> {
    let (name, limits) = s.split_once('=')?;
    if !among(ULIMITS, name) {
        return None;
    }
    let value = |v: &str| match v {
        "-1" | "unlimited" => Some(u64::MAX),
        _ => decimal(v),
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (value(soft)?, value(hard)?),
        None => (value(limits)?, value(limits)?),
    };
    (soft <= hard).then(|| (format!("RLIMIT_{}", name.to_ascii_uppercase()), soft, hard))
}

pub(super) const NAME_RULE: &str =
    "use 2-64 letters, digits, '_', '.', '-', starting with a letter or digit (as docker)";
pub(super) const DEVICE_RULE: &str =
    "expected HOST[:CONTAINER][:PERMS], absolute paths, PERMS a subset of rwm";

/// The largest `pids.max` the kernel takes (`PID_MAX_LIMIT`): 4194304 where
/// `long` has 64 bits, 32768 on 32-bit kernels.
pub const PIDS_MAX: u64 = if cfg!(target_pointer_width = "64") {
    4 * 1024 * 1024
} else {
    32 * 1024
};
pub(super) const BIND_RULE: &str =
    "expected SRC:DST[:OPTIONS] with an absolute DST (OPTIONS: ro or rw, z, Z, rprivate, nocopy)";

/// A command-line error from lexopt, in words of our own: lexopt's own
/// text quotes values with `{:?}`, which brings Rust's string escaping and
/// its Unicode tables into the binary (about 3 KB) for one message. A
/// control character in a value is escaped when the error is printed.
pub fn lex(e: lexopt::Error) -> Error {
    use lexopt::Error as E;
    let shown = |v: &std::ffi::OsStr| v.to_string_lossy().into_owned();
    Error::usage(match e {
        E::MissingValue { option: None } => "missing argument".to_owned(),
        E::MissingValue {
            option: Some(option),
        } => format!("missing argument for option '{option}'"),
        E::UnexpectedOption(option) => format!("invalid option '{option}'"),
        E::UnexpectedArgument(value) => format!("unexpected argument '{}'", shown(&value)),
        E::UnexpectedValue { option, value } => {
            format!(
                "unexpected argument for option '{option}': '{}'",
                shown(&value)
            )
        }
        E::NonUnicodeValue(value) => format!("argument is invalid unicode: '{}'", shown(&value)),
        E::ParsingFailed { value, error } => format!("cannot parse argument '{value}': {error}"),
        E::Custom(error) => error.to_string(),
    })
}

pub(super) fn ranged(s: &str, max: u64) -> Option<u64> {
    decimal(s).filter(|n| (1..=max).contains(n))
}

/// Plain decimal digits, no sign, no overflow.
pub(super) fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// A CPU count with up to five decimals, as a quota in µs per 100 ms period.
pub fn cpus(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 5 || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole = if whole.is_empty() { 0 } else { decimal(whole)? };
    let frac_digits = if frac.is_empty() { 0 } else { decimal(frac)? };
    let frac_us = frac_digits * 10u64.pow(5 - frac.len() as u32);
    let quota = whole.checked_mul(100_000)?.checked_add(frac_us)?;
    // The kernel refuses quotas under 1 ms.
    (1_000..=1_024 * 100_000).contains(&quota).then_some(quota)
}

/// An `-e` entry (`run`'s and `exec`'s): `KEY=VALUE`, or `KEY` for the
/// caller's value of it, as docker's; never empty, never a bare `=VALUE`.
pub fn env_entry(v: &str) -> std::result::Result<(), &'static str> {
    if v.is_empty() || v.starts_with('=') {
        return Err("expected KEY=VALUE or KEY");
    }
    Ok(())
}

/// docker's rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: names become directory
/// names and appear in messages, so no slash, no dot alone, no control
/// character.
pub(super) fn valid_name(s: &str) -> Option<String> {
    (s.len() >= 2 && name_like(s)).then(|| s.to_owned())
}

/// A hostname (a container's, or the machine's under `cella init`): a
/// container name's characters, one or more. It goes into the kernel and
/// into `/etc/hosts`, where a space, `#` or newline would add names or
/// lines of the value's own.
pub const HOSTNAME_RULE: &str =
    "use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit";

pub fn valid_hostname(s: &str) -> Option<String> {
    (!s.is_empty() && name_like(s)).then(|| s.to_owned())
}

/// At most 64 letters, digits, `_`, `.`, `-`, the first a letter or digit.
fn name_like(s: &str) -> bool {
    s.len() <= 64
        && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

pub(super) fn absolute(v: &str) -> Option<String> {
    v.starts_with('/').then(|| v.to_owned())
}

/// `UID` or `UID:GID`, numeric (cella does not read the container's passwd).
pub fn user(s: &str) -> Option<(u32, Option<u32>)> {
    let id = |t: &str| {
        decimal(t)
            .filter(|&n| n < u64::from(u32::MAX))
            .map(|n| n as u32)
    };
    match s.split_once(':') {
        None => id(s).map(|u| (u, None)),
        Some((u, g)) => id(u).zip(id(g)).map(|(u, g)| (u, Some(g))),
    }
}

/// Whether `s` is `USER[:GROUP]` with each a name or an id (a number
/// below 2^32 - 1, which setresuid reads as "unchanged").
pub fn user_names(s: &str) -> bool {
    let part = |t: &str| {
        !t.is_empty()
            && !t.contains(':')
            && t.bytes().all(|b| b.is_ascii_graphic())
            && (!t.bytes().all(|b| b.is_ascii_digit())
                || decimal(t).is_some_and(|n| n < u64::from(u32::MAX)))
    };
    match s.split_once(':') {
        None => part(s),
        Some((u, g)) => part(u) && part(g),
    }
}

/// docker's `--device`: `HOST`, `HOST:CONTAINER`, `HOST:PERMS` (the second
/// field is permissions when it reads as such), `HOST:CONTAINER:PERMS`.
pub(super) fn device(s: &str) -> Option<Device> {
    let parts: Vec<&str> = s.split(':').collect();
    let host = *parts.first()?;
    let (container, access) = match parts[1..] {
        [] => (host, "rwm"),
        [p] if crate::cgroup::devices::valid_access(p) => (host, p),
        [c] => (c, "rwm"),
        [c, p] => (c, p),
        _ => return None,
    };
    (host.starts_with('/')
        && container.starts_with('/')
        && crate::cgroup::devices::valid_access(access))
    .then(|| Device {
        host: host.to_owned(),
        container: container.to_owned(),
        access: access.to_owned(),
    })
}

/// `SRC:DST` or `SRC:DST:OPTIONS`, OPTIONS as docker's `-v` takes them,
/// comma-separated: `ro` or `rw`; `z`, `Z` (SELinux relabelling: cella
/// sets no label), `rprivate`, `private` (cella's binds are private),
/// `nocopy`, `consistent`, `cached`, `delegated` (docker's for volumes and
/// other hosts) change nothing.
pub(super) fn bind(s: &str) -> Option<Bind> {
    let mut parts = s.split(':');
    let (source, target, mode) = (parts.next()?, parts.next()?, parts.next());
    let mut read_only = None;
    for option in mode.map(|m| m.split(',')).into_iter().flatten() {
        let ro = match option {
            "ro" => Some(true),
            "rw" => Some(false),
            "z" | "Z" | "rprivate" | "private" | "nocopy" | "consistent" | "cached"
            | "delegated" => None,
            _ => return None,
        };
        if ro.is_some() && read_only.is_some() {
            return None;
        }
        read_only = read_only.or(ro);
    }
    let read_only = read_only.unwrap_or(false);
    (parts.next().is_none() && !source.is_empty() && target.starts_with('/')).then(|| Bind {
        source: source.into(),
        target: target.to_owned(),
        read_only,
    })
}

/// A signal by name (`KILL`, `SIGKILL`, `kill`, `RTMIN+3`) or number (the
/// real-time ones too, as docker's and runc's kill take them): `kill`'s,
/// and `--stop-signal`'s.
pub fn signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return crate::sys::signal::from_number(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    // SIGRTMIN as the C libraries give it to programs (34: glibc and musl
    // keep 32 and 33 for themselves), SIGRTMAX 64.
    let real_time = |base: i32, sign: i32, rest: &str| {
        let n = match rest {
            "" => 0,
            _ => rest
                .strip_prefix(if sign > 0 { '+' } else { '-' })?
                .parse::<u8>()
                .ok()?,
        };
        let n = base + sign * i32::from(n);
        (34..=64)
            .contains(&n)
            .then(|| crate::sys::signal::from_number(n))?
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return real_time(34, 1, rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return real_time(64, -1, rest);
    }
    let sig = match name {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "ILL" => Signal::ILL,
        "TRAP" => Signal::TRAP,
        "ABRT" | "IOT" => Signal::ABORT,
        "BUS" => Signal::BUS,
        "FPE" => Signal::FPE,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "SEGV" => Signal::SEGV,
        "USR2" => Signal::USR2,
        "PIPE" => Signal::PIPE,
        "ALRM" => Signal::ALARM,
        "TERM" => Signal::TERM,
        "STKFLT" => Signal::STKFLT,
        "CHLD" => Signal::CHILD,
        "CONT" => Signal::CONT,
        "STOP" => Signal::STOP,
        "TSTP" => Signal::TSTP,
        "TTIN" => Signal::TTIN,
        "TTOU" => Signal::TTOU,
        "URG" => Signal::URG,
        "XCPU" => Signal::XCPU,
        "XFSZ" => Signal::XFSZ,
        "VTALRM" => Signal::VTALARM,
        "PROF" => Signal::PROF,
        "WINCH" => Signal::WINCH,
        "IO" | "POLL" => Signal::IO,
        "PWR" => Signal::POWER,
        "SYS" => Signal::SYS,
        _ => return None,
    };
    Some(sig)
}
