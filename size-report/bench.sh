#!/usr/bin/env bash
# Benchmark (not a test): cella against crun, runc, bubblewrap, unshare+chroot
# and a plain exec, all running busybox /bin/true in the same busybox rootfs.
#
#   size-report/bench.sh            full run (200 timed runs each), writes size-report/bench.md
#   QUICK=1 size-report/bench.sh    20 runs each, fewer memory-floor tries
#
# Needs root. Installs crun, runc, bubblewrap, hyperfine, busybox-static,
# time and gcc from Debian when missing. Everything it creates (rootfs,
# bundles, state, cgroups) is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

RUNS=${RUNS:-200}
TRIES=${TRIES:-10}
if [ "${QUICK:-0}" = 1 ]; then RUNS=20; TRIES=3; fi
OUT=${OUT:-$REPO/size-report/bench.md}
CELLA=${CELLA:-$REPO/target/x86_64-unknown-linux-musl/release/cella}

need=()
for pair in crun:crun runc:runc bwrap:bubblewrap hyperfine:hyperfine busybox:busybox-static /usr/bin/time:time gcc:gcc; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$CELLA" ] || cargo build --quiet --release

WORK=$(mktemp -d /tmp/cella-bench.XXXXXX)
FLOOR_CG=/sys/fs/cgroup/memory/cella-bench-floor-$$
cleanup() {
    rmdir "$FLOOR_CG" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- the rootfs: static busybox and its applets -----------------------------
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,root}
cp "$(command -v busybox)" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$R/bin/$applet"
done

# --- OCI bundles for crun and runc: same rootfs, same limits ----------------
mkdir -p "$WORK/bundle" "$WORK/state-crun" "$WORK/state-runc"
(cd "$WORK/bundle" && runc spec)
python3 - "$WORK/bundle/config.json" "$R" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"] = {"path": rootfs, "readonly": True}
c["linux"].setdefault("resources", {})
c["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
c["linux"]["resources"]["pids"] = {"limit": 64}
json.dump(c, open(path, "w"), indent=1)
PY
# crun refuses hybrid hosts; show it pure v1 by hiding the cgroup2 mount in a
# private mount namespace (peers.md). Only when a cgroup2 mount is there.
cat > "$WORK/crun" <<EOS
#!/bin/sh
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    exec unshare -m --propagation private sh -c 'umount -l /sys/fs/cgroup/unified && exec crun "\$@"' crun "\$@"
fi
exec crun "\$@"
EOS
chmod +x "$WORK/crun"

# --- commands ---------------------------------------------------------------
declare -A CMD
CMD[cella]="$CELLA run --rootfs $R --memory 64m --pids 64 /bin/true"
CMD[crun]="$WORK/crun --root $WORK/state-crun run -b $WORK/bundle bench-crun"
CMD[runc]="runc --root $WORK/state-runc run -b $WORK/bundle bench-runc"
CMD[bwrap]="bwrap --unshare-all --die-with-parent --ro-bind $R / --proc /proc --dev /dev /bin/true"
CMD[unshare+chroot]="unshare --fork --pid --mount --uts --ipc --net --mount-proc=$R/proc chroot $R /bin/true"
CMD[exec]="$R/bin/true"
ORDER=(cella crun runc bwrap unshare+chroot exec)

for name in "${ORDER[@]}"; do
    if ! ${CMD[$name]} >/dev/null 2>&1; then
        echo "bench: '$name' does not run here: ${CMD[$name]}" >&2
        exit 1
    fi
done

echo "== wall time: one hyperfine run, $RUNS runs each"
args=()
for name in "${ORDER[@]}"; do args+=(-n "$name" "${CMD[$name]}"); done
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/times.json" --export-markdown "$WORK/times.md" "${args[@]}"

median() { python3 -c "import json,sys; r={x['command']:x for x in json.load(open('$WORK/times.json'))['results']}; print('%.3f' % (r[sys.argv[1]]['median']*1000))" "$1"; }
cella_ms=$(median cella); crun_ms=$(median crun); unshare_ms=$(median unshare+chroot)
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
vs_crun=$(ratio "$cella_ms" "$crun_ms")
vs_unshare=$(ratio "$cella_ms" "$unshare_ms")
meets() { python3 -c "print('met' if $1 <= $2 else 'NOT met')"; }

echo "== peak RSS (GNU time, KiB, median of 5)"
declare -A RSS
for name in "${ORDER[@]}"; do
    values=()
    for _ in 1 2 3 4 5; do
        /usr/bin/time -o "$WORK/rss" -f %M ${CMD[$name]} >/dev/null 2>&1
        values+=("$(tail -1 "$WORK/rss")")
    done
    RSS[$name]=$(printf '%s\n' "${values[@]}" | sort -n | sed -n 3p)
    echo "$name: ${RSS[$name]}"
done

echo "== smallest memory limit: cella vs a bare 'join the cgroup, then exec' ($TRIES tries each)"
# The baseline: a static C program that joins a fresh memory cgroup and
# execs the payload, so almost nothing but exec itself is charged.
cat > "$WORK/join.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) { perror("join"); return 125; }
    close(fd);
    execv(argv[2], argv + 2);
    perror("exec");
    return 127;
}
C
gcc -static -O2 -o "$WORK/join" "$WORK/join.c"
floor_rows=()
for limit in 64k 96k 128k 192k 256k 384k 512k 1m 2m; do
    bytes=$(python3 -c "s='$limit'; print(int(s[:-1]) * {'k':1024,'m':1048576}[s[-1]])")
    ok_cella=0; ok_base=0
    for _ in $(seq "$TRIES"); do
        "$CELLA" run --rootfs "$R" --memory "$limit" /bin/true >/dev/null 2>&1 && ok_cella=$((ok_cella + 1))
        # A fresh cgroup for every try, as cella makes one per container.
        mkdir "$FLOOR_CG"
        echo "$bytes" > "$FLOOR_CG/memory.limit_in_bytes"
        if [ -e "$FLOOR_CG/memory.memsw.limit_in_bytes" ]; then
            echo "$bytes" > "$FLOOR_CG/memory.memsw.limit_in_bytes"
        fi
        "$WORK/join" "$FLOOR_CG/cgroup.procs" "$R/bin/true" >/dev/null 2>&1 && ok_base=$((ok_base + 1))
        rmdir "$FLOOR_CG"
    done
    echo "$limit: cella $ok_cella/$TRIES, join+exec $ok_base/$TRIES"
    floor_rows+=("| $limit | $ok_cella/$TRIES | $ok_base/$TRIES |")
done

echo "== smallest pids limit"
if "$CELLA" run --rootfs "$R" --pids 1 /bin/true; then pids1="runs"; else pids1="FAILS"; fi
echo "cella --pids 1 /bin/true: $pids1"

{
    echo "# Benchmark: \`/bin/true\` in a busybox rootfs"
    echo
    echo "Run by \`size-report/bench.sh\` on $(date -u +%F), kernel $(uname -r), $(nproc) CPUs, $RUNS runs each."
    echo "Versions: cella $(git rev-parse --short HEAD) ($(stat -c %s "$CELLA") bytes), $(crun --version | head -1),"
    echo "$(runc --version | head -1), bubblewrap $(bwrap --version | awk '{print $2}'), $(unshare --version), $(hyperfine --version)."
    echo "cella, crun and runc apply a 64 MiB memory limit and a 64-process pids limit; crun and runc use"
    echo "\`runc spec\`'s bundle (pid, net, ipc, uts, mount namespaces, read-only root)."
    echo
    echo "## Wall time (one hyperfine run)"
    echo
    cat "$WORK/times.md"
    echo
    echo "| median [ms] | $(printf '%s | ' "${ORDER[@]}")"
    echo "|---|$(printf -- '---:|%.0s' "${ORDER[@]}")"
    echo "| | $(for name in "${ORDER[@]}"; do printf '%s | ' "$(median "$name")"; done)"
    echo
    echo "cella's median is **${vs_crun}x crun's** (goal at most 0.4x: $(meets "$vs_crun" 0.4)) and"
    echo "**${vs_unshare}x unshare+chroot's** (goal at most 1.0x: $(meets "$vs_unshare" 1.0))."
    echo
    echo "## Peak RSS (GNU time, KiB, median of 5)"
    echo
    echo "| runtime | max RSS KiB |"
    echo "|---|---:|"
    for name in "${ORDER[@]}"; do echo "| $name | ${RSS[$name]} |"; done
    echo
    echo "## Smallest memory limit for \`/bin/true\` ($TRIES tries each)"
    echo
    echo "cella next to a bare static program that writes itself into a fresh memory cgroup and execs"
    echo "\`/bin/true\` (the floor: exec itself is charged)."
    echo
    echo "| limit | cella run --memory | join+exec |"
    echo "|---|---|---|"
    printf '%s\n' "${floor_rows[@]}"
    echo
    echo "\`cella run --pids 1 /bin/true\`: $pids1."
} > "$OUT"
echo "== wrote $OUT"
echo "cella/crun median: $vs_crun (goal <= 0.4); cella/unshare+chroot: $vs_unshare (goal <= 1.0)"
