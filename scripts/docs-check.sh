#!/usr/bin/env bash
# Builds every publishable crate's docs the way docs.rs does (DOCS_RS=1, the features of
# its [package.metadata.docs.rs], `--cfg docsrs`), on a machine stripped of what docs.rs
# lacks, inside a private mount and network namespace (needs root, as CI and dev here):
#   - no network (a new network namespace; cargo runs --offline from the local registry);
#   - PATH holds the Rust toolchain and nothing else: no cmake, no C/C++ compiler, no
#     clang, except `cc` as a stub that only links (rustc needs a linker for build scripts
#     and proc macros) and refuses any compile: a build script that compiled C fails here;
#   - no libclang (an empty tmpfs over /usr/lib/llvm-*);
#   - an empty edge-infer cache (EDGE_INFER_CACHE_DIR, and a tmpfs over ~/.cache/edge-infer);
#   - a fresh target dir, so nothing built earlier is reused.
# Dependencies must already be in cargo's local registry (`cargo fetch` runs first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET_DIR/docs-check
if [ "${1:-}" != --inside ]; then
    rm -rf "$WORK"
    mkdir -p "$WORK/stubs" "$WORK/cache"
    cargo fetch -q # the registry must hold every dependency before the network goes
    exec unshare --mount --net --fork "$0" --inside
fi

mount --make-rprivate /
for d in /usr/lib/llvm-*; do [ -d "$d" ] && mount -t tmpfs none "$d"; done
if [ -d "$HOME/.cache/edge-infer" ]; then mount -t tmpfs none "$HOME/.cache/edge-infer"; fi

log=$WORK/stubs/calls.log
: >"$log"
{
    echo '#!/bin/sh'
    echo '# Link only: refuse compiling, preprocessing or assembling anything.'
    echo 'for a in "$@"; do'
    echo '    case "$a" in'
    echo '        -c|-E|-S|*.c|*.cc|*.cpp|*.cxx|*.C|*.s|*.S)'
    echo "            echo \"refused: cc \$*\" >>'$log'"
    echo '            echo "docs-check: refused a compile: cc $*" >&2; exit 1 ;;'
    echo '    esac'
    echo 'done'
    echo "echo \"link: cc (\$# args)\" >>'$log'"
    echo 'PATH=/usr/bin:/bin exec /usr/bin/gcc "$@"'
} >"$WORK/stubs/cc"
chmod +x "$WORK/stubs/cc"

# The crates and their docs.rs features, read while python3 is still on PATH.
mapfile -t crates < <(cargo metadata --offline --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["publish"] == []:
        continue
    d = ((p.get("metadata") or {}).get("docs") or {}).get("rs") or {}
    args = []
    if d.get("all-features"):
        args.append("--all-features")
    if d.get("no-default-features"):
        args.append("--no-default-features")
    if d.get("features"):
        args += ["--features", ",".join(d["features"])]
    print(p["name"], *args)
')

# From here on, PATH is the Rust toolchain and the link-only cc.
export PATH=$WORK/stubs:$HOME/.cargo/bin
for tool in cmake g++ c++ clang clang++ gcc python3; do
    if command -v "$tool" >/dev/null; then
        echo "docs-check: $tool is still on PATH" >&2
        exit 1
    fi
done
if /bin/ls /usr/lib/llvm-*/lib/libclang* >/dev/null 2>&1; then
    echo "docs-check: libclang is still visible" >&2
    exit 1
fi
if (exec 3<>/dev/tcp/1.1.1.1/443) 2>/dev/null; then
    echo "docs-check: the network is reachable" >&2
    exit 1
fi
echo "docs-check: no cmake, compilers, clang, libclang or network; cache $WORK/cache (empty)"

export DOCS_RS=1 EDGE_INFER_CACHE_DIR=$WORK/cache CARGO_TARGET_DIR=$WORK/target
export RUSTDOCFLAGS="--cfg docsrs"
unset CMAKE_C_COMPILER_LAUNCHER CMAKE_CXX_COMPILER_LAUNCHER LIBCLANG_PATH
for line in "${crates[@]}"; do
    read -r -a c <<<"$line"
    echo "docs-check: DOCS_RS=1 cargo doc --no-deps -p ${c[*]}"
    cargo doc --offline --no-deps -q -p "${c[@]}"
    if [ ! -f "$WORK/target/doc/${c[0]//-/_}/index.html" ]; then
        echo "docs-check: no docs for ${c[0]}" >&2
        exit 1
    fi
done
if /bin/grep -q '^refused' "$log"; then
    echo "docs-check: something needed a C compiler:" >&2
    /bin/grep '^refused' "$log" >&2
    exit 1
fi
echo "docs-check: ok: ${#crates[@]} crates documented; $(/bin/grep -c '^link' "$log") link-only cc calls (build scripts, proc macros), no compile"
