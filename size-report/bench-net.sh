#!/usr/bin/env bash
# Benchmark (not a test): the start of a container with a network, in ONE
# hyperfine run, busybox /bin/true each time:
#   cella run --net none, cella run --net bridge, cella run --net bridge -p,
#   podman --runtime runc run --rm --network none and --network bridge
#   (podman's CNI or netavark bridge) when podman can.
# Everything runs in a network namespace of this script's own (unshare
# --net), which stands in for the host: the bridges, veths and nf_tables
# rules are made there and go with it; this machine's network is untouched.
#
#   size-report/bench-net.sh [RUNS]        (root; default 100 runs)
# Writes size-report/bench-net.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100}
[ "$(id -u)" = 0 ] || { echo "bench-net: needs root" >&2; exit 1; }
if [ -z "${BENCH_NET_INSIDE:-}" ]; then
    for tool in hyperfine busybox unshare; do
        command -v "$tool" >/dev/null || { echo "bench-net: needs $tool" >&2; exit 1; }
    done
    cargo build --release -q
    export BENCH_NET_INSIDE=1
    exec unshare --net "$0" "$@"
fi
CELLA=$(realpath target/x86_64-unknown-linux-musl/release/cella)
WORK=$(mktemp -d /tmp/cella-bench-net.XXXXXX)
P=$WORK/podman
PODMAN_GLOBAL=(--root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp")
cleanup() {
    set +e
    if [ -f "$WORK/containers.conf" ]; then
        CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf \
            timeout 120 podman "${PODMAN_GLOBAL[@]}" rm --all --force --time 0 >/dev/null 2>&1
    fi
    awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
busybox ip link set lo up

R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,root}
cp "$(command -v busybox)" "$R/bin/busybox"
ln -s busybox "$R/bin/true"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"

declare -A CMD
ORDER=("cella --net none" "cella --net bridge" "cella --net bridge -p")
CMD["cella --net none"]="$CELLA run --rootfs $R /bin/true"
CMD["cella --net bridge"]="$CELLA run --rootfs $R --net bridge /bin/true"
CMD["cella --net bridge -p"]="$CELLA run --rootfs $R --net bridge -p 18080:80 /bin/true"
# The bridge is made by the first run, not timed.
${CMD["cella --net bridge"]} 2> "$WORK/first.err"
notes=()
if command -v podman >/dev/null; then
    mkdir -p "$P"
    {
        echo '[containers]'
        echo 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
        echo '[engine]'
        echo 'cgroup_manager = "cgroupfs"'
        echo 'events_logger = "file"'
        echo 'lock_type = "file"'
    } > "$WORK/containers.conf"
    driver=vfs
    grep -qw overlay /proc/filesystems && driver=overlay
    printf '[storage]\ndriver = "%s"\nrunroot = "%s/runroot"\ngraphroot = "%s/root"\n' \
        "$driver" "$P" "$P" > "$WORK/storage.conf"
    export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf
    PODMAN_GLOBAL+=(--storage-driver "$driver")
    tar -C "$R" -cf "$WORK/bb.tar" .
    timeout 120 podman "${PODMAN_GLOBAL[@]}" import -q "$WORK/bb.tar" localhost/bb >/dev/null
    for net in none bridge; do
        name="podman --network $net"
        # runc: crun 1.8 refuses this host's hybrid cgroups.
        CMD[$name]="podman ${PODMAN_GLOBAL[*]} --runtime runc run --rm --network $net localhost/bb /bin/true"
        if out=$(timeout 120 ${CMD[$name]} 2>&1); then
            ORDER+=("$name")
        else
            notes+=("$name left out: it failed here: ${out:0:300}")
        fi
    done
else
    notes+=("podman is not installed: its runs are left out")
fi
args=()
for name in "${ORDER[@]}"; do args+=(-n "$name" "${CMD[$name]}"); done
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine -N --warmup 5 --runs "$RUNS" --style basic --export-json "$WORK/net.json" "${args[@]}"
OUT=size-report/bench-net.md
{
    echo "# Benchmark: a container's start with a network"
    echo
    echo "Run by \`size-report/bench-net.sh\` on $(date -u +%Y-%m-%d) (kernel $(uname -r), $(nproc) CPUs,"
    echo "load average before: $LOAD), in a network namespace of the script's own; busybox"
    echo "\`/bin/true\`, $RUNS runs each, one hyperfine run. cella $(git rev-parse --short HEAD);"
    echo "$(podman --version 2>/dev/null || echo 'no podman')."
    echo
    echo "| command | median ms | mean ms | min ms |"
    echo "|---|---:|---:|---:|"
    python3 - "$WORK/net.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("| %s | %.2f | %.2f | %.2f |" % (r["command"], r["median"] * 1000, r["mean"] * 1000, r["min"] * 1000))
PY
    echo
    for n in "${notes[@]}"; do echo "- $n"; done
} > "$OUT"
cat "$OUT"
