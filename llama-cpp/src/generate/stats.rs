//! Why a generation ended, and its timings.

use std::time::Duration;

pub use edge_infer_base::StopReason;

/// Timings and counts of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Tokens evaluated for the prompt (after any cached prefix).
    pub prompt_tokens: usize,
    /// Tokens generated (not counting an end-of-generation token).
    pub generated_tokens: usize,
    /// From the call to the first generated token's text.
    pub time_to_first_token: Duration,
    /// Prompt evaluation time.
    pub prefill_time: Duration,
    /// From the first generated token to the last.
    pub decode_time: Duration,
    /// Why it stopped.
    pub stop_reason: StopReason,
}

impl Stats {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        edge_infer_base::rate::tokens_per_second(self.prompt_tokens, self.prefill_time)
    }
    /// Generated tokens per second, over the intervals between generated tokens.
    pub fn decode_tokens_per_second(&self) -> f64 {
        edge_infer_base::rate::tokens_per_second(
            self.generated_tokens.saturating_sub(1),
            self.decode_time,
        )
    }
}
