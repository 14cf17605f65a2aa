//! `linux.seccomp` of config.json, and docker/OCI profile files
//! (`cella run --security-opt seccomp=FILE`): decoded into the compiler's
//! [`seccomp::Profile`]. An action or flag cella cannot honour (notify,
//! filter flags) is an error naming it.

use super::decode::*;
use crate::error::Result;
use crate::json::Value;
use crate::seccomp;

/// `linux.seccomp` (also a docker/OCI profile file of its own).
pub fn seccomp_profile(v: &Value) -> Result<seccomp::Profile> {
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
    if let Some(flags) = field(f, "flags")
        && !strings(flags, &sub(p, "flags"))?.is_empty()
    {
        return Err(bad(
            &sub(p, "flags"),
            "seccomp flags are not supported by cella",
        ));
    }
    if field(f, "listenerPath").is_some() {
        return Err(bad(
            &sub(p, "listenerPath"),
            "seccomp notify is not supported by cella",
        ));
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
