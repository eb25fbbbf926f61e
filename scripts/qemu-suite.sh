#!/usr/bin/env bash
# The aarch64 test suite under `qemu-aarch64 -cpu cortex-a76` (the runner in
# .cargo/config.toml), in shards, so that CI can run it on 2 cores within its time limit.
#
# Under qemu the tests that generate with the default model run 20-50x slower than on
# x86-64, and the whole suite takes longer than all of the rest of CI together. So:
#  - the core runs every time: everything that needs no model (the RKLLM crates over the
#    test double, whose real runtime only exists on aarch64, the bindings, every unit
#    test) and the llama.cpp FFI tests on the default model;
#  - the rest is split into N shards by a hash of each test's name (stable as tests come
#    and go), and a run takes one of them: CI picks shard (commit count mod N) + 1 of the
#    head it runs on, so the shards rotate as main moves. No single run proves them all,
#    and heads N commits apart get the same shard; `--all` (before a release) runs all;
#  - one test runs only with `--all`: the context-folding conversation of edge-infer's chat
#    suite generates several turns and took over 900 s under qemu alone. It is Rust logic
#    over the decode that the other tests cover; the native suite runs it every time.
# Measured on an AMD EPYC (2 cores, nothing else running): the core 318 s (130 s of it
# rebuilding 4 crates and listing), shard 1/3 856 s; shard 2/3 had passed 24 of 25 tests
# when the folding test had been running for 900 s. With 3 shards the whole of CI took
# 4161 s there, over its 60-minute target: hence 5 shards (about 500 s each, expected).
# The server and the harness are not run here: they are architecture-independent Rust
# over edge-infer, and their HTTP suites under qemu would cost far more than they prove.
# nextest runs each test in its own process, both cores busy, and skips doctests (their
# aarch64 binaries are each a full link against llama.cpp; the native run covers them).
#
# Usage: scripts/qemu-suite.sh [--shard K/N | --all]   (needs scripts/install-cross.sh and
# the aarch64 release build of scripts/cross-check.sh, which this reuses)
set -euo pipefail
cd "$(dirname "$0")/.."
T=aarch64-unknown-linux-gnu
N=${QEMU_SUITE_SHARDS:-5}
mode=${1:-}
case "$mode" in
    --all) shards=$(seq 1 "$N") ;;
    --shard) shards=${2%%/*}; N=${2##*/} ;;
    "") shards=$(( $(git rev-list --count HEAD 2>/dev/null || echo 0) % N + 1 )) ;;
    *) echo "usage: $0 [--shard K/N | --all]" >&2; exit 2 ;;
esac

not_here='package(edge-infer-server) | package(edge-infer-eval)'
heavy='test(=a_long_conversation_folds_into_a_summary_and_reuses_the_cache_afterwards)'
[ "$mode" = --all ] && heavy='none()'
core='package(edge-infer-rkllm) | package(edge-infer-rkllm-sys) | package(rkllm-test-double)
    | package(edge-infer-llama-sys) | package(edge-infer-base) | package(edge-infer-cache)
    | kind(lib) | binary(model) | binary(bad_input) | binary(soundness) | binary(host_isa)
    | binary(decode) | binary(log) | binary(alloc)'
# Same package selection and target kinds as the cross build: nothing is rebuilt.
run() {
    cargo nextest run --release --target $T --workspace --no-fail-fast \
        --test-threads "$(nproc)" --failure-output final "$@"
}
t0=$(date +%s)
echo "== core (every run)"
run -E "not ($not_here) & ($core)"
echo "core: $(( $(date +%s) - t0 )) s"
for k in $shards; do
    t1=$(date +%s)
    echo "== shard $k/$N of the rest"
    run -E "not ($not_here) & not ($core) & not ($heavy)" --partition "hash:$k/$N"
    echo "shard $k/$N: $(( $(date +%s) - t1 )) s"
done
echo "qemu-suite: passed in $(( $(date +%s) - t0 )) s"
