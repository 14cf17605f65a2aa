//! `linux.seccomp` of config.json, and docker/OCI profile files
//! (`cella run --security-opt seccomp=FILE`): decoded into the compiler's
//! [`seccomp::Profile`], seccomp(2)'s filter flags, and the seccomp agent
//! that `SCMP_ACT_NOTIFY` needs (`listenerPath`). An action or flag cella
//! cannot honour is an error naming it.

use super::decode::*;
use crate::error::Result;
use crate::json::Value;
use crate::seccomp;
use crate::sys::seccomp::flag;
use std::path::PathBuf;

/// `linux.seccomp` as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seccomp {
    pub profile: seccomp::Profile,
    /// `SECCOMP_FILTER_FLAG_*`, NEW_LISTENER included when the profile
    /// notifies.
    pub flags: u32,
    /// Where the listener goes: set exactly when the profile notifies.
    pub listener: Option<Listener>,
}

/// The seccomp agent: the runtime connects to its unix socket and sends
/// the container process state with the listener fd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub path: PathBuf,
    /// `listenerMetadata`, passed on as is.
    pub metadata: String,
}

/// Syscalls a notify rule may not cover, as with runc: cella itself makes
/// them after the filter is in, `sendmsg` to hand the listener over (a
/// notification then would wait for an agent that has no listener yet),
/// `write` to say it is ready.
const NEVER_NOTIFIED: [&str; 2] = ["write", "sendmsg"];

/// `linux.seccomp` (also a docker/OCI profile file of its own).
pub fn linux_seccomp(v: &Value) -> Result<Seccomp> {
    let profile = seccomp_profile(v)?;
    let p = "linux.seccomp";
    let f = obj(v, p)?;
    let mut flags = 0;
    if let Some(list) = field(f, "flags") {
        for name in strings(list, &sub(p, "flags"))? {
            flags |= match name.as_str() {
                // One thread, and TSYNC excludes a listener.
                "SECCOMP_FILTER_FLAG_TSYNC" => 0,
                "SECCOMP_FILTER_FLAG_LOG" => flag::LOG,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => flag::SPEC_ALLOW,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => flag::WAIT_KILLABLE_RECV,
                _ => {
                    return Err(bad(&sub(p, "flags"), &format!("unknown flag {name}")));
                }
            };
        }
    }
    if !profile.notifies() {
        // The agent is told nothing, and the flag means nothing, without
        // a notify action (runc contacts no agent either).
        return Ok(Seccomp {
            profile,
            flags: flags & !flag::WAIT_KILLABLE_RECV,
            listener: None,
        });
    }
    if profile.default == seccomp::Action::Notify {
        return Err(bad(
            &sub(p, "defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    for (i, r) in profile.rules.iter().enumerate() {
        if r.action == seccomp::Action::Notify
            && let Some(n) = r
                .names
                .iter()
                .find(|n| NEVER_NOTIFIED.contains(&n.as_str()))
        {
            return Err(bad(
                &format!("{p}.syscalls[{i}].names"),
                &format!(
                    "SCMP_ACT_NOTIFY cannot be used for {n}: cella needs it to hand the listener to the seccomp agent"
                ),
            ));
        }
    }
    let path = field(f, "listenerPath")
        .map(|v| string(v, &sub(p, "listenerPath")))
        .transpose()?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad(
                &sub(p, "listenerPath"),
                "missing: SCMP_ACT_NOTIFY needs a seccomp agent to answer",
            )
        })?;
    let metadata = field(f, "listenerMetadata")
        .map(|v| string(v, &sub(p, "listenerMetadata")))
        .transpose()?
        .unwrap_or_default();
    Ok(Seccomp {
        profile,
        flags: flags | flag::NEW_LISTENER,
        listener: Some(Listener {
            path: PathBuf::from(path),
            metadata,
        }),
    })
}

/// The filter of `linux.seccomp`.
fn seccomp_profile(v: &Value) -> Result<seccomp::Profile> {
    let p = "linux.seccomp";
    let f = obj(v, p)?;
    let default_errno = field(f, "defaultErrnoRet")
        .map(|v| u32_of(v, &sub(p, "defaultErrnoRet")))
        .transpose()?;
    let action = |name: &str, errno: Option<u32>, at: &str| -> Result<seccomp::Action> {
        seccomp::action_from_oci(name, errno)
            .ok_or_else(|| bad(at, &format!("action {name} is not supported by cella")))
    };
    let default_name = string(
        field(f, "defaultAction").ok_or_else(|| bad(p, "defaultAction missing"))?,
        &sub(p, "defaultAction"),
    )?;
    let default = action(&default_name, default_errno, &sub(p, "defaultAction"))?;
    let mut architectures = Vec::new();
    if let Some(a) = field(f, "architectures") {
        for name in strings(a, &sub(p, "architectures"))? {
            let arch = seccomp::Arch::from_oci(&name).ok_or_else(|| {
                bad(
                    &sub(p, "architectures"),
                    &format!("unknown architecture {name}"),
                )
            })?;
            architectures.push(arch);
        }
    }
    let mut rules = Vec::new();
    if let Some(list) = field(f, "syscalls") {
        for (i, s) in array(list, &sub(p, "syscalls"))?.iter().enumerate() {
            let here = format!("{p}.syscalls[{i}]");
            let sf = obj(s, &here)?;
            for k in ["includes", "excludes"] {
                if field(sf, k).is_some() {
                    return Err(bad(&sub(&here, k), "not part of the OCI format"));
                }
            }
            let names = strings(
                field(sf, "names").ok_or_else(|| bad(&here, "names missing"))?,
                &sub(&here, "names"),
            )?;
            let errno = field(sf, "errnoRet")
                .map(|v| u32_of(v, &sub(&here, "errnoRet")))
                .transpose()?;
            let act_name = string(
                field(sf, "action").ok_or_else(|| bad(&here, "action missing"))?,
                &sub(&here, "action"),
            )?;
            let action = action(&act_name, errno, &sub(&here, "action"))?;
            let mut args = Vec::new();
            if let Some(a) = field(sf, "args") {
                for (j, arg) in array(a, &sub(&here, "args"))?.iter().enumerate() {
                    let ah = format!("{here}.args[{j}]");
                    let af = obj(arg, &ah)?;
                    let index = unsigned(
                        field(af, "index").ok_or_else(|| bad(&ah, "index missing"))?,
                        &ah,
                    )?;
                    if index > 5 {
                        return Err(bad(&sub(&ah, "index"), "must be 0-5"));
                    }
                    let value = field(af, "value").map_or(Ok(0), |v| unsigned(v, &ah))?;
                    let value_two = field(af, "valueTwo").map_or(Ok(0), |v| unsigned(v, &ah))?;
                    let op_name = string(
                        field(af, "op").ok_or_else(|| bad(&ah, "op missing"))?,
                        &sub(&ah, "op"),
                    )?;
                    let op = seccomp::op_from_oci(&op_name)
                        .ok_or_else(|| bad(&sub(&ah, "op"), &format!("unknown op {op_name}")))?;
                    args.push(seccomp::ArgCmp {
                        index: index as u8,
                        value,
                        value_two,
                        op,
                    });
                }
            }
            rules.push(seccomp::Rule {
                names,
                action,
                args,
            });
        }
    }
    Ok(seccomp::Profile {
        default,
        architectures,
        rules,
    })
}
