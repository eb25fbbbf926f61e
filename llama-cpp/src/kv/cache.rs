//! KV cache operations on a [`Context`]: clearing, truncating, shifting (K-shift), and
//! the per-layer layout llama.cpp allocated.

use edge_infer_llama_sys as sys;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::kv::{KvLayers, KvType, LayerCache};

impl Context<'_> {
    /// Empties the KV cache.
    pub fn clear(&mut self) {
        if self.is_poisoned() {
            return;
        }
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
    pub(crate) fn cut_cache_to(&mut self, n: usize) {
        if self.is_poisoned() {
            return;
        }
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

    /// Whether the cache can shift positions (see [`Context::discard`]). False for
    /// M-RoPE models and for iSWA caches whose sliding-window part is smaller than the
    /// context (use [`ContextParams::swa_full`](crate::ContextParams::swa_full)).
    pub fn can_shift(&self) -> bool {
        if self.is_poisoned() {
            return false;
        }
        // SAFETY: valid context and its memory.
        unsafe { sys::llama_memory_can_shift(sys::llama_get_memory(self.as_ptr())) }
    }

    /// Drops `n` cached tokens starting at `start` and moves the later ones back by `n`
    /// positions, without recomputing them: llama.cpp re-rotates their cached keys
    /// (K-shift) before the next evaluation. This is the classic context shift.
    pub fn discard(&mut self, start: usize, n: usize) -> Result<()> {
        self.usable()?;
        let len = self.tokens().len();
        if !matches!(start.checked_add(n), Some(end) if end <= len) {
            return Err(Error::InvalidParameter {
                name: "discard range",
                reason: format!(
                    "{start}..{} is outside the {len} cached tokens",
                    start.saturating_add(n)
                ),
            });
        }
        if n == 0 {
            return Ok(());
        }
        if !self.can_shift() {
            return Err(Error::KvShiftUnsupported);
        }
        let (p0, p1) = (start as i32, (start + n) as i32);
        // SAFETY: valid context and memory; positions are below n_ctx, so within i32.
        let ok = unsafe {
            let mem = sys::llama_get_memory(self.as_ptr());
            let ok = sys::llama_memory_seq_rm(mem, 0, p0, p1);
            if ok {
                sys::llama_memory_seq_add(mem, 0, p1, -1, -(n as i32));
            }
            ok
        };
        if !ok {
            return Err(Error::KvShiftUnsupported);
        }
        self.tokens.drain(start..start + n);
        self.logits_valid = false;
        Ok(())
    }

    /// The K/V type and cell count of every model layer's cache, as llama.cpp allocated
    /// them (ground truth, for uniform and per-layer layouts alike). Empty if the
    /// model's memory is not a KV cache (a purely recurrent model), and for a poisoned
    /// context.
    pub fn kv_layer_caches(&self) -> Vec<LayerCache> {
        if self.is_poisoned() {
            return Vec::new();
        }
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
                k: KvType::from_raw(k[il]),
                v: KvType::from_raw(v[il]),
                cells: cells[il],
            })
            .collect()
    }

    /// The per-layer layout this context was created with.
    pub fn kv_layers(&self) -> &KvLayers {
        &self.kv_layers
    }
}
