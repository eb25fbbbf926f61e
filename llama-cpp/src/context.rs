//! Inference contexts: the KV cache, threads and batch sizes for one conversation.
//!
//! The other operations on a [`Context`] live with their concept: decoding in
//! `decode.rs`, KV cache operations in `kv/cache.rs`, state save/load in `state.rs`,
//! memory in `memory.rs`, generation in `generate/`.

use std::ffi::c_void;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use edge_infer_llama_sys as sys;

use crate::backend;
use crate::cancel::{abort_callback, CancelHandle};
use crate::error::{Error, Result};
use crate::kv::{KvLayers, KvType, LayerKv};
use crate::model::Model;
use crate::params::{resolve_for, ContextParams};
use crate::token::Token;

/// An inference context over a [`Model`]: a KV cache and its settings. It cannot
/// outlive its model. It may move between threads but is used by one at a time.
pub struct Context<'m> {
    raw: NonNull<sys::llama_context>,
    pub(crate) model: &'m Model,
    // Boxed in an Arc so its address is stable for llama.cpp's abort callback.
    cancel: Arc<AtomicBool>,
    /// Tokens in the KV cache of sequence 0, in order.
    pub(crate) tokens: Vec<Token>,
    /// Whether llama.cpp's last output row holds the logits of the last token in
    /// `tokens`; any change to the cache other than a decode makes them stale.
    pub(crate) logits_valid: bool,
    n_ctx: u32,
    n_batch: u32,
    pub(crate) type_k: KvType,
    pub(crate) type_v: KvType,
    pub(crate) kv_layers: KvLayers,
}

// SAFETY: a llama_context may be used from any thread as long as calls are not
// concurrent; `&mut self` on every mutating method and the absence of Sync ensure that.
unsafe impl Send for Context<'_> {}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("n_ctx", &self.n_ctx)
            .field("n_past", &self.tokens.len())
            .field("type_k", &self.type_k)
            .field("type_v", &self.type_v)
            .finish()
    }
}

impl<'m> Context<'m> {
    /// Creates a context. Parameters are checked first, so a bad value is an
    /// [`Error::InvalidParameter`] rather than a llama.cpp abort.
    pub fn new(model: &'m Model, params: &ContextParams) -> Result<Context<'m>> {
        params.validate()?;
        let layer_table = resolve_for(model, params)?;
        backend::init();
        let cancel = Arc::new(AtomicBool::new(false));
        // SAFETY: plain getter returning a struct by value.
        let mut p = unsafe { sys::llama_context_default_params() };
        p.n_ctx = params.n_ctx;
        p.n_batch = params.n_batch;
        p.n_ubatch = params.n_ubatch.min(params.n_batch);
        p.n_seq_max = 1;
        p.n_threads = params.n_threads;
        p.n_threads_batch = params.n_threads_batch.unwrap_or(params.n_threads);
        p.flash_attn_type = params.flash_attn.raw();
        p.type_k = params.type_k.raw();
        p.type_v = params.type_v.raw();
        p.swa_full = params.swa_full;
        p.no_perf = false;
        p.abort_callback = Some(abort_callback);
        p.abort_callback_data = Arc::as_ptr(&cancel) as *mut c_void;
        backend::clear_last_error();
        // The model is valid for 'm, which outlives the context; the abort data pointer
        // stays valid because `cancel` is dropped only after llama_free.
        let raw = init_context(model, p, layer_table.as_deref());
        let raw = NonNull::new(raw).ok_or_else(|| {
            Error::ContextCreate(
                backend::take_last_error().unwrap_or_else(|| "no reason given".into()),
            )
        })?;
        // SAFETY: raw is a valid context.
        let (n_ctx, n_batch) = unsafe {
            (
                sys::llama_n_ctx(raw.as_ptr()),
                sys::llama_n_batch(raw.as_ptr()),
            )
        };
        Ok(Context {
            raw,
            model,
            cancel,
            tokens: Vec::new(),
            logits_valid: false,
            n_ctx,
            n_batch,
            type_k: layer_table
                .as_ref()
                .and_then(|t| t.first())
                .map_or(params.type_k, |l| l.k),
            type_v: layer_table
                .as_ref()
                .and_then(|t| t.first())
                .map_or(params.type_v, |l| l.v),
            kv_layers: params.kv_layers.clone(),
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::llama_context {
        self.raw.as_ptr()
    }

    /// The raw llama.cpp context, for llama.cpp calls this crate does not wrap (through
    /// `edge_infer_llama_sys`). It stays owned by this `Context`. Changing the KV cache through
    /// it leaves [`Context::tokens`] out of step with the cache: call
    /// [`Context::clear`] afterwards, or only use what this crate's own methods tolerate.
    pub fn as_raw(&self) -> *mut sys::llama_context {
        self.as_ptr()
    }

    /// The model this context runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The context window in tokens.
    pub fn n_ctx(&self) -> u32 {
        self.n_ctx
    }

    /// The logical batch size.
    pub fn n_batch(&self) -> u32 {
        self.n_batch
    }

    /// Tokens currently held in the KV cache, oldest first.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// A handle that cancels this context's generation from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    pub(crate) fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// Logits of the last token in the cache (length = vocabulary size). Empty when
    /// there are none for it: before anything was evaluated, and after
    /// [`Context::truncate`], [`Context::clear`], a state load, a discard or a failed or
    /// cancelled evaluation, until the next evaluation.
    pub fn logits(&self) -> &[f32] {
        if !self.logits_valid || self.tokens.is_empty() {
            return &[];
        }
        // SAFETY: valid context; -1 selects the last output. The buffer lives in the
        // context and is only rewritten by a later decode, which needs `&mut self`.
        let p = unsafe { sys::llama_get_logits_ith(self.as_ptr(), -1) };
        if p.is_null() {
            return &[];
        }
        // SAFETY: llama.cpp keeps n_vocab floats per output row.
        unsafe { std::slice::from_raw_parts(p, self.model.n_vocab() as usize) }
    }

    /// Changes the thread counts for generation and prompt processing.
    pub fn set_threads(&mut self, n_threads: i32, n_threads_batch: i32) -> Result<()> {
        if n_threads <= 0 || n_threads_batch <= 0 {
            return Err(Error::InvalidParameter {
                name: "n_threads",
                reason: "must be at least 1".into(),
            });
        }
        // SAFETY: valid context.
        unsafe { sys::llama_set_n_threads(self.as_ptr(), n_threads, n_threads_batch) };
        Ok(())
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: freed once; the abort flag (in `cancel`) is dropped after this.
        unsafe { sys::llama_free(self.raw.as_ptr()) }
    }
}

/// Creates the llama.cpp context, through the patched per-layer entry point when there is
/// a table. Returns NULL on failure (the reason is in llama.cpp's error log).
pub(crate) fn init_context(
    model: &Model,
    params: sys::llama_context_params,
    table: Option<&[LayerKv]>,
) -> *mut sys::llama_context {
    match table {
        // SAFETY: the model pointer is valid; params is a plain struct passed by value.
        None => unsafe { sys::llama_init_from_model(model.as_ptr(), params) },
        Some(t) => {
            let k: Vec<sys::ggml_type> = t.iter().map(|l| l.k.raw()).collect();
            let v: Vec<sys::ggml_type> = t.iter().map(|l| l.v.raw()).collect();
            // SAFETY: k and v hold t.len() entries each and outlive the call (llama.cpp
            // copies them); the length was checked against llama_model_n_layer.
            unsafe {
                sys::llama_init_from_model_kv_layers(
                    model.as_ptr(),
                    params,
                    k.as_ptr(),
                    v.as_ptr(),
                    t.len(),
                )
            }
        }
    }
}
