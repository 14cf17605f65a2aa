//! `cella run`'s limits (`--memory`, `--pids`, `--cpus`, `--cpu-weight`,
//! `--io-weight`) as cgroup writes for each layout. Pure, unit tested.

use super::{Layout, Write};
use crate::spec::Limits;

const PERIOD_US: u64 = 100_000;

/// The writes that enforce `l` on `layout`, in order.
pub fn plan(layout: Layout, l: &Limits) -> Vec<Write> {
    let mut w = Vec::new();
    let v2 = layout == Layout::V2;
    if let Some(m) = l.memory {
        let (limit, swap) = if v2 {
            // Without a swap limit the memory limit would only push the
            // container into swap.
            (("memory.max", m), ("memory.swap.max", 0))
        } else {
            (
                ("memory.limit_in_bytes", m),
                ("memory.memsw.limit_in_bytes", m),
            )
        };
        w.push(Write::new(
            "memory",
            limit.0,
            limit.1.to_string(),
            "--memory",
        ));
        w.push(Write::new("memory", swap.0, swap.1.to_string(), "--memory").optional());
    }
    if let Some(p) = l.pids {
        w.push(Write::new("pids", "pids.max", p.to_string(), "--pids"));
    }
    if let Some(q) = l.cpu_quota {
        if v2 {
            w.push(Write::new(
                "cpu",
                "cpu.max",
                format!("{q} {PERIOD_US}"),
                "--cpus",
            ));
        } else {
            // The period first: the kernel checks the quota against it.
            w.push(Write::new(
                "cpu",
                "cpu.cfs_period_us",
                PERIOD_US.to_string(),
                "--cpus",
            ));
            w.push(Write::new(
                "cpu",
                "cpu.cfs_quota_us",
                q.to_string(),
                "--cpus",
            ));
        }
    }
    if let Some(weight) = l.cpu_weight {
        let (file, value) = if v2 {
            ("cpu.weight", weight)
        } else {
            ("cpu.shares", cpu_shares(weight))
        };
        w.push(Write::new("cpu", file, value.to_string(), "--cpu-weight"));
    }
    if let Some(weight) = l.io_weight {
        let v1 = v1_io_weight(weight).to_string();
        w.push(if v2 {
            Write::new(
                "io",
                "io.weight",
                format!("default {weight}"),
                "--io-weight",
            )
            .or("io.bfq.weight", v1)
        } else {
            Write::new("blkio", "blkio.weight", v1.clone(), "--io-weight")
                .or("blkio.bfq.weight", v1)
        });
    }
    w
}

/// cgroup v2 weight (1-10000) to v1 `cpu.shares` (2-262144), the inverse of
/// the conversion runc and crun use.
pub fn cpu_shares(weight: u64) -> u64 {
    2 + (weight - 1) * 262_142 / 9_999
}

/// cgroup v2 weight (1-10000) to v1 `blkio.weight` (10-1000).
pub fn v1_io_weight(weight: u64) -> u64 {
    10 + (weight - 1) * 990 / 9_999
}
