//! Per-layer K/V cache types: an explicit per-layer table, or the `Hybrid` convenience
//! (the first `split` layers in one type, the rest in another).
//!
//! Upstream llama.cpp has one K type and one V type for the whole cache. The patch in
//! `llama-cpp-sys/patches/` adds `llama_init_from_model_kv_layers`, which this crate uses
//! when [`ContextParams::kv_layers`](crate::ContextParams::kv_layers) is anything but
//! [`KvLayers::Uniform`]. See `docs/KV_CACHE.md` for what the layouts cost and save on the
//! default model.
//!
//! ```
//! use edge_infer_llama::{Context, ContextParams, KvLayers, KvType, Model};
//! # fn main() -> edge_infer_llama::Result<()> {
//! # let path = xtask::default_model().unwrap();
//! let model = Model::load(path, &Default::default())?; // gemma-3-270m: 18 layers
//! // Layers 0..6 keep K and V in q8_0, layers 6.. in q4_0.
//! let params = ContextParams::default().n_ctx(8192).kv_hybrid(6, KvType::Q8_0, KvType::Q4_0);
//! let ctx = Context::new(&model, &params)?;
//! assert_eq!(ctx.memory_report().kv_layers.to_string(), "K q8_0×6 q4_0×12, V q8_0×6 q4_0×12");
//! # Ok(()) }
//! ```

use std::fmt;

use crate::error::{Error, Result};
use crate::kv::KvType;

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
    /// Every layer uses [`ContextParams::type_k`](crate::ContextParams::type_k) /
    /// [`ContextParams::type_v`](crate::ContextParams::type_v): upstream
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
    /// assert_eq!(t.to_string(), "table:f16,q8_0/q4_0");
    /// assert_eq!(h.to_string().parse::<KvLayers>().unwrap(), h);
    /// assert!("hybrid:x:q8_0:q4_0".parse::<KvLayers>().is_err());
    /// // Only cache types: ggml's weight-only types have no cache kernels.
    /// let e = "table:f16,iq2_xxs".parse::<KvLayers>().unwrap_err();
    /// assert_eq!(e.to_string().split(';').next(), Some("`iq2_xxs` (layer 1) is not a KV cache type llama.cpp supports"));
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
                early: parse_at(early, || format!("the early layers 0..{split}"), None)?,
                late: parse_at(late, || format!("the late layers {split}.."), None)?,
            });
        }
        if let Some(rest) = s.strip_prefix("table:") {
            let table = rest
                .split(',')
                .enumerate()
                .map(|(il, e)| {
                    let layer = Some(il as u32);
                    match e.split_once('/') {
                        Some((k, v)) => Ok(LayerKv::new(
                            parse_at(k, || format!("layer {il} K"), layer)?,
                            parse_at(v, || format!("layer {il} V"), layer)?,
                        )),
                        None => Ok(LayerKv::both(parse_at(e, || format!("layer {il}"), layer)?)),
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(KvLayers::Table(table));
        }
        Err(bad(format!(
            "`{s}` is not `uniform`, `hybrid:SPLIT:EARLY:LATE` or `table:T,T,...`"
        )))
    }
}

/// Parses one type of a layout, naming where it stands if it is not a cache type.
fn parse_at(s: &str, at: impl FnOnce() -> String, layer: Option<u32>) -> Result<KvType> {
    s.parse().map_err(|e| match e {
        Error::UnsupportedKvType { name, .. } => Error::UnsupportedKvType {
            name,
            at: at(),
            layer,
        },
        Error::InvalidParameter { name, reason } => Error::InvalidParameter {
            name,
            reason: format!("{} ({reason})", at()),
        },
        other => other,
    })
}

/// The registry's syntax, which [`FromStr`](std::str::FromStr) parses back.
impl fmt::Display for KvLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvLayers::Uniform => f.write_str("uniform"),
            KvLayers::Hybrid { split, early, late } => write!(f, "hybrid:{split}:{early}:{late}"),
            KvLayers::Table(t) => {
                f.write_str("table:")?;
                for (i, l) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if l.k == l.v {
                        write!(f, "{}", l.k)?;
                    } else {
                        write!(f, "{}/{}", l.k, l.v)?;
                    }
                }
                Ok(())
            }
        }
    }
}
