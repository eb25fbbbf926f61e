//! Safe, version-aware wrapper over Rockchip's RKLLM NPU runtime (`librkllmrt`).
//!
//! * [`Llm::builder`] checks the model file ([`FileCheck`]) before anything else, then
//!   identifies the runtime file ([`Runtime`]: a known release by its git blob id, the test
//!   double, or an ABI you state), checks the host, initialises the model, and checks the
//!   runtime's own init log ([`InitLog`]) against what it was taken for.
//! * [`Llm::run`] streams into a `FnMut` on the calling thread; [`Llm::run_async`] delivers
//!   owned [`AsyncEvent`]s over a channel; [`Llm::run_batch`] runs `n_batch` inputs at once.
//!   Aborts belong to a run ([`AsyncRun::abort`]) or to whatever runs ([`AbortHandle`]).
//! * Inputs are validated against the model: token ids against the vocabulary, embedding
//!   and image rows against the hidden size, the prompt plus the cached history against
//!   the context.
//! * [`doctor`] checks a board before anything else runs on it.
//!
//! The ABI is 1.3.x by default; 1.2.x when `edge-infer-rkllm-sys` is built with `abi-1-2`
//! (this crate follows it, whichever crate enabled the feature). Tests and examples run
//! against edge-infer's *test double* (`rkllm-test-double`), a fake librkllmrt — see README.md.
//!
//! ```
//! # use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
//! # let abi = if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_2 { Abi::V1_2 } else { Abi::V1_3 };
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

mod abort;
mod async_run;
mod batch;
mod blocking;
mod builder;
mod callback;
pub mod checks;
mod chunk;
mod cross_attn;
mod cstr;
pub mod doctor;
#[cfg(not(rkllm_abi_1_2))]
mod embed;
mod error;
mod gate;
mod init_log;
mod input;
mod llm;
mod model_file;
mod options;
mod prepared;
mod release;
mod runtime;
mod sampling;
mod summary;
#[cfg(feature = "tokenizer")]
pub mod tokenizer;
pub mod tools;
mod version;

pub use abort::AbortHandle;
pub use async_run::AsyncRun;
pub use builder::{LlmBuilder, RK3588_A76_MASK};
pub use checks::{Check, HostChecks};
pub use chunk::{Chunk, Control, Floats, OwnedFloats};
pub use cross_attn::CrossAttention;
pub use error::{Error, Result, RuntimeLoadError};
pub use init_log::InitLog;
pub use input::{Images, Input, InputKind, Role, IMAGE_PLACEHOLDER};
pub use llm::Llm;
pub use model_file::{
    FileCheck, FileReport, Header, Problem, DEFAULT_CONVERSION_CONTEXT, MAX_CONTEXT_LEN,
};
pub use options::{InferMode, RunOptions};
pub use release::{git_blob_id, known_releases, Platform, Release};
pub use runtime::{AbiSource, Identity, Runtime, VersionCheck, ABI_ENV};
pub use sampling::Sampling;
pub use summary::{AsyncEvent, PerfStats, RunSummary};
#[cfg(feature = "tokenizer")]
pub use tokenizer::Tokenizer;
pub use version::{Abi, RuntimeVersion};

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
