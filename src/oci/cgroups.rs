//! What `linux.resources` means as cgroup writes and device rules, for
//! `create` and `update`; the cgroup itself is `crate::cgroup`'s. Pure and
//! unit tested.

use super::config::{DeviceRule, Resources};
use crate::cgroup::devices;
use crate::cgroup::{Layout, Write};
use crate::error::{Error, Result};

fn w(controller: &'static str, file: &str, value: String, field: &'static str) -> Write {
    Write::new(controller, file, value, field)
}

/// The writes that apply `r` on `layout`, in order (the device rules are
/// not among them: see [`device_rules`]).
pub fn writes(layout: Layout, r: &Resources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    let v2 = layout == Layout::V2;
    let unlimited = |n: i64| {
        if n < 0 {
            if v2 {
                "max".to_owned()
            } else {
                "-1".to_owned()
            }
        } else {
            n.to_string()
        }
    };
    if let Some(m) = r.memory_limit {
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        out.push(w(
            "memory",
            file,
            unlimited(m),
            "linux.resources.memory.limit",
        ));
    }
    if let Some(s) = r.memory_swap {
        let (file, value) = crate::cgroup::limits::swap(v2, r.memory_limit, s);
        out.push(w("memory", file, value, "linux.resources.memory.swap").optional());
    }
    if let Some(m) = r.memory_reservation {
        let file = if v2 {
            "memory.low"
        } else {
            "memory.soft_limit_in_bytes"
        };
        out.push(w(
            "memory",
            file,
            unlimited(m),
            "linux.resources.memory.reservation",
        ));
    }
    if let Some(s) = r.memory_swappiness {
        if v2 {
            return Err(unsupported_v2("linux.resources.memory.swappiness"));
        }
        out.push(w(
            "memory",
            "memory.swappiness",
            s.to_string(),
            "linux.resources.memory.swappiness",
        ));
    }
    if r.disable_oom_killer == Some(true) {
        if v2 {
            return Err(unsupported_v2("linux.resources.memory.disableOOMKiller"));
        }
        out.push(w(
            "memory",
            "memory.oom_control",
            "1".into(),
            "linux.resources.memory.disableOOMKiller",
        ));
    }
    if let Some(s) = r.cpu_shares {
        let (file, value) = crate::cgroup::limits::shares_write(v2, s);
        out.push(w("cpu", file, value, "linux.resources.cpu.shares"));
    }
    if r.cpu_quota.is_some() || r.cpu_period.is_some() {
        if v2 {
            let quota = match r.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            let period = r.cpu_period.unwrap_or(100_000);
            out.push(w(
                "cpu",
                "cpu.max",
                format!("{quota} {period}"),
                "linux.resources.cpu.quota",
            ));
        } else {
            if let Some(p) = r.cpu_period {
                out.push(w(
                    "cpu",
                    "cpu.cfs_period_us",
                    p.to_string(),
                    "linux.resources.cpu.period",
                ));
            }
            if let Some(q) = r.cpu_quota {
                out.push(w(
                    "cpu",
                    "cpu.cfs_quota_us",
                    unlimited(q),
                    "linux.resources.cpu.quota",
                ));
            }
        }
    }
    if let Some(b) = r.cpu_burst {
        let file = if v2 {
            "cpu.max.burst"
        } else {
            "cpu.cfs_burst_us"
        };
        out.push(w("cpu", file, b.to_string(), "linux.resources.cpu.burst"));
    }
    if let Some(p) = r.cpu_rt_period {
        if v2 {
            return Err(unsupported_v2("linux.resources.cpu.realtimePeriod"));
        }
        out.push(w(
            "cpu",
            "cpu.rt_period_us",
            p.to_string(),
            "linux.resources.cpu.realtimePeriod",
        ));
    }
    if let Some(q) = r.cpu_rt_runtime {
        if v2 {
            return Err(unsupported_v2("linux.resources.cpu.realtimeRuntime"));
        }
        out.push(w(
            "cpu",
            "cpu.rt_runtime_us",
            q.to_string(),
            "linux.resources.cpu.realtimeRuntime",
        ));
    }
    if let Some(i) = r.cpu_idle {
        if !v2 {
            return Err(Error::usage(
                "config.json: linux.resources.cpu.idle: needs cgroup v2",
            ));
        }
        out.push(w(
            "cpu",
            "cpu.idle",
            i.to_string(),
            "linux.resources.cpu.idle",
        ));
    }
    if let Some(c) = &r.cpus {
        out.push(w(
            "cpuset",
            "cpuset.cpus",
            c.clone(),
            "linux.resources.cpu.cpus",
        ));
    }
    if let Some(m) = &r.mems {
        out.push(w(
            "cpuset",
            "cpuset.mems",
            m.clone(),
            "linux.resources.cpu.mems",
        ));
    }
    if let Some(p) = r.pids_limit {
        let value = if p <= 0 {
            "max".to_owned()
        } else {
            p.to_string()
        };
        out.push(w("pids", "pids.max", value, "linux.resources.pids.limit"));
    }
    if let Some(weight) = r.blkio_weight {
        // Without CFQ, v1 has the weight only as BFQ's.
        out.push(if v2 {
            w(
                "blkio",
                "io.bfq.weight",
                weight.to_string(),
                "linux.resources.blockIO.weight",
            )
        } else {
            w(
                "blkio",
                "blkio.weight",
                weight.to_string(),
                "linux.resources.blockIO.weight",
            )
            .or("blkio.bfq.weight", weight.to_string())
        });
    }
    if let Some(weight) = r.blkio_leaf_weight {
        if v2 {
            return Err(unsupported_v2("linux.resources.blockIO.leafWeight"));
        }
        out.push(w(
            "blkio",
            "blkio.leaf_weight",
            weight.to_string(),
            "linux.resources.blockIO.leafWeight",
        ));
    }
    for (file, line) in &r.blkio_devices {
        let file = if v2 {
            match *file {
                "blkio.weight_device" => "io.bfq.weight".to_owned(),
                _ => {
                    let (dev, value) = line.split_once(' ').unwrap_or((line, ""));
                    let key = match *file {
                        "blkio.throttle.read_bps_device" => "rbps",
                        "blkio.throttle.write_bps_device" => "wbps",
                        "blkio.throttle.read_iops_device" => "riops",
                        _ => "wiops",
                    };
                    out.push(w(
                        "blkio",
                        "io.max",
                        format!("{dev} {key}={value}"),
                        "linux.resources.blockIO",
                    ));
                    continue;
                }
            }
        } else {
            (*file).to_owned()
        };
        out.push(w("blkio", &file, line.clone(), "linux.resources.blockIO"));
    }
    for (size, limit) in &r.hugepages {
        let file = if v2 {
            format!("hugetlb.{size}.max")
        } else {
            format!("hugetlb.{size}.limit_in_bytes")
        };
        out.push(w(
            "hugetlb",
            &file,
            limit.to_string(),
            "linux.resources.hugepageLimits",
        ));
    }
    if !r.unified.is_empty() && !v2 {
        return Err(Error::usage(
            "config.json: linux.resources.unified: needs cgroup v2 (this host is v1)",
        ));
    }
    for (file, value) in &r.unified {
        out.push(w("", file, value.clone(), "linux.resources.unified"));
    }
    // v1's net_cls and net_prio, where the host mounts them (an error
    // naming the field where it does not); v2 has neither.
    if (r.net_class_id.is_some() || !r.net_priorities.is_empty()) && v2 {
        return Err(unsupported_v2("linux.resources.network"));
    }
    if let Some(id) = r.net_class_id {
        out.push(w(
            "net_cls",
            "net_cls.classid",
            id.to_string(),
            "linux.resources.network.classID",
        ));
    }
    for (name, prio) in &r.net_priorities {
        out.push(w(
            "net_prio",
            "net_prio.ifpriomap",
            format!("{name} {prio}"),
            "linux.resources.network.priorities",
        ));
    }
    Ok(out)
}

fn unsupported_v2(field: &str) -> Error {
    Error::usage(format!(
        "config.json: {field}: not supported by cella on cgroup v2"
    ))
}

/// The device rules of a container in the order they apply: the config's,
/// then the default allow list. The nodes of `linux.devices` (`nodes`: an
/// allow rule each) do not widen the config's rules: a node they refuse
/// exists but cannot be opened, as with runc. Only a config without rules
/// of its own gets the nodes' (with the defaults: a filter that allows
/// them and refuses the rest); without either, no filter is attached.
pub fn device_rules(r: &Resources, nodes: &[DeviceRule]) -> Vec<DeviceRule> {
    let mut rules: Vec<DeviceRule> = match (r.devices.is_empty(), nodes.is_empty()) {
        (true, true) => return Vec::new(),
        (true, false) => nodes.to_vec(),
        (false, _) => r.devices.clone(),
    };
    rules.extend(devices::default_allowed());
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(ws: &[Write]) -> Vec<(&str, &str)> {
        ws.iter()
            .map(|w| (w.file(), w.choices[0].1.as_str()))
            .collect()
    }

    #[test]
    fn v1_memory_pids_cpu() {
        let r = Resources {
            memory_limit: Some(32 << 20),
            memory_swap: Some(64 << 20),
            pids_limit: Some(10),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Resources::default()
        };
        let ws = writes(Layout::V1, &r).unwrap();
        assert_eq!(
            files(&ws),
            [
                ("memory.limit_in_bytes", "33554432"),
                ("memory.memsw.limit_in_bytes", "67108864"),
                ("cpu.shares", "1024"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("pids.max", "10"),
            ]
        );
        assert!(!ws[1].required, "swap accounting may be off");
    }

    #[test]
    fn v2_conversions() {
        let r = Resources {
            memory_limit: Some(100),
            memory_swap: Some(300),
            cpu_shares: Some(1024),
            cpu_quota: Some(-1),
            pids_limit: Some(0),
            ..Resources::default()
        };
        let ws = writes(Layout::V2, &r).unwrap();
        assert_eq!(
            files(&ws),
            [
                ("memory.max", "100"),
                ("memory.swap.max", "200"),
                ("cpu.weight", "39"),
                ("cpu.max", "max 100000"),
                ("pids.max", "max"),
            ]
        );
    }

    #[test]
    fn device_rules_then_defaults() {
        let r = Resources {
            devices: vec![
                DeviceRule {
                    allow: false,
                    kind: b'a',
                    major: None,
                    minor: None,
                    access: "rwm".into(),
                },
                DeviceRule {
                    allow: true,
                    kind: b'c',
                    major: Some(10),
                    minor: None,
                    access: "rw".into(),
                },
            ],
            ..Resources::default()
        };
        assert!(
            writes(Layout::V1, &r).unwrap().is_empty()
                && writes(Layout::V2, &r).unwrap().is_empty(),
            "device rules are not writes (v1 lines or a v2 program, made by cgroup::create)"
        );
        let node = DeviceRule {
            allow: true,
            kind: b'c',
            major: Some(10),
            minor: Some(229),
            access: "rwm".into(),
        };
        let rules = device_rules(&r, std::slice::from_ref(&node));
        assert_eq!(rules[0], r.devices[0]);
        assert_eq!(rules[1], r.devices[1]);
        assert_eq!(
            rules.len(),
            2 + devices::DEFAULT_ALLOWED.split(',').count(),
            "a node does not widen the config's rules"
        );
        let without_rules = device_rules(&Resources::default(), std::slice::from_ref(&node));
        assert_eq!(without_rules[0], node);
        assert_eq!(
            without_rules.len(),
            1 + devices::DEFAULT_ALLOWED.split(',').count()
        );
        let lines = devices::v1_writes(&rules);
        assert_eq!(
            lines[0].choices[0],
            ("devices.deny".into(), "a *:* rwm".into())
        );
        assert_eq!(
            lines[1].choices[0],
            ("devices.allow".into(), "c 10:* rw".into())
        );
        assert!(device_rules(&Resources::default(), &[]).is_empty());
    }

    #[test]
    fn unified_needs_v2() {
        let r = Resources {
            unified: vec![("memory.high".into(), "1000".into())],
            ..Resources::default()
        };
        assert!(writes(Layout::V1, &r).is_err());
        assert_eq!(
            files(&writes(Layout::V2, &r).unwrap()),
            [("memory.high", "1000")]
        );
    }

    #[test]
    fn network_is_net_cls_and_net_prio_on_v1_only() {
        let doc = crate::json::parse(
            br#"{"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}, {"name": "lo", "priority": 1}]}}"#,
        )
        .unwrap();
        let r = super::super::resources::resources(&doc, "linux.resources").unwrap();
        let ws = writes(Layout::V1, &r).unwrap();
        assert_eq!(
            files(&ws),
            [
                ("net_cls.classid", "1048577"),
                ("net_prio.ifpriomap", "eth0 5"),
                ("net_prio.ifpriomap", "lo 1")
            ]
        );
        assert_eq!(ws[0].controller, "net_cls");
        assert!(writes(Layout::V2, &r).is_err());
        let bad = crate::json::parse(
            br#"{"network": {"priorities": [{"name": "eth0 7", "priority": 5}]}}"#,
        )
        .unwrap();
        assert!(super::super::resources::resources(&bad, "linux.resources").is_err());
    }
}
