#!/usr/bin/env bash
# Proves that every publishable crate builds from its package alone (issue 11):
#  1. `cargo package` for every publishable crate of the workspace (list and dependency
#     order from `cargo metadata`, so new crates are picked up without editing this);
#  2. unpacks the .crate files and builds, outside the workspace, a scratch consumer that
#     depends on all of them through `[patch.crates-io]` (as an app would once they are
#     published), with an EMPTY cache dir, so the packaged edge-infer-llama-sys must fetch
#     llama.cpp's sources itself;
#  3. runs the consumer's own test, then the consumer: it streams from the default model
#     through edge-infer's built-in registry (`file = "default"`).
#
# The model is handed over through EDGE_INFER_MODEL (fetched by `cargo xtask fetch-model`
# into the developer's cache): fetching models is the workspace's job, not the packages'.
#
# Usage: scripts/package-check.sh [--verify] [--keep]
#   --verify  let `cargo package` verify-build each crate too (slow: llama.cpp is compiled
#             once per crate that depends on it); the consumer build proves the same.
#   --keep    keep the work dir (default: target/package-check, removed first each run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
verify=--no-verify
keep=0
for a in "$@"; do
    case $a in
        --verify) verify= ;;
        --keep) keep=1 ;;
        *) echo "usage: $0 [--verify] [--keep]" >&2; exit 2 ;;
    esac
done
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET_DIR/package-check
rm -rf "$WORK"
mkdir -p "$WORK/crates" "$WORK/cache" "$WORK/consumer/src"

# Publishable workspace crates (publish is not false), dependencies first. Normal and build
# dependencies order them; dev-dependencies are stripped from packages unless versioned.
mapfile -t crates < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
m = json.load(sys.stdin)
pub = {p["name"]: p for p in m["packages"] if p["publish"] != []}
order, seen = [], set()
def visit(n, path=()):
    if n in seen:
        return
    if n in path:
        sys.exit("dependency cycle: " + " -> ".join(path + (n,)))
    for d in pub[n]["dependencies"]:
        if d["name"] in pub and d["kind"] in (None, "build"):
            visit(d["name"], path + (n,))
    seen.add(n)
    order.append(n)
for n in sorted(pub):
    visit(n)
for n in order:
    print(n, pub[n]["version"])
')
echo "package-check: ${#crates[@]} publishable crates, in dependency order:"
printf '  %s\n' "${crates[@]}"

args=()
for c in "${crates[@]}"; do args+=(-p "${c% *}"); done
# One invocation: cargo packages them in this order, and resolves each one's dependencies
# on the others against the packages it just made (they are not on crates.io yet).
cargo package $verify --allow-dirty "${args[@]}"

deps=""
patches=""
for c in "${crates[@]}"; do
    name=${c% *} version=${c#* }
    tar -xzf "$TARGET_DIR/package/$name-$version.crate" -C "$WORK/crates"
    deps+="$name = \"$version\""$'\n'
    patches+="$name = { path = \"../crates/$name-$version\" }"$'\n'
done
# Nothing may write into a package's sources while it builds.
sums() { (cd "$WORK/crates" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
sums >"$WORK/before.sha256"

cat >"$WORK/consumer/Cargo.toml" <<EOF
# A scratch app outside the edge-infer workspace, made by scripts/package-check.sh.
[package]
name = "edge-infer-consumer"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$deps
[patch.crates-io]
$patches
EOF
cat >"$WORK/consumer/src/main.rs" <<'EOF'
//! Streams a short reply from the default model through edge-infer's built-in registry.
use edge_infer::{Event, Registry, Request, Sampling, Stats};

fn stream(prompt: &str, max_tokens: usize) -> Result<(String, Stats), edge_infer::Error> {
    let routed = Registry::builtin().open_profile("default")?;
    let mut generator = routed.generator;
    let request = Request::user(prompt)
        .sampling(Sampling::greedy())
        .max_tokens(max_tokens);
    let mut text = String::new();
    for event in generator.stream(&request)? {
        match event? {
            Event::Text(t) => {
                print!("{t}");
                text.push_str(&t);
            }
            Event::Done(stats) => return Ok((text, stats)),
            // Reasoning, tool calls, warnings (Event is non-exhaustive).
            _ => {}
        }
    }
    unreachable!("a stream ends with Event::Done")
}

fn main() -> Result<(), edge_infer::Error> {
    println!("llama.cpp profile: {}", edge_infer_llama_sys::BUILD_PROFILE);
    let (_, stats) = stream("The capital of France is", 16)?;
    println!("\nconsumer stats: {stats}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn streams_tokens_from_the_packaged_crates() {
        let (text, stats) = super::stream("Once upon a time", 8).unwrap();
        assert_eq!(stats.generated_tokens, 8, "{stats}");
        assert!(stats.prompt_tokens > 0, "{stats}");
        assert!(!text.trim().is_empty(), "no text in {stats}");
    }
}
EOF

model=$(cargo xtask fetch-model)
echo "package-check: model handed over as EDGE_INFER_MODEL=$model; cache dir $WORK/cache (empty)"
cd "$WORK/consumer"
export EDGE_INFER_CACHE_DIR=$WORK/cache EDGE_INFER_MODEL=$model
CARGO_TARGET_DIR=$WORK/target cargo test
CARGO_TARGET_DIR=$WORK/target cargo run -q

tree=$(find "$WORK/cache/llama.cpp" -maxdepth 2 -name .edge-infer-verified | head -1)
[ -n "$tree" ] || { echo "package-check: the packaged sys crate fetched nothing into $WORK/cache"; exit 1; }
echo "package-check: the packaged edge-infer-llama-sys fetched $(cat "$tree")"
sums >"$WORK/after.sha256"
cmp -s "$WORK/before.sha256" "$WORK/after.sha256" || {
    diff "$WORK/before.sha256" "$WORK/after.sha256" | head
    echo "package-check: building changed files inside the unpacked packages"
    exit 1
}
echo "package-check: ok (${#crates[@]} crates packaged; consumer built, tested and ran from them)"
[ "$keep" = 1 ] || rm -rf "$WORK"
