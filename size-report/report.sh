#!/usr/bin/env bash
# Build cella's release binaries, measure their stripped sizes, write
# size-report/sizes.md, append to size-report/history.csv, and fail when a
# binary is over its budget (size-report/budget.txt).
#
#   size-report/report.sh                       from any directory
#   NO_HISTORY=1 size-report/report.sh          do not append to history.csv (trial runs)
#   CARGO_TARGET_DIR=/elsewhere size-report/report.sh   build somewhere else
#   BUDGETS=/tmp/b.txt size-report/report.sh            check against other budgets
#
# Builds (budget keys in brackets):
#   x86_64-unknown-linux-musl, stable   [x86_64-stable]       must build, or the script fails
#   aarch64-unknown-linux-musl, stable  [aarch64-stable]      "not installed" if rustup lacks the target
#   armv7-unknown-linux-musleabihf      [armv7-stable]        "target unavailable" if rustup can't add it
#   x86_64 musl, no `oci` feature       [x86_64-stable-nooci] `cella run` and `cella init` only
#   x86_64 musl, nightly, std rebuilt   [x86_64-nightly-min]  the smallest build the toolchain allows
#                                                             (no `oci` feature either)
#                                                             (size.md's N6); "nightly unavailable" if
#                                                             there is no usable nightly
# Linker and per-target flags come from .cargo/config.toml, the profile from Cargo.toml.
#
# Exit status: 0 when every binary that was built is within budget; 1 when one
# is over budget, when x86_64 stable does not build, or when a stable build for
# an installed target fails (that is a real portability bug, not a missing tool).
set -euo pipefail
cd "$(dirname "$0")/.."

# Cargo honours CARGO_TARGET_DIR itself; we only need to know where the binaries land.
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BUDGETS=${BUDGETS:-size-report/budget.txt}   # override to try other budgets
SIZES=size-report/sizes.md
HISTORY=size-report/history.csv

NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Mark the revision dirty when the sources differ from HEAD, so that a size is
# never attributed to a commit it was not built from.
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- src Cargo.toml Cargo.lock .cargo 2>/dev/null; then REV="$REV-dirty"; fi

SCRATCH=$(mktemp -d /tmp/cella-size.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

rows=()      # markdown table rows
notes=()     # how each size was obtained
problems=()  # reasons to exit non-zero

budget_of() { awk -v k="$1" '$1 == k { print $2 }' "$BUDGETS"; }

# A strip tool that understands the binary's architecture. GNU strip only
# knows the host's; llvm-strip (apt llvm) and rustup's rust-objcopy (llvm-tools)
# know every architecture.
strip_tool_for() { # target
    local target=$1 gnu candidates=()
    case $target in
        x86_64-*)  gnu=strip ;;
        aarch64-*) gnu=aarch64-linux-gnu-strip ;;
        armv7-*)   gnu=arm-linux-gnueabihf-strip ;;
    esac
    candidates=("$gnu" llvm-strip)
    local t
    for t in "${candidates[@]}"; do
        if command -v "$t" >/dev/null; then echo "$t"; return; fi
    done
    local objcopy
    objcopy="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host:/ {print $2}')/bin/rust-objcopy"
    if [ -x "$objcopy" ]; then echo "$objcopy --strip-all"; fi
}

# Strip a copy (the original stays as cargo left it), then compare with the budget.
record() { # key target toolchain build binary
    local key=$1 target=$2 toolchain=$3 build=$4 bin=$5
    local copy="$SCRATCH/$key" tool built bytes budget status how
    cp "$bin" "$copy"
    built=$(stat -c %s "$bin")
    tool=$(strip_tool_for "$target")
    if [ -n "$tool" ] && $tool "$copy"; then
        how="stripped with \`${tool##*/}\`"
    else
        # The release profile has strip=true, so the binary is already stripped.
        how="not re-stripped (no strip tool for $target; the profile already strips)"
    fi
    bytes=$(stat -c %s "$copy")
    budget=$(budget_of "$key")
    status=ok
    if [ -z "$budget" ]; then
        status="no budget ($key)"
    elif [ "$bytes" -gt "$budget" ]; then
        status="OVER BUDGET by $((bytes - budget))"
        problems+=("$key: $bytes bytes > budget $budget")
    fi
    printf '%-32s %-22s %9s bytes  budget %-8s %s\n' "$target" "$build" "$bytes" "${budget:--}" "$status"
    rows+=("| $target | $toolchain | $build | $bytes | ${budget:--} | $status |")
    notes+=("- $target $build: $built bytes as built, $bytes after copy was $how.")
    if [ "${NO_HISTORY:-0}" != 1 ]; then
        [ -s "$HISTORY" ] || echo "date,git-rev,target,toolchain,build,bytes" > "$HISTORY"
        echo "$NOW,$REV,$target,${toolchain//,/;},$build,$bytes" >> "$HISTORY"
    fi
}

not_built() { # target toolchain build why
    printf '%-32s %-22s %s\n' "$1" "$3" "$4"
    rows+=("| $1 | $2 | $3 | - | - | $4 |")
}

# --- stable release builds -------------------------------------------------
STABLE=$(rustc +stable -V)
installed=$(rustup target list --installed --toolchain stable)

stable_build() { # arch target what-to-say-when-missing
    local arch=$1 target=$2 missing=$3
    if ! grep -qx "$target" <<<"$installed"; then
        # Try once; armv7 musl is a 404 on rustup's servers for 1.95, for example.
        if ! rustup target add --toolchain stable "$target" >"$SCRATCH/rustup.log" 2>&1; then
            not_built "$target" "$STABLE" "stable release" "$missing"
            if [ "$arch" = x86_64 ]; then
                # The tests then run a static glibc build (.ci/run); measure
                # that one too, against no budget: it is not what ships.
                echo "size-report: WARNING: $target unavailable; measuring the static glibc build" >&2
                cargo +stable build --quiet --release --target x86_64-unknown-linux-gnu
                record x86_64-gnu x86_64-unknown-linux-gnu "$STABLE" "stable release, static glibc" \
                    "$TARGET_DIR/x86_64-unknown-linux-gnu/release/cella"
            fi
            return
        fi
    fi
    if cargo +stable build --quiet --release --target "$target"; then
        record "$arch-stable" "$target" "$STABLE" "stable release" "$TARGET_DIR/$target/release/cella"
    else
        [ "$arch" = x86_64 ] && { echo "size-report: the x86_64 stable build failed" >&2; exit 1; }
        not_built "$target" "$STABLE" "stable release" "BUILD FAILED"
        problems+=("$target: stable build failed")
    fi
}

stable_build x86_64  x86_64-unknown-linux-musl      "not installed"
# What the OCI runtime costs: the same build without the `oci` feature
# (`cella run` and `cella init` only, the initramfs build).
if grep -qx x86_64-unknown-linux-musl <<<"$installed" &&
    cargo +stable build --quiet --release --target x86_64-unknown-linux-musl --no-default-features \
        --target-dir "$TARGET_DIR/size-nooci"; then
    record x86_64-stable-nooci x86_64-unknown-linux-musl "$STABLE" "stable release, no oci feature" \
        "$TARGET_DIR/size-nooci/x86_64-unknown-linux-musl/release/cella"
fi
stable_build aarch64 aarch64-unknown-linux-musl     "not installed"
stable_build armv7   armv7-unknown-linux-musleabihf "target unavailable"

# --- armv7 without a rustup std --------------------------------------------
# rustup has no std for armv7 musl on this toolchain: build-armv7.sh rebuilds
# std with nightly against Debian's musl for armhf (the N6 flags). It is held
# to the same budget as a stable build.
if ! grep -qx armv7-unknown-linux-musleabihf <<<"$installed"; then
    if rustup toolchain list | grep '^nightly' >/dev/null && size-report/build-armv7.sh "$TARGET_DIR"; then
        record armv7-stable armv7-unknown-linux-musleabihf "$(rustc +nightly -V)" "nightly build-std (N6)" \
            "$TARGET_DIR/armv7-unknown-linux-musleabihf/release/cella"
    else
        not_built armv7-unknown-linux-musleabihf "-" "nightly build-std (N6)" "no nightly or no musl-dev:armhf"
    fi
fi

# --- the smallest build (nightly) ------------------------------------------
# build-std recompiles std optimised for size; immediate-abort drops the panic
# machinery (a panic becomes a trap instruction, printing nothing);
# location-detail=none drops file:line strings; relocation-model=static makes
# a non-PIE binary. See ../shared/reference/size.md.
# The flags go through --config rather than RUSTFLAGS: RUSTFLAGS would replace
# .cargo/config.toml's target rustflags (+crt-static, --icf=all), while --config
# arrays are appended to them.
NIGHTLY_BUILD="nightly minimal, no oci feature"
MIN_FLAGS='["-Zunstable-options", "-Cpanic=immediate-abort", "-Zlocation-detail=none", "-Crelocation-model=static"]'
if rustup toolchain list | grep '^nightly' >/dev/null &&   # not -q: an early exit would SIGPIPE rustup under pipefail
    rustup component add rust-src --toolchain nightly >"$SCRATCH/rustup.log" 2>&1 &&
    rustup target add --toolchain nightly x86_64-unknown-linux-musl >>"$SCRATCH/rustup.log" 2>&1; then
    NIGHTLY=$(rustc +nightly -V)
    if cargo +nightly build --quiet --release --target x86_64-unknown-linux-musl --no-default-features \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
        --config "target.x86_64-unknown-linux-musl.rustflags=$MIN_FLAGS" \
        --target-dir "$TARGET_DIR/size-nightly"; then
        record x86_64-nightly-min x86_64-unknown-linux-musl "$NIGHTLY" "$NIGHTLY_BUILD" \
            "$TARGET_DIR/size-nightly/x86_64-unknown-linux-musl/release/cella"
    else
        # Nightly moves under our feet; its breakage is reported, not fatal.
        echo "size-report: WARNING: the nightly build failed" >&2
        not_built x86_64-unknown-linux-musl "$NIGHTLY" "$NIGHTLY_BUILD" "nightly build failed"
    fi
else
    not_built x86_64-unknown-linux-musl "-" "$NIGHTLY_BUILD" "nightly unavailable"
fi

# --- report ----------------------------------------------------------------
{
    echo "# cella binary sizes"
    echo
    echo "Written by \`size-report/report.sh\` on $NOW at $REV. Static musl binaries,"
    echo "release profile, sizes in bytes of a stripped copy. Budgets: \`size-report/budget.txt\`;"
    echo "every run is appended to \`size-report/history.csv\`."
    echo
    echo "| target | toolchain | build | bytes | budget | status |"
    echo "|---|---|---|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "\"$NIGHTLY_BUILD\": nightly with \`-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size\`"
    echo "and \`-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -C relocation-model=static\`"
    echo "(panics abort silently with SIGILL)."
    echo
    printf '%s\n' "${notes[@]}"
} > "$SIZES"
echo "size-report: wrote $SIZES"

if [ ${#problems[@]} -gt 0 ]; then
    printf 'size-report: FAILED: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "size-report: every binary built is within budget"
