//! Evaluating tokens: the decode loop over llama.cpp's batches.

use std::sync::atomic::Ordering;

use edge_infer_llama_sys as sys;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::token::Token;

impl Context<'_> {
    /// Evaluates `tokens` after those already cached, in chunks of n_batch. Only the
    /// last token's logits are kept (see [`Context::logits`]). A [`CancelHandle`](crate::CancelHandle)
    /// stops it (`Error::Decode` with code 2); a cancel made before the call is for an
    /// earlier run and is ignored, as in generation.
    pub fn eval(&mut self, tokens: &[Token]) -> Result<()> {
        self.cancel_flag().store(false, Ordering::Release);
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
        if used + tokens.len() > self.n_ctx() as usize {
            return Err(Error::PromptTooLong {
                needed: tokens.len(),
                used,
                n_ctx: self.n_ctx() as usize,
            });
        }
        for &t in tokens {
            self.model.check_token(t)?;
        }
        self.logits_valid = false;
        for chunk in tokens.chunks(self.n_batch() as usize) {
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
        self.logits_valid = false;
        // A cancel made before this call was aimed at an earlier run.
        self.cancel_flag().store(false, Ordering::Release);
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
            self.tokens.extend_from_slice(chunk);
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
        self.logits_valid = true;
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
