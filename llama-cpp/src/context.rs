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
use crate::decode::Batch;
use crate::error::{Error, Result};
use crate::kv::{KvLayers, KvType, LayerKv};
use crate::model::Model;
use crate::params::{resolve_for, ContextParams};
use crate::shim;
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
    /// The batch every decode fills (n_batch tokens).
    pub(crate) batch: Batch,
    /// Set when llama.cpp threw out of this context: its state is unknown from then on.
    poisoned: Option<String>,
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
        // The abort data pointer stays valid because `cancel` is dropped only after llama_free.
        let raw = init_context(model, p, layer_table.as_deref())?;
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
            // Room for a full window: the per-token path never grows it.
            tokens: Vec::with_capacity(n_ctx as usize),
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
            batch: Batch::new(n_batch),
            poisoned: None,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::llama_context {
        self.raw.as_ptr()
    }

    /// Fails with [`Error::Poisoned`] once llama.cpp has thrown out of this context.
    pub(crate) fn usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(cause) => Err(Error::Poisoned(cause.clone())),
            None => Ok(()),
        }
    }

    /// Whether the context can still be used (see [`Error::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Marks the context unusable after llama.cpp threw `cause` out of it. llama.cpp is not
    /// exception-safe there: ggml's CPU backend, for one, frees its work buffer before
    /// allocating a larger one, so a failed allocation leaves a dangling pointer that the
    /// next computation, or llama_free, frees again. Nothing calls into it any more, and
    /// Drop leaks it instead of freeing it.
    pub(crate) fn poison(&mut self, cause: &Error) {
        log::error!(
            "llama.cpp threw out of a context ({cause}); the context is unusable from now \
             on and will be leaked rather than freed"
        );
        self.poisoned = Some(cause.to_string());
        self.tokens.clear();
        self.logits_valid = false;
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
        if !self.logits_valid || self.tokens.is_empty() || self.poisoned.is_some() {
            return &[];
        }
        self.logits_row(-1).unwrap_or(&[])
    }

    /// The logits row of output `i` of the last decode (-1: the last output), with the
    /// length llama.cpp gives it. Rows are n_vocab wide; rows of backend-sampled logits
    /// (which this crate never configures, but llama.cpp hands out first when present)
    /// have their own count.
    pub(crate) fn logits_row(&self, i: i32) -> Option<&[f32]> {
        let ctx = self.as_ptr();
        // SAFETY: valid context; `i` names an output the last decode requested. The
        // buffers live in the context and are only rewritten by a later decode, which
        // needs `&mut self`, so they outlive the returned borrow of `self`.
        let (p, n) = unsafe {
            let sampled = sys::llama_get_sampled_logits_ith(ctx, i);
            if sampled.is_null() {
                (
                    sys::llama_get_logits_ith(ctx, i),
                    self.model.n_vocab().max(0) as usize,
                )
            } else {
                (
                    sampled,
                    sys::llama_get_sampled_logits_count_ith(ctx, i) as usize,
                )
            }
        };
        if p.is_null() {
            return None;
        }
        // SAFETY: llama.cpp keeps `n` floats in this row (see above for the lifetime).
        Some(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Changes the thread counts for generation and prompt processing, each
    /// `1..=`[`ContextParams::MAX_THREADS`].
    pub fn set_threads(&mut self, n_threads: i32, n_threads_batch: i32) -> Result<()> {
        self.usable()?;
        crate::params::check_threads("n_threads", n_threads)?;
        crate::params::check_threads("n_threads_batch", n_threads_batch)?;
        // SAFETY: valid context.
        unsafe { sys::llama_set_n_threads(self.as_ptr(), n_threads, n_threads_batch) };
        Ok(())
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        if self.poisoned.is_some() {
            // Freeing could free memory twice (see `poison`): leak the context, and its
            // abort flag, whose address it holds.
            std::mem::forget(self.cancel.clone());
            return;
        }
        // SAFETY: freed once; the abort flag (in `cancel`) is dropped after this.
        unsafe { sys::llama_free(self.raw.as_ptr()) }
    }
}

/// Creates the llama.cpp context, through the patched per-layer entry point when there is
/// a table, and through the shim, which catches what llama.cpp throws.
fn init_context(
    model: &Model,
    params: sys::llama_context_params,
    table: Option<&[LayerKv]>,
) -> Result<NonNull<sys::llama_context>> {
    let k: Vec<sys::ggml_type> = table
        .iter()
        .flat_map(|t| t.iter().map(|l| l.k.raw()))
        .collect();
    let v: Vec<sys::ggml_type> = table
        .iter()
        .flat_map(|t| t.iter().map(|l| l.v.raw()))
        .collect();
    let (pk, pv) = match table {
        Some(_) => (k.as_ptr(), v.as_ptr()),
        None => (std::ptr::null(), std::ptr::null()),
    };
    let mut raw = std::ptr::null_mut();
    shim::guarded(
        // SAFETY: the model pointer is valid for the call; params is a plain struct passed by
        // value; with a table, k and v hold one entry per model layer (checked by
        // resolve_for) and outlive the call (llama.cpp copies them).
        |err, len| unsafe {
            sys::edge_llama_init_from_model(
                model.as_ptr(),
                params,
                pk,
                pv,
                k.len(),
                &mut raw,
                err,
                len,
            )
        },
        Error::ContextCreate,
    )?;
    NonNull::new(raw).ok_or_else(|| {
        Error::ContextCreate(backend::take_last_error().unwrap_or_else(|| "no reason given".into()))
    })
}
