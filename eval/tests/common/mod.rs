//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod stub_server;

/// Whether this aarch64 test binary runs under qemu-user on an x86-64 host (qemu passes
/// the host's /proc/cpuinfo through). There the `edge-eval` binary cannot be spawned (no
/// binfmt handler for aarch64) and a full suite on the default model is too slow
/// emulated; native runs and the board cover both.
pub fn emulated() -> bool {
    cfg!(target_arch = "aarch64")
        && std::fs::read_to_string("/proc/cpuinfo")
            .map(|s| s.contains("GenuineIntel") || s.contains("AuthenticAMD"))
            .unwrap_or(false)
}
