//! The KV cache: element types, flash attention, per-layer layouts, what llama.cpp
//! allocated, and the cache operations of a [`Context`](crate::Context).

mod cache;
mod flash;
pub(crate) mod kv_type;
mod layers;
mod summary;

pub use flash::FlashAttention;
pub use kv_type::KvType;
pub use layers::{KvLayers, LayerKv};
pub use summary::{KvLayerSummary, LayerCache};
