#!/usr/bin/env bash
# Two cella binaries compared run for run (not a test): `cella run` of
# busybox /bin/true with a memory and a pids limit, the binaries taking
# turns (A B, B A, ...) so the machine's drift hits both alike; medians
# and quartiles in ms, and each one's system calls per run (strace -c).
#
#   size-report/ab.sh OLD_CELLA NEW_CELLA [N]     (root; N pairs, default 500)
#
# A binary of an older revision: git worktree add /tmp/old REV &&
# (cd /tmp/old && cargo build --release), then /tmp/old/target/...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: size-report/ab.sh OLD_CELLA NEW_CELLA [N]" >&2; exit 2; }
A=$(realpath "$1"); B=$(realpath "$2"); N=${3:-500}
for tool in busybox python3 strace; do
    command -v "$tool" >/dev/null || { echo "ab.sh: needs $tool" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/cella-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,etc,tmp}
cp "$(command -v busybox)" "$R/bin/busybox"
ln -s busybox "$R/bin/true"
for bin in "$A" "$B"; do
    strace -f -c -o "$WORK/calls" "$bin" run --rootfs "$R" --memory 64m --pids 64 /bin/true
    echo "$bin: $(awk '$NF == "total" {print $(NF-2)}' "$WORK/calls") system calls"
done
N=$N python3 - "$A" "$B" "$R" <<'PY'
import os, statistics, sys, time
a, b, root = sys.argv[1:]
args = ["run", "--rootfs", root, "--memory", "64m", "--pids", "64", "/bin/true"]
n = int(os.environ["N"])
times = {a: [], b: []}
for i in range(n + 10):
    for binary in (a, b) if i % 2 == 0 else (b, a):
        start = time.perf_counter()
        pid = os.posix_spawn(binary, [binary] + args, os.environ)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit(f"ab.sh: {binary} failed (wait status {status})")
        if i >= 10:  # warm-up pairs not counted
            times[binary].append((time.perf_counter() - start) * 1000)
for name, binary in (("A", a), ("B", b)):
    q = statistics.quantiles(times[binary], n=4)
    print(f"{name} {binary}: median {q[1]:.3f} ms (quartiles {q[0]:.3f} .. {q[2]:.3f}), {n} runs")
print(f"B/A median: {statistics.median(times[b]) / statistics.median(times[a]):.3f}")
PY
