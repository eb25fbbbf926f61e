//! Streaming generation: a callback form and an `Iterator` form over one engine.

mod engine;
mod options;
mod stats;
mod text;

pub use engine::{stream_text_path, Event, Generation};
pub use options::{GenerateOptions, Prompt};
pub use stats::{Stats, StopReason};
