#!/usr/bin/env bash
# Build cella (and the test probe) for armv7-unknown-linux-musleabihf.
#
#   size-report/build-armv7.sh [TARGET_DIR]
#
# rustup has no prebuilt std for this target on the pinned toolchain (its
# download is a 404), so std is rebuilt from source with nightly
# -Zbuild-std (rust-src) and linked with rust-lld against Debian's musl for
# armhf (musl-dev:armhf) instead of rustup's self-contained copy. Panics are
# a trap instruction (immediate-abort), which needs no unwinder: the empty
# libunwind.a only satisfies std's `-lunwind`. 32-bit ARM Linux has 4 KiB
# pages, so segments need not be padded to lld's default 64 KiB. These are the flags of
# size.md's smallest build (N6), so the result is that build for armv7.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${1:-target}
MUSL=/usr/lib/arm-linux-musleabihf
[ -e "$MUSL/libc.a" ] || { echo "build-armv7: $MUSL/libc.a missing: apt-get install musl-dev:armhf" >&2; exit 1; }
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
STUBS=$(mktemp -d)
trap 'rm -rf "$STUBS"' EXIT
ar rc "$STUBS/libunwind.a"
RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -C relocation-model=static \
-C target-feature=+crt-static -C link-self-contained=no -L $MUSL -L $STUBS \
-C link-arg=$MUSL/crt1.o -C link-arg=$MUSL/crti.o -C link-arg=$MUSL/crtn.o -C link-arg=--icf=all \
-C link-arg=-zmax-page-size=4096" \
    cargo +nightly build --quiet --release --target armv7-unknown-linux-musleabihf \
    -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
    --bin cella --example probe --target-dir "$TARGET_DIR"
