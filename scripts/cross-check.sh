#!/usr/bin/env bash
# Proves the RK3588 build right under emulation (issue: cross-compile for RK3588):
#  1. builds everything for aarch64-unknown-linux-gnu with the rk3588 profile;
#  2. instruction-set check: the build's llama.cpp features match a Cortex-A76, run
#     under `qemu-aarch64 -cpu cortex-a76` (SIGILL on anything the A76 lacks);
#  3. a build with a wrong profile (i8mm) is caught by the same check;
#  4. numerics: greedy tokens and first-position logits of the rk3588 build under qemu
#     agree with the native x86-64 build, for an f16 KV cache with and without flash attention.
# Usage: scripts/cross-check.sh [--skip-wrong-profile]
set -euo pipefail
cd "$(dirname "$0")/.."
T=aarch64-unknown-linux-gnu
QEMU="qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu"
out=${CROSS_CHECK_OUT:-target/cross-check}
mkdir -p "$out"
t0=$(date +%s)

echo "== 1. aarch64 build (rk3588 profile): every crate, example, test and bench"
cargo build --release --target $T --workspace --all-targets
t1=$(date +%s); echo "cross build: $((t1 - t0)) s"

echo "== 2. instruction-set check under $QEMU"
$QEMU target/$T/release/examples/isa_check

if [ "${1:-}" != "--skip-wrong-profile" ]; then
    echo "== 3. a wrong profile (armv8.6-a+dotprod+fp16+i8mm) must be caught"
    LLAMA_CPP_ARM_ARCH=armv8.6-a+dotprod+fp16+i8mm CARGO_TARGET_DIR=target/wrong-profile \
        cargo build --release --target $T -p edge-infer-examples --example isa_check
    set +e
    $QEMU target/wrong-profile/$T/release/examples/isa_check
    rc=$?
    set -e
    if [ $rc -eq 0 ]; then
        echo "FAIL: the i8mm build passed the instruction-set check" >&2
        exit 1
    fi
    echo "caught: the i8mm build fails the check (exit $rc)"
fi

echo "== 4. numerics: native x86-64 vs rk3588 under qemu"
cargo build --release -p edge-infer-examples --example numerics
# f16 KV with flash attention off runs ggml_vec_dot_f16, where fp16 accumulation was
# reported to overflow on the A76. (A q8_0 cache is not checked here: requantizing K/V
# to 8 bits turns the tiny cross-ISA differences into near-tie flips in 5 of 6 prompts;
# see README.)
for cfg in "f16 f16 auto" "f16 f16 off"; do
    set -- $cfg
    name="k$1-v$2-fa$3"
    target/release/examples/numerics dump "$out/native-$name.json" --ctk $1 --ctv $2 --fa $3
    $QEMU target/$T/release/examples/numerics dump "$out/a76-$name.json" --ctk $1 --ctv $2 --fa $3
    # Tolerances from measurement (docs in README): the same x86-64 build with flash
    # attention on vs off differs by up to 1.6 logits / KL 1.9e-2 at the first position
    # and parts greedy paths at near-ties (3 of 6 prompts); cross-ISA differences are of
    # the same size. Every divergence must be at a near-tie; how many prompts survive all
    # 32 tokens depends on the host's own kernels (3/6 and 4/6 on the dev machine's
    # AVX-512), so the floor is 2, below the same-build calibration.
    target/release/examples/numerics compare "$out/native-$name.json" "$out/a76-$name.json" \
        --tol 2.5 --kl-tol 0.05 --tie-gap 0.5 --min-agree 2
done
echo "cross-check: all passed in $(( $(date +%s) - t0 )) s"
