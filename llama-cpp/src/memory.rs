//! What a context costs in memory, as llama.cpp accounts it.

use edge_infer_llama_sys as sys;

use crate::context::Context;
use crate::kv::{KvLayerSummary, KvType};

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

impl Context<'_> {
    /// Memory llama.cpp accounts to this context, with the cache types (zeros for a
    /// poisoned context).
    pub fn memory_report(&self) -> MemoryReport {
        let (mut m, mut c, mut k) = (0usize, 0usize, 0usize);
        if !self.is_poisoned() {
            // SAFETY: valid context; out-pointers are valid locals. The shim catches C++
            // exceptions; on failure the zeros stay.
            unsafe { sys::edge_llama_memory_breakdown(self.as_ptr(), &mut m, &mut c, &mut k) };
        }
        MemoryReport {
            model_bytes: m as u64,
            kv_bytes: c as u64,
            compute_bytes: k as u64,
            type_k: self.type_k,
            type_v: self.type_v,
            kv_layers: KvLayerSummary::from_layers(&self.kv_layer_caches()),
        }
    }
}
