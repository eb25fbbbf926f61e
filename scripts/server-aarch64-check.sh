#!/usr/bin/env bash
# The server is the program users run on the board: build it for aarch64 (the rk3588-ready
# default profile) and run it under `qemu-aarch64 -cpu cortex-a76` (SIGILL on anything the
# A76 lacks) over the built-in registry: /health, /v1/models, one short chat completion on
# the default model, and SIGTERM exits 0. Needs scripts/install-cross.sh first.
# Timings under qemu mean nothing; that it answers does.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
cargo build --release --target $target -p edge-infer-server --bin edge-infer-server
bin=target/$target/release/edge-infer-server
model=$(cargo xtask fetch-model)
port=${PORT:-18190}
log=$(mktemp)
EDGE_INFER_MODEL=$model qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu "$bin" --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
url=http://127.0.0.1:$port
for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health" || true)" = 200 ] && break
    kill -0 $pid 2>/dev/null || { cat "$log"; echo "server-aarch64-check: the server exited" >&2; exit 1; }
    sleep 0.2
done
curl -sf "$url/v1/models" | grep -q '"gemma-3-270m"' || { cat "$log"; echo "server-aarch64-check: /v1/models" >&2; exit 1; }
reply=$(curl -sf --max-time 600 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"gemma-3-270m","max_tokens":4,"messages":[{"role":"user","content":"Hello"}]}') || {
    cat "$log"; echo "server-aarch64-check: the chat completion failed" >&2; exit 1; }
printf '%s\n' "$reply" | grep -q '"object":"chat.completion"' &&
    printf '%s\n' "$reply" | grep -Eq '"completion_tokens":[1-4][,}]' || { printf '%s\n' "$reply"; cat "$log"; exit 1; }
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { cat "$log"; echo "server-aarch64-check: exit $rc after SIGTERM" >&2; exit 1; }
echo "server-aarch64-check: the aarch64 server answered under qemu -cpu cortex-a76 and exited 0 on SIGTERM"
