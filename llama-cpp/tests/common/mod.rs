#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use edge_infer_llama::{ContextParams, Model};

/// The default model, loaded once per test binary and shared (Model is Sync).
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = xtask::default_model().expect("fetch the default model");
        Model::load(path, &Default::default()).expect("load the default model")
    })
}

/// Small contexts keep the suite quick on a 2-core machine and under emulation.
pub fn params() -> ContextParams {
    ContextParams::default()
        .n_ctx(512)
        .n_batch(256)
        .n_ubatch(256)
        .n_threads(2)
}

pub const PROMPT: &str = "The capital of France is";

/// Whether this aarch64 test binary runs under qemu-user on an x86-64 host (qemu passes
/// the host's /proc/cpuinfo through). Timing-heavy workloads shrink there.
pub fn emulated() -> bool {
    cfg!(target_arch = "aarch64")
        && std::fs::read_to_string("/proc/cpuinfo")
            .map(|s| s.contains("GenuineIntel") || s.contains("AuthenticAMD"))
            .unwrap_or(false)
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pinned llama.cpp tree in the cache, as llama-cpp-sys's build script names it.
pub fn pinned_tree() -> PathBuf {
    xtask::pinned_llama_tree()
}
