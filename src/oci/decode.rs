//! Typed access to JSON fields with errors that name the field's path
//! (`config.json: linux.resources.memory.limit: expected an integer`):
//! shared by the config, resources and seccomp decoders.

use crate::error::{Error, Result};
use crate::json::Value;

/// `parent.key`: a field's path, for errors. Out of line: there are
/// hundreds of call sites, and each inline `format!` costs code.
#[inline(never)]
pub(super) fn sub(parent: &str, key: &str) -> String {
    let mut s = String::with_capacity(parent.len() + key.len() + 1);
    s.push_str(parent);
    if !parent.is_empty() {
        s.push('.');
    }
    s.push_str(key);
    s
}

/// `parent[i]`.
#[inline(never)]
pub(super) fn idx(parent: &str, i: usize) -> String {
    let mut s = String::with_capacity(parent.len() + 4);
    s.push_str(parent);
    s.push('[');
    s.push_str(&i.to_string());
    s.push(']');
    s
}

/// A decoding failure: the field's path and what was wrong with it.
pub(super) fn bad(path: &str, what: &str) -> Error {
    Error::usage(format!("config.json: {path}: {what}"))
}

/// The fields of the object `v`. The caller reads the spec's properties it
/// knows; any other property is ignored, as the runtime spec requires of
/// unknown ones (at any depth). A property the spec defines but cella
/// cannot honour is refused by name: [`obj_refusing`].
pub(super) fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a [(String, Value)]> {
    obj_refusing(v, path, &[])
}

/// [`obj`], refusing the properties `refused` (the spec's, not honoured).
pub(super) fn obj_refusing<'a>(
    v: &'a Value,
    path: &str,
    refused: &[&str],
) -> Result<&'a [(String, Value)]> {
    let fields = v
        .as_object()
        .ok_or_else(|| bad(path, &format!("expected an object, found {}", v.kind())))?;
    for (k, _) in fields {
        if refused.contains(&k.as_str()) {
            return Err(bad(&sub(path, k), "not supported by cella"));
        }
    }
    Ok(fields)
}

pub(super) fn field<'a>(fields: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

pub(super) fn string(v: &Value, path: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(path, &format!("expected a string, found {}", v.kind())))
}

pub(super) fn boolean(v: &Value, path: &str) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| bad(path, &format!("expected a boolean, found {}", v.kind())))
}

pub(super) fn unsigned(v: &Value, path: &str) -> Result<u64> {
    v.as_u64()
        .ok_or_else(|| bad(path, "expected a non-negative integer"))
}

pub(super) fn signed(v: &Value, path: &str) -> Result<i64> {
    v.as_i64().ok_or_else(|| bad(path, "expected an integer"))
}

pub(super) fn u32_of(v: &Value, path: &str) -> Result<u32> {
    u32::try_from(unsigned(v, path)?).map_err(|_| bad(path, "out of range"))
}

/// A user or group id: at most 2147483647, as runc takes them (a larger
/// one is `-1` or a wrapped negative to the kernel's calls and tools).
pub(super) fn id_of(v: &Value, path: &str) -> Result<u32> {
    match u32_of(v, path)? {
        id @ 0..=0x7fff_ffff => Ok(id),
        _ => Err(bad(path, "an id must be at most 2147483647")),
    }
}

pub(super) fn array<'a>(v: &'a Value, path: &str) -> Result<&'a [Value]> {
    v.as_array()
        .ok_or_else(|| bad(path, &format!("expected an array, found {}", v.kind())))
}

pub(super) fn strings(v: &Value, path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, s) in array(v, path)?.iter().enumerate() {
        out.push(string(s, &idx(path, i))?);
    }
    Ok(out)
}

pub(super) fn string_map(v: &Value, path: &str) -> Result<Vec<(String, String)>> {
    let fields = v
        .as_object()
        .ok_or_else(|| bad(path, "expected an object"))?;
    let mut out = Vec::new();
    for (k, val) in fields {
        out.push((k.clone(), string(val, &sub(path, k))?));
    }
    Ok(out)
}
