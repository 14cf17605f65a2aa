#!/usr/bin/env bash
# Build cella's release binaries, record their sizes, and fail over budget.
#
#   size-report/report.sh            build, print, write sizes.md, check budgets
#   RECORD=1 size-report/report.sh   also append the figures to history.csv
#
# Builds: the stable release for each musl target that is installed
# (x86_64 must build), and the smallest build the toolchain allows (nightly
# -Zbuild-std with immediate-abort, size.md's N6) when nightly is present.
# Binaries are already stripped by the release profile; sizes are bytes on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

budget_of() { awk -v k="$1" '$1 == k { print $2 }' size-report/budget.txt; }
stable=$(rustc -V)
rows=()
over=0

record() { # key target toolchain build file
    local key=$1 target=$2 toolchain=$3 build=$4 file=$5 bytes budget status
    bytes=$(stat -c %s "$file")
    budget=$(budget_of "$key")
    status=ok
    if [ -n "$budget" ] && [ "$bytes" -gt "$budget" ]; then
        status="OVER BUDGET"
        over=1
    fi
    printf '%-36s %-28s %9s bytes (budget %s) %s\n' "$target $build" "$toolchain" "$bytes" "${budget:--}" "$status"
    rows+=("| $target | $build | $toolchain | $bytes | ${budget:--} | $status |")
    if [ "${RECORD:-0}" = 1 ]; then
        echo "$(date -u +%F),$(git rev-parse --short HEAD),$target,$toolchain,$build,$bytes" >> size-report/history.csv
    fi
}

missing() { # target build why
    printf '%-36s %s\n' "$1 $2" "$3"
    rows+=("| $1 | $2 | - | - | - | $3 |")
}

installed=$(rustup target list --installed 2>/dev/null || true)

# Stable release builds, with the settings of Cargo.toml and .cargo/config.toml.
for pair in x86_64:x86_64-unknown-linux-musl aarch64:aarch64-unknown-linux-musl armv7:armv7-unknown-linux-musleabihf; do
    arch=${pair%%:*}
    target=${pair#*:}
    if ! grep -qx "$target" <<<"$installed"; then
        missing "$target" "stable release" "target not installable here"
        if [ "$arch" = x86_64 ]; then
            # Still report a figure: the static glibc build the tests then use
            # (no budget applies; it is not the shipped binary).
            echo "WARNING: x86_64 musl unavailable; measuring the static glibc build instead"
            cargo build --quiet --release --target x86_64-unknown-linux-gnu
            record x86_64-gnu x86_64-unknown-linux-gnu "$stable" "stable release, static glibc" \
                target/x86_64-unknown-linux-gnu/release/cella
        fi
        continue
    fi
    cargo build --quiet --release --target "$target"
    record "$arch-stable" "$target" "$stable" "stable release" "target/$target/release/cella"
done

# The smallest build: nightly std rebuilt for size, panics as a trap
# instruction, no location strings, non-PIE (see ../shared/reference/size.md).
if rustup toolchain list | grep -q '^nightly'; then
    rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
    rustup target add --toolchain nightly x86_64-unknown-linux-musl >/dev/null 2>&1 || true
    nightly=$(rustc +nightly -V)
    if RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -C relocation-model=static -C target-feature=+crt-static -C link-arg=--icf=all" \
        cargo +nightly build --quiet --release --target x86_64-unknown-linux-musl \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
        --target-dir target/size-nightly; then
        record x86_64-nightly-min x86_64-unknown-linux-musl "$nightly" "nightly minimal (N6)" \
            target/size-nightly/x86_64-unknown-linux-musl/release/cella
    else
        missing x86_64-unknown-linux-musl "nightly minimal (N6)" "nightly build failed"
    fi
else
    missing x86_64-unknown-linux-musl "nightly minimal (N6)" "no nightly toolchain"
fi

{
    echo "# cella binary sizes"
    echo
    echo "Written by \`size-report/report.sh\` on $(date -u +%F) at $(git rev-parse --short HEAD)."
    echo "Static, stripped, bytes on disk. Budgets: \`size-report/budget.txt\`."
    echo
    echo "| target | build | toolchain | bytes | budget | status |"
    echo "|---|---|---|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
} > size-report/sizes.md

if [ "$over" = 1 ]; then
    echo "size-report: a binary is over its budget (size-report/budget.txt)"
    exit 1
fi
echo "size-report: all binaries within budget"
