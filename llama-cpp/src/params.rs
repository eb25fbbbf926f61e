//! The parameters of a context: window, batches, threads, K/V cache types and layout.

use edge_infer_base::cpu::default_threads;

use crate::error::{Error, Result};
use crate::kv::{FlashAttention, KvLayers, KvType, LayerKv};
use crate::model::Model;

/// Parameters of a [`Context`](crate::Context). Defaults: n_ctx 4096, n_batch 2048, n_ubatch 512, threads =
/// [`default_threads`](crate::default_threads), flash attention auto, f16 K and V caches.
///
/// ```
/// use edge_infer_llama::{ContextParams, FlashAttention, KvType};
/// let p = ContextParams::default()
///     .n_ctx(8192)
///     .n_threads(4)
///     .flash_attention(FlashAttention::On)
///     .type_k(KvType::Q8_0)
///     .type_v(KvType::Q4_0);
/// assert_eq!(p.context_tokens(), 8192);
/// ```
#[derive(Debug, Clone)]
pub struct ContextParams {
    pub(crate) n_ctx: u32,
    pub(crate) n_batch: u32,
    pub(crate) n_ubatch: u32,
    pub(crate) n_threads: i32,
    pub(crate) n_threads_batch: Option<i32>,
    pub(crate) flash_attn: FlashAttention,
    pub(crate) type_k: KvType,
    pub(crate) type_v: KvType,
    pub(crate) swa_full: bool,
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
    /// The most threads a context may use: ggml's `GGML_MAX_N_THREADS`, the size of the
    /// per-thread arrays of its CPU thread pool. More threads than cores only slows
    /// generation down; far more than this makes llama.cpp throw while decoding.
    pub const MAX_THREADS: i32 = 512;

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
    /// Threads for generation (and for prompt processing unless set separately),
    /// `1..=`[`ContextParams::MAX_THREADS`].
    pub fn n_threads(mut self, n: i32) -> Self {
        self.n_threads = n;
        self
    }
    /// Threads for prompt processing, `1..=`[`ContextParams::MAX_THREADS`].
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
    /// Per-layer K/V cache types. Anything but [`KvLayers::Uniform`] overrides
    /// [`ContextParams::type_k`] / [`ContextParams::type_v`] for the model's layers; it is
    /// checked against the model in [`Context::new`](crate::Context::new) (typed errors for a table of the
    /// wrong length or a split past the last layer). A quantized V in any layer needs flash
    /// attention: [`FlashAttention::Auto`] turns it on, [`FlashAttention::Off`] is refused.
    ///
    /// ```
    /// use edge_infer_llama::{ContextParams, KvLayers, KvType};
    /// let p = ContextParams::default().kv_layers(KvLayers::Hybrid {
    ///     split: 6,
    ///     early: KvType::Q8_0,
    ///     late: KvType::Q4_0,
    /// });
    /// assert!(matches!(p.kv_layout(), KvLayers::Hybrid { split: 6, .. }));
    /// ```
    pub fn kv_layers(mut self, layers: KvLayers) -> Self {
        self.kv_layers = layers;
        self
    }
    /// Layers `0..split` in `early` (K and V), the rest in `late`: shorthand for
    /// [`KvLayers::Hybrid`].
    pub fn kv_hybrid(self, split: u32, early: KvType, late: KvType) -> Self {
        self.kv_layers(KvLayers::Hybrid { split, early, late })
    }
    /// An explicit K and V type per layer: shorthand for [`KvLayers::Table`].
    pub fn kv_layer_table(self, table: impl Into<Vec<LayerKv>>) -> Self {
        self.kv_layers(KvLayers::Table(table.into()))
    }
    /// The configured per-layer K/V layout.
    pub fn kv_layout(&self) -> &KvLayers {
        &self.kv_layers
    }
    /// The configured context window, in tokens.
    pub fn context_tokens(&self) -> u32 {
        self.n_ctx
    }
    /// The configured generation thread count.
    pub fn thread_count(&self) -> i32 {
        self.n_threads
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
        check_threads("n_threads", self.n_threads)?;
        if let Some(n) = self.n_threads_batch {
            check_threads("n_threads_batch", n)?;
        }
        // The K/V types need no check here: a KvType is always one of KvType::CACHE_TYPES.
        if self.type_v.is_quantized() && self.flash_attn == FlashAttention::Off {
            return Err(Error::QuantizedVNeedsFlashAttention {
                type_v: self.type_v.to_string(),
            });
        }
        Ok(())
    }
}

/// Checks a thread count against `1..=MAX_THREADS`.
pub(crate) fn check_threads(name: &'static str, n: i32) -> Result<()> {
    if (1..=ContextParams::MAX_THREADS).contains(&n) {
        return Ok(());
    }
    Err(Error::InvalidParameter {
        name,
        reason: format!(
            "{n} is outside 1..={}; use at most the number of cores (the big cores on a \
             big.LITTLE board)",
            ContextParams::MAX_THREADS
        ),
    })
}

/// Resolves and checks the per-layer layout of `params` for `model`.
pub(crate) fn resolve_for(model: &Model, params: &ContextParams) -> Result<Option<Vec<LayerKv>>> {
    let table = params.kv_layers.resolve(model.n_layer())?;
    if let Some(t) = &table {
        if params.flash_attn == FlashAttention::Off {
            if let Some(l) = t.iter().find(|l| l.v.is_quantized()) {
                return Err(Error::QuantizedVNeedsFlashAttention {
                    type_v: l.v.to_string(),
                });
            }
        }
    }
    Ok(table)
}
