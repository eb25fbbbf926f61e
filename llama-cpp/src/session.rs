//! Sequence state save/load (checked against the KV layout), context shifting (K-shift)
//! and evaluation that keeps the logits of every token.

use std::path::Path;

use edge_infer_llama_sys as sys;

use crate::backend;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::kv_layers::LayerCache;
use crate::token::Token;

/// Magic and version of the saved-state format written by [`Context::state_save`].
const STATE_MAGIC: &[u8; 8] = b"EIKVST01";

/// A little-endian reader over a saved state that turns truncation into an error.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::StateFormat(format!(
                "truncated: {n} more bytes expected, {} left",
                self.buf.len()
            )));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

fn describe(k: Option<i32>, v: Option<i32>) -> String {
    let name = |t: Option<i32>| match t {
        Some(t) if t >= 0 && t < sys::GGML_TYPE_COUNT as i32 => {
            crate::context::KvType::from_raw(t as sys::ggml_type).to_string()
        }
        Some(t) => format!("type #{t}"),
        None => "none".to_string(),
    };
    format!("K {} / V {}", name(k), name(v))
}

fn raw_types(layers: &[LayerCache], n_layer: usize) -> Vec<(i32, i32)> {
    let none = sys::GGML_TYPE_COUNT as i32;
    let mut out = vec![(none, none); n_layer];
    for l in layers {
        if let Some(slot) = out.get_mut(l.layer as usize) {
            *slot = (
                l.k.map_or(none, |t| t.raw() as i32),
                l.v.map_or(none, |t| t.raw() as i32),
            );
        }
    }
    out
}

impl Context<'_> {
    /// The raw llama.cpp context, for llama.cpp calls this crate does not wrap (through
    /// `edge_infer_llama_sys`). It stays owned by this `Context`. Changing the KV cache through
    /// it leaves [`Context::tokens`] out of step with the cache: call
    /// [`Context::clear`] afterwards, or only use what this crate's own methods tolerate.
    pub fn as_raw(&self) -> *mut sys::llama_context {
        self.as_ptr()
    }

    /// Saves the cached tokens and the KV cache of this conversation (sequence 0) to bytes.
    ///
    /// The bytes start with this context's per-layer K/V types; [`Context::state_load`]
    /// refuses them in a context whose layout differs ([`Error::StateLayoutMismatch`]).
    /// Logits are not saved: evaluate a token after loading before reading them.
    pub fn state_save(&self) -> Result<Vec<u8>> {
        let n_layer = self.model().n_layer() as usize;
        let layout = raw_types(&self.kv_layer_caches(), n_layer);
        // SAFETY: valid context; sequence 0 is the only one this crate uses.
        let size = unsafe { sys::llama_state_seq_get_size(self.as_ptr(), 0) };
        let tokens = self.tokens();
        let mut out = Vec::with_capacity(32 + 8 * n_layer + 4 * tokens.len() + size);
        out.extend_from_slice(STATE_MAGIC);
        out.extend_from_slice(&(n_layer as u32).to_le_bytes());
        for (k, v) in &layout {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
        for t in tokens {
            out.extend_from_slice(&t.0.to_le_bytes());
        }
        out.extend_from_slice(&(size as u64).to_le_bytes());
        let start = out.len();
        out.resize(start + size, 0);
        backend::clear_last_error();
        // SAFETY: the destination has `size` writable bytes, the size llama.cpp asked for.
        let written = unsafe {
            sys::llama_state_seq_get_data(self.as_ptr(), out[start..].as_mut_ptr(), size, 0)
        };
        if written != size {
            return Err(Error::StateSave(backend::take_last_error().unwrap_or_else(
                || format!("llama.cpp wrote {written} of {size} bytes"),
            )));
        }
        Ok(out)
    }

    /// Restores a state saved by [`Context::state_save`], replacing this context's cache.
    ///
    /// Refused with [`Error::StateLayoutMismatch`] if the state was saved by a context
    /// whose per-layer K/V types differ, with [`Error::StateFormat`] if the bytes are not
    /// such a state, and with [`Error::StateLoad`] if llama.cpp rejects the data (it checks
    /// every layer's type and row size again). On any error the cache is left empty.
    pub fn state_load(&mut self, bytes: &[u8]) -> Result<()> {
        let mut r = Reader { buf: bytes };
        if r.take(8).ok() != Some(&STATE_MAGIC[..]) {
            return Err(Error::StateFormat(
                "it does not start with the edge-infer state magic".into(),
            ));
        }
        let n_layer = self.model().n_layer() as usize;
        let saved_n_layer = r.u32()? as usize;
        if saved_n_layer != n_layer {
            return Err(Error::StateFormat(format!(
                "it was saved from a model with {saved_n_layer} layers, this one has {n_layer}"
            )));
        }
        let current = raw_types(&self.kv_layer_caches(), n_layer);
        for (il, cur) in current.iter().enumerate() {
            let saved = (r.i32()?, r.i32()?);
            if saved != *cur {
                let none = sys::GGML_TYPE_COUNT as i32;
                let opt = |t: i32| (t != none).then_some(t);
                return Err(Error::StateLayoutMismatch {
                    layer: il as u32,
                    saved: describe(opt(saved.0), opt(saved.1)),
                    current: describe(opt(cur.0), opt(cur.1)),
                });
            }
        }
        let n_tokens = r.u32()? as usize;
        if n_tokens > self.n_ctx() as usize {
            return Err(Error::StateFormat(format!(
                "it holds {n_tokens} tokens but this context's window is {}",
                self.n_ctx()
            )));
        }
        let mut tokens = Vec::with_capacity(n_tokens);
        for _ in 0..n_tokens {
            let t = Token(r.i32()?);
            self.model().check_token(t)?;
            tokens.push(t);
        }
        let size = r.u64()? as usize;
        let payload = r.take(size)?;
        self.clear();
        backend::clear_last_error();
        // SAFETY: payload is `size` readable bytes; llama.cpp validates what it reads and
        // returns 0 on any mismatch (after undoing what it had restored of that cache).
        let read =
            unsafe { sys::llama_state_seq_set_data(self.as_ptr(), payload.as_ptr(), size, 0) };
        if read == 0 {
            let reason = backend::take_last_error()
                .unwrap_or_else(|| "llama.cpp refused the state without a reason".into());
            // An iSWA or hybrid cache may have restored one part before refusing another.
            self.clear();
            return Err(Error::StateLoad(reason));
        }
        *self.tokens_mut() = tokens;
        Ok(())
    }

    /// [`Context::state_save`] to a file.
    pub fn state_save_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.state_save()?;
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// [`Context::state_load`] from a file.
    pub fn state_load_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.state_load(&bytes)
    }

    /// Whether the cache can shift positions (see [`Context::discard`]). False for
    /// M-RoPE models and for iSWA caches whose sliding-window part is smaller than the
    /// context (use [`crate::ContextParams::swa_full`]).
    pub fn can_shift(&self) -> bool {
        // SAFETY: valid context and its memory.
        unsafe { sys::llama_memory_can_shift(sys::llama_get_memory(self.as_ptr())) }
    }

    /// Drops `n` cached tokens starting at `start` and moves the later ones back by `n`
    /// positions, without recomputing them: llama.cpp re-rotates their cached keys
    /// (K-shift) before the next evaluation. This is the classic context shift.
    pub fn discard(&mut self, start: usize, n: usize) -> Result<()> {
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
        self.tokens_mut().drain(start..start + n);
        Ok(())
    }

    /// Evaluates `tokens` after those already cached (in chunks of n_batch) and calls
    /// `f(i, logits)` with the logits of every one of them, `i` counting from 0 within
    /// `tokens`. Tokens before `first_output` get no logits (and cost less). The last
    /// token's logits stay available through [`Context::logits`].
    pub fn eval_with_logits<F>(
        &mut self,
        tokens: &[Token],
        first_output: usize,
        mut f: F,
    ) -> Result<()>
    where
        F: FnMut(usize, &[f32]),
    {
        if tokens.is_empty() {
            return Ok(());
        }
        let used = self.tokens().len();
        if used + tokens.len() > self.n_ctx() as usize {
            return Err(Error::PromptTooLong {
                needed: tokens.len(),
                used,
                n_ctx: self.n_ctx() as usize,
            });
        }
        for &t in tokens {
            self.model().check_token(t)?;
        }
        let n_vocab = self.model().n_vocab() as usize;
        let n_batch = self.n_batch() as usize;
        self.set_logits_valid(false);
        // A cancel made before this call was aimed at an earlier run.
        self.cancel_flag()
            .store(false, std::sync::atomic::Ordering::Release);
        // Continue after the last cached position (as llama_batch_get_one does): normally
        // the number of cached tokens, but not after raw calls through `as_raw`.
        // SAFETY: valid context and memory.
        let pos0 =
            unsafe { sys::llama_memory_seq_pos_max(sys::llama_get_memory(self.as_ptr()), 0) + 1 };
        // SAFETY: allocates a batch for n_batch tokens, one sequence id each; freed by Batch.
        let batch = Batch(unsafe { sys::llama_batch_init(n_batch as i32, 0, 1) });
        for (c, chunk) in tokens.chunks(n_batch).enumerate() {
            let base = c * n_batch;
            let mut b = batch.0;
            b.n_tokens = chunk.len() as i32;
            for (j, t) in chunk.iter().enumerate() {
                let i = base + j;
                // SAFETY: j < n_batch, the capacity of every array of the batch; seq_id[j]
                // points at room for one id (n_seq_max = 1 in llama_batch_init).
                unsafe {
                    *b.token.add(j) = t.0;
                    *b.pos.add(j) = pos0 + i as i32;
                    *b.n_seq_id.add(j) = 1;
                    **b.seq_id.add(j) = 0;
                    *b.logits.add(j) = (i >= first_output || i + 1 == tokens.len()) as i8;
                }
            }
            // SAFETY: valid context; the batch is initialised for its first n_tokens entries.
            let rc = unsafe { sys::llama_decode(self.as_ptr(), b) };
            if rc != 0 {
                // Forget partial ubatches so the cache matches the token list again.
                let n = self.tokens().len() as i32;
                // SAFETY: valid context and memory.
                unsafe { sys::llama_memory_seq_rm(sys::llama_get_memory(self.as_ptr()), 0, n, -1) };
                return Err(Error::Decode {
                    code: rc,
                    reason: match rc {
                        1 => "no KV cache slot for the batch (the context is full)",
                        2 => "cancelled",
                        _ => "llama.cpp failed to evaluate the batch",
                    },
                });
            }
            self.tokens_mut().extend_from_slice(chunk);
            for j in 0..chunk.len() {
                let i = base + j;
                if i < first_output && i + 1 != tokens.len() {
                    continue;
                }
                // SAFETY: valid context; output j of the last decode was requested above.
                let p = unsafe { sys::llama_get_logits_ith(self.as_ptr(), j as i32) };
                if p.is_null() {
                    return Err(Error::Decode {
                        code: -1,
                        reason: "llama.cpp returned no logits for a requested output",
                    });
                }
                // SAFETY: llama.cpp keeps n_vocab floats per output row, valid until the
                // next decode (which needs &mut self, so not during `f`).
                f(i, unsafe { std::slice::from_raw_parts(p, n_vocab) });
            }
        }
        self.set_logits_valid(true);
        Ok(())
    }
}

/// Frees a llama_batch on drop.
struct Batch(sys::llama_batch);

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: allocated by llama_batch_init and freed exactly once.
        unsafe { sys::llama_batch_free(self.0) }
    }
}
