#!/usr/bin/env bash
# Benchmark (not a test): cella against crun, runc, bubblewrap, unshare+chroot
# and a plain exec, each running busybox's /bin/true from the same busybox rootfs.
#
#   size-report/bench.sh                 200 timed runs per command, 10 tries per memory limit
#   QUICK=1 size-report/bench.sh         20 timed runs, 3 tries per limit
#   RUNS=50 WARMUP=3 TRIES=5 CELLA=/path/to/cella size-report/bench.sh
#
# Writes size-report/bench.md (docs/benchmark.md quotes it).
# Needs root and a host with cgroup v1 memory and pids controllers (plain or
# hybrid). Installs what it needs from apt when missing. Everything it creates
# (rootfs, bundles, container state, cgroups) is removed on exit.
#
# The machine is shared and noisy, so the runtimes are compared by the medians
# of ONE hyperfine invocation, never against numbers from another run.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

if [ "${QUICK:-0}" = 1 ]; then RUNS=${RUNS:-20}; TRIES=${TRIES:-3}; fi
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-5}
TRIES=${TRIES:-10}
OUT=${OUT:-$REPO/size-report/bench.md}
# Memory limits to sweep. 64k and 96k are below the asked-for 128k..4m because
# on a warm cache even 128k can be enough; override with LIMITS="128k 1m ...".
read -r -a LIMITS <<<"${LIMITS:-64k 96k 128k 192k 256k 384k 512k 1m 2m 4m}"
CELLA=${CELLA:-target/x86_64-unknown-linux-musl/release/cella}
case $CELLA in /*) ;; *) CELLA=$REPO/$CELLA ;; esac

[ "$(id -u)" = 0 ] || { echo "bench: needs root (namespaces, cgroups)" >&2; exit 1; }
if [ ! -d /sys/fs/cgroup/memory ]; then
    echo "bench: needs the cgroup v1 memory controller at /sys/fs/cgroup/memory" >&2
    exit 1
fi

# --- tools: install only what is missing, quietly --------------------------
need=()
for pair in crun:crun runc:runc bwrap:bubblewrap hyperfine:hyperfine busybox:busybox-static \
            /usr/bin/time:time gcc:gcc python3:python3 unshare:util-linux chroot:coreutils; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
# gcc -static needs the static C library.
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/libc.a ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BUSYBOX=$(command -v busybox)

# --- scratch space and cleanup ---------------------------------------------
WORK=$(mktemp -d /tmp/cella-bench.XXXXXX)
ID=cella-bench-$$                               # container id for crun and runc
FLOOR_CG=/sys/fs/cgroup/memory/cella-bench-floor-$$
cleanup() {
    set +e
    # A container left behind by an interrupted run: kill and delete it.
    if [ -x "$WORK/hidecg2" ]; then
        "$WORK/hidecg2" crun --root "$WORK/state-crun" delete -f "$ID" >/dev/null 2>&1
        "$WORK/hidecg2" crun --root "$WORK/state-crun" delete -f "$ID-tiny" >/dev/null 2>&1
    fi
    runc --root "$WORK/state-runc" delete -f "$ID" >/dev/null 2>&1
    runc --root "$WORK/state-runc" delete -f "$ID-tiny" >/dev/null 2>&1
    [ -d "$FLOOR_CG" ] && rmdir "$FLOOR_CG"
    rm -rf "$WORK"
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

# --- small static C helpers -------------------------------------------------
# hidecg2: crun refuses hybrid cgroup hosts ("cgroups in hybrid mode not
# supported"). It runs its command in a private mount namespace in which the
# cgroup2 mount at /sys/fs/cgroup/unified is detached, so crun sees pure v1.
# In C rather than `unshare -m sh -c 'umount ...; exec crun'`: the shell
# version adds three execs and a fork to every crun run; this adds one exec,
# and its cost is timed on its own below ("hidecg2 only").
cat > "$WORK/hidecg2.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: hidecg2 CMD [ARG...]\n"); return 2; }
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        perror("hidecg2: private mount namespace"); return 125;
    }
    /* EINVAL: not a mount point here (pure v1 host), nothing to hide. */
    if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) && errno != EINVAL && errno != ENOENT) {
        perror("hidecg2: umount /sys/fs/cgroup/unified"); return 125;
    }
    execvp(argv[1], argv + 1);
    perror("hidecg2: exec"); return 127;
}
C
# join: the memory-floor baseline. It writes its own pid into a cgroup's
# cgroup.procs and execs the payload: nothing is charged to the cgroup but
# exec itself, which is the floor any runtime can reach.
cat > "$WORK/join.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: join CGROUP.PROCS CMD [ARG...]\n"); return 2; }
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) { perror("join"); return 125; }  /* "0": this process */
    close(fd);
    execv(argv[2], argv + 2);
    perror("join: exec"); return 127;
}
C
# tinytrue: a 9 KB exit(0) with no libc. As the payload it lets the RSS
# figures show each runtime's own memory instead of busybox's 1.3 MB.
cat > "$WORK/tinytrue.c" <<'C'
void _start(void) { __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall"); }
C
# maxrss: fork, exec, wait4, print the children's ru_maxrss (KiB). Like GNU
# time's %M, but static, so the forked child weighs ~256 KiB before its exec
# instead of GNU time's ~450 KiB, which would hide a runtime smaller than that.
cat > "$WORK/maxrss.c" <<'C'
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: maxrss CMD [ARG...]\n"); return 2; }
    pid_t pid = fork();
    if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
    int status; struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) { perror("maxrss"); return 125; }
    printf("%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
C
gcc -static -O2 -o "$WORK/hidecg2" "$WORK/hidecg2.c"
gcc -static -O2 -o "$WORK/join" "$WORK/join.c"
gcc -static -O2 -o "$WORK/maxrss" "$WORK/maxrss.c"
gcc -static -nostdlib -O2 -o "$R/bin/tinytrue" "$WORK/tinytrue.c"

# --- OCI bundles for crun and runc: same rootfs, same limits as cella ------
mkdir -p "$WORK/bundle" "$WORK/bundle-tiny" "$WORK/state-crun" "$WORK/state-runc"
(cd "$WORK/bundle" && runc spec)
# runc spec: pid, network, ipc, uts and mount namespaces, no cgroup namespace.
edit_bundle() { # config.json payload
    python3 - "$1" "$R" "$2" <<'PY'
import json, sys
path, rootfs, payload = sys.argv[1:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = [payload]
c["root"] = {"path": rootfs, "readonly": True}
res = c["linux"].setdefault("resources", {})
res["memory"] = {"limit": 64 * 1024 * 1024}
res["pids"] = {"limit": 64}
json.dump(c, open(path, "w"), indent=1)
PY
}
cp "$WORK/bundle/config.json" "$WORK/bundle-tiny/config.json"
edit_bundle "$WORK/bundle/config.json" /bin/true
edit_bundle "$WORK/bundle-tiny/config.json" /bin/tinytrue

# --- cella: use a private copy, so a rebuild during the run changes nothing --
CELLA_NOTE=""
if [ ! -x "$CELLA" ] && [ "$CELLA" = "$REPO/target/x86_64-unknown-linux-musl/release/cella" ]; then
    echo "== building cella (cargo build --release)"
    cargo build --quiet --release --target x86_64-unknown-linux-musl || true
fi
if [ -x "$CELLA" ]; then
    cp "$CELLA" "$WORK/cella"
    # Identify what was measured: the binary's build time and hash, and the
    # repo revision, marked dirty when the sources differ from it.
    cella_built=$(date -u -r "$CELLA" +%FT%TZ)
    cella_sum=$(sha256sum "$WORK/cella" | cut -c1-12)
    cella_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- src Cargo.toml Cargo.lock .cargo 2>/dev/null || cella_rev="$cella_rev-dirty"
    rc=0; err=$("$WORK/cella" run --rootfs "$R" /bin/true 2>&1) || rc=$?
    if [ $rc = 0 ]; then
        HAVE_CELLA=1
    else
        HAVE_CELLA=0
        CELLA_NOTE="cella skipped: \`cella run --rootfs R /bin/true\` failed here (exit $rc)${err:+: ${err:0:300}}"
    fi
else
    HAVE_CELLA=0
    CELLA_NOTE="cella skipped: no binary at $CELLA"
fi
[ -n "$CELLA_NOTE" ] && echo "== $CELLA_NOTE"

# --- the commands, all timed in one hyperfine run --------------------------
# CMD[name] runs /bin/true; TINY[name] the same with /bin/tinytrue (RSS only).
declare -A CMD TINY
CMD[cella]="$WORK/cella run --rootfs $R --memory 64m --pids 64 /bin/true"
TINY[cella]="$WORK/cella run --rootfs $R --memory 64m --pids 64 /bin/tinytrue"
# The cost of the default security profile (seccomp filter, capabilities,
# masked and read-only /proc paths): the same run without it.
CMD[cella --privileged]="$WORK/cella run --privileged --rootfs $R --memory 64m --pids 64 /bin/true"
TINY[cella --privileged]="$WORK/cella run --privileged --rootfs $R --memory 64m --pids 64 /bin/tinytrue"
CMD[crun]="$WORK/hidecg2 crun --root $WORK/state-crun run -b $WORK/bundle $ID"
TINY[crun]="$WORK/hidecg2 crun --root $WORK/state-crun run -b $WORK/bundle-tiny $ID-tiny"
CMD[runc]="runc --root $WORK/state-runc run -b $WORK/bundle $ID"
TINY[runc]="runc --root $WORK/state-runc run -b $WORK/bundle-tiny $ID-tiny"
CMD[bwrap]="bwrap --unshare-all --die-with-parent --ro-bind $R / --proc /proc --dev /dev /bin/true"
TINY[bwrap]="bwrap --unshare-all --die-with-parent --ro-bind $R / --proc /proc --dev /dev /bin/tinytrue"
CMD[unshare+chroot]="unshare --fork --pid --mount --uts --ipc --net --mount-proc=$R/proc chroot $R /bin/true"
TINY[unshare+chroot]="unshare --fork --pid --mount --uts --ipc --net --mount-proc=$R/proc chroot $R /bin/tinytrue"
CMD[hidecg2 only]="$WORK/hidecg2 $R/bin/true"
TINY[hidecg2 only]="$WORK/hidecg2 $R/bin/tinytrue"
CMD[exec]="$R/bin/true"
TINY[exec]="$R/bin/tinytrue"

ORDER=()
[ "$HAVE_CELLA" = 1 ] && ORDER+=(cella "cella --privileged")
SKIPPED=()
for name in crun runc bwrap unshare+chroot "hidecg2 only" exec; do
    # A command that fails would abort hyperfine: leave it out and say why.
    if out=$(${CMD[$name]} 2>&1); then
        ORDER+=("$name")
    else
        echo "== $name skipped, it fails here: ${out:0:300}"
        SKIPPED+=("$name: \`${CMD[$name]}\` failed: ${out:0:300}")
    fi
done

# Other work on the machine shows up in every figure: note the load.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== wall time: one hyperfine run, $RUNS runs each (warmup $WARMUP); load average $LOAD_BEFORE"
args=()
for name in "${ORDER[@]}"; do args+=(-n "$name" "${CMD[$name]}"); done
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --style basic \
    --export-json "$WORK/times.json" --export-markdown "$WORK/times.md" "${args[@]}"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Median table, ratios and goals, from hyperfine's JSON.
python3 - "$WORK/times.json" "$HAVE_CELLA" > "$WORK/times-summary.md" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
have_cella = sys.argv[2] == "1"
ms = lambda s: s * 1000
base = results.get("exec")
print("| runtime | median ms | mean ms | stddev | min ms | max ms | user ms | sys ms | x exec (median) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in results.items():
    rel = "%.1f" % (r["median"] / base["median"]) if base else "-"
    print("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |" % (
        name, ms(r["median"]), ms(r["mean"]), ms(r["stddev"] or 0), ms(r["min"]), ms(r["max"]),
        ms(r["user"]), ms(r["system"]), rel))
print()
if not have_cella:
    print("cella was not measured, so there are no ratios.")
    sys.exit()
cella = results["cella"]["median"]
def goal(label, other, limit, extra=""):
    if other not in results:
        print("- cella / %s: not measured (%s did not run)" % (label, other))
        return
    ratio = cella / results[other]["median"]
    print("- cella / %s median: **%.2fx** (goal at most %.1fx: %s)%s" % (
        label, ratio, limit, "met" if ratio <= limit else "NOT met", extra))
goal("crun", "crun", 0.4)
if "crun" in results and "hidecg2 only" in results and base:
    # crun's time includes the hidecg2 wrapper; take its extra cost (wrapper
    # minus a plain exec) off crun for a ratio that cannot flatter cella.
    wrapper = results["hidecg2 only"]["median"] - base["median"]
    ratio = cella / (results["crun"]["median"] - wrapper)
    print("- cella / (crun minus the wrapper's %.2f ms): **%.2fx** (goal at most 0.4x: %s)" % (
        ms(wrapper), ratio, "met" if ratio <= 0.4 else "NOT met"))
goal("unshare+chroot", "unshare+chroot", 1.0)
if "cella --privileged" in results:
    cost = cella - results["cella --privileged"]["median"]
    # (--privileged also makes every device node of the host's /dev, as
    # docker's does: a figure, not the profile's cost alone.)
    print("- the default security profile (seccomp, capabilities, masked /proc) against --privileged "
          "(which also makes every device node of the host's /dev): %.2f ms "
          "(cella %.2f ms, --privileged %.2f ms)" % (ms(cost), ms(cella), ms(results["cella --privileged"]["median"])))
PY
cat "$WORK/times-summary.md"

# --- peak RSS ----------------------------------------------------------------
# GNU time's %M is ru_maxrss of the waited-for children: the largest single
# process of the tree, not a sum. With busybox as the payload every runtime
# shows at least busybox's ~1.3 MB, so each runtime is measured again with
# tinytrue as the payload, through the static maxrss.
median_of_5() { # command that prints one number...
    local v=() i
    for i in 1 2 3 4 5; do v+=("$("$@")"); done
    printf '%s\n' "${v[@]}" | sort -n | sed -n 3p
}
gnu_time_rss() { /usr/bin/time -o "$WORK/rss" -f %M "$@" >/dev/null 2>&1 || true; tail -1 "$WORK/rss"; }
own_rss() { "$WORK/maxrss" "$@" 2>/dev/null || true; }
echo "== peak RSS, KiB, median of 5 (GNU time with /bin/true; maxrss with /bin/tinytrue)"
rss_rows=()
for name in "${ORDER[@]}"; do
    a=$(median_of_5 gnu_time_rss ${CMD[$name]})
    b=$(median_of_5 own_rss ${TINY[$name]})
    echo "$name: $a, $b"
    rss_rows+=("| $name | $a | $b |")
done

# --- the smallest memory limit -----------------------------------------------
# cella run --memory L next to "join a fresh cgroup limited to L, then exec",
# tried alternately so both see the same page cache and machine state.
# Run a command with the function's redirections also covering bash's own
# "Killed" notice for an OOM-killed child.
quietly() { "$@"; }
to_bytes() { python3 -c "s='$1'; print(int(s[:-1]) * {'k': 1024, 'm': 1 << 20}[s[-1]])"; }
join_floor_once() { # bytes
    mkdir "$FLOOR_CG"
    echo "$1" > "$FLOOR_CG/memory.limit_in_bytes"
    # With swap accounting the memsw limit must be set too (it must stay >= the memory limit).
    [ -e "$FLOOR_CG/memory.memsw.limit_in_bytes" ] && echo "$1" > "$FLOOR_CG/memory.memsw.limit_in_bytes"
    local rc=0
    quietly "$WORK/join" "$FLOOR_CG/cgroup.procs" "$R/bin/true" >/dev/null 2>&1 || rc=$?
    rmdir "$FLOOR_CG"
    return $rc
}
tally() { # ok tries failure-codes...
    local ok=$1 tries=$2; shift 2
    local s="$ok/$tries"
    [ $# -gt 0 ] && s="$s (rc $(printf '%s\n' "$@" | sort -n | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}'))"
    echo "$s"
}
echo "== smallest memory limit for /bin/true, $TRIES tries each"
floor_rows=()
cella_floor="" join_floor=""   # smallest limit such that it and all above always worked
cella_low="" join_low=""       # smallest limit that always worked (a larger one may still flake)
for limit in "${LIMITS[@]}"; do
    bytes=$(to_bytes "$limit")
    ok_c=0 ok_j=0 fails_c=() fails_j=()
    for _ in $(seq "$TRIES"); do
        if [ "$HAVE_CELLA" = 1 ]; then
            rc=0; quietly "$WORK/cella" run --rootfs "$R" --memory "$limit" /bin/true >/dev/null 2>&1 || rc=$?
            if [ $rc = 0 ]; then ok_c=$((ok_c + 1)); else fails_c+=("$rc"); fi
        fi
        rc=0; join_floor_once "$bytes" || rc=$?
        if [ $rc = 0 ]; then ok_j=$((ok_j + 1)); else fails_j+=("$rc"); fi
    done
    c="-"
    if [ "$HAVE_CELLA" = 1 ]; then c=$(tally $ok_c "$TRIES" ${fails_c[@]+"${fails_c[@]}"}); fi
    j=$(tally $ok_j "$TRIES" ${fails_j[@]+"${fails_j[@]}"})
    # The floor: the smallest limit such that every try at it and above worked.
    if [ "$HAVE_CELLA" = 1 ] && [ $ok_c = "$TRIES" ]; then
        cella_floor=${cella_floor:-$limit}; cella_low=${cella_low:-$limit}
    else
        cella_floor=""
    fi
    if [ $ok_j = "$TRIES" ]; then join_floor=${join_floor:-$limit}; join_low=${join_low:-$limit}; else join_floor=""; fi
    echo "$limit: cella $c, join+exec $j"
    floor_rows+=("| $limit | $c | $j |")
done
# Say "or less" when even the lowest limit tried always worked.
floor_text() { # floor
    case $1 in
        "") echo "above ${LIMITS[-1]} (none of the limits tried)" ;;
        "${LIMITS[0]}") echo "${LIMITS[0]} or less (the lowest limit tried)" ;;
        *) echo "$1" ;;
    esac
}
cella_floor=$(floor_text "$cella_floor")
join_floor=$(floor_text "$join_floor")
if [ "$HAVE_CELLA" != 1 ]; then cella_floor="not measured"; cella_low=""; fi
# When the lowest always-working limit is below the floor, a limit in between flaked.
flaky_note() { # low floor
    if [ -n "$1" ] && [ "$(floor_text "$1")" != "$2" ]; then echo " (but every try already worked at $1)"; fi
}
cella_floor="$cella_floor$(flaky_note "$cella_low" "$cella_floor")"
join_floor="$join_floor$(flaky_note "$join_low" "$join_floor")"
echo "floor: cella $cella_floor; join+exec $join_floor"

# --- the smallest pids limit -------------------------------------------------
if [ "$HAVE_CELLA" = 1 ]; then
    rc=0; out=$("$WORK/cella" run --rootfs "$R" --pids 1 /bin/true 2>&1) || rc=$?
    if [ $rc = 0 ]; then pids1="works (exit 0)"; else pids1="FAILS (exit $rc: ${out:0:200})"; fi
else
    pids1="not measured"
fi
echo "== cella run --pids 1 /bin/true: $pids1"

# --- results.md ----------------------------------------------------------------
version() { "$@" 2>&1 | head -1; }
cgmode="cgroup v1"
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then cgmode="hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"; fi
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then cgmode="cgroup v2"; fi
if [ "$HAVE_CELLA" = 1 ]; then
    cella_ver="cella $(version "$WORK/cella" --version | awk '{print $NF}') ($(stat -c %s "$WORK/cella") bytes, sha256 $cella_sum, built $cella_built, repo at $cella_rev)"
else
    cella_ver="cella: not measured"
fi
{
    echo "# Benchmark: \`/bin/true\` in a busybox rootfs"
    echo
    echo "Run by \`size-report/bench.sh\` on $(date -u +%F) ($(date -u +%TZ)): kernel $(uname -r), $(nproc) CPUs, $cgmode."
    echo
    echo "Versions: $cella_ver; $(version crun --version); $(version runc --version);"
    echo "bubblewrap $(version bwrap --version | awk '{print $2}'); $(version unshare --version) with"
    echo "$(version chroot --version); payload $(version "$BUSYBOX" | awk '{print $1, $2}') static"
    echo "($(stat -c %s "$BUSYBOX") bytes); $(version hyperfine --version)."
    echo
    [ -n "$CELLA_NOTE" ] && { echo "**$CELLA_NOTE**"; echo; }
    if [ ${#SKIPPED[@]} -gt 0 ]; then
        for s in "${SKIPPED[@]}"; do echo "- skipped $s"; done
        echo
    fi
    echo "## Wall time: one hyperfine run"
    echo
    echo "\`hyperfine -N --warmup $WARMUP --runs $RUNS\`, all commands in the same invocation"
    echo "(load average before it: $LOAD_BEFORE; after it: $LOAD_AFTER):"
    echo
    echo '```'
    for name in "${ORDER[@]}"; do echo "${CMD[$name]}" | sed "s|$WORK|\$TMP|g"; done
    echo '```'
    echo
    echo "cella, crun and runc set a 64 MiB memory limit and a 64-process pids limit. crun and runc"
    echo "use \`runc spec\`'s bundle: pid, network, ipc, uts and mount namespaces, no cgroup namespace,"
    echo "read-only root. cella also creates a cgroup namespace and its root is writable (no \`--read-only\`)."
    echo "crun only runs on a hybrid host inside \`hidecg2\`, a static helper that detaches the cgroup2"
    echo "mount in a private mount namespace; \"hidecg2 only\" times that helper exec'ing \`/bin/true\`."
    echo
    cat "$WORK/times-summary.md"
    echo
    echo "## Peak RSS (KiB, median of 5)"
    echo
    echo "Both columns are ru_maxrss of the waited-for children: the largest single process of the"
    echo "tree, not a sum. busybox \`/bin/true\` alone is ~1.3 MB, so with it as the payload (GNU"
    echo "\`time -f %M\`) a runtime smaller than that shows busybox's figure. The second column runs"
    echo "\`tinytrue\` (a 9 KB static \`exit(0)\` without libc) under a static fork+exec+wait4 launcher,"
    echo "which shows each runtime's own peak; its floor, the launcher's forked child before exec, is"
    echo "the \`exec\` row (GNU time's own floor is ~450 KiB)."
    echo
    echo "| runtime | GNU time, payload /bin/true | static launcher, payload tinytrue |"
    echo "|---|---:|---:|"
    printf '%s\n' "${rss_rows[@]}"
    echo
    echo "## Smallest memory limit for \`/bin/true\` ($TRIES tries each)"
    echo
    echo "\`cella run --rootfs R --memory L /bin/true\` next to the floor: a static C program that"
    echo "writes its own pid into a fresh v1 memory cgroup limited to L (memory and memsw) and execs"
    echo "\`R/bin/true\`, so nothing but exec itself is charged. Tried alternately; failures list exit codes"
    echo "(137 = OOM-killed)."
    echo
    echo "| limit | cella | join+exec |"
    echo "|---|---|---|"
    printf '%s\n' "${floor_rows[@]}"
    echo
    echo "Smallest limit from which on every try works (at it and at every larger limit): cella"
    echo "**$cella_floor**; join+exec **$join_floor**."
    echo "(Warm page cache, v1 charging: a cold cache or cgroup v2 needs more. A rare failure at a"
    echo "limit above one that always worked is likely the kernel's per-CPU charge batching, 64 pages"
    echo "= 256 KiB: with a limit of 256k or more, a precharge held by one CPU can make a charge on the"
    echo "other fail. Below 256k no batch fits, so charges are exact.)"
    echo
    echo "## pids"
    echo
    echo "\`cella run --rootfs R --pids 1 /bin/true\`: $pids1."
} > "$OUT"
echo "== wrote ${OUT#"$REPO"/}"

echo
echo "== summary ($RUNS runs; medians from one hyperfine run)"
grep '^- ' "$WORK/times-summary.md" || tail -1 "$WORK/times-summary.md"
echo "- smallest memory limit: cella $cella_floor; join+exec $join_floor"
echo "- cella run --pids 1 /bin/true: $pids1"
