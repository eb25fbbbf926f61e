//! Which runtime runs a model: a name that the registry, errors and generators share.

use std::fmt;

use serde::Deserialize;

/// Which runtime runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// llama.cpp on the CPU (GGUF files).
    Llama,
    /// Rockchip's RKLLM runtime on the NPU (`.rkllm` files).
    Rkllm,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Llama => "llama.cpp, CPU",
            BackendKind::Rkllm => "RKLLM, NPU",
        })
    }
}
