//! Safe, version-aware wrapper over Rockchip's RKLLM NPU runtime (`librkllmrt`).
//!
//! * [`Llm::builder`] runs up-front checks (model file, context length, CPU mask, NPU device
//!   node, the runtime's embedded version against the ABI this crate targets) and then
//!   initialises the model.
//! * [`Llm::run`] streams into a `FnMut` on the calling thread; [`Llm::run_async`] delivers
//!   owned [`AsyncEvent`]s over a channel. [`AbortHandle`] stops a run from any thread.
//! * Text is reassembled across the runtime's WAITING calls; logits and hidden states are
//!   borrowed for the callback only ([`Floats`]) or copied out.
//!
//! The runtime is 1.3.x by default; the `abi-1-2` feature targets 1.2.x. Tests and examples
//! run against edge-infer's *test double* (`rkllm-test-double`), a fake librkllmrt — see
//! README.md.
//!
//! ```
//! # use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
//! # let abi = if cfg!(feature = "abi-1-2") { Abi::V1_2 } else { Abi::V1_3 };
//! # let dir = TempDir::new("doc-lib").unwrap();
//! # let model = FakeModel::default().reply("4").write(dir.path().join("m.rkllm")).unwrap();
//! use edge_infer_rkllm::{Input, Llm, RunOptions, Runtime};
//! let llm = Llm::builder(&model).runtime(Runtime::load(library_path(abi))?).build()?;
//! let run = llm.run_async(&Input::prompt("2+2?"), &RunOptions::new())?;
//! let (text, summary) = run.wait()?;
//! assert_eq!(text, "4");
//! assert!(summary.perf.is_some());
//! # Ok::<(), edge_infer_rkllm::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

pub mod checks;
mod error;
mod input;
mod llm;
mod param;
mod run;
pub mod runtime;
#[cfg(feature = "tokenizer")]
pub mod tokenizer;
pub mod tools;
mod utf8;

pub use checks::{Check, HostChecks};
pub use edge_infer_rkllm_sys::{AbiGeneration, EmbeddedVersion, RuntimeVersion};
pub use error::{Error, Result};
pub use input::{Input, InputKind, Role};
pub use llm::{AbortHandle, AsyncRun, Llm};
pub use param::{LlmBuilder, Sampling, RK3588_A76_MASK};
pub use run::{
    AsyncEvent, CallState, Chunk, Control, Floats, InferMode, OwnedFloats, PerfStats, RunOptions,
    RunSummary,
};
pub use runtime::{Runtime, VersionCheck};
#[cfg(feature = "tokenizer")]
pub use tokenizer::Tokenizer;

/// Compile-time checks that the public handle types are thread-safe as documented.
#[allow(dead_code)]
fn _assert_thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Llm>();
    send_sync::<AbortHandle>();
    send_sync::<Runtime>();
    fn send<T: Send>() {}
    send::<AsyncRun>();
}
