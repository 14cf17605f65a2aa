//! `linux.resources` of config.json (and the file `update --resources`
//! reads): memory, cpu, pids, block I/O, devices, hugepages, unified,
//! decoded and checked; `cgroups::writes` turns them into cgroup writes.

use super::decode::*;
use crate::error::Result;
use crate::json::Value;

pub use crate::cgroup::devices::DeviceRule;

/// `linux.resources`, kept as the cgroup writes it means (see `resources`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resources {
    /// Settings accepted but not applied, said as warnings (runc 1.1's
    /// kernel memory limits, which Linux has dropped).
    pub ignored: Vec<String>,
    pub memory_limit: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub disable_oom_killer: Option<bool>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_burst: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    pub cpus: Option<String>,
    pub mems: Option<String>,
    pub cpu_idle: Option<i64>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u64>,
    pub blkio_leaf_weight: Option<u64>,
    /// (file, "major:minor value") lines for the throttle and weight files.
    pub blkio_devices: Vec<(&'static str, String)>,
    pub devices: Vec<DeviceRule>,
    pub hugepages: Vec<(String, u64)>,
    pub unified: Vec<(String, String)>,
    /// `network.classID` (v1 `net_cls`).
    pub net_class_id: Option<u32>,
    /// `network.priorities`: (interface, priority) for v1 `net_prio`.
    pub net_priorities: Vec<(String, u32)>,
}

/// `linux.resources` (also the whole file of `update --resources`).
pub fn resources(v: &Value, path: &str) -> Result<Resources> {
    let f = obj(v, path)?;
    let mut r = Resources::default();
    if let Some(m) = field(f, "memory") {
        let p = sub(path, "memory");
        let mf = obj(m, &p)?;
        let i = |k: &str| field(mf, k).map(|v| signed(v, &sub(&p, k))).transpose();
        r.memory_limit = i("limit")?;
        r.memory_reservation = i("reservation")?;
        r.memory_swap = i("swap")?;
        for k in ["kernel", "kernelTCP"] {
            if i(k)?.is_some() {
                r.ignored.push(format!(
                    "config.json: {}: kernel memory limits are ignored (as runc 1.1 does)",
                    sub(&p, k)
                ));
            }
        }
        if let Some(v) = field(mf, "swappiness") {
            r.memory_swappiness = Some(unsigned(v, &sub(&p, "swappiness"))?);
        }
        if let Some(v) = field(mf, "disableOOMKiller") {
            r.disable_oom_killer = Some(boolean(v, &sub(&p, "disableOOMKiller"))?);
        }
    }
    if let Some(c) = field(f, "cpu") {
        let p = sub(path, "cpu");
        let cf = obj(c, &p)?;
        let u = |k: &str| field(cf, k).map(|v| unsigned(v, &sub(&p, k))).transpose();
        let i = |k: &str| field(cf, k).map(|v| signed(v, &sub(&p, k))).transpose();
        r.cpu_shares = u("shares")?;
        r.cpu_quota = i("quota")?;
        r.cpu_burst = u("burst")?;
        r.cpu_period = u("period")?;
        r.cpu_rt_runtime = i("realtimeRuntime")?;
        r.cpu_rt_period = u("realtimePeriod")?;
        r.cpu_idle = i("idle")?;
        if let Some(v) = field(cf, "cpus") {
            r.cpus = Some(string(v, &sub(&p, "cpus"))?);
        }
        if let Some(v) = field(cf, "mems") {
            r.mems = Some(string(v, &sub(&p, "mems"))?);
        }
    }
    if let Some(pv) = field(f, "pids") {
        let p = sub(path, "pids");
        let pf = obj(pv, &p)?;
        if let Some(v) = field(pf, "limit") {
            r.pids_limit = Some(signed(v, &sub(&p, "limit"))?);
        }
    }
    if let Some(b) = field(f, "blockIO") {
        blkio(b, &sub(path, "blockIO"), &mut r)?;
    }
    if let Some(d) = field(f, "devices") {
        for (i, rule) in array(d, &sub(path, "devices"))?.iter().enumerate() {
            r.devices
                .push(device_rule(rule, &format!("{path}.devices[{i}]"))?);
        }
    }
    if let Some(h) = field(f, "hugepageLimits") {
        for (i, e) in array(h, &sub(path, "hugepageLimits"))?.iter().enumerate() {
            let here = format!("{path}.hugepageLimits[{i}]");
            let hf = obj(e, &here)?;
            let size = string(
                field(hf, "pageSize").ok_or_else(|| bad(&here, "pageSize missing"))?,
                &here,
            )?;
            let limit = unsigned(
                field(hf, "limit").ok_or_else(|| bad(&here, "limit missing"))?,
                &here,
            )?;
            if !size.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad(&here, &format!("{size}: not a page size")));
            }
            r.hugepages.push((size, limit));
        }
    }
    if let Some(u) = field(f, "unified") {
        r.unified = string_map(u, &sub(path, "unified"))?;
        if let Some((k, _)) = r
            .unified
            .iter()
            .find(|(k, _)| k.contains('/') || k.starts_with('.') || !k.contains('.'))
        {
            return Err(bad(
                &sub(path, "unified"),
                &format!("{k}: not a cgroup file"),
            ));
        }
    }
    if let Some(n) = field(f, "network") {
        let p = sub(path, "network");
        let nf = obj(n, &p)?;
        if let Some(id) = field(nf, "classID") {
            r.net_class_id = Some(u32_of(id, &sub(&p, "classID"))?);
        }
        if let Some(list) = field(nf, "priorities") {
            for (i, e) in array(list, &sub(&p, "priorities"))?.iter().enumerate() {
                let here = format!("{p}.priorities[{i}]");
                let ef = obj(e, &here)?;
                let name = field(ef, "name").map_or(Ok(String::new()), |v| string(v, &here))?;
                // One `name prio` line each: an interface name is one word.
                if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 15 {
                    return Err(bad(&sub(&here, "name"), "not an interface name"));
                }
                let prio = field(ef, "priority").map_or(Ok(0), |v| u32_of(v, &here))?;
                r.net_priorities.push((name, prio));
            }
        }
    }
    if field(f, "rdma").is_some() {
        return Err(bad(&sub(path, "rdma"), "not supported by cella"));
    }
    Ok(r)
}

fn blkio(v: &Value, p: &str, r: &mut Resources) -> Result<()> {
    let f = obj(v, p)?;
    if let Some(w) = field(f, "weight") {
        r.blkio_weight = Some(unsigned(w, &sub(p, "weight"))?);
    }
    if let Some(w) = field(f, "leafWeight") {
        r.blkio_leaf_weight = Some(unsigned(w, &sub(p, "leafWeight"))?);
    }
    for (key, file) in [
        ("weightDevice", "blkio.weight_device"),
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
        ),
    ] {
        let Some(list) = field(f, key) else { continue };
        for (i, d) in array(list, &sub(p, key))?.iter().enumerate() {
            let here = format!("{p}.{key}[{i}]");
            let df = obj(d, &here)?;
            let n = |k: &str| {
                field(df, k)
                    .map(|v| unsigned(v, &sub(&here, k)))
                    .transpose()
            };
            let (Some(major), Some(minor)) = (n("major")?, n("minor")?) else {
                return Err(bad(&here, "major and minor are required"));
            };
            let value = if key == "weightDevice" {
                n("weight")?
            } else {
                n("rate")?
            };
            let Some(value) = value else {
                return Err(bad(&here, "no value"));
            };
            r.blkio_devices
                .push((file, format!("{major}:{minor} {value}")));
        }
    }
    Ok(())
}

fn device_rule(v: &Value, path: &str) -> Result<DeviceRule> {
    let f = obj(v, path)?;
    let allow = boolean(
        field(f, "allow").ok_or_else(|| bad(path, "allow missing"))?,
        &sub(path, "allow"),
    )?;
    let kind = match field(f, "type") {
        None => b'a',
        Some(t) => match string(t, &sub(path, "type"))?.as_str() {
            "a" => b'a',
            "c" => b'c',
            "b" => b'b',
            other => {
                return Err(bad(&sub(path, "type"), &format!("unknown type {other}")));
            }
        },
    };
    let n = |k: &str| -> Result<Option<u64>> {
        match field(f, k) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(-1) => Ok(None),
                _ => unsigned(v, &sub(path, k)).map(Some),
            },
        }
    };
    let access = match field(f, "access") {
        None => "rwm".to_owned(),
        Some(a) => string(a, &sub(path, "access"))?,
    };
    if access.is_empty() || !access.bytes().all(|b| matches!(b, b'r' | b'w' | b'm')) {
        return Err(bad(
            &sub(path, "access"),
            &format!("'{access}': not a subset of rwm"),
        ));
    }
    Ok(DeviceRule {
        allow,
        kind,
        major: n("major")?,
        minor: n("minor")?,
        access,
    })
}
