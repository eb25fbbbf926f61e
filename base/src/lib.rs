//! Building blocks shared by the edge-infer crates, below both backends (llama.cpp on the
//! CPU, RKLLM on the NPU), so that both behave the same where they do the same thing:
//!
//! - [`text`]: streamed bytes to text (UTF-8 reassembly with one invalid-byte policy) and
//!   a hold-back scanner for stop strings and markers;
//! - [`file`](mod@file): model-file prechecks (missing, empty, a Git LFS pointer, wrong magic);
//! - [`cpu`]: CPU lists, the big cores of a big.LITTLE CPU, and pinning a thread;
//! - [`panic`](mod@panic): the text of a caught panic, for errors raised at an FFI boundary;
//! - [`StopReason`]: why a generation ended, the one type every layer reports.
//!
//! It depends on no other edge-infer crate.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cpu;
mod error;
pub mod file;
pub mod panic;
pub mod rate;
mod stop;
pub mod text;

pub use error::{Error, Result};
pub use stop::StopReason;
