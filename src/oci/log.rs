//! `--log FILE` and `--log-format text|json`: where runtime errors and
//! warnings go besides stderr. JSON lines are runc's
//! (`{"level":"error","msg":"...","time":"..."}`): conmon and containerd's
//! shim read the `msg` of the last one and show it to their users.

use crate::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Target {
    file: PathBuf,
    json: bool,
    /// `--debug`: what the runtime does goes to the log too.
    debug: bool,
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// Set once, from the global flags.
pub fn configure(file: PathBuf, json: bool, debug: bool) {
    let _ = TARGET.set(Target { file, json, debug });
}

/// With `--debug`, a debug line for `message` in the log.
pub fn debug(message: impl FnOnce() -> String) {
    if let Some(t) = TARGET.get()
        && t.debug
    {
        append(t, "debug", &message());
    }
}

/// One line for `message` (without the `cella: ` prefix) at `level`.
pub fn line(level: &str, message: &str, as_json: bool) -> String {
    let time = super::state::now_rfc3339();
    if as_json {
        let mut s = String::from("{\"level\":");
        json::write_str(&mut s, level);
        s.push_str(",\"msg\":");
        json::write_str(&mut s, message);
        s.push_str(",\"time\":");
        json::write_str(&mut s, &time);
        s.push_str("}\n");
        s
    } else {
        format!(
            "time=\"{time}\" level={level} msg=\"{}\"\n",
            message.replace('"', "\\\"")
        )
    }
}

/// Append an error to the log file, if one was given. Failing to log is
/// not an error of the operation.
pub fn error(message: &str) {
    if let Some(t) = TARGET.get() {
        append(t, "error", message);
    }
}

/// Append a warning to the log file, if one was given (one the verb's
/// failure leaves no other place for).
pub fn warning(message: &str) {
    if let Some(t) = TARGET.get() {
        append(t, "warning", message);
    }
}

fn append(t: &Target, level: &str, message: &str) {
    let text = line(level, message, t.json);
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking: a FIFO there with no reader must not hold the verb.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&t.file)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_runcs() {
        let l = line("error", "bad \"x\"", true);
        let v = json::parse(l.trim_end().as_bytes()).unwrap();
        assert_eq!(v.get("level").and_then(|v| v.as_str()), Some("error"));
        assert_eq!(v.get("msg").and_then(|v| v.as_str()), Some("bad \"x\""));
        assert!(
            v.get("time")
                .and_then(|v| v.as_str())
                .unwrap()
                .ends_with('Z')
        );
        assert!(line("error", "m", false).contains("level=error msg=\"m\""));
    }
}
