#!/usr/bin/env bash
# Cross-checks the kv_quality harness against llama.cpp's own llama-perplexity.
#
# Builds llama-perplexity (cmake, LLAMA_BUILD_TOOLS=ON) from the pinned llama.cpp tree
# with llama-cpp-sys/patches/ applied -- the same sources edge-infer-llama-sys builds -- then computes the
# KL divergence of uniform q8_0 and q4_0 KV caches from an f16 cache on the same text,
# with the same chunking as `cargo run --release --example kv_quality` (-c 1024, 8 chunks,
# first token of each chunk -> BOS, second half scored).
#
#   scripts/kv-perplexity-crosscheck.sh            # build (once) and run
#   KV_TOOLS_DIR=/tmp/kv-tools scripts/...         # where the tree, build and outputs go
#   KV_TEXT=/path/to/text KV_CTX=1024 KV_CHUNKS=8 KV_THREADS=2   # evaluation settings
#
# The default text is the Debian FAQ from Debian's debian-faq package
# (apt-get install debian-faq), the same as kv_quality's default.
#
# Nothing it builds or writes is committed: everything goes to $KV_TOOLS_DIR
# (default: target/kv-tools). Needs cmake and a C++ compiler; about 5 minutes of
# compiling on 2 cores the first time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${KV_TOOLS_DIR:-$ROOT/target/kv-tools}
TEXT=${KV_TEXT:-/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz}
CTX=${KV_CTX:-1024}
CHUNKS=${KV_CHUNKS:-8}
THREADS=${KV_THREADS:-2}
JOBS=${KV_JOBS:-2}

pin() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" "$ROOT/llama-cpp-sys/llama-cpp.pin"; }
VERSION=$(pin version)
SHA=$(pin sha256)

if [[ -n "${EDGE_INFER_CACHE_DIR:-}" ]]; then
    CACHE=$EDGE_INFER_CACHE_DIR
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    CACHE=$XDG_CACHE_HOME/edge-infer
else
    CACHE=$HOME/.cache/edge-infer
fi
PINNED=$CACHE/llama.cpp/$VERSION-${SHA:0:12}

if [[ ! -f "$PINNED/.edge-infer-verified" ]]; then
    echo "the pinned llama.cpp tree is not in $PINNED; build edge-infer-llama-sys once (cargo build -p edge-infer-llama-sys) to fetch it" >&2
    exit 1
fi

# 1. A patched copy of the pinned tree (the cache stays pristine).
SRC=$TOOLS/llama.cpp
STAMP=$SRC/.edge-infer-patched
WANT=$(cd "$ROOT" && sha256sum llama-cpp-sys/patches/*.patch 2>/dev/null; echo "$PINNED")
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    rm -rf "$SRC"
    mkdir -p "$TOOLS"
    cp -r "$PINNED" "$SRC"
    for p in "$ROOT"/llama-cpp-sys/patches/*.patch; do
        [[ -e "$p" ]] || continue
        echo "applying $(basename "$p")"
        patch -p1 --forward --batch --silent -d "$SRC" -i "$p"
    done
    echo "$WANT" > "$STAMP"
fi

# 2. llama-perplexity, Release, native CPU features (as edge-infer-llama-sys's native profile).
BUILD=$TOOLS/build
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CCACHE=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF >/dev/null
cmake --build "$BUILD" --target llama-perplexity -j "$JOBS" >/dev/null
PPL=$(find "$BUILD" -name llama-perplexity -type f -perm -u+x | head -1)
echo "llama-perplexity: $PPL"

# 3. The default model (or EDGE_INFER_MODEL).
MODEL=${EDGE_INFER_MODEL:-$(cd "$ROOT" && cargo run -q -p xtask -- fetch-model)}

# 4. f16 base logits, then the KL divergence of q8_0 and q4_0.
if [[ "$TEXT" == *.gz ]]; then
    gzip -dc "$TEXT" > "$TOOLS/text.txt"
    TEXT=$TOOLS/text.txt
fi
BASE=$TOOLS/f16-c$CTX.kld
common=(-m "$MODEL" -f "$TEXT" -c "$CTX" -b "$CTX" -t "$THREADS" -fa on --chunks "$CHUNKS")
"$PPL" "${common[@]}" -ctk f16 -ctv f16 --kl-divergence-base "$BASE" > "$TOOLS/f16.log" 2>&1
grep -E "Final estimate" "$TOOLS/f16.log" || tail -3 "$TOOLS/f16.log"
for t in q8_0 q4_0; do
    "$PPL" "${common[@]}" -ctk "$t" -ctv "$t" --kl-divergence-base "$BASE" --kl-divergence \
        > "$TOOLS/$t.log" 2>&1
    echo "== $t"
    sed -n '/====== Perplexity statistics ======/,/Same top p/p' "$TOOLS/$t.log" \
        | grep -E "Mean PPL\(Q\)|Mean    KLD|99.0%   KLD|Same top p"
done
echo "logs in $TOOLS/*.log"
