//! How a run ended, and the events of an asynchronous run.
use crate::chunk::OwnedFloats;

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

impl PerfStats {
    pub(crate) fn from_raw(p: &edge_infer_rkllm_sys::RKLLMPerfStat) -> Self {
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
    /// From FINISH; `None` when no FINISH came (a pause, or an abort after which the
    /// runtime sent none).
    pub perf: Option<PerfStats>,
    /// The run was paused ([`Control::Pause`](crate::Control::Pause) or [`AsyncRun::pause`](crate::AsyncRun::pause)).
    pub paused: bool,
    /// This run was aborted (by its own abort, never another run's).
    pub aborted: bool,
    /// An incomplete character left when the run ended or paused (its first bytes; not
    /// valid UTF-8 on their own, not replaced).
    pub trailing_invalid: Vec<u8>,
}

/// Events of an asynchronous run, owned (the runtime's buffers are copied).
#[derive(Debug)]
#[non_exhaustive]
pub enum AsyncEvent {
    /// Completed text of one or more tokens.
    Text { text: String, token_id: i32 },
    /// Bytes that can never form valid UTF-8.
    InvalidBytes(Vec<u8>),
    /// Logits (in [`InferMode::Logits`](crate::InferMode::Logits)).
    Logits(OwnedFloats),
    /// Last hidden layer (in [`InferMode::LastHiddenLayer`](crate::InferMode::LastHiddenLayer)).
    HiddenStates(OwnedFloats),
    /// The run finished (last event).
    Finished(RunSummary),
    /// The run failed (last event).
    Failed(crate::Error),
}
