//! Per-run options and what a run delivers.
use crate::param::Sampling;
use std::path::PathBuf;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InferMode {
    /// Generate text (default).
    #[default]
    Generate,
    /// Return the last hidden layer for the prompt (embeddings).
    LastHiddenLayer,
    /// Return logits for the prompt.
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
/// assert!(o.get_keep_history());
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
    pub fn get_keep_history(&self) -> bool {
        self.keep_history
    }
}

/// What the callback tells the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Keep going.
    #[default]
    Continue,
    /// Stop now, keeping the KV cache; a later run resumes.
    Pause,
}

/// Whether a chunk completed its token's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// A whole token.
    Normal,
    /// Part of a character; its bytes continue in the next call (held back from `text`).
    Waiting,
}

/// A row-major `num_tokens × width` block of floats borrowed from the runtime for one
/// callback. It cannot outlive the callback:
///
/// ```compile_fail
/// fn keep(llm: &edge_infer_rkllm::Llm) {
///     let mut kept: Option<&[f32]> = None;
///     let opts = edge_infer_rkllm::RunOptions::new().mode(edge_infer_rkllm::InferMode::Logits);
///     llm.run(&edge_infer_rkllm::Input::prompt("hi"), &opts, |chunk| {
///         kept = chunk.logits().map(|l| l.as_slice()); // error: borrowed data escapes
///         edge_infer_rkllm::Control::Continue
///     }).unwrap();
/// }
/// ```
/// Copy it out instead with [`to_owned`](Floats::to_owned):
/// ```
/// fn keep(llm: &edge_infer_rkllm::Llm) -> Option<edge_infer_rkllm::OwnedFloats> {
///     let mut kept = None;
///     let opts = edge_infer_rkllm::RunOptions::new().mode(edge_infer_rkllm::InferMode::Logits);
///     llm.run(&edge_infer_rkllm::Input::prompt("hi"), &opts, |chunk| {
///         kept = chunk.logits().map(|l| l.to_owned());
///         edge_infer_rkllm::Control::Continue
///     }).ok()?;
///     kept
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Floats<'a> {
    data: &'a [f32],
    width: usize,
    num_tokens: usize,
}

impl<'a> Floats<'a> {
    pub(crate) fn new(data: &'a [f32], width: usize, num_tokens: usize) -> Self {
        Floats {
            data,
            width,
            num_tokens,
        }
    }
    /// All values, row-major.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
    /// Row width (vocab size for logits, embedding size for hidden states).
    pub fn width(&self) -> usize {
        self.width
    }
    /// Number of rows (tokens).
    pub fn num_tokens(&self) -> usize {
        self.num_tokens
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        self.data.get(i * self.width..(i + 1) * self.width)
    }
    /// Copies the values out of the runtime's buffer.
    pub fn to_owned(&self) -> OwnedFloats {
        OwnedFloats {
            data: self.data.to_vec(),
            width: self.width,
            num_tokens: self.num_tokens,
        }
    }
}

/// An owned copy of [`Floats`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFloats {
    pub data: Vec<f32>,
    pub width: usize,
    pub num_tokens: usize,
}

/// One callback's output, valid only during the callback.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub(crate) text: &'a str,
    pub(crate) invalid: &'a [u8],
    pub(crate) token_id: i32,
    pub(crate) state: CallState,
    pub(crate) logits: Option<Floats<'a>>,
    pub(crate) hidden: Option<Floats<'a>>,
}

impl<'a> Chunk<'a> {
    /// Characters completed by this call (empty while a character is still split).
    pub fn text(&self) -> &'a str {
        self.text
    }
    /// Bytes that can never form valid UTF-8 (reported, not replaced).
    pub fn invalid_bytes(&self) -> &'a [u8] {
        self.invalid
    }
    /// The token id.
    pub fn token_id(&self) -> i32 {
        self.token_id
    }
    /// Whether the token's bytes were complete.
    pub fn state(&self) -> CallState {
        self.state
    }
    /// Logits (in [`InferMode::Logits`]).
    pub fn logits(&self) -> Option<Floats<'a>> {
        self.logits
    }
    /// Last hidden layer (in [`InferMode::LastHiddenLayer`]).
    pub fn hidden_states(&self) -> Option<Floats<'a>> {
        self.hidden
    }
}

/// Performance of a run, from its FINISH callback.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PerfStats {
    pub prefill_time_ms: f32,
    pub prefill_tokens: i32,
    pub generate_time_ms: f32,
    pub generate_tokens: i32,
    /// Peak resident memory (VmHWM), MB.
    pub memory_usage_mb: f32,
}

impl From<edge_infer_rkllm_sys::RKLLMPerfStat> for PerfStats {
    fn from(p: edge_infer_rkllm_sys::RKLLMPerfStat) -> Self {
        PerfStats {
            prefill_time_ms: p.prefill_time_ms,
            prefill_tokens: p.prefill_tokens,
            generate_time_ms: p.generate_time_ms,
            generate_tokens: p.generate_tokens,
            memory_usage_mb: p.memory_usage_mb,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSummary {
    /// From FINISH; `None` when the run was paused (no FINISH is sent then).
    pub perf: Option<PerfStats>,
    /// The callback returned [`Control::Pause`].
    pub paused: bool,
    /// An abort was requested while the run was in progress.
    pub aborted: bool,
    /// An incomplete character left when the run ended or paused (its first bytes; not
    /// valid UTF-8 on their own, not replaced).
    pub trailing_invalid: Vec<u8>,
}

/// Events of an asynchronous run, owned (the runtime's buffers are copied).
#[derive(Debug)]
pub enum AsyncEvent {
    /// Completed text of one or more tokens.
    Text { text: String, token_id: i32 },
    /// Bytes that can never form valid UTF-8.
    InvalidBytes(Vec<u8>),
    /// Logits (in [`InferMode::Logits`]).
    Logits(OwnedFloats),
    /// Last hidden layer (in [`InferMode::LastHiddenLayer`]).
    HiddenStates(OwnedFloats),
    /// The run finished (last event).
    Finished(RunSummary),
    /// The run failed (last event).
    Failed(crate::Error),
}
