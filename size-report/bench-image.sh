#!/usr/bin/env bash
# Benchmark (not a test): a container's start from each kind of root, in ONE
# hyperfine run, busybox /bin/true each time:
#   cella run --rootfs DIR, --rootfs DIR --overlay, --rootfs FILE.squashfs,
#   --rootfs FILE.erofs (erofs from the file where the kernel can, 6.12+;
#   squashfs always through a loop device).
#
#   size-report/bench-image.sh [RUNS]      (root; default 100 runs)
# Writes size-report/bench-image.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100}
[ "$(id -u)" = 0 ] || { echo "bench-image: needs root" >&2; exit 1; }
for tool in hyperfine busybox mksquashfs mkfs.erofs; do
    command -v "$tool" >/dev/null || { echo "bench-image: needs $tool" >&2; exit 1; }
done
cargo build --release -q
CELLA=$(realpath target/x86_64-unknown-linux-musl/release/cella)
WORK=$(mktemp -d /tmp/cella-bench-image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,root}
cp "$(command -v busybox)" "$R/bin/busybox"
ln -s busybox "$R/bin/true"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
mksquashfs "$R" "$WORK/bb.sqfs" -noappend -quiet -no-progress
mkfs.erofs --quiet "$WORK/bb.erofs" "$R"

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine -N --warmup 5 --runs "$RUNS" --style basic --export-json "$WORK/image.json" \
    -n "directory" "$CELLA run --rootfs $R /bin/true" \
    -n "directory --overlay" "$CELLA run --rootfs $R --overlay /bin/true" \
    -n "squashfs file" "$CELLA run --rootfs $WORK/bb.sqfs /bin/true" \
    -n "erofs file" "$CELLA run --rootfs $WORK/bb.erofs /bin/true"
OUT=size-report/bench-image.md
{
    echo "# Benchmark: a container's start from a directory and from image files"
    echo
    echo "Run by \`size-report/bench-image.sh\` on $(date -u +%Y-%m-%d) (kernel $(uname -r), $(nproc) CPUs,"
    echo "load average before: $LOAD); busybox \`/bin/true\`, $RUNS runs each, one hyperfine run."
    echo "cella $(git rev-parse --short HEAD); images by $(mksquashfs -version 2>&1 | head -n1) and"
    echo "$(dpkg-query -W -f='erofs-utils ${Version}' erofs-utils)."
    echo
    echo "| root | median ms | mean ms | min ms |"
    echo "|---|---:|---:|---:|"
    python3 - "$WORK/image.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("| %s | %.2f | %.2f | %.2f |" % (r["command"], r["median"] * 1000, r["mean"] * 1000, r["min"] * 1000))
PY
} > "$OUT"
cat "$OUT"
