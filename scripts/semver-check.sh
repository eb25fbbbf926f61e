#!/usr/bin/env bash
# Release step (README "Releasing"): cargo-semver-checks compares the public API of every
# published crate with a baseline and reports changes that need a bigger version bump.
#
# Usage: scripts/semver-check.sh [BASELINE]
#   BASELINE: a git revision (default: the newest tag v*), or `registry` to compare with
#   the versions on crates.io once the crates are published.
#
# Needs cargo-semver-checks (`cargo install cargo-semver-checks --locked`: it compiles from
# source: 85 min on the shared 2-core dev machine, 8.6 min of CPU time, which is why CI
# does not run this on every change). DOCS_RS=1: rustdoc JSON needs no native build of llama.cpp.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if ! cargo semver-checks --version >/dev/null 2>&1; then
    echo "semver-check: cargo-semver-checks is missing: cargo install cargo-semver-checks --locked" >&2
    exit 1
fi
base=${1:-$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)}
if [ -z "$base" ]; then
    echo "semver-check: no release tag v* yet; pass a baseline revision" >&2
    exit 2
fi
export DOCS_RS=1
# Only published crates have a semver contract.
args=()
for p in $(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(*[p["name"] for p in json.load(sys.stdin)["packages"] if p["publish"] != []])'); do
    args+=(-p "$p")
done
if [ "$base" = registry ]; then
    cargo semver-checks "${args[@]}"
else
    echo "semver-check: against $base ($(git rev-parse --short "$base"))"
    cargo semver-checks "${args[@]}" --baseline-rev "$base"
fi
