//! What a generation counted and timed, and why it ended.

use std::time::Duration;

pub use edge_infer_base::StopReason;

/// Timings and counts of one generation. Times are `Duration`s; rates are derived.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Prompt tokens evaluated by this generation (after any reused history).
    pub prompt_tokens: usize,
    /// Prompt tokens reused from the KV cache instead of being evaluated again.
    pub cached_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// From the request to the first generated token.
    pub time_to_first_token: Duration,
    /// Prompt evaluation time.
    pub prefill_time: Duration,
    /// Generation time after the first token.
    pub decode_time: Duration,
    /// Peak resident memory of the process (VmHWM) after the generation, where known.
    pub peak_memory_bytes: Option<u64>,
    /// Oldest messages dropped to fit the context ([`ContextPolicy::DropOldest`](crate::ContextPolicy)).
    pub dropped_messages: usize,
    /// Oldest messages folded into the running summary before this turn
    /// ([`ContextPolicy::Fold`](crate::ContextPolicy::Fold), in a `ChatSession`).
    pub folded_messages: usize,
    /// Why it ended.
    pub stop_reason: StopReason,
}

impl Stats {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        edge_infer_base::rate::tokens_per_second(self.prompt_tokens, self.prefill_time)
    }
    /// Generated tokens per second (over the intervals between generated tokens).
    pub fn decode_tokens_per_second(&self) -> f64 {
        edge_infer_base::rate::tokens_per_second(
            self.generated_tokens.saturating_sub(1),
            self.decode_time,
        )
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "prompt {} tok (+{} cached), generated {} tok, TTFT {:.1} ms, prefill {:.1} t/s, decode {:.1} t/s",
            self.prompt_tokens,
            self.cached_tokens,
            self.generated_tokens,
            self.time_to_first_token.as_secs_f64() * 1e3,
            self.prefill_tokens_per_second(),
            self.decode_tokens_per_second()
        )?;
        if let Some(m) = self.peak_memory_bytes {
            write!(f, ", peak RSS {:.1} MiB", m as f64 / (1024.0 * 1024.0))?;
        }
        if self.dropped_messages > 0 {
            write!(f, ", dropped {} old messages", self.dropped_messages)?;
        }
        if self.folded_messages > 0 {
            write!(
                f,
                ", folded {} old messages into the summary",
                self.folded_messages
            )?;
        }
        write!(f, ", stop: {:?}", self.stop_reason)
    }
}

/// Peak resident memory of this process (VmHWM from `/proc/self/status`), if readable.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
