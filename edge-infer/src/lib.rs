//! One [`Generator`] API over llama.cpp (CPU) and RKLLM (NPU), with model profiles,
//! fallback routing and multi-turn chat sessions.
//!
//! * [`Registry`]: models (backend, file, context, threads, CPU placement, K/V cache
//!   types, RKLLM CPU mask) and profiles (`fast`, `default`, `quality`, ...: ordered model
//!   lists), from a TOML file ([`Registry::load`]) or built in ([`Registry::builtin`]).
//! * [`Registry::open_profile`]: opens the first model of a profile that works and
//!   reports which one served and why the others were skipped ([`RouteReport`]).
//! * [`Generator`]: the same [`Request`] (messages, [`Sampling`], max tokens, stop strings,
//!   tools JSON) and the same [`Event`]s (text, reasoning, `Done` with [`Stats`]) on both
//!   backends; consumed as an iterator, with a callback, collected, or (feature `async`)
//!   as a `Stream`. [`CancelHandle`] stops either backend from any thread.
//! * Reasoning (`<think>…</think>`, Gemma's thought channel, harmony's analysis channel)
//!   is dropped, kept inline, or streamed as [`Event::Reasoning`], by
//!   [`ReasoningMode`], even when a marker is split across tokens. Markers made of control
//!   tokens (which llama.cpp drops from text) are rendered for the splitter, and only
//!   those; [`Request::reasoning_markers`] sets other markers.
//! * [`Request::grammar`] constrains a reply to a GBNF grammar on the llama.cpp backend.
//! * [`ChatSession`]: multi-turn chat that reuses the KV cache between turns, with a
//!   [`ContextPolicy`] for when the context fills.
//!
//! ```
//! use edge_infer::{ChatSession, Event, Registry, Request, Sampling};
//! # fn main() -> edge_infer::Result<()> {
//! let registry = Registry::builtin(); // or Registry::load("edge-infer.toml")?
//! let routed = registry.open_profile("fast")?; // NPU model, else the CPU fallback
//! println!("{}", routed.report);
//! let mut chat = ChatSession::new(routed.generator)
//!     .settings(Request::default().sampling(Sampling::default().temperature(0.7)).max_tokens(16));
//! let stats = chat.send_with("Hello!", &mut |event| {
//!     if let Event::Text(t) = event {
//!         print!("{t}");
//!     }
//!     std::ops::ControlFlow::Continue(())
//! })?;
//! println!("\n{stats}");
//! # Ok(()) }
//! ```
//!
//! CPU placement: llama.cpp models run on a worker thread pinned (`sched_setaffinity`)
//! to the model's `cores` (default: the big cores found from `cpu_capacity` in sysfs,
//! 4–7 on RK3588) before its first decode, so llama.cpp's OpenMP threads, which inherit
//! the mask of the thread that starts them, run there too. RKLLM models take a CPU mask
//! (default `0xF0`).
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod backend_kind;
mod cancel;
mod config;
mod error;
mod event;
mod generator;
mod llama;
mod memory;
mod npu;
mod output;
pub mod reasoning;
mod request;
mod router;
mod runtime;
mod session;
mod stats;
mod stream;
mod tools;
mod worker;

pub use cancel::CancelHandle;
pub use config::{BackendKind, LlamaModel, ModelConfig, Registry, RkllmModel, DEFAULT_MODEL_FILE};
/// The llama.cpp cache and attention types that [`LlamaModel`] holds.
pub use edge_infer_llama::{FlashAttention, KvLayers, KvType};
pub use error::{Error, ModelError, Result, Skipped};
pub use event::{Completion, Event};
pub use generator::{Generator, ModelInfo};
pub use memory::{EstimateSource, MemoryEstimate};
pub use reasoning::{Markers, ReasoningMode};
pub use request::{ContextPolicy, Message, Request, Role, Sampling};
pub use router::{RouteReport, Routed};
pub use runtime::RuntimeSettings;
pub use session::ChatSession;
pub use stats::{Stats, StopReason};
#[cfg(feature = "async")]
pub use stream::AsyncEventStream;
pub use stream::EventStream;
pub use tools::{ResponseFormat, Tool, ToolCall, ToolChoice, Warning};

/// Compile-time checks of the documented thread-safety.
#[allow(dead_code)]
fn _assert_thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<CancelHandle>();
    send_sync::<Registry>();
    send::<Box<dyn Generator>>();
    send::<ChatSession>();
}
