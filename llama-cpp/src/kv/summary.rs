//! What llama.cpp allocated: the type and size of every layer's cache, and a summary.

use std::fmt;

use crate::kv::KvType;

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
/// layout that stays `Copy` (the full list is [`Context::kv_layer_caches`](crate::Context::kv_layer_caches)).
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
