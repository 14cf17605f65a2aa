//! `cella run`'s limits (`--memory`, `--memory-swap`, `--pids`, `--cpus`,
//! `--cpu-weight`, `--cpu-shares`, `--cpuset-cpus`, `--io-weight`) as
//! cgroup writes for each layout, and the conversions the OCI side's
//! `linux.resources` shares with them. Pure, unit tested.

use super::{Layout, Write};
use crate::spec::Limits;

const PERIOD_US: u64 = 100_000;

/// The writes that enforce `l` on `layout`, in order.
pub fn plan(layout: Layout, l: &Limits) -> Vec<Write> {
    let mut w = Vec::new();
    let v2 = layout == Layout::V2;
    if let Some(m) = l.memory {
        let limit = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        w.push(Write::new("memory", limit, m.to_string(), "--memory"));
        // Without a swap limit the memory limit would only push the
        // container into swap: memory plus swap is the memory alone
        // unless --memory-swap says more.
        let m = m as i64;
        let (file, value) = swap(v2, Some(m), l.memory_swap.unwrap_or(m));
        w.push(Write::new("memory", file, value, "--memory-swap").optional());
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
    if let Some(shares) = l.cpu_shares {
        let (file, value) = shares_write(v2, shares);
        w.push(Write::new("cpu", file, value, "--cpu-shares"));
    }
    if let Some(cpus) = &l.cpuset_cpus {
        w.push(Write::new(
            "cpuset",
            "cpuset.cpus",
            cpus.clone(),
            "--cpuset-cpus",
        ));
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

/// Memory plus swap (`memsw`, docker's and OCI's meaning; negative: no
/// limit) as `layout` takes it: v1's `memory.memsw.limit_in_bytes`, v2's
/// `memory.swap.max`, which is the swap alone.
pub fn swap(v2: bool, memory: Option<i64>, memsw: i64) -> (&'static str, String) {
    match (v2, memory) {
        (false, _) if memsw < 0 => ("memory.memsw.limit_in_bytes", "-1".into()),
        (false, _) => ("memory.memsw.limit_in_bytes", memsw.to_string()),
        (true, _) if memsw < 0 => ("memory.swap.max", "max".into()),
        (true, Some(m)) if m > 0 => ("memory.swap.max", (memsw - m).max(0).to_string()),
        (true, _) => ("memory.swap.max", memsw.to_string()),
    }
}

/// v1 `cpu.shares` (2-262144) as `layout` takes it: as is on v1, as the
/// weight runc converts it to on v2.
pub fn shares_write(v2: bool, shares: u64) -> (&'static str, String) {
    if v2 {
        let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
        ("cpu.weight", weight.to_string())
    } else {
        ("cpu.shares", shares.to_string())
    }
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
