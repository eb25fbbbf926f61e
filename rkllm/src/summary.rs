//! How a run ended, and the events of an asynchronous run.

use std::time::Duration;

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

    /// Prompt tokens evaluated (the runtime's count; a negative one reads as 0).
    pub fn prompt_tokens(&self) -> usize {
        usize::try_from(self.prefill_tokens).unwrap_or(0)
    }

    /// Tokens generated (a negative count reads as 0).
    pub fn generated_tokens(&self) -> usize {
        usize::try_from(self.generate_tokens).unwrap_or(0)
    }

    /// Prompt evaluation time (negative or NaN reads as zero).
    pub fn prefill_time(&self) -> Duration {
        millis(self.prefill_time_ms)
    }

    /// Generation time.
    pub fn generate_time(&self) -> Duration {
        millis(self.generate_time_ms)
    }

    /// Peak resident memory in bytes.
    pub fn peak_memory_bytes(&self) -> u64 {
        (f64::from(self.memory_usage_mb.max(0.0)) * 1024.0 * 1024.0) as u64
    }
}

fn millis(ms: f32) -> Duration {
    // `max` maps NaN to 0 too; the runtime's f32 never reaches Duration's range limit.
    Duration::try_from_secs_f64(f64::from(ms.max(0.0)) / 1e3).unwrap_or(Duration::MAX)
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
    /// Text that only the end of the run completed: one U+FFFD when the run ended or paused
    /// inside a character (edge-infer-base's invalid-byte policy), else empty.
    /// [`Llm::generate`](crate::Llm::generate) appends it; a [`Llm::run`](crate::Llm::run)
    /// callback never sees it.
    pub trailing_text: String,
}

/// Events of an asynchronous run, owned (the runtime's buffers are copied).
#[derive(Debug)]
#[non_exhaustive]
pub enum AsyncEvent {
    /// Completed text of one or more tokens.
    Text { text: String, token_id: i32 },
    /// Logits (in [`InferMode::Logits`](crate::InferMode::Logits)).
    Logits(OwnedFloats),
    /// Last hidden layer (in [`InferMode::LastHiddenLayer`](crate::InferMode::LastHiddenLayer)).
    HiddenStates(OwnedFloats),
    /// The run finished (last event).
    Finished(RunSummary),
    /// The run failed (last event).
    Failed(crate::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_views_clamp_what_the_runtime_reports() {
        let p = PerfStats {
            prefill_time_ms: 12.5,
            prefill_tokens: 7,
            generate_time_ms: f32::NAN,
            generate_tokens: -1,
            memory_usage_mb: 1.5,
        };
        assert_eq!(p.prompt_tokens(), 7);
        assert_eq!(p.generated_tokens(), 0);
        assert!((p.prefill_time().as_secs_f64() - 0.0125).abs() < 1e-9);
        assert_eq!(p.generate_time(), Duration::ZERO);
        assert_eq!(p.peak_memory_bytes(), 1_572_864);
        let negative = PerfStats {
            prefill_time_ms: -3.0,
            memory_usage_mb: -1.0,
            ..p
        };
        assert_eq!(negative.prefill_time(), Duration::ZERO);
        assert_eq!(negative.peak_memory_bytes(), 0);
    }
}
