//! Escape hatches to llama.cpp's own types, for calls this crate does not wrap.
//!
//! Nothing here is needed for ordinary use. What you do with a raw value is a contract
//! with llama.cpp, not with this crate: the pointers stay owned by the safe value they
//! came from, and changing state behind its back (a context's KV cache, say) can leave it
//! out of step. Each item says what it tolerates. The raw calls themselves go through the
//! sys crate, re-exported here as [`sys`].
//!
//! ```
//! use edge_infer_llama::raw::{sys, AsRaw};
//! # fn main() -> edge_infer_llama::Result<()> {
//! # let model = edge_infer_llama::Model::load(xtask::default_model().unwrap(), &Default::default())?;
//! // A getter this crate does not wrap.
//! // SAFETY: the pointer is valid while `model` lives, and the call only reads.
//! let n_embd_inp = unsafe { sys::llama_model_n_embd_inp(model.as_raw()) };
//! assert_eq!(n_embd_inp as u32, model.n_embd());
//! # Ok(()) }
//! ```

use std::path::PathBuf;

pub use edge_infer_llama_sys as sys;

use crate::context::Context;
use crate::error::Result;
use crate::kv::KvType;
use crate::model::Model;

/// A safe value that stands for a llama.cpp object or constant.
pub trait AsRaw {
    /// The raw llama.cpp type.
    type Raw: Copy;
    /// The raw value. A pointer stays valid while `self` lives and stays owned by it:
    /// never free it.
    fn as_raw(&self) -> Self::Raw;
}

/// The `llama_model`. Every call that only reads is fine.
impl AsRaw for Model {
    type Raw = *mut sys::llama_model;
    fn as_raw(&self) -> Self::Raw {
        self.as_ptr()
    }
}

/// The `llama_context`. Changing its KV cache through the pointer leaves
/// [`Context::tokens`] out of step with the cache: call [`Context::clear`] afterwards,
/// or only make changes this crate's methods tolerate (evaluation continues after the
/// last cached position, whatever put it there).
impl AsRaw for Context<'_> {
    type Raw = *mut sys::llama_context;
    fn as_raw(&self) -> Self::Raw {
        self.as_ptr()
    }
}

/// The `ggml_type` (always one of [`KvType::CACHE_TYPES`]).
impl AsRaw for KvType {
    type Raw = sys::ggml_type;
    fn as_raw(&self) -> Self::Raw {
        self.raw()
    }
}

/// Takes ownership of a model created through the sys crate by other means than a file,
/// such as `llama_model_init_from_user` (a model built from metadata, e.g. with random
/// weights for tests). `name` stands in for the path in messages.
///
/// # Safety
/// `raw` must be a valid, fully initialised `llama_model` that nothing else frees or uses
/// afterwards; the returned `Model` frees it.
pub unsafe fn model_from_raw(
    raw: *mut sys::llama_model,
    name: impl Into<PathBuf>,
) -> Result<Model> {
    // SAFETY: the caller's contract is this function's.
    unsafe { Model::from_raw(raw, name.into()) }
}
