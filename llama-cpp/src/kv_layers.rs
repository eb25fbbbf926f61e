//! Per-layer K/V cache types: an explicit per-layer table, or the `Hybrid` convenience
//! (the first `split` layers in one type, the rest in another).
//!
//! Upstream llama.cpp has one K type and one V type for the whole cache. The patch in
//! `llama-cpp-sys/patches/` adds `llama_init_from_model_kv_layers`, which this module uses when
//! [`ContextParams::kv_layers`] is anything but [`KvLayers::Uniform`]. See
//! `docs/KV_CACHE.md` for what the layouts cost and save on the default model.
//!
//! ```no_run
//! use edge_infer_llama::{Context, ContextParams, KvLayers, KvType, Model};
//! # fn main() -> edge_infer_llama::Result<()> {
//! let model = Model::load("gemma-3-270m-q4_k_m.gguf", &Default::default())?;
//! // Layers 0..6 keep K and V in q8_0, layers 6.. in q4_0.
//! let params = ContextParams::default().n_ctx(8192).kv_hybrid(6, KvType::Q8_0, KvType::Q4_0);
//! let ctx = Context::new(&model, &params)?;
//! println!("{}", ctx.memory_report().kv_layers);
//! # Ok(()) }
//! ```

use std::fmt;

use edge_infer_llama_sys as sys;

use crate::context::{Context, ContextParams, FlashAttention, KvType};
use crate::error::{Error, Result};
use crate::model::Model;

/// The K and V cache types of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerKv {
    /// K cache type.
    pub k: KvType,
    /// V cache type.
    pub v: KvType,
}

impl LayerKv {
    /// The same type for K and V.
    pub const fn both(t: KvType) -> LayerKv {
        LayerKv { k: t, v: t }
    }
    /// Separate K and V types.
    pub const fn new(k: KvType, v: KvType) -> LayerKv {
        LayerKv { k, v }
    }
}

impl fmt::Display for LayerKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "K {} / V {}", self.k, self.v)
    }
}

/// How the K/V cache types are laid out over the model's layers.
///
/// ```
/// use edge_infer_llama::{KvLayers, KvType, LayerKv};
/// let h = KvLayers::Hybrid { split: 2, early: KvType::Q8_0, late: KvType::Q4_0 };
/// let table = h.resolve(4).unwrap().unwrap();
/// assert_eq!(table[1], LayerKv::both(KvType::Q8_0));
/// assert_eq!(table[2], LayerKv::both(KvType::Q4_0));
/// // A table must have one entry per layer.
/// assert!(KvLayers::Table(vec![LayerKv::both(KvType::F16); 3]).resolve(4).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KvLayers {
    /// Every layer uses [`ContextParams::type_k`] / [`ContextParams::type_v`]: upstream
    /// llama.cpp's behaviour (the patched entry point is not used).
    #[default]
    Uniform,
    /// Layers `0..split` store K and V as `early`, layers `split..` as `late`.
    /// `split` may be 0 (all late) up to the model's layer count (all early).
    Hybrid {
        /// The first layer stored as `late`.
        split: u32,
        /// Type of the layers before `split`.
        early: KvType,
        /// Type of the layers from `split` on.
        late: KvType,
    },
    /// One entry per model layer (`Model::n_layer` entries), in layer order. Layers without
    /// a KV cache of their own (recurrent layers of a hybrid model) ignore their entry.
    Table(Vec<LayerKv>),
}

impl KvLayers {
    /// A table with layers `block` in `inside` and every other layer in `outside`
    /// (the sensitivity scan of `examples/kv_quality.rs`).
    pub fn block(
        n_layer: u32,
        block: std::ops::Range<u32>,
        inside: KvType,
        outside: KvType,
    ) -> KvLayers {
        KvLayers::Table(
            (0..n_layer)
                .map(|il| LayerKv::both(if block.contains(&il) { inside } else { outside }))
                .collect(),
        )
    }

    /// The per-layer table for a model with `n_layer` layers; `None` for
    /// [`KvLayers::Uniform`]. Fails if a table's length or a split does not fit the model.
    pub fn resolve(&self, n_layer: u32) -> Result<Option<Vec<LayerKv>>> {
        match self {
            KvLayers::Uniform => Ok(None),
            KvLayers::Hybrid { split, early, late } => {
                if *split > n_layer {
                    return Err(Error::KvSplitOutOfRange {
                        split: *split,
                        n_layer,
                    });
                }
                Ok(Some(
                    (0..n_layer)
                        .map(|il| LayerKv::both(if il < *split { *early } else { *late }))
                        .collect(),
                ))
            }
            KvLayers::Table(t) => {
                if t.len() != n_layer as usize {
                    return Err(Error::KvLayerTableLength {
                        expected: n_layer,
                        got: t.len(),
                    });
                }
                Ok(Some(t.clone()))
            }
        }
    }
}

impl std::str::FromStr for KvLayers {
    type Err = Error;
    /// Parses `uniform`, `hybrid:SPLIT:EARLY:LATE` (e.g. `hybrid:6:q8_0:q4_0`) or
    /// `table:T,T,...` with one entry per layer, each `TYPE` (K and V) or `K/V`
    /// (e.g. `table:q8_0,q8_0/q4_0,q4_0`), for configuration files and command lines.
    ///
    /// ```
    /// use edge_infer_llama::{KvLayers, KvType, LayerKv};
    /// let h: KvLayers = "hybrid:6:q8_0:q4_0".parse().unwrap();
    /// assert_eq!(h, KvLayers::Hybrid { split: 6, early: KvType::Q8_0, late: KvType::Q4_0 });
    /// let t: KvLayers = "table:f16,q8_0/q4_0".parse().unwrap();
    /// assert_eq!(t, KvLayers::Table(vec![
    ///     LayerKv::both(KvType::F16),
    ///     LayerKv::new(KvType::Q8_0, KvType::Q4_0),
    /// ]));
    /// assert!("hybrid:x:q8_0:q4_0".parse::<KvLayers>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<KvLayers> {
        let bad = |reason: String| Error::InvalidParameter {
            name: "KV layer layout",
            reason,
        };
        let s = s.trim();
        if s.eq_ignore_ascii_case("uniform") {
            return Ok(KvLayers::Uniform);
        }
        if let Some(rest) = s.strip_prefix("hybrid:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let [split, early, late] = parts[..] else {
                return Err(bad(format!(
                    "`{s}` is not hybrid:SPLIT:EARLY:LATE (e.g. hybrid:6:q8_0:q4_0)"
                )));
            };
            let split = split
                .trim()
                .parse::<u32>()
                .map_err(|_| bad(format!("`{split}` in `{s}` is not a layer count")))?;
            return Ok(KvLayers::Hybrid {
                split,
                early: early.parse()?,
                late: late.parse()?,
            });
        }
        if let Some(rest) = s.strip_prefix("table:") {
            let table = rest
                .split(',')
                .map(|e| match e.split_once('/') {
                    Some((k, v)) => Ok(LayerKv::new(k.parse()?, v.parse()?)),
                    None => Ok(LayerKv::both(e.parse()?)),
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(KvLayers::Table(table));
        }
        Err(bad(format!(
            "`{s}` is not `uniform`, `hybrid:SPLIT:EARLY:LATE` or `table:T,T,...`"
        )))
    }
}

impl fmt::Display for KvLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvLayers::Uniform => f.write_str("uniform"),
            KvLayers::Hybrid { split, early, late } => {
                write!(f, "layers 0..{split} {early}, {split}.. {late}")
            }
            KvLayers::Table(t) => {
                f.write_str("table [")?;
                for (i, l) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if l.k == l.v {
                        write!(f, "{}", l.k)?;
                    } else {
                        write!(f, "{}/{}", l.k, l.v)?;
                    }
                }
                f.write_str("]")
            }
        }
    }
}

impl ContextParams {
    /// Per-layer K/V cache types. Anything but [`KvLayers::Uniform`] overrides
    /// [`ContextParams::type_k`] / [`ContextParams::type_v`] for the model's layers; it is
    /// checked against the model in [`Context::new`] (typed errors for a table of the
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
    /// assert!(matches!(p.get_kv_layers(), KvLayers::Hybrid { split: 6, .. }));
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
    /// The configured per-layer layout.
    pub fn get_kv_layers(&self) -> &KvLayers {
        &self.kv_layers
    }
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

/// One layer of a context's KV cache, as llama.cpp allocated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerCache {
    /// The model's layer index.
    pub layer: u32,
    /// K type, `None` if the layer has no KV cache of its own (e.g. a recurrent layer).
    pub k: Option<KvType>,
    /// V type, `None` if the layer has no V cache.
    pub v: Option<KvType>,
    /// Cells (token slots) the layer holds: `n_ctx` for full-attention layers, fewer for
    /// sliding-window layers of an iSWA cache.
    pub cells: u32,
}

impl LayerCache {
    /// Bytes this layer's K and V caches occupy, from the layer shapes: cells × (K row + V
    /// row), a row being `n_embd_k_gqa` (`n_embd_v_gqa`) elements of the layer's type.
    pub fn bytes(&self, n_embd_k_gqa: u32, n_embd_v_gqa: u32) -> u64 {
        let row = |t: Option<KvType>, n: u32| t.map_or(0.0, |t| t.bytes_per_element() * n as f64);
        (self.cells as f64 * (row(self.k, n_embd_k_gqa) + row(self.v, n_embd_v_gqa))).round() as u64
    }
}

/// How many cached layers use each K and V type: a summary of a context's per-layer
/// layout that stays `Copy` (the full list is [`Context::kv_layer_caches`]).
///
/// Displays as e.g. `K q8_0×6 q4_0×12, V q8_0×6 q4_0×12` (a uniform cache: `K f16×18, ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvLayerSummary {
    /// Layers that have a KV cache of their own.
    pub n_layers: u32,
    k: TypeCounts,
    v: TypeCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct TypeCounts {
    entries: [Option<(KvType, u32)>; 8],
}

impl TypeCounts {
    fn add(&mut self, t: KvType) {
        for e in self.entries.iter_mut() {
            match e {
                Some((et, n)) if *et == t => {
                    *n += 1;
                    return;
                }
                None => {
                    *e = Some((t, 1));
                    return;
                }
                _ => {}
            }
        }
        // More than 8 distinct types in one cache: not representable, not produced by
        // any layout this crate builds. Dropped from the summary.
    }
    fn iter(&self) -> impl Iterator<Item = (KvType, u32)> + '_ {
        self.entries.iter().flatten().copied()
    }
}

impl KvLayerSummary {
    pub(crate) fn from_layers(layers: &[LayerCache]) -> KvLayerSummary {
        let mut s = KvLayerSummary::default();
        for l in layers {
            if let Some(k) = l.k {
                s.n_layers += 1;
                s.k.add(k);
            }
            if let Some(v) = l.v {
                s.v.add(v);
            }
        }
        s
    }
    /// `(type, number of layers)` for the K caches, in layer order of first use.
    pub fn k_types(&self) -> impl Iterator<Item = (KvType, u32)> + '_ {
        self.k.iter()
    }
    /// `(type, number of layers)` for the V caches, in layer order of first use.
    pub fn v_types(&self) -> impl Iterator<Item = (KvType, u32)> + '_ {
        self.v.iter()
    }
    /// Whether every cached layer has the same K type and the same V type.
    pub fn is_uniform(&self) -> bool {
        self.k.iter().count() <= 1 && self.v.iter().count() <= 1
    }
}

impl fmt::Display for KvLayerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, c: &TypeCounts| -> fmt::Result {
            for (i, (t, n)) in c.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{t}×{n}")?;
            }
            Ok(())
        };
        f.write_str("K ")?;
        list(f, &self.k)?;
        f.write_str(", V ")?;
        list(f, &self.v)
    }
}

fn kv_type_from_raw(t: sys::ggml_type) -> Option<KvType> {
    (t < sys::GGML_TYPE_COUNT).then(|| KvType::from_raw(t))
}

impl Context<'_> {
    /// The K/V type and cell count of every model layer's cache, as llama.cpp allocated
    /// them (ground truth, for uniform and per-layer layouts alike). Empty if the
    /// model's memory is not a KV cache (a purely recurrent model).
    pub fn kv_layer_caches(&self) -> Vec<LayerCache> {
        let n = self.model().n_layer() as usize;
        let mut k = vec![sys::GGML_TYPE_COUNT; n];
        let mut v = vec![sys::GGML_TYPE_COUNT; n];
        let mut cells = vec![0u32; n];
        // SAFETY: valid context; each output buffer holds n entries, which is what we pass.
        let found = unsafe {
            sys::llama_get_kv_layer_types(
                self.as_ptr(),
                k.as_mut_ptr(),
                v.as_mut_ptr(),
                cells.as_mut_ptr(),
                n,
            )
        };
        if found < 0 {
            return Vec::new();
        }
        (0..n)
            .map(|il| LayerCache {
                layer: il as u32,
                k: kv_type_from_raw(k[il]),
                v: kv_type_from_raw(v[il]),
                cells: cells[il],
            })
            .collect()
    }

    /// The per-layer layout this context was created with.
    pub fn kv_layers(&self) -> &KvLayers {
        &self.kv_layers
    }
}
