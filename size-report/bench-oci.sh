#!/usr/bin/env bash
# Benchmark (not a test): cella as an OCI runtime against runc and crun.
#
#  (a) create + start + wait for exit + delete of one bundle (busybox rootfs,
#      `runc spec` adapted: /bin/true, no terminal), each runtime called as
#      podman and containerd call it, all runtimes in ONE hyperfine run;
#  (b) `podman run --rm --network none localhost/bb /bin/true` with
#      `--runtime cella|crun|runc`, all in ONE hyperfine run.
#
#   size-report/bench-oci.sh                           100 cycles, 30 podman runs per runtime
#   QUICK=1 size-report/bench-oci.sh                   20 cycles, 10 podman runs
#   size-report/bench-oci.sh --runtimes "runc crun"    only these (default: cella runc crun)
#   RUNS=50 PODMAN_RUNS=20 WARMUP=3 CELLA=/path/to/cella size-report/bench-oci.sh
#
# Writes size-report/bench-oci.md. Needs root and a cgroup v1 or hybrid host
# (like size-report/bench.sh). Installs what it needs from apt when missing.
# A runtime whose first try fails is left out of the hyperfine runs (hyperfine
# would abort) and the report says why: cella before its OCI mode works, crun
# where even the hidecg2 wrapper does not help. Everything it creates
# (rootfs, bundle, container state, podman store, cgroups) is removed on exit.
#
# The machine is shared and noisy: compare runtimes by the medians of ONE
# hyperfine invocation, never against numbers from another run.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

RUNTIMES="cella runc crun"
while [ $# -gt 0 ]; do
    case $1 in
        --runtimes) RUNTIMES=${2:?--runtimes needs a list, e.g. \"runc crun\"}; shift 2 ;;
        --runtimes=*) RUNTIMES=${1#*=}; shift ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "bench-oci: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for rt in $RUNTIMES; do
    case $rt in cella | runc | crun) ;; *) echo "bench-oci: unknown runtime '$rt' (cella, runc, crun)" >&2; exit 2 ;; esac
done

if [ "${QUICK:-0}" = 1 ]; then RUNS=${RUNS:-20}; PODMAN_RUNS=${PODMAN_RUNS:-10}; fi
RUNS=${RUNS:-100}
PODMAN_RUNS=${PODMAN_RUNS:-30}
WARMUP=${WARMUP:-3}
OUT=${OUT:-$REPO/size-report/bench-oci.md}
CELLA=${CELLA:-target/x86_64-unknown-linux-musl/release/cella}
case $CELLA in /*) ;; *) CELLA=$REPO/$CELLA ;; esac

[ "$(id -u)" = 0 ] || { echo "bench-oci: needs root (namespaces, cgroups, podman's store)" >&2; exit 1; }
if [ ! -d /sys/fs/cgroup/memory ]; then
    echo "bench-oci: needs the cgroup v1 memory controller at /sys/fs/cgroup/memory" >&2
    exit 1
fi

# --- tools: install only what is missing, quietly --------------------------
need=()
for pair in crun:crun runc:runc hyperfine:hyperfine busybox:busybox-static podman:podman \
            conmon:conmon gcc:gcc python3:python3; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/libc.a ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BUSYBOX=$(command -v busybox)
RUNC=$(command -v runc)
CRUN=$(command -v crun)

# --- scratch space and cleanup ---------------------------------------------
WORK=$(mktemp -d /tmp/cella-bench-oci.XXXXXX)
ID=cella-bench-oci-$$
declare -A RT     # name -> runtime command prefix (with --root)
P=$WORK/podman    # podman's private store
PODMAN_GLOBAL=(--root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp")
cleanup() {
    set +e
    # Containers left by an interrupted run: delete them with their runtime.
    for name in "${!RT[@]}"; do
        ${RT[$name]} delete --force "$ID-$name" >/dev/null 2>&1
    done
    if [ -f "$WORK/containers.conf" ]; then
        CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf \
            timeout 120 podman "${PODMAN_GLOBAL[@]}" rm --all --force --time 0 >/dev/null 2>&1
    fi
    # podman's own mounts under the store (its overlay home), deepest first.
    awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m"; done
    if awk -v w="$WORK/" 'index($5, w) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; then
        echo "bench-oci: something is still mounted under $WORK; not removing it" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the rootfs: static busybox and its applets -----------------------------
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,root}
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$R/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"

# --- small static C helpers -------------------------------------------------
# hidecg2: crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not
# supported"). It runs its command in a private mount namespace in which the
# cgroup2 mount at /sys/fs/cgroup/unified is detached, so crun sees pure v1
# (the same helper as size-report/bench.sh). crun-hidecg2 is that with the
# crun path built in, a runtime binary podman can be given.
cat > "$WORK/hidecg2.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>
int main(int argc, char **argv) {
#ifdef FIXED
    argv[0] = FIXED;
    char **cmd = argv;
#else
    if (argc < 2) { fprintf(stderr, "usage: hidecg2 CMD [ARG...]\n"); return 2; }
    char **cmd = argv + 1;
#endif
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        perror("hidecg2: private mount namespace"); return 125;
    }
    /* EINVAL: not a mount point here (pure v1 host), nothing to hide. */
    if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) && errno != EINVAL && errno != ENOENT) {
        perror("hidecg2: umount /sys/fs/cgroup/unified"); return 125;
    }
    execvp(cmd[0], cmd);
    perror("hidecg2: exec"); return 127;
}
C
# reap: a child subreaper that runs its command and reaps every descendant
# orphaned on the way (the container's PID 1 once `create` has returned), so
# the cycle waits for nothing but the container, and returns the command's status.
cat > "$WORK/reap.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: reap CMD [ARG...]\n"); return 2; }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1)) { perror("reap: PR_SET_CHILD_SUBREAPER"); return 125; }
    pid_t child = fork();
    if (child < 0) { perror("reap: fork"); return 125; }
    if (child == 0) { execvp(argv[1], argv + 1); perror("reap: exec"); _exit(127); }
    int status, rc = 125;
    for (;;) {   /* until no descendant is left (ECHILD) */
        pid_t p = wait(&status);
        if (p < 0) { if (errno == EINTR) continue; break; }
        if (p == child) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return rc;
}
C
# waitgone: wait until the pid in PIDFILE is gone (reaped by reap), 10 s at most.
cat > "$WORK/waitgone.c" <<'C'
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: waitgone PIDFILE\n"); return 2; }
    FILE *f = fopen(argv[1], "r");
    int pid;
    if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) { fprintf(stderr, "waitgone: no pid in %s\n", argv[1]); return 2; }
    fclose(f);
    struct timespec step = {0, 50 * 1000};   /* 50 us */
    for (long i = 0; i < 10L * 1000 * 1000 / 50; i++) {
        if (kill(pid, 0) < 0 && errno == ESRCH) return 0;
        nanosleep(&step, NULL);
    }
    fprintf(stderr, "waitgone: pid %d still there after 10 s\n", pid);
    return 1;
}
C
gcc -static -O2 -o "$WORK/hidecg2" "$WORK/hidecg2.c"
mkdir -p "$WORK/crun-bin"
gcc -static -O2 -DFIXED="\"$CRUN\"" -o "$WORK/crun-bin/crun" "$WORK/hidecg2.c"
gcc -static -O2 -o "$WORK/reap" "$WORK/reap.c"
gcc -static -O2 -o "$WORK/waitgone" "$WORK/waitgone.c"

# --- the bundle: runc spec, /bin/true, same limits as size-report/bench.sh --
mkdir -p "$WORK/bundle"
(cd "$WORK/bundle" && runc spec)
python3 - "$WORK/bundle/config.json" "$R" <<'PY'
import json, sys
path, rootfs = sys.argv[1:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"] = {"path": rootfs, "readonly": True}
# runc spec raises its three capabilities as ambient ones without making them
# inheritable, which the kernel refuses (EPERM); runc and crun ignore that
# error. Neither podman nor containerd asks for ambient capabilities: drop them.
c["process"]["capabilities"].pop("ambient", None)
res = c["linux"].setdefault("resources", {})
res["memory"] = {"limit": 64 * 1024 * 1024}
res["pids"] = {"limit": 64}
json.dump(c, open(path, "w"), indent=1)
PY

# --- cella: a private copy, so a rebuild during the run changes nothing ----
NOTES=()
note() { echo "== $*"; NOTES+=("$*"); }
cella_ver="cella: not measured"
if [[ " $RUNTIMES " == *" cella "* ]]; then
    if [ ! -x "$CELLA" ] && [ "$CELLA" = "$REPO/target/x86_64-unknown-linux-musl/release/cella" ]; then
        echo "== building cella (cargo build --release)"
        cargo build --quiet --release --target x86_64-unknown-linux-musl || true
    fi
    if [ -x "$CELLA" ]; then
        cp "$CELLA" "$WORK/cella"
        cella_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
        git diff --quiet HEAD -- src Cargo.toml Cargo.lock .cargo 2>/dev/null || cella_rev="$cella_rev-dirty"
        cella_ver="cella $("$WORK/cella" --version 2>&1 | awk '{print $NF}') ($(stat -c %s "$WORK/cella") bytes, sha256 $(sha256sum "$WORK/cella" | cut -c1-12), built $(date -u -r "$CELLA" +%FT%TZ), repo at $cella_rev)"
        RT[cella]="$WORK/cella --root $WORK/state-cella"
    else
        note "cella skipped: no binary at $CELLA"
    fi
fi
[[ " $RUNTIMES " == *" runc "* ]] && RT[runc]="$RUNC --root $WORK/state-runc"
[[ " $RUNTIMES " == *" crun "* ]] && RT[crun]="$WORK/hidecg2 $CRUN --root $WORK/state-crun"

# --- (a) create/start/wait/delete cycles -----------------------------------
declare -A CYCLE
for name in cella runc crun; do
    [ -n "${RT[$name]:-}" ] || continue
    rt=${RT[$name]}
    CYCLE[$name]="$WORK/reap sh -c '$rt create --bundle $WORK/bundle --pid-file $WORK/pid-$name $ID-$name && $rt start $ID-$name && $WORK/waitgone $WORK/pid-$name && $rt delete $ID-$name'"
done
ORDER=()
for name in cella runc crun; do
    [ -n "${CYCLE[$name]:-}" ] || continue
    # One try first: a failing command would abort hyperfine.
    if out=$(eval "timeout 60 ${CYCLE[$name]}" 2>&1); then
        ORDER+=("$name")
    else
        ${RT[$name]} delete --force "$ID-$name" >/dev/null 2>&1 || true
        note "$name left out of the cycles: \`create/start/delete\` failed: ${out:0:300}"
    fi
done
LOAD_A=$(cut -d' ' -f1-3 /proc/loadavg)
if [ ${#ORDER[@]} -gt 0 ]; then
    echo "== (a) create+start+wait+delete: one hyperfine run, $RUNS runs each (warmup $WARMUP); load $LOAD_A"
    args=()
    for name in "${ORDER[@]}"; do args+=(-n "$name" "${CYCLE[$name]}"); done
    hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --style basic \
        --export-json "$WORK/cycles.json" "${args[@]}"
fi
LOAD_A2=$(cut -d' ' -f1-3 /proc/loadavg)

# --- (b) podman run --rm ------------------------------------------------------
mkdir -p "$P"
{
    echo '[containers]'
    # This VM lacks CAP_SYS_RESOURCE; podman's default rlimits exceed its hard limits.
    echo 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
    echo 'netns = "none"'
    echo
    echo '[engine]'
    echo 'runtime_supports_json = ["cella", "runc", "crun"]'
    echo 'cgroup_manager = "cgroupfs"'
    echo 'events_logger = "file"'
    echo 'lock_type = "file"'
    echo
    echo '[engine.runtimes]'
    [ -n "${RT[cella]:-}" ] && echo "cella = [\"$WORK/cella\"]"
    echo "runc = [\"$RUNC\"]"
    echo "crun = [\"$WORK/crun-bin/crun\"]"
} > "$WORK/containers.conf"
driver=vfs
grep -qw overlay /proc/filesystems && driver=overlay
printf '[storage]\ndriver = "%s"\nrunroot = "%s/runroot"\ngraphroot = "%s/root"\n' "$driver" "$P" "$P" > "$WORK/storage.conf"
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf
PODMAN_GLOBAL+=(--storage-driver "$driver")
tar -C "$R" -cf "$WORK/bb.tar" .
timeout 120 podman "${PODMAN_GLOBAL[@]}" import -q "$WORK/bb.tar" localhost/bb >/dev/null
declare -A PRUN
PORDER=()
for name in cella runc crun; do
    [[ " $RUNTIMES " == *" $name "* ]] || continue
    [ "$name" = cella ] && [ -z "${RT[cella]:-}" ] && continue
    PRUN[$name]="podman ${PODMAN_GLOBAL[*]} --runtime $name run --rm --network none localhost/bb /bin/true"
    if out=$(timeout 120 ${PRUN[$name]} 2>&1); then
        PORDER+=("$name")
    else
        note "$name left out of the podman runs: \`podman --runtime $name run\` failed: ${out:0:300}"
    fi
done
LOAD_B=$(cut -d' ' -f1-3 /proc/loadavg)
if [ ${#PORDER[@]} -gt 0 ]; then
    echo "== (b) podman run --rm: one hyperfine run, $PODMAN_RUNS runs each (warmup $WARMUP); load $LOAD_B"
    args=()
    for name in "${PORDER[@]}"; do args+=(-n "podman --runtime $name" "${PRUN[$name]}"); done
    hyperfine -N --warmup "$WARMUP" --runs "$PODMAN_RUNS" --style basic \
        --export-json "$WORK/podman.json" "${args[@]}"
fi
LOAD_B2=$(cut -d' ' -f1-3 /proc/loadavg)

# --- tables from hyperfine's JSON ---------------------------------------------
table() { # json -> markdown table with medians and ratios against runc
    python3 - "$1" <<'PY'
import json, sys
rs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ms = lambda s: s * 1000
runc = next((r for n, r in rs.items() if n.endswith("runc")), None)
print("| runtime | median ms | mean ms | stddev | min ms | max ms | user ms | sys ms | x runc (median) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, r in rs.items():
    rel = "%.2f" % (r["median"] / runc["median"]) if runc else "-"
    print("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |" % (
        n, ms(r["median"]), ms(r["mean"]), ms(r["stddev"] or 0), ms(r["min"]), ms(r["max"]),
        ms(r["user"]), ms(r["system"]), rel))
cella = next((r for n, r in rs.items() if n.endswith("cella")), None)
if cella:
    print()
    for other in ("crun", "runc"):
        o = next((r for n, r in rs.items() if n.endswith(other)), None)
        if o:
            print("- cella / %s median: **%.2fx**" % (other, cella["median"] / o["median"]))
PY
}
version() { "$@" 2>&1 | head -1; }
cgmode="cgroup v1"
mountpoint -q /sys/fs/cgroup/unified 2>/dev/null && cgmode="hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && cgmode="cgroup v2"
{
    echo "# Benchmark: cella as an OCI runtime, against runc and crun"
    echo
    echo "Run by \`size-report/bench-oci.sh\` on $(date -u +%F) ($(date -u +%TZ)): kernel $(uname -r), $(nproc) CPUs, $cgmode."
    echo
    echo "Versions: $cella_ver; $(version runc --version); $(version crun --version);"
    echo "$(version podman --version); $(version conmon --version); payload $(version "$BUSYBOX" | awk '{print $1, $2}') static;"
    echo "$(version hyperfine --version)."
    echo
    if [ ${#NOTES[@]} -gt 0 ]; then
        for n in "${NOTES[@]}"; do echo "- **$n**" | sed "s|$WORK|\$TMP|g"; done
        echo
    fi
    echo "## (a) create, start, wait for exit, delete"
    echo
    echo "\`runc spec\`'s bundle (pid, network, ipc, uts and mount namespaces, read-only busybox root)"
    echo "with \`/bin/true\`, no terminal, no ambient capabilities (as podman and containerd), a 64 MiB"
    echo "memory and a 64-process pids limit. Each command is"
    echo "one full cycle as podman and containerd drive it: \`create --bundle --pid-file\`, \`start\`,"
    echo "wait until the container's PID 1 is gone, \`delete\`, under \`reap\` (a static child"
    echo "subreaper that reaps the container's PID 1) and \`waitgone\` (polls the pid every 50 us)."
    echo "crun runs inside \`hidecg2\` (crun 1.8 refuses hybrid cgroup hosts; see bench.md), which"
    echo "adds one exec per call."
    echo
    if [ -f "$WORK/cycles.json" ]; then
        echo "\`hyperfine -N --warmup $WARMUP --runs $RUNS\`, all runtimes in the same invocation"
        echo "(load average before it: $LOAD_A; after it: $LOAD_A2):"
        echo
        echo '```'
        for name in "${ORDER[@]}"; do echo "${CYCLE[$name]}" | sed "s|$WORK|\$TMP|g"; done
        echo '```'
        echo
        table "$WORK/cycles.json"
    else
        echo "No runtime completed a cycle: nothing measured."
    fi
    echo
    echo "## (b) \`podman run --rm --network none localhost/bb /bin/true\`"
    echo
    echo "podman with a private store ($driver driver), cgroupfs, conmon, \`--runtime NAME\` from"
    echo "containers.conf (\`runtime_supports_json\` lists all three, so each gets \`--log-format=json\`),"
    echo "\`default_ulimits\` nofile and nproc within this VM's hard limits. crun is the \`crun-hidecg2\`"
    echo "helper (hidecg2 with crun's path built in)."
    echo
    if [ -f "$WORK/podman.json" ]; then
        echo "\`hyperfine -N --warmup $WARMUP --runs $PODMAN_RUNS\`, all runtimes in the same invocation"
        echo "(load average before it: $LOAD_B; after it: $LOAD_B2):"
        echo
        echo '```'
        for name in "${PORDER[@]}"; do echo "${PRUN[$name]}" | sed "s|$WORK|\$TMP|g"; done
        echo '```'
        echo
        table "$WORK/podman.json"
    else
        echo "No runtime completed a podman run: nothing measured."
    fi
} > "$OUT"
echo "== wrote ${OUT#"$REPO"/}"
[ -f "$WORK/cycles.json" ] && { echo "== (a) cycles"; table "$WORK/cycles.json"; }
[ -f "$WORK/podman.json" ] && { echo "== (b) podman run --rm"; table "$WORK/podman.json"; }
exit 0
