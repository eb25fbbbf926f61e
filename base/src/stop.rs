//! Why a generation ended: one type for every layer, so that the llama.cpp crate, the
//! RKLLM path and the facade cannot drift apart.

/// Why a generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn (an end-of-generation token).
    EndOfGeneration,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The output reached this stop string (which is not emitted).
    StopString(String),
    /// A cancel handle, the callback, or dropping the stream stopped it.
    Cancelled,
    /// The context window filled up while generating.
    ContextFull,
}
