//! `events`: the container's resource use as runc reports it (a `stats`
//! record: CPU, memory, pids from its cgroup), once with `--stats`, else
//! one per interval, and an `oom` record whenever the OOM killer strikes
//! in it, until the container stops.

use super::state::State;
use crate::cgroup::stats::Stats;
use crate::error::{Error, Result};
use crate::json::write_str;
use crate::store::Status;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// Go's duration text as runc's `--interval` takes it: `5s`, `500ms`,
/// `1m`, `1.5s` (to the millisecond).
pub fn interval(text: &str) -> Result<Duration> {
    let bad = || Error::usage(format!("--interval: '{text}' is not a duration such as 5s"));
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || whole.len() > 9 {
        return Err(bad());
    }
    let mut ms = whole.parse::<u64>().map_err(|_| bad())? * ms_per_unit;
    let mut scale = ms_per_unit;
    for d in fraction.bytes().take(6) {
        scale /= 10;
        ms += u64::from(d - b'0') * scale;
    }
    if ms == 0 {
        return Err(bad());
    }
    Ok(Duration::from_millis(ms))
}

fn record(kind: &str, id: &str, data: Option<&str>) -> String {
    let mut s = String::from("{\"type\":");
    write_str(&mut s, kind);
    s.push_str(",\"id\":");
    write_str(&mut s, id);
    if let Some(d) = data {
        s.push_str(",\"data\":");
        s.push_str(d);
    }
    s.push_str("}\n");
    s
}

/// `open`, then `"name":N` of `pairs` comma-separated, then `close`.
fn object(j: &mut String, open: &str, pairs: &[(&str, u64)], close: &str) {
    j.push_str(open);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            j.push(',');
        }
        write_str(j, k);
        let _ = write!(j, ":{v}");
    }
    j.push_str(close);
}

/// runc's `types.Stats` JSON.
fn stats_json(s: &Stats) -> String {
    let mut j = String::new();
    let cache = s
        .memory_raw
        .iter()
        .find(|(k, _)| k == "cache" || k == "file")
        .map_or(0, |(_, v)| *v);
    let usage = [
        ("total", s.cpu_total),
        ("kernel", s.cpu_kernel),
        ("user", s.cpu_user),
    ];
    object(&mut j, "{\"cpu\":{\"usage\":{", &usage, ",\"percpu\":[");
    for (i, n) in s.cpu_percpu.iter().enumerate() {
        let _ = write!(j, "{}{n}", if i > 0 { "," } else { "" });
    }
    let throttling = [
        ("periods", s.periods),
        ("throttledPeriods", s.throttled_periods),
        ("throttledTime", s.throttled_ns),
    ];
    object(&mut j, "]},\"throttling\":{", &throttling, "}},");
    object(&mut j, "\"memory\":{", &[("cache", cache)], ",");
    let usage = [
        ("limit", s.memory_limit),
        ("usage", s.memory_usage),
        ("max", s.memory_max_usage),
        ("failcnt", s.memory_failcnt),
    ];
    object(&mut j, "\"usage\":{", &usage, "},");
    let swap = [
        ("limit", s.swap_limit),
        ("usage", s.swap_usage),
        ("failcnt", 0),
    ];
    object(&mut j, "\"swap\":{", &swap, "},");
    let raw: Vec<(&str, u64)> = s.memory_raw.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    object(&mut j, "\"raw\":{", &raw, "}},");
    let pids = [("current", s.pids_current), ("limit", s.pids_limit)];
    object(&mut j, "\"pids\":{", &pids, "}}");
    j
}

/// Report on container `id` through `emit` (see the module docs).
pub fn events(
    root: &Path,
    id: &str,
    once: bool,
    every: Duration,
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<()> {
    let st = State::load(root, id)?;
    let running = |st: &State| {
        matches!(
            st.status(root),
            Status::Running | Status::Paused | Status::Created
        )
    };
    if !running(&st) {
        return Err(Error::usage(format!("container {id} is not running")));
    }
    let stats = |st: &State| record("stats", id, Some(&stats_json(&st.cgroup.stats())));
    if once {
        let _ = emit(stats(&st).as_bytes());
        return Ok(());
    }
    // Until it stops, or nobody reads what we write.
    // Ticks of 100 ms: OOM kills are looked for at each, stats every
    // `every` (a clock would cost more than the drift of the sleeps).
    const TICK_MS: u64 = 100;
    let ticks_per_record = (every.as_millis() as u64).div_ceil(TICK_MS).max(1);
    let mut ooms = st.cgroup.oom_kills();
    let mut tick = 0u64;
    while running(&st) {
        if tick.is_multiple_of(ticks_per_record) && !emit(stats(&st).as_bytes()) {
            break;
        }
        tick += 1;
        let now = st.cgroup.oom_kills();
        if now > ooms {
            if !emit(record("oom", id, None).as_bytes()) {
                break;
            }
            ooms = now;
        }
        crate::cgroup::sleep_ms(TICK_MS.min(every.as_millis() as u64));
    }
    // What killed it, if the OOM killer did since we last looked.
    if st.cgroup.oom_kills() > ooms {
        let _ = emit(record("oom", id, None).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_as_go_writes_them() {
        assert_eq!(interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(interval("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(interval("2m").unwrap(), Duration::from_secs(120));
        for bad in ["5", "s", "-1s", "0s", "5x", ""] {
            assert!(interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_are_json() {
        let s = Stats {
            cpu_percpu: vec![1, 2],
            memory_raw: vec![("cache".into(), 7)],
            ..Stats::default()
        };
        let line = record("stats", "c\"1", Some(&stats_json(&s)));
        let v = crate::json::parse(line.trim_end().as_bytes()).unwrap();
        assert_eq!(v.get("id").and_then(|v| v.as_str()), Some("c\"1"));
        let mem = v.get("data").and_then(|d| d.get("memory")).unwrap();
        assert_eq!(mem.get("cache").and_then(|c| c.as_u64()), Some(7));
        assert!(crate::json::parse(record("oom", "x", None).trim_end().as_bytes()).is_ok());
    }
}
