//! Helpers shared by the examples.

use std::path::PathBuf;

#[path = "bench_support.rs"]
pub mod bench;

use indicatif::{ProgressBar, ProgressStyle};

/// The model to use: the given path, or the default model (fetched on first use).
pub fn model_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Ok(xtask::default_model()?),
    }
}

/// Fetches the default model into the cache when a model of `registry` says
/// `file = "default"`: edge-infer only looks for it there (or at `EDGE_INFER_MODEL`).
pub fn fetch_default_model_for(registry: &edge_infer::Registry) -> anyhow::Result<()> {
    let uses_default = registry.models().iter().any(|m| {
        registry
            .model(m)
            .is_some_and(|c| c.file() == edge_infer::DEFAULT_MODEL_FILE)
    });
    if uses_default {
        xtask::default_model()?;
    }
    Ok(())
}

/// Loads a model with a progress bar on stderr.
pub fn load_model(path: &std::path::Path) -> anyhow::Result<edge_infer_llama::Model> {
    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("loading {msg} [{bar:40}] {percent}%")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let model = edge_infer_llama::Model::load_with_progress(path, &Default::default(), |p| {
        bar.set_position((p * 100.0) as u64);
        true
    });
    bar.finish_and_clear();
    Ok(model?)
}

/// Formats a byte count in MiB.
pub fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// CPU features the Cortex-A76 (RK3588's big cores) has, as llama.cpp names them.
pub const A76_HAS: &[&str] = &["NEON", "ARM_FMA", "FP16_VA", "DOTPROD"];
/// Features llama.cpp may be built with that the Cortex-A76 lacks: code using them
/// dies with SIGILL on the board.
pub const A76_LACKS: &[&str] = &[
    "MATMUL_INT8",
    "SVE",
    "SVE_CNT",
    "SVE2",
    "SME",
    "SME2",
    "BF16",
];

/// Checks llama.cpp's compiled-in CPU features against the Cortex-A76. `required` are
/// the features the profile must have (at least NEON, ARM_FMA and DOTPROD). Returns
/// the problems found.
pub fn check_a76_features(features: &[(String, String)], required: &[&str]) -> Vec<String> {
    let on = |name: &str| features.iter().any(|(k, v)| k == name && v != "0");
    let mut problems = Vec::new();
    for f in required {
        if !on(f) {
            problems.push(format!("{f} is missing: the rk3588 profile must enable it"));
        }
    }
    for f in A76_LACKS {
        if on(f) {
            problems.push(format!(
                "{f} is enabled, but the Cortex-A76 does not have it (SIGILL on the board)"
            ));
        }
    }
    problems
}
