//! Streaming generation: a callback form and an `Iterator` form over one engine.

mod detokenize;
mod engine;
mod options;
mod sampler;
mod stats;

pub use detokenize::Detokenizer;
pub use engine::{Event, Generation};
pub use options::{GenerateOptions, Prompt};
pub use sampler::SamplerRef;
pub use stats::{Stats, StopReason};
