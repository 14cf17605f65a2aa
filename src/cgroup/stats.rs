//! What a container's cgroup has used, read from its v1 or v2 files into
//! one shape (the one runc's `events` reports); what the host does not
//! account stays zero.

use super::{Cgroup, keyed, read_small};

#[derive(Debug, Default, PartialEq)]
pub struct Stats {
    /// CPU time in nanoseconds: all, per CPU (v1 only), user, kernel.
    pub cpu_total: u64,
    pub cpu_percpu: Vec<u64>,
    pub cpu_user: u64,
    pub cpu_kernel: u64,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
    /// Bytes; a limit of 0 means none.
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub memory_max_usage: u64,
    pub memory_failcnt: u64,
    pub swap_usage: u64,
    pub swap_limit: u64,
    /// `memory.stat` as the kernel gives it.
    pub memory_raw: Vec<(String, u64)>,
    pub pids_current: u64,
    /// 0: no limit.
    pub pids_limit: u64,
}

/// A single-number file; "max" and anything unreadable are 0.
fn number(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

/// v1 reports "no limit" as a huge number: 0, as runc's consumers expect
/// from v2's "max".
fn limit(n: u64) -> u64 {
    if n >= i64::MAX as u64 / 4096 * 4096 {
        0
    } else {
        n
    }
}

impl Cgroup {
    /// The container's use of CPU, memory and pids now.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        let file = |controller: &str, name: &str| {
            self.dir_for(controller)
                .map(|d| read_small(&d.join(name)))
                .unwrap_or_default()
        };
        if self.v2 {
            for (k, v) in keyed(&file("cpu", "cpu.stat")) {
                match k {
                    "usage_usec" => s.cpu_total = v * 1000,
                    "user_usec" => s.cpu_user = v * 1000,
                    "system_usec" => s.cpu_kernel = v * 1000,
                    "nr_periods" => s.periods = v,
                    "nr_throttled" => s.throttled_periods = v,
                    "throttled_usec" => s.throttled_ns = v * 1000,
                    _ => {}
                }
            }
            s.memory_usage = number(&file("memory", "memory.current"));
            s.memory_limit = number(&file("memory", "memory.max"));
            s.memory_max_usage = number(&file("memory", "memory.peak"));
            s.memory_failcnt = keyed(&file("memory", "memory.events"))
                .find(|(k, _)| *k == "max")
                .map_or(0, |(_, v)| v);
            s.swap_usage = number(&file("memory", "memory.swap.current"));
            s.swap_limit = number(&file("memory", "memory.swap.max"));
        } else {
            s.cpu_total = number(&file("cpuacct", "cpuacct.usage"));
            s.cpu_percpu = file("cpuacct", "cpuacct.usage_percpu")
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            // In clock ticks (USER_HZ, 100 on Linux): nanoseconds.
            for (k, v) in keyed(&file("cpuacct", "cpuacct.stat")) {
                match k {
                    "user" => s.cpu_user = v * 10_000_000,
                    "system" => s.cpu_kernel = v * 10_000_000,
                    _ => {}
                }
            }
            for (k, v) in keyed(&file("cpu", "cpu.stat")) {
                match k {
                    "nr_periods" => s.periods = v,
                    "nr_throttled" => s.throttled_periods = v,
                    "throttled_time" => s.throttled_ns = v,
                    _ => {}
                }
            }
            s.memory_usage = number(&file("memory", "memory.usage_in_bytes"));
            s.memory_limit = limit(number(&file("memory", "memory.limit_in_bytes")));
            s.memory_max_usage = number(&file("memory", "memory.max_usage_in_bytes"));
            s.memory_failcnt = number(&file("memory", "memory.failcnt"));
            s.swap_usage = number(&file("memory", "memory.memsw.usage_in_bytes"));
            s.swap_limit = limit(number(&file("memory", "memory.memsw.limit_in_bytes")));
        }
        s.memory_raw = keyed(&file("memory", "memory.stat"))
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        s.pids_current = number(&file("pids", "pids.current"));
        s.pids_limit = number(&file("pids", "pids.max"));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_files_and_v1_no_limit() {
        let got: Vec<_> =
            super::super::keyed("cache 4096\nrss 8192\nbad\nx notanumber\n").collect();
        assert_eq!(got, [("cache", 4096), ("rss", 8192)]);
        assert_eq!(limit(9223372036854771712), 0);
        assert_eq!(limit(64 << 20), 64 << 20);
        assert_eq!(number("max\n"), 0);
    }
}
