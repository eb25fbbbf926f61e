//! Inference contexts: the KV cache, threads and batch sizes for one conversation.

use std::ffi::{c_void, CStr};
use std::fmt;
use std::ptr::NonNull;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use edge_infer_llama_sys as sys;

use crate::backend;
use crate::error::{Error, Result};
use crate::kv_layers::{KvLayerSummary, KvLayers};
use crate::model::Model;
use crate::token::Token;

/// A K or V cache element type: any `ggml_type` llama.cpp accepts for the cache.
///
/// ```
/// use edge_infer_llama::KvType;
/// let t: KvType = "q8_0".parse().unwrap();
/// assert_eq!(t, KvType::Q8_0);
/// assert!(t.is_quantized());
/// assert_eq!(KvType::F16.to_string(), "f16");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvType(sys::ggml_type);

impl KvType {
    /// 32-bit float.
    pub const F32: KvType = KvType(sys::GGML_TYPE_F32);
    /// 16-bit float (llama.cpp's default).
    pub const F16: KvType = KvType(sys::GGML_TYPE_F16);
    /// bfloat16.
    pub const BF16: KvType = KvType(sys::GGML_TYPE_BF16);
    /// 8-bit blocks of 32 with an f16 scale (8.5 bits per element).
    pub const Q8_0: KvType = KvType(sys::GGML_TYPE_Q8_0);
    /// 4-bit blocks of 32 with an f16 scale (4.5 bits per element).
    pub const Q4_0: KvType = KvType(sys::GGML_TYPE_Q4_0);
    /// 4-bit blocks with scale and minimum.
    pub const Q4_1: KvType = KvType(sys::GGML_TYPE_Q4_1);
    /// 5-bit blocks.
    pub const Q5_0: KvType = KvType(sys::GGML_TYPE_Q5_0);
    /// 5-bit blocks with minimum.
    pub const Q5_1: KvType = KvType(sys::GGML_TYPE_Q5_1);
    /// 4-bit non-linear.
    pub const IQ4_NL: KvType = KvType(sys::GGML_TYPE_IQ4_NL);

    /// The types llama.cpp's CPU backend supports for the K and V caches.
    pub const CACHE_TYPES: [KvType; 9] = [
        KvType::F32,
        KvType::F16,
        KvType::BF16,
        KvType::Q8_0,
        KvType::Q4_0,
        KvType::Q4_1,
        KvType::Q5_0,
        KvType::Q5_1,
        KvType::IQ4_NL,
    ];

    /// The raw `ggml_type`.
    pub fn raw(self) -> sys::ggml_type {
        self.0
    }

    /// From a raw `ggml_type` known to be valid (below `GGML_TYPE_COUNT`).
    pub(crate) fn from_raw(t: sys::ggml_type) -> KvType {
        KvType(t)
    }

    /// ggml's name for the type (`f16`, `q8_0`, ...).
    pub fn name(self) -> &'static str {
        // SAFETY: ggml_type_name returns a static string for every valid type; KvType
        // values only come from ggml's own constants or from a name lookup.
        let p = unsafe { sys::ggml_type_name(self.0) };
        if p.is_null() {
            return "?";
        }
        // SAFETY: static NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("?")
    }

    /// Whether the type is block-quantized (a quantized V cache needs flash attention).
    pub fn is_quantized(self) -> bool {
        // SAFETY: pure function of a valid type.
        unsafe { sys::ggml_is_quantized(self.0) }
    }

    /// Bytes per element, e.g. 2.0 for f16 and 34/32 for q8_0.
    pub fn bytes_per_element(self) -> f64 {
        // SAFETY: pure functions of a valid type.
        let (size, blck) = unsafe { (sys::ggml_type_size(self.0), sys::ggml_blck_size(self.0)) };
        size as f64 / blck as f64
    }
}

impl fmt::Debug for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KvType {
    type Err = Error;
    fn from_str(s: &str) -> Result<KvType> {
        let want = s.trim().to_ascii_lowercase();
        (0..sys::GGML_TYPE_COUNT)
            .map(KvType)
            .find(|t| {
                // SAFETY: every value below GGML_TYPE_COUNT is a ggml_type (removed types
                // have a NULL or empty name, which never matches).
                let p = unsafe { sys::ggml_type_name(t.0) };
                // SAFETY: NUL-terminated static string when non-NULL.
                !p.is_null() && unsafe { CStr::from_ptr(p) }.to_str() == Ok(want.as_str())
            })
            .ok_or_else(|| Error::InvalidParameter {
                name: "cache type",
                reason: format!("`{s}` is not a ggml type; try f16, q8_0 or q4_0"),
            })
    }
}

/// When to use flash attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlashAttention {
    /// Let llama.cpp decide (on for the CPU backend when supported).
    #[default]
    Auto,
    /// Force on.
    On,
    /// Force off (a quantized V cache is then refused).
    Off,
}

impl FlashAttention {
    fn raw(self) -> sys::llama_flash_attn_type {
        match self {
            FlashAttention::Auto => sys::LLAMA_FLASH_ATTN_TYPE_AUTO,
            FlashAttention::On => sys::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttention::Off => sys::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        }
    }
}

impl FromStr for FlashAttention {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "-1" => Ok(FlashAttention::Auto),
            "on" | "1" | "true" => Ok(FlashAttention::On),
            "off" | "0" | "false" => Ok(FlashAttention::Off),
            _ => Err(Error::InvalidParameter {
                name: "flash attention",
                reason: format!("`{s}` is not auto, on or off"),
            }),
        }
    }
}

/// Parameters of a [`Context`]. Defaults: n_ctx 4096, n_batch 2048, n_ubatch 512, threads =
/// [`default_threads`], flash attention auto, f16 K and V caches.
///
/// ```
/// use edge_infer_llama::{ContextParams, FlashAttention, KvType};
/// let p = ContextParams::default()
///     .n_ctx(8192)
///     .n_threads(4)
///     .flash_attention(FlashAttention::On)
///     .type_k(KvType::Q8_0)
///     .type_v(KvType::Q4_0);
/// assert_eq!(p.get_n_ctx(), 8192);
/// ```
#[derive(Debug, Clone)]
pub struct ContextParams {
    n_ctx: u32,
    n_batch: u32,
    n_ubatch: u32,
    n_threads: i32,
    n_threads_batch: Option<i32>,
    pub(crate) flash_attn: FlashAttention,
    type_k: KvType,
    type_v: KvType,
    swa_full: bool,
    pub(crate) kv_layers: KvLayers,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 4096,
            n_batch: 2048,
            n_ubatch: 512,
            n_threads: default_threads() as i32,
            n_threads_batch: None,
            flash_attn: FlashAttention::Auto,
            type_k: KvType::F16,
            type_v: KvType::F16,
            swa_full: false,
            kv_layers: KvLayers::Uniform,
        }
    }
}

impl ContextParams {
    /// Context window in tokens (at least 1).
    pub fn n_ctx(mut self, n: u32) -> Self {
        self.n_ctx = n;
        self
    }
    /// Largest number of tokens handed to one `llama_decode` (prompt chunks).
    pub fn n_batch(mut self, n: u32) -> Self {
        self.n_batch = n;
        self
    }
    /// Physical micro-batch size.
    pub fn n_ubatch(mut self, n: u32) -> Self {
        self.n_ubatch = n;
        self
    }
    /// Threads for generation (and for prompt processing unless set separately).
    pub fn n_threads(mut self, n: i32) -> Self {
        self.n_threads = n;
        self
    }
    /// Threads for prompt processing.
    pub fn n_threads_batch(mut self, n: i32) -> Self {
        self.n_threads_batch = Some(n);
        self
    }
    /// Flash attention mode.
    pub fn flash_attention(mut self, fa: FlashAttention) -> Self {
        self.flash_attn = fa;
        self
    }
    /// K cache element type.
    pub fn type_k(mut self, t: KvType) -> Self {
        self.type_k = t;
        self
    }
    /// V cache element type (quantized types need flash attention).
    pub fn type_v(mut self, t: KvType) -> Self {
        self.type_v = t;
        self
    }
    /// Keep the full context in sliding-window layers too (more memory; lets any
    /// prefix of the history be reused).
    pub fn swa_full(mut self, on: bool) -> Self {
        self.swa_full = on;
        self
    }
    /// The configured context window.
    pub fn get_n_ctx(&self) -> u32 {
        self.n_ctx
    }
    /// The configured generation thread count.
    pub fn get_n_threads(&self) -> i32 {
        self.n_threads
    }

    fn validate(&self) -> Result<()> {
        let bad = |name, reason: &str| {
            Err(Error::InvalidParameter {
                name,
                reason: reason.to_string(),
            })
        };
        if self.n_ctx == 0 {
            return bad(
                "n_ctx",
                "must be at least 1 (0 would silently mean the model's full training context)",
            );
        }
        if self.n_batch == 0 {
            return bad("n_batch", "must be at least 1");
        }
        if self.n_ubatch == 0 {
            return bad("n_ubatch", "must be at least 1");
        }
        if self.n_threads <= 0 {
            return bad("n_threads", "must be at least 1");
        }
        if matches!(self.n_threads_batch, Some(n) if n <= 0) {
            return bad("n_threads_batch", "must be at least 1");
        }
        for (name, t) in [("type_k", self.type_k), ("type_v", self.type_v)] {
            if !KvType::CACHE_TYPES.contains(&t) {
                return bad(name, &format!("{t} is not a KV cache type llama.cpp supports; use one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl"));
            }
        }
        if self.type_v.is_quantized() && self.flash_attn == FlashAttention::Off {
            return Err(Error::QuantizedVNeedsFlashAttention {
                type_v: self.type_v.to_string(),
            });
        }
        Ok(())
    }
}

/// Threads to use by default: the number of big cores on a big.LITTLE CPU (4 on RK3588,
/// read from `cpu_capacity` in sysfs), else all available cores.
pub fn default_threads() -> usize {
    let all = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    big_cores()
        .map(|b| b.len())
        .filter(|&n| n > 0)
        .unwrap_or(all)
}

/// The CPUs with the highest `cpu_capacity` (the A76 cores 4–7 on RK3588), or `None`
/// when the kernel does not report capacities (then all cores are alike).
pub fn big_cores() -> Option<Vec<usize>> {
    let mut caps = Vec::new();
    for entry in std::fs::read_dir("/sys/devices/system/cpu").ok()? {
        let name = entry.ok()?.file_name();
        let name = name.to_str()?;
        let Some(id) = name
            .strip_prefix("cpu")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let cap =
            std::fs::read_to_string(format!("/sys/devices/system/cpu/{name}/cpu_capacity")).ok()?;
        caps.push((id, cap.trim().parse::<u32>().ok()?));
    }
    let max = caps.iter().map(|c| c.1).max()?;
    let mut big: Vec<usize> = caps
        .into_iter()
        .filter(|c| c.1 == max)
        .map(|c| c.0)
        .collect();
    big.sort_unstable();
    Some(big)
}

/// Memory llama.cpp accounts to a context, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReport {
    /// Model weights.
    pub model_bytes: u64,
    /// The context's KV cache (and recurrent state, for models that have one).
    pub kv_bytes: u64,
    /// Compute (scratch) buffers.
    pub compute_bytes: u64,
    /// K cache type (with per-layer types: the type of the first cached layer).
    pub type_k: KvType,
    /// V cache type (with per-layer types: the type of the first cached layer).
    pub type_v: KvType,
    /// How many cached layers use each K and V type, as llama.cpp allocated them.
    pub kv_layers: KvLayerSummary,
}

/// Stops a generation from another thread. Cheap to clone; `Send + Sync`.
///
/// A cancel takes effect at the next token boundary, or inside a long prompt
/// evaluation at the next graph node, through llama.cpp's abort callback.
#[derive(Debug, Clone)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// Requests that the generation in progress stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether a cancel is pending.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// An inference context over a [`Model`]: a KV cache and its settings. It cannot
/// outlive its model. It may move between threads but is used by one at a time.
pub struct Context<'m> {
    raw: NonNull<sys::llama_context>,
    model: &'m Model,
    // Boxed in an Arc so its address is stable for llama.cpp's abort callback.
    cancel: Arc<AtomicBool>,
    /// Tokens in the KV cache of sequence 0, in order.
    tokens: Vec<Token>,
    /// Whether llama.cpp's last output row holds the logits of the last token in
    /// `tokens`; any change to the cache other than a decode makes them stale.
    logits_valid: bool,
    n_ctx: u32,
    n_batch: u32,
    type_k: KvType,
    type_v: KvType,
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

unsafe extern "C" fn abort_callback(data: *mut c_void) -> bool {
    // SAFETY: data is the AtomicBool inside the Context's Arc, which outlives the
    // llama_context (dropped after llama_free). Loading an atomic cannot panic.
    unsafe { &*(data as *const AtomicBool) }.load(Ordering::Acquire)
}

impl<'m> Context<'m> {
    /// Creates a context. Parameters are checked first, so a bad value is an
    /// [`Error::InvalidParameter`] rather than a llama.cpp abort.
    pub fn new(model: &'m Model, params: &ContextParams) -> Result<Context<'m>> {
        params.validate()?;
        let layer_table = crate::kv_layers::resolve_for(model, params)?;
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
        let raw = crate::kv_layers::init_context(model, p, layer_table.as_deref());
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

    /// The token list, for changes made to the cache outside `decode`; the logits of
    /// the last decode no longer describe the last token after those.
    pub(crate) fn tokens_mut(&mut self) -> &mut Vec<Token> {
        self.logits_valid = false;
        &mut self.tokens
    }

    /// Whether the last output row holds the last token's logits (true after a decode
    /// that asked for them; false before a decode that may fail part way).
    pub(crate) fn set_logits_valid(&mut self, valid: bool) {
        self.logits_valid = valid;
    }

    /// A handle that cancels this context's generation from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    pub(crate) fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// Empties the KV cache.
    pub fn clear(&mut self) {
        // SAFETY: valid context; the memory handle belongs to it.
        unsafe { sys::llama_memory_clear(sys::llama_get_memory(self.as_ptr()), true) };
        self.tokens.clear();
        self.logits_valid = false;
    }

    /// Drops every cached token from position `n` on, keeping the first `n`.
    /// Falls back to clearing everything if llama.cpp cannot cut the cache there
    /// (e.g. a sliding-window cache that already forgot that part).
    pub fn truncate(&mut self, n: usize) {
        if n < self.tokens.len() {
            self.cut_cache_to(n);
        }
    }

    /// Removes cache positions from `n` on, and keeps the first `n` tokens only if the
    /// cache can still serve them: a sliding-window cache (without `swa_full`) holds just
    /// the last window, and llama.cpp's `seq_rm` reports success even when cutting below
    /// it, so the window is checked here (as llama-server does) and the cache cleared
    /// when it no longer reaches back far enough.
    fn cut_cache_to(&mut self, n: usize) {
        // SAFETY: valid context and memory; positions fit i32 since n <= n_ctx.
        let (ok, pos_min) = unsafe {
            let mem = sys::llama_get_memory(self.as_ptr());
            let ok = sys::llama_memory_seq_rm(mem, 0, n as i32, -1);
            (ok, sys::llama_memory_seq_pos_min(mem, 0))
        };
        let needed_from = n.saturating_sub(self.model.n_swa() as usize) as i32;
        if ok && (n == 0 || (pos_min >= 0 && pos_min <= needed_from)) {
            if n < self.tokens.len() {
                self.tokens.truncate(n);
                self.logits_valid = false;
            }
        } else {
            self.clear();
        }
    }

    /// Evaluates `tokens` after those already cached, in chunks of n_batch. Only the
    /// last token's logits are kept (see [`Context::logits`]). A [`CancelHandle`]
    /// stops it (`Error::Decode` with code 2); a cancel made before the call is for an
    /// earlier run and is ignored, as in generation.
    pub fn eval(&mut self, tokens: &[Token]) -> Result<()> {
        self.cancel.store(false, Ordering::Release);
        match self.decode(tokens)? {
            true => Ok(()),
            false => Err(Error::Decode {
                code: 2,
                reason: "cancelled",
            }),
        }
    }

    /// Decodes tokens; `Ok(false)` if the cancel flag aborted it (the cache is then
    /// rolled back to what it held before the call).
    pub(crate) fn decode(&mut self, tokens: &[Token]) -> Result<bool> {
        if tokens.is_empty() {
            return Ok(true);
        }
        let used = self.tokens.len();
        if used + tokens.len() > self.n_ctx as usize {
            return Err(Error::PromptTooLong {
                needed: tokens.len(),
                used,
                n_ctx: self.n_ctx as usize,
            });
        }
        for &t in tokens {
            self.model.check_token(t)?;
        }
        self.logits_valid = false;
        for chunk in tokens.chunks(self.n_batch as usize) {
            // SAFETY: llama_batch_get_one only records the pointer; llama_decode reads
            // chunk.len() tokens from it and does not write them (the *mut is historical).
            // Token is repr(transparent) over llama_token.
            let rc = unsafe {
                let batch = sys::llama_batch_get_one(
                    chunk.as_ptr() as *mut sys::llama_token,
                    chunk.len() as i32,
                );
                sys::llama_decode(self.as_ptr(), batch)
            };
            match rc {
                0 => self.tokens.extend_from_slice(chunk),
                2 => {
                    // Aborted: partial ubatches stay in the cache; forget them.
                    self.truncate_memory_to_tokens();
                    return Ok(false);
                }
                1 => {
                    return Err(Error::Decode {
                        code: 1,
                        reason: "no KV cache slot for the batch (the context is full)",
                    })
                }
                -1 => {
                    return Err(Error::Decode {
                        code: -1,
                        reason: "invalid batch",
                    })
                }
                code => {
                    self.truncate_memory_to_tokens();
                    return Err(Error::Decode {
                        code,
                        reason: "llama.cpp failed to evaluate the batch",
                    });
                }
            }
        }
        self.logits_valid = true;
        Ok(true)
    }

    fn truncate_memory_to_tokens(&mut self) {
        self.cut_cache_to(self.tokens.len());
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

    /// Memory llama.cpp accounts to this context, with the cache types.
    pub fn memory_report(&self) -> MemoryReport {
        let (mut m, mut c, mut k) = (0usize, 0usize, 0usize);
        // SAFETY: valid context; out-pointers are valid locals. The shim catches C++
        // exceptions; on failure the zeros stay.
        unsafe { sys::edge_llama_memory_breakdown(self.as_ptr(), &mut m, &mut c, &mut k) };
        MemoryReport {
            model_bytes: m as u64,
            kv_bytes: c as u64,
            compute_bytes: k as u64,
            type_k: self.type_k,
            type_v: self.type_v,
            kv_layers: KvLayerSummary::from_layers(&self.kv_layer_caches()),
        }
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
