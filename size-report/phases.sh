#!/usr/bin/env bash
# Where the time of one `cella run` goes (not a test): the kernel's process
# events (perf's sched tracepoints, no tracing of every system call) around
# N runs of busybox /bin/true, split at cella's exec, its clone3, the
# payload's exec, the payload's exit and cella's exit; medians in ms.
#
#   size-report/phases.sh [CELLA] [N]     (root; needs perf and busybox)
set -euo pipefail
cd "$(dirname "$0")/.."
CELLA=${1:-target/x86_64-unknown-linux-musl/release/cella}
N=${2:-100}
CELLA=$(realpath "$CELLA")
for tool in perf busybox python3; do
    command -v "$tool" >/dev/null || { echo "phases.sh: needs $tool" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/cella-phases.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,etc,tmp}
cp "$(command -v busybox)" "$R/bin/busybox"
ln -s busybox "$R/bin/true"
ARGS=(run --rootfs "$R" --memory 64m --pids 64 /bin/true)
"$CELLA" "${ARGS[@]}"   # warm the caches once
perf record -q -a -o "$WORK/perf.data" \
    -e 'sched:sched_process_exec,sched:sched_process_fork,sched:sched_process_exit' \
    -- bash -c 'for _ in $(seq "$1"); do "${@:2}"; done' _ "$N" "$CELLA" "${ARGS[@]}" 2>/dev/null
perf script -i "$WORK/perf.data" -F comm,pid,time,event,trace 2>/dev/null | python3 -c '
import re, statistics, sys
ev = []
for line in sys.stdin:
    m = re.match(r"\s*(\S+)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
    if m:
        ev.append((int(m[2]), float(m[3]), m[4].split(":")[-1], m[5]))
runs = []
for i, (pid, t0, kind, rest) in enumerate(ev):
    if kind != "sched_process_exec" or "cella" not in rest:
        continue
    d = {}
    for p, t, k, r in ev[i + 1 : i + 80]:
        if k == "sched_process_fork" and p == pid and "fork" not in d:
            d["fork"], d["child"] = t, int(re.search(r"child_pid=(\d+)", r)[1])
        elif "child" in d and p == d["child"] and k == "sched_process_exec":
            d["exec"] = t
        elif "child" in d and p == d["child"] and k == "sched_process_exit":
            d["gone"] = t
        elif p == pid and k == "sched_process_exit":
            d["exit"] = t
            break
    if len(d) == 5:
        runs.append((d["fork"] - t0, d["exec"] - d["fork"], d["gone"] - d["exec"],
                     d["exit"] - d["gone"], d["exit"] - t0))
print(f"{len(runs)} runs of cella run --memory 64m --pids 64 /bin/true (medians, ms)")
names = ["cella exec -> child made (parse, record, cgroups, clone3 with new namespaces)",
         "clone3 -> payload exec (the child: namespaces, mounts, profile)",
         "payload exec -> payload exit (busybox true)",
         "payload exit -> cella exit (teardown, cgroups, record)",
         "total"]
for k, name in enumerate(names):
    print(f"| {name} | {statistics.median(r[k] for r in runs) * 1000:.2f} |")
'

# Time inside each system call of cella and its child (the raw_syscalls
# tracepoints around N more runs), the ten largest, per run.
perf record -q -a -o "$WORK/sys.data" -e 'raw_syscalls:sys_enter,raw_syscalls:sys_exit' \
    -- bash -c 'for _ in $(seq "$1"); do "${@:2}"; done' _ "$N" "$CELLA" "${ARGS[@]}" 2>/dev/null
perf script -i "$WORK/sys.data" -F comm,pid,time,event,trace 2>/dev/null | N=$N python3 -c '
import collections, os, re, sys
names = {}
for header in ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"):
    if os.path.exists(header):
        for line in open(header):
            m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
            if m:
                names[int(m[2])] = m[1]
        break
entered, spent, calls = {}, collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s*(cella|true)\s+(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit): NR (\d+)", line)
    if not m:
        continue
    pid, t, nr = int(m[2]), float(m[3]), int(m[5])
    if m[4] == "enter":
        entered[pid] = t
    elif pid in entered:
        name = names.get(nr, str(nr))
        spent[name] += t - entered.pop(pid)
        calls[name] += 1
n = int(os.environ["N"])
print(f"\nsystem calls of cella and its child, per run ({n} runs; recvmsg and ppoll are the parent waiting)")
for name, t in spent.most_common(10):
    print(f"| {name} | {calls[name] / n:.0f} calls | {t / n * 1000:.2f} ms |")
'
