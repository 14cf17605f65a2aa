//! The seccomp agent at `linux.seccomp.listenerPath`. A filter with
//! `SCMP_ACT_NOTIFY` is installed with a listener, which the child hands
//! to us over its channel; we connect to the agent's unix socket and send
//! it, in one message, the container process state (JSON) with the
//! listener as SCM_RIGHTS, as runc 1.1 does. From then on the agent
//! answers the notified calls; once it closes the listener, they fail
//! with ENOSYS.

use super::config::Seccomp;
use super::state::OCI_VERSION;
use crate::error::{Error, Result, Step};
use crate::{fdpass, json};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;

/// Send `listener` of the process `pid` to the agent of `seccomp`, with
/// `state` (the container's state JSON).
pub fn hand_over(
    seccomp: Option<&Seccomp>,
    listener: OwnedFd,
    state: &str,
    pid: i32,
) -> Result<()> {
    // Only a profile with a listener path gets a listener.
    let Some(agent) = seccomp.and_then(|s| s.listener.as_ref()) else {
        return Err(Error::new(Step::SyncPipe, Errno::PROTO));
    };
    let failed = |e| Error::new(Step::SeccompAgent, e).at(agent.path.display().to_string());
    let sock = fdpass::connect(&agent.path).map_err(failed)?;
    let message = process_state(state, pid, &agent.metadata);
    fdpass::send_fd(sock.as_fd(), message.as_bytes(), listener.as_fd()).map_err(failed)
}

/// The runtime spec's container process state: the listener's name in
/// `fds` (its position is that of the descriptor sent), the process, the
/// `listenerMetadata`, the container's state.
fn process_state(state: &str, pid: i32, metadata: &str) -> String {
    let mut s = String::with_capacity(state.len() + metadata.len() + 96);
    s.push_str("{\"ociVersion\":\"");
    s.push_str(OCI_VERSION);
    s.push_str("\",\"fds\":[\"seccompFd\"],\"pid\":");
    s.push_str(&pid.to_string());
    s.push_str(",\"metadata\":");
    json::write_str(&mut s, metadata);
    s.push_str(",\"state\":");
    s.push_str(state);
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Value;

    #[test]
    fn the_process_state_is_the_specs() {
        let s = process_state(r#"{"id":"c1","status":"creating"}"#, 42, "a \"b\"");
        let v = json::parse(s.as_bytes()).unwrap();
        let get = |k: &str| v.get(k).unwrap_or_else(|| panic!("{k} in {s}"));
        assert_eq!(get("ociVersion").as_str(), Some(OCI_VERSION));
        assert_eq!(get("pid").as_i64(), Some(42));
        assert_eq!(get("metadata").as_str(), Some("a \"b\""));
        let fds: Vec<&Value> = get("fds").as_array().unwrap().iter().collect();
        assert_eq!(fds.len(), 1);
        assert_eq!(fds[0].as_str(), Some("seccompFd"));
        assert_eq!(
            get("state").get("status").and_then(Value::as_str),
            Some("creating")
        );
    }
}
