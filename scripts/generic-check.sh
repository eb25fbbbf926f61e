#!/usr/bin/env bash
# Proves the generic x86-64 profile (x86-64-v3: AVX2, FMA, F16C, BMI2; no AVX-512, no AMX)
# runs on every x86-64 host it may be copied to:
#  1. builds the stream example and the host_isa test with LLAMA_CPP_PROFILE=generic;
#  2. runs both on this host (whatever it has: AVX-512, AMX, ...);
#  3. runs both under `qemu-x86_64 -cpu Haswell`, a CPU without AVX-512, where any AVX-512
#     instruction is SIGILL;
#  4. shows that the check has teeth: the native build, which uses this host's AVX-512,
#     must die with SIGILL under the same emulated CPU (skipped on hosts without AVX-512).
# Needs qemu-user (scripts/install-cross.sh installs it). Timings under qemu mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${GENERIC_TARGET_DIR:-target/generic}
QEMU="qemu-x86_64 -cpu Haswell"
t0=$(date +%s)

echo "== 1. generic build"
export LLAMA_CPP_PROFILE=generic
CARGO_TARGET_DIR=$dir cargo build --release -p edge-infer-examples --example stream
test_bin=$(CARGO_TARGET_DIR=$dir cargo test --release -p edge-infer-llama --test host_isa --no-run 2>&1 |
    sed -n 's/.*Executable tests\/host_isa.rs (\(.*\))/\1/p')
[ -x "$test_bin" ] || { echo "generic-check: no host_isa test binary" >&2; exit 1; }
unset LLAMA_CPP_PROFILE

stream() { "$@" -n 4 --seed 1 --prompt "The capital of France is" --raw 2>&1 | tail -2; }
echo "== 2. on this host"
"$test_bin" --test-threads 1
stream "$dir/release/examples/stream" | tee /tmp/generic-host.txt
grep -q '^stats: ' /tmp/generic-host.txt

echo "== 3. under $QEMU (no AVX-512)"
$QEMU "$test_bin" --test-threads 1
stream $QEMU "$dir/release/examples/stream" | tee /tmp/generic-qemu.txt
grep -q '^stats: ' /tmp/generic-qemu.txt

echo "== 4. the native build must fail under $QEMU"
if grep -qw avx512f /proc/cpuinfo && [ -x target/release/examples/stream ]; then
    set +e
    $QEMU target/release/examples/stream -n 1 --seed 1 >/dev/null 2>&1
    rc=$?
    set -e
    if [ $rc -ne 132 ]; then
        echo "generic-check: the native (AVX-512) build exited $rc under $QEMU, expected SIGILL (132)" >&2
        exit 1
    fi
    echo "caught: the native build dies with SIGILL without AVX-512"
else
    echo "skipped: this host has no AVX-512, or target/release/examples/stream is not built"
fi
echo "generic-check: all passed in $(( $(date +%s) - t0 )) s"
