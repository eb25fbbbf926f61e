//! A safe API over llama.cpp, built from the pinned source by `llama-cpp-sys`.
//!
//! One module per concept: [`Model`] (loading and metadata) and its vocabulary,
//! [`ContextParams`] and [`Context`] (decode, KV cache operations, state save/load),
//! the KV cache types and per-layer layouts, chat templates, [`Sampling`] and streaming
//! generation (a callback form and an `Iterator` form), with per-generation
//! [`Stats`] and a per-context [`MemoryReport`].
//!
//! ```
//! use edge_infer_llama::{ChatMessage, Context, ContextParams, GenerateOptions, Model, Sampling};
//! # fn main() -> edge_infer_llama::Result<()> {
//! # let path = xtask::default_model().unwrap();
//! let model = Model::load(path, &Default::default())?; // e.g. gemma-3-270m-q4_k_m.gguf
//! let mut ctx = Context::new(&model, &ContextParams::default().n_ctx(2048))?;
//! let prompt = model.apply_chat_template(&[ChatMessage::user("Say hi")], true)?;
//! let mut sampler = Sampling::default().temperature(0.7).seed(1).build(&model)?;
//! let stats = ctx.generate_with(&prompt, &mut sampler, GenerateOptions::default().max_tokens(16), |text| {
//!     print!("{text}");
//!     std::ops::ControlFlow::Continue(())
//! })?;
//! println!("\nTTFT {:?}, {:.1} t/s", stats.time_to_first_token, stats.decode_tokens_per_second());
//! assert!(stats.generated_tokens > 0);
//! # Ok(()) }
//! ```
//!
//! Thread safety: a [`Model`] is `Send + Sync` (share it with `Arc`); a [`Context`]
//! borrows its model, is `Send` but not `Sync`; a [`CancelHandle`] is `Send + Sync`.
//! llama.cpp's log goes to the `log` crate under target `llama.cpp` (its INFO lines at
//! debug level), so it is silent unless the application installs a logger.
//!
//! Every llama.cpp entry point that can throw a C++ exception is called through a shim
//! that catches it ([`Error::Exception`]); bad input is refused before llama.cpp sees it
//! wherever llama.cpp would abort instead. Escape hatches to llama.cpp's own types are in
//! [`raw`].
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod backend;
mod cancel;
mod chat;
mod context;
mod decode;
mod error;
mod generate;
mod kv;
mod memory;
mod model;
mod params;
pub mod raw;
mod sampling;
mod shim;
mod state;
mod token;
mod vocab;

pub use backend::{build_profile, cpu_features, system_info};
pub use cancel::CancelHandle;
pub use chat::{
    apply_template, json_schema_to_grammar, ChatDelta, ChatGrammar, ChatMessage, ChatOutcome,
    ChatParser, ChatPrompt, ChatRequest, ChatSampler, ChatStream, ChatTemplate, GrammarTrigger,
    ParsedCall, ParsedMessage, ReasoningFormat, TemplateInfo, ThinkingTags, Tool, ToolCall,
    ToolCallProblem, ToolChoice,
};
pub use context::Context;
pub use edge_infer_base::cpu::{big_cores, default_threads};
pub use error::{Error, Result};
pub use generate::{
    Detokenizer, Event, GenerateOptions, Generation, Prompt, SamplerRef, Stats, StopReason,
};
pub use kv::{FlashAttention, KvLayerSummary, KvLayers, KvType, LayerCache, LayerKv};
pub use memory::MemoryReport;
pub use model::{Model, ModelParams};
pub use params::ContextParams;
pub use sampling::{Sampler, Sampling};
pub use token::Token;
