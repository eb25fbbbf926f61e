//! A safe API over llama.cpp, built from the pinned source by `llama-cpp-sys`.
//!
//! One module per concept: [`Model`] (loading and metadata) and its vocabulary,
//! [`ContextParams`] and [`Context`] (decode, KV cache operations, state save/load),
//! the KV cache types and per-layer layouts, chat templates, [`Sampling`] and streaming
//! generation (a callback form and an `Iterator` form), with per-generation
//! [`Stats`] and a per-context [`MemoryReport`].
//!
//! ```no_run
//! use edge_infer_llama::{ChatMessage, Context, ContextParams, GenerateOptions, Model, Sampling};
//! # fn main() -> edge_infer_llama::Result<()> {
//! let model = Model::load("gemma-3-270m-q4_k_m.gguf", &Default::default())?;
//! let mut ctx = Context::new(&model, &ContextParams::default().n_ctx(2048))?;
//! let prompt = model.apply_chat_template(&[ChatMessage::user("Say hi")], true)?;
//! let mut sampler = Sampling::default().temperature(0.7).seed(1).build(&model)?;
//! let stats = ctx.generate_with(&prompt, &mut sampler, GenerateOptions::default().max_tokens(64), |text| {
//!     print!("{text}");
//!     std::ops::ControlFlow::Continue(())
//! })?;
//! println!("\nTTFT {:?}, {:.1} t/s", stats.time_to_first_token, stats.decode_tokens_per_second());
//! # Ok(()) }
//! ```
//!
//! Thread safety: a [`Model`] is `Send + Sync` (share it with `Arc`); a [`Context`]
//! borrows its model, is `Send` but not `Sync`; a [`CancelHandle`] is `Send + Sync`.
//! llama.cpp's log goes to the `log` crate under target `llama.cpp` (its INFO lines at
//! debug level), so it is silent unless the application installs a logger.
#![warn(missing_docs)]

mod backend;
mod cancel;
mod chat;
mod context;
mod cpu;
mod decode;
mod error;
mod generate;
mod kv;
mod memory;
mod model;
mod params;
mod sampling;
mod state;
mod token;
mod vocab;

pub use backend::{build_profile, cpu_features, system_info};
pub use cancel::CancelHandle;
pub use chat::{apply_template, ChatMessage};
pub use context::Context;
pub use cpu::{big_cores, default_threads};
pub use error::{Error, Result};
pub use generate::{
    stream_text_path, Event, GenerateOptions, Generation, Prompt, Stats, StopReason,
};
pub use kv::{FlashAttention, KvLayerSummary, KvLayers, KvType, LayerCache, LayerKv};
pub use memory::MemoryReport;
pub use model::{Model, ModelParams};
pub use params::ContextParams;
pub use sampling::{Sampler, Sampling};
pub use token::Token;
