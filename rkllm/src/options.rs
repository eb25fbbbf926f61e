//! Per-run options.
use crate::sampling::Sampling;
use std::path::PathBuf;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InferMode {
    /// Generate text (default).
    #[default]
    Generate,
    /// Return the last hidden layer: first for the prompt, then one row per generated token
    /// while the callback returns [`Control::Continue`](crate::Control::Continue).
    LastHiddenLayer,
    /// Return logits: first for the prompt's last token, then one row per generated token
    /// while the callback returns [`Control::Continue`](crate::Control::Continue).
    Logits,
}

impl InferMode {
    pub(crate) fn raw(self) -> edge_infer_rkllm_sys::RKLLMInferMode {
        match self {
            InferMode::Generate => edge_infer_rkllm_sys::RKLLM_INFER_GENERATE,
            InferMode::LastHiddenLayer => edge_infer_rkllm_sys::RKLLM_INFER_GET_LAST_HIDDEN_LAYER,
            InferMode::Logits => edge_infer_rkllm_sys::RKLLM_INFER_GET_LOGITS,
        }
    }
}

/// Options for one run.
///
/// ```
/// let o = edge_infer_rkllm::RunOptions::new().keep_history(true).lora("style");
/// assert!(o.keeps_history());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) mode: InferMode,
    pub(crate) keep_history: bool,
    pub(crate) lora: Option<String>,
    pub(crate) save_prompt_cache: Option<PathBuf>,
    pub(crate) sampling: Option<Sampling>,
    pub(crate) max_new_tokens: Option<i32>,
}

impl RunOptions {
    /// Defaults: generate, no history kept.
    pub fn new() -> Self {
        Self::default()
    }
    /// Inference mode.
    pub fn mode(mut self, mode: InferMode) -> Self {
        self.mode = mode;
        self
    }
    /// Keep this turn in the KV cache for the next run (multi-turn chat).
    pub fn keep_history(mut self, on: bool) -> Self {
        self.keep_history = on;
        self
    }
    /// Use the LoRA adapter loaded under `name`.
    pub fn lora(mut self, name: impl Into<String>) -> Self {
        self.lora = Some(name.into());
        self
    }
    /// Save the prompt's KV cache to `path` (load it later with `Llm::load_prompt_cache`).
    pub fn save_prompt_cache(mut self, path: impl Into<PathBuf>) -> Self {
        self.save_prompt_cache = Some(path.into());
        self
    }
    /// Sampling for this run only (1.3; a `NotInAbi` error on 1.2).
    pub fn sampling(mut self, s: Sampling) -> Self {
        self.sampling = Some(s);
        self
    }
    /// Generation limit for this run only (1.3; a `NotInAbi` error on 1.2).
    pub fn max_new_tokens(mut self, n: i32) -> Self {
        self.max_new_tokens = Some(n);
        self
    }
    /// Whether history is kept.
    pub fn keeps_history(&self) -> bool {
        self.keep_history
    }
}
