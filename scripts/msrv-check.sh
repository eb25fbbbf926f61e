#!/usr/bin/env bash
# Checks the workspace with its declared MSRV (`rust-version` in Cargo.toml), using the
# committed Cargo.lock: `cargo check` of every target (libraries, tests, examples, benches,
# build scripts), with DOCS_RS=1 so that llama.cpp's native build is skipped (the build
# scripts still compile, and run, with the old toolchain). Installs the toolchain with
# rustup when it is missing.
#
# Usage: scripts/msrv-check.sh [--libs]   (--libs: the published libraries only; cheaper)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
msrv=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
v = {p["rust_version"] for p in json.load(sys.stdin)["packages"] if p["publish"] != []}
if len(v) != 1:
    sys.exit(f"the published crates declare different rust-versions: {sorted(map(str, v))}")
print(v.pop())
')
rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal
what=(--workspace --all-targets)
if [ "${1:-}" = --libs ]; then
    what=()
    for p in $(cargo metadata --no-deps --format-version 1 |
        python3 -c 'import json,sys; print(*[p["name"] for p in json.load(sys.stdin)["packages"] if p["publish"] != []])'); do
        what+=(-p "$p")
    done
    what+=(--lib)
fi
echo "msrv-check: rust-version $msrv: cargo +$msrv check --locked ${what[*]}"
DOCS_RS=1 CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/msrv \
    cargo "+$msrv" check --locked "${what[@]}"
echo "msrv-check: ok with Rust $msrv"
