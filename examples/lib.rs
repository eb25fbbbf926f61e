//! Helpers shared by the examples.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

/// The model to use: the given path, or the default model (fetched on first use).
pub fn model_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Ok(xtask::default_model()?),
    }
}

/// Loads a model with a progress bar on stderr.
pub fn load_model(path: &std::path::Path) -> anyhow::Result<llama_cpp::Model> {
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
    let model = llama_cpp::Model::load_with_progress(path, &Default::default(), |p| {
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
