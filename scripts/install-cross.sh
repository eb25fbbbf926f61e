#!/usr/bin/env bash
# Installs what cross-compiling for RK3588 (aarch64) and testing under qemu needs:
# the Rust target, Debian's aarch64 C/C++ cross compilers, and qemu user-mode emulation.
set -euo pipefail
rustup target add aarch64-unknown-linux-gnu
need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
    sudo_=""
    [ "$(id -u)" -eq 0 ] || sudo_="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_ apt-get update -qq
    $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
fi
# `qemu-aarch64 -cpu help` exits 1 after printing the list, so capture it and ignore the status.
cpus=$(qemu-aarch64 -cpu help 2>&1 || true)
grep -qw cortex-a76 <<<"$cpus" || { echo "qemu-aarch64 has no cortex-a76 model; need qemu >= 7.1" >&2; exit 1; }
echo "cross prerequisites ready"
