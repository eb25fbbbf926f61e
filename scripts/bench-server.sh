#!/usr/bin/env bash
# Side-by-side load bench: edge-infer-server vs llama.cpp's llama-server, both built from the
# same llama.cpp tree (the pinned sdist plus llama-cpp-sys/patches, as edge-infer-llama-sys
# patched it), serving the same model with the same context, threads, batch sizes, K/V
# types and one slot (--parallel 1, prompt cache on), benched interleaved by
# server/benches/load.rs. llama-server is built with cmake into a scratch directory outside
# the repository ($SCRATCH); nothing of it is committed.
#
#   scripts/bench-server.sh                      # ROUNDS=3 CLIENTS=4 REQUESTS=4 MAX_TOKENS=32
#   THREADS=4 CORES=4-7 ROUNDS=5 scripts/bench-server.sh   # on an RK3588
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
REQUESTS=${REQUESTS:-4}
MAX_TOKENS=${MAX_TOKENS:-32}
CTX=${CTX:-4096}
THREADS=${THREADS:-$(nproc)}
SCRATCH=${SCRATCH:-${EDGE_INFER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-infer}/llama-server-build}
OUT=${OUT:-target/bench-server}
mkdir -p "$OUT"

cargo build --release -p edge-infer-server
ours_bin=target/release/edge-infer-server

# The pinned tree in the cache (edge-infer-llama-sys fetched and verified it) plus our
# patches, applied in order as build.rs applies them, copied under $SCRATCH.
pin_get() { grep -E "^$1 *=" llama-cpp-sys/llama-cpp.pin | cut -d= -f2- | tr -d ' "'; }
cache=${EDGE_INFER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-infer}
tree=$cache/llama.cpp/$(pin_get version)-$(pin_get sha256 | cut -c1-12)
[ -f "$tree/tools/server/server.cpp" ] || { echo "no pinned tree at $tree: build edge-infer-llama-sys once" >&2; exit 1; }
stamp=$(cat llama-cpp-sys/llama-cpp.pin llama-cpp-sys/patches/*.patch | sha256sum | cut -c1-16)
src=$SCRATCH/src-$stamp
if [ ! -f "$src/.patched" ]; then
    rm -rf "$src" && mkdir -p "$SCRATCH" && cp -r "$tree" "$src"
    for p in llama-cpp-sys/patches/*.patch; do patch -p1 --forward --batch --silent -d "$src" <"$p"; done
    touch "$src/.patched"
fi
# Same configuration as edge-infer-llama-sys's native profile (AMX left out on x86-64 as
# its build.rs leaves it out, unless LLAMA_CPP_AMX=1), plus common and the server (without
# its web UI: nothing is downloaded or built with npm).
isa=""
if [ "$(uname -m)" = x86_64 ] && [ "${LLAMA_CPP_AMX:-0}" != 1 ]; then
    for f in -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -mno-amx-fp16 -mno-amx-complex; do
        echo 'int x;' | cc -x c -c -o /dev/null "$f" - 2>/dev/null && isa="$isa $f"
    done
fi
cmake -S "$src" -B "$SCRATCH/build-$stamp" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CCACHE=OFF -DGGML_BACKEND_DL=OFF \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DCMAKE_C_FLAGS="$isa" -DCMAKE_CXX_FLAGS="$isa" >"$OUT/cmake.log"
cmake --build "$SCRATCH/build-$stamp" --target llama-server -j "$(nproc)" >"$OUT/build.log"
lls=$SCRATCH/build-$stamp/bin/llama-server

model=$(cargo xtask fetch-model)
pin=()
[ -n "${CORES:-}" ] && pin=(taskset -c "$CORES")
cat >"$OUT/registry.toml" <<TOML
[profiles]
default = ["bench"]

[models.bench]
backend = "llama"
file = "$model"
context = $CTX
threads = $THREADS
cache_type_k = "f16"
cache_type_v = "f16"
TOML
port_ours=${PORT_OURS:-18180}
port_lls=${PORT_LLAMA:-18181}
"${pin[@]}" "$ours_bin" --config "$OUT/registry.toml" --port "$port_ours" --queue-size 64 >"$OUT/ours.log" 2>&1 &
ours_pid=$!
# llama-server: one slot, prompt cache on (its default), the GGUF's template (--jinja),
# full-size SWA cache as edge-infer uses for Gemma 3 (so a cached prefix can be reused).
"${pin[@]}" "$lls" -m "$model" -c "$CTX" -t "$THREADS" -tb "$THREADS" -b 2048 -ub 512 \
    -ctk f16 -ctv f16 -fa auto --swa-full -np 1 --jinja --host 127.0.0.1 --port "$port_lls" \
    >"$OUT/llama-server.log" 2>&1 &
lls_pid=$!
trap 'kill $ours_pid $lls_pid 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$port_ours" "http://127.0.0.1:$port_lls"; do
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health" || true)" = 200 ] && break
        sleep 0.2
    done
done
echo "bench-server: model $model, ctx $CTX, threads $THREADS${CORES:+ on cores $CORES}; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p edge-infer-server --bench load -- \
    --target "edge-infer=http://127.0.0.1:$port_ours" --target "llama-server=http://127.0.0.1:$port_lls" \
    --clients "$CLIENTS" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --rounds "$ROUNDS" | tee "$OUT/result.txt"
echo "bench-server: load after $(cut -d' ' -f1-3 /proc/loadavg)"
