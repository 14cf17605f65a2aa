//! The OCI side of the state store (`crate::store`, where every
//! container's record lives): the state JSON of the runtime spec, which
//! `state` prints and hooks read on stdin.

use crate::json;
pub use crate::store::{
    Kind, Record as State, Status, check_id, dir, fifo, ids, io_error, is_unrecorded, now_rfc3339,
    prepare_root, start_time, write_private,
};

pub const OCI_VERSION: &str = "1.3.0";

/// The state JSON of the runtime spec (plus runc's extra fields) of `st`
/// with `status`.
pub fn to_json(st: &State, status: Status) -> String {
    with_owner(st, status, "")
}

/// [`to_json`] with runc's `owner` (what `state` and `list` show).
pub fn with_owner(st: &State, status: Status, owner: &str) -> String {
    let pid = if status == Status::Stopped { 0 } else { st.pid };
    to_json_as(st, status.name(), pid, owner)
}

/// [`to_json`] with the status `status` (the spec's `creating` too),
/// `pid` and `owner`.
pub fn to_json_as(st: &State, status: &str, pid: i32, owner: &str) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"ociVersion\":\"");
    s.push_str(OCI_VERSION);
    s.push_str("\",\"id\":");
    json::write_str(&mut s, &st.id);
    s.push_str(",\"pid\":");
    s.push_str(&pid.to_string());
    s.push_str(",\"status\":\"");
    s.push_str(status);
    s.push_str("\",\"bundle\":");
    json::write_str(&mut s, &st.bundle.to_string_lossy());
    s.push_str(",\"rootfs\":");
    json::write_str(&mut s, &st.rootfs.to_string_lossy());
    s.push_str(",\"created\":");
    json::write_str(&mut s, &st.created);
    s.push_str(",\"owner\":");
    json::write_str(&mut s, owner);
    if !st.annotations.is_empty() {
        s.push_str(",\"annotations\":{");
        for (i, (k, v)) in st.annotations.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json::write_str(&mut s, k);
            s.push(':');
            json::write_str(&mut s, v);
        }
        s.push('}');
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Cgroup;
    use crate::json::Value;

    #[test]
    fn the_state_json_of_a_stopped_container_has_pid_0() {
        let s = State {
            id: "c1".into(),
            kind: Kind::Oci,
            pid: 42,
            pid_start: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "1970-01-01T00:00:00.000000000Z".into(),
            annotations: vec![("k".into(), "v\"".into())],
            cgroup: Cgroup::default(),
            own_pid_ns: true,
            keep: false,
            exit_code: None,
            finished: String::new(),
            command: "sh".into(),
            options: Vec::new(),
            network: None,
        };
        let shown = json::parse(to_json(&s, Status::Stopped).as_bytes()).unwrap();
        assert_eq!(shown.get("pid").and_then(Value::as_i64), Some(0));
        assert_eq!(shown.get("status").and_then(Value::as_str), Some("stopped"));
        let running = json::parse(to_json(&s, Status::Running).as_bytes()).unwrap();
        assert_eq!(running.get("pid").and_then(Value::as_i64), Some(42));
    }
}
