#!/usr/bin/env bash
# Benchmark (not a test): a container's start from each kind of root, in ONE
# hyperfine run, busybox /bin/true each time:
#   cella run --rootfs DIR, --rootfs DIR --overlay, --rootfs FILE.squashfs,
#   --rootfs FILE.erofs (erofs from the file where the kernel can, 6.12+;
#   squashfs always through a loop device);
# then `cella image import` of a four-layer `docker save` archive (a
# busybox root, 2000 small files, 32 MiB of random bytes that gzip stores
# as they are, 30 MB of text that it compresses), as it is and gzip'd,
# with the store's size after, beside `podman load` of the uncompressed
# archive (when podman is installed) in the same hyperfine run.
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
# A docker save archive of three layers, written here.
A=$WORK/archive
mkdir -p "$A/l1" "$A/l2/files" "$A/l3" "$A/l4"
tar -C "$R" -cf "$A/l1/layer.tar" .
for i in $(seq 2000); do echo "file $i" > "$A/l2/files/f$i"; done
tar -C "$A/l2" -cf "$A/l2/layer.tar" files
head -c 32M /dev/urandom > "$A/l3/blob"
tar -C "$A/l3" -cf "$A/l3/layer.tar" blob
seq 1 4000000 > "$A/l4/numbers"
tar -C "$A/l4" -cf "$A/l4/layer.tar" numbers
ids=""
for l in l1 l2 l3 l4; do
    ids="$ids${ids:+,}\"sha256:$(sha256sum "$A/$l/layer.tar" | cut -c1-64)\""
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$ids" > "$A/config.json"
printf '[{"Config":"config.json","RepoTags":["bench:multi"],"Layers":["l1/layer.tar","l2/layer.tar","l3/layer.tar","l4/layer.tar"]}]' > "$A/manifest.json"
tar -C "$A" -cf "$WORK/multi.tar" manifest.json config.json l1/layer.tar l2/layer.tar l3/layer.tar l4/layer.tar
gzip -c -n "$WORK/multi.tar" > "$WORK/multi.tar.gz"
S=$WORK/store
PEERS=()
PEER_TEXT=""
if command -v podman >/dev/null; then
    # podman 4.3 refuses a gzip'd docker archive ("invalid tar header"):
    # the uncompressed one only.
    PEER_TEXT=", beside $(podman --version) loading the uncompressed archive"
    PEERS=(-n "podman load, uncompressed" "podman load -q -i $WORK/multi.tar")
fi
hyperfine -N --runs 10 --style basic --export-json "$WORK/import.json" \
    --prepare "sh -c 'rm -rf $S; podman rmi -f bench:multi >/dev/null 2>&1; true'" \
    -n "cella image import, uncompressed" "env CELLA_IMAGES=$S $CELLA image import $WORK/multi.tar" \
    -n "cella image import, gzip'd" "env CELLA_IMAGES=$S $CELLA image import $WORK/multi.tar.gz" \
    "${PEERS[@]}"
if command -v podman >/dev/null; then podman rmi -f bench:multi >/dev/null 2>&1 || true; fi
# The last run's store went with the peer's preparation: one more import.
rm -rf "$S"
CELLA_IMAGES=$S "$CELLA" image import "$WORK/multi.tar" >/dev/null
STORE_BYTES=$(du -sb "$S" | cut -f1)
ARCHIVE_BYTES=$(stat -c %s "$WORK/multi.tar")
GZ_BYTES=$(stat -c %s "$WORK/multi.tar.gz")
CELLA_IMAGES=$S "$CELLA" run bench:multi >/dev/null
# A markdown table of hyperfine's JSON results: FIRST-COLUMN JSON.
table() {
    echo "| $1 | median ms | mean ms | min ms |"
    echo "|---|---:|---:|---:|"
    python3 - "$2" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("| %s | %.2f | %.2f | %.2f |" % (r["command"], r["median"] * 1000, r["mean"] * 1000, r["min"] * 1000))
PY
}
OUT=size-report/bench-image.md
{
    echo "# Benchmark: a container's start from a directory and from image files"
    echo
    echo "Run by \`size-report/bench-image.sh\` on $(date -u +%Y-%m-%d) (kernel $(uname -r), $(nproc) CPUs,"
    echo "load average before: $LOAD); busybox \`/bin/true\`, $RUNS runs each, one hyperfine run."
    echo "cella $(git rev-parse --short HEAD); images by $(mksquashfs -version 2>&1 | head -n1) and"
    echo "$(dpkg-query -W -f='erofs-utils ${Version}' erofs-utils)."
    echo
    table root "$WORK/image.json"
    echo
    echo "Importing a four-layer \`docker save\` archive (a busybox root, 2000 small files, 32 MiB of"
    echo "random bytes, 30 MB of text: $ARCHIVE_BYTES bytes, $GZ_BYTES gzip'd), 10 runs each into an"
    echo "empty store$PEER_TEXT:"
    echo
    table import "$WORK/import.json"
    echo
    echo "The store after an import: $STORE_BYTES bytes (\`du -sb\`)."
} > "$OUT"
cat "$OUT"
