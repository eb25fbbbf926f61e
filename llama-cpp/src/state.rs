//! Saving and restoring a context's state: the cached tokens and the KV cache of its
//! sequence, checked against the per-layer KV layout.

use std::path::Path;

use edge_infer_llama_sys as sys;

use crate::backend;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::kv::kv_type::type_name;
use crate::kv::LayerCache;
use crate::shim;
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
        Some(t) => u32::try_from(t)
            .ok()
            .and_then(type_name)
            .map_or_else(|| format!("type #{t}"), str::to_string),
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
    /// Saves the cached tokens and the KV cache of this conversation (sequence 0) to bytes.
    ///
    /// The bytes start with this context's per-layer K/V types; [`Context::state_load`]
    /// refuses them in a context whose layout differs ([`Error::StateLayoutMismatch`]).
    /// Logits are not saved: evaluate a token after loading before reading them.
    pub fn state_save(&self) -> Result<Vec<u8>> {
        self.usable()?;
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
        let mut written = 0;
        let ctx = self.as_ptr();
        let dst = out[start..].as_mut_ptr();
        shim::guarded(
            // SAFETY: the destination has `size` writable bytes, the size llama.cpp asked for.
            |err, len| unsafe {
                sys::edge_llama_state_seq_get_data(ctx, dst, size, 0, &mut written, err, len)
            },
            Error::StateSave,
        )?;
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
    /// every layer's type and row size again), or if the token list does not match the
    /// positions in the restored cache. On any error the cache is left empty.
    pub fn state_load(&mut self, bytes: &[u8]) -> Result<()> {
        let loaded = self.state_load_inner(bytes);
        if loaded.is_err() {
            self.clear();
        }
        loaded
    }

    fn state_load_inner(&mut self, bytes: &[u8]) -> Result<()> {
        self.usable()?;
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
        let size = usize::try_from(r.u64()?)
            .map_err(|_| Error::StateFormat("its KV payload is larger than memory".into()))?;
        let payload = r.take(size)?;
        self.clear();
        backend::clear_last_error();
        let mut read = 0;
        let ctx = self.as_ptr();
        shim::guarded(
            // SAFETY: payload is `size` readable bytes; llama.cpp validates what it reads and
            // returns 0 on any mismatch (after undoing what it had restored of that cache).
            |err, len| unsafe {
                sys::edge_llama_state_seq_set_data(
                    ctx,
                    payload.as_ptr(),
                    size,
                    0,
                    &mut read,
                    err,
                    len,
                )
            },
            shim::exception("llama_state_seq_set_data"),
        )
        .inspect_err(|e| self.poison(e))?;
        if read == 0 {
            let reason = backend::take_last_error()
                .unwrap_or_else(|| "llama.cpp refused the state without a reason".into());
            return Err(Error::StateLoad(reason));
        }
        // The token list must describe the cache it came with, or prefix reuse would reuse
        // the wrong tokens.
        // SAFETY: valid context and its memory.
        let pos_max = unsafe { sys::llama_memory_seq_pos_max(sys::llama_get_memory(ctx), 0) };
        let cached = (pos_max + 1).max(0) as usize;
        if cached != n_tokens {
            return Err(Error::StateFormat(format!(
                "its token list has {n_tokens} tokens but its KV cache holds {cached} positions"
            )));
        }
        self.tokens = tokens;
        self.logits_valid = false;
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
}
