#!/usr/bin/env bash
# Side-by-side: llama.cpp's own llama-bench vs edge-bench (this workspace's runner over the
# safe edge-infer-llama crate), built from the same llama.cpp tree with the same flags, run
# interleaved on the same model, threads and parameters. Prints ours / llama-bench for
# pp512 and tg128 per round and their mean and spread. llama-bench is built into target/
# from the tree edge-infer-llama-sys used (the pinned sdist plus llama-cpp-sys/patches); nothing of it
# is committed.
#
#   scripts/bench-side-by-side.sh            # ROUNDS=5 REPS=3 THREADS=<big cores>
#   ROUNDS=8 THREADS=4 CORES=4-7 scripts/bench-side-by-side.sh   # on an RK3588
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
REPS=${REPS:-3}
OUT=${OUT:-target/side-by-side}
mkdir -p "$OUT"

cargo build --release --bin edge-bench
ours=target/release/edge-bench
THREADS=${THREADS:-$(nproc)}

# The llama.cpp tree edge-infer-llama-sys built from (printed by its build script as cargo:src).
src=$(grep -h '^cargo:src=' target/release/build/edge-infer-llama-sys-*/output | tail -1 | cut -d= -f2-)
[ -f "$src/tools/llama-bench/llama-bench.cpp" ] || { echo "no llama-bench in $src" >&2; exit 1; }
build=target/llama-bench-build
# Same configuration as edge-infer-llama-sys's native profile, plus the tools.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CCACHE=OFF -DGGML_BACKEND_DL=OFF \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_OPENSSL=OFF >"$OUT/cmake.log"
cmake --build "$build" --target llama-bench -j "$(nproc)" >"$OUT/build.log"
lb=$build/bin/llama-bench

model=$(cargo xtask fetch-model)
pin=()
[ -n "${CORES:-}" ] && pin=(taskset -c "$CORES")
common=(-m "$model" -p 512 -n 128 -t "$THREADS" -r "$REPS" --batch-size 2048 --ubatch-size 512 --cache-type-k f16 --cache-type-v f16 -o json)
echo "model $model, threads $THREADS, $ROUNDS rounds x $REPS repetitions, pp512 and tg128"
for r in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first, so drift in machine state hits both alike.
    if [ $((r % 2)) -eq 1 ]; then
        "${pin[@]}" "$lb" "${common[@]}" >"$OUT/lb-$r.json" 2>/dev/null
        "${pin[@]}" "$ours" "${common[@]}" >"$OUT/ours-$r.json" 2>/dev/null
    else
        "${pin[@]}" "$ours" "${common[@]}" >"$OUT/ours-$r.json" 2>/dev/null
        "${pin[@]}" "$lb" "${common[@]}" >"$OUT/lb-$r.json" 2>/dev/null
    fi
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def ts(path):
    return {("pp%d" % t["n_prompt"]) if t["n_gen"] == 0 else ("tg%d" % t["n_gen"]): t["avg_ts"]
            for t in json.load(open(path))}
ratios = {"pp512": [], "tg128": []}
for r in range(1, rounds + 1):
    a, b = ts(f"{out}/ours-{r}.json"), ts(f"{out}/lb-{r}.json")
    for k in ratios:
        ratios[k].append(a[k] / b[k])
    print(f"round {r}: pp512 ours {a['pp512']:.2f} / llama-bench {b['pp512']:.2f} t/s = {a['pp512']/b['pp512']:.3f};"
          f" tg128 ours {a['tg128']:.2f} / llama-bench {b['tg128']:.2f} t/s = {a['tg128']/b['tg128']:.3f}")
for k, v in ratios.items():
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    print(f"{k}: ours / llama-bench = {statistics.mean(v):.3f} ± {sd:.3f} (min {min(v):.3f}, max {max(v):.3f}, {len(v)} rounds)")
PY
