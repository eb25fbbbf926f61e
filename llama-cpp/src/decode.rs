//! Evaluating tokens: the one decode loop over llama.cpp's batches, behind
//! [`Context::eval`], [`Context::eval_with_logits`] and generation.
//!
//! One loop means one set of rules: the prompt must fit the window and every id the
//! vocabulary; tokens are evaluated in chunks of `n_batch` from the last cached position
//! on; a chunk that completed stays cached; a failed or cancelled chunk is cut back out
//! of the cache with `cut_cache_to`, so [`Context::tokens`] always describes the cache. A
//! C++ exception out of llama_decode poisons the context instead ([`Error::Poisoned`]).

use std::sync::atomic::Ordering;

use edge_infer_llama_sys as sys;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::shim;
use crate::token::Token;

/// How a decode ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Every token was evaluated.
    Done,
    /// The cancel flag stopped it; the chunks before the interrupted one stay cached.
    Cancelled,
}

/// The callback of [`Context::eval_with_logits`]: index within the call and logits row.
type OnLogits<'f> = &'f mut dyn FnMut(usize, &[f32]);

impl Context<'_> {
    /// Evaluates `tokens` after those already cached, in chunks of n_batch. Only the
    /// last token's logits are kept (see [`Context::logits`]).
    ///
    /// A [`CancelHandle`](crate::CancelHandle) stops it with [`Error::Cancelled`]; a
    /// cancel made before the call is for an earlier run and is ignored, as in
    /// generation.
    pub fn eval(&mut self, tokens: &[Token]) -> Result<()> {
        self.cancel_flag().store(false, Ordering::Release);
        match self.decode(tokens, None)? {
            Decoded::Done => Ok(()),
            Decoded::Cancelled => Err(Error::Cancelled),
        }
    }

    /// Evaluates `tokens` after those already cached (in chunks of n_batch) and calls
    /// `f(i, logits)` with the logits of every one of them, `i` counting from 0 within
    /// `tokens`. Tokens before `first_output` get no logits (and cost less); the last one
    /// always does, and stays available through [`Context::logits`].
    ///
    /// Cancelling works as in [`Context::eval`].
    pub fn eval_with_logits<F>(
        &mut self,
        tokens: &[Token],
        first_output: usize,
        mut f: F,
    ) -> Result<()>
    where
        F: FnMut(usize, &[f32]),
    {
        self.cancel_flag().store(false, Ordering::Release);
        match self.decode(tokens, Some((first_output, &mut f)))? {
            Decoded::Done => Ok(()),
            Decoded::Cancelled => Err(Error::Cancelled),
        }
    }

    /// Checks that `tokens` fit after the cached ones and are all in the vocabulary.
    pub(crate) fn check_fits(&self, tokens: &[Token]) -> Result<()> {
        let used = self.tokens.len();
        let n_ctx = self.n_ctx() as usize;
        if used + tokens.len() > n_ctx {
            return Err(Error::PromptTooLong {
                needed: tokens.len(),
                used,
                n_ctx,
            });
        }
        tokens.iter().try_for_each(|&t| self.model.check_token(t))
    }

    /// The decode loop. Logits are requested for the last token, and with `outputs =
    /// Some((first, f))` for every token from `first` on, each handed to `f`. Does not
    /// touch the cancel flag: callers decide which cancels count.
    pub(crate) fn decode(
        &mut self,
        tokens: &[Token],
        mut outputs: Option<(usize, OnLogits<'_>)>,
    ) -> Result<Decoded> {
        self.usable()?;
        if tokens.is_empty() {
            return Ok(Decoded::Done);
        }
        self.check_fits(tokens)?;
        let first_output = outputs.as_ref().map_or(tokens.len() - 1, |o| o.0);
        let wanted = |i: usize| i >= first_output || i + 1 == tokens.len();
        self.logits_valid = false;
        // Continue after the last cached position, as llama_batch_get_one would: the number
        // of cached tokens, unless the cache was changed through `as_raw`.
        // SAFETY: valid context and its memory.
        let pos0 =
            unsafe { sys::llama_memory_seq_pos_max(sys::llama_get_memory(self.as_ptr()), 0) } + 1;
        let n_batch = self.batch.capacity();
        for (c, chunk) in tokens.chunks(n_batch).enumerate() {
            let base = c * n_batch;
            // Positions fit i32: check_fits bounds them by n_ctx.
            let batch = self
                .batch
                .fill(chunk, pos0 + base as i32, |j| wanted(base + j));
            let ctx = self.as_ptr();
            let mut rc = 0;
            let caught = shim::guarded(
                // SAFETY: valid context; the batch's first chunk.len() entries were just
                // written and its arrays live in `self.batch`, untouched until the next fill.
                |err, len| unsafe { sys::edge_llama_decode(ctx, batch, &mut rc, err, len) },
                shim::exception("llama_decode"),
            );
            if let Err(e) = caught {
                // Nothing may call into the context any more, a cleanup included.
                self.poison(&e);
                return Err(e);
            }
            match rc {
                0 => self.tokens.extend_from_slice(chunk),
                2 => {
                    // Aborted: partial ubatches stay in the cache; forget them.
                    self.cut_cache_to(self.tokens.len());
                    return Ok(Decoded::Cancelled);
                }
                code => {
                    self.cut_cache_to(self.tokens.len());
                    return Err(Error::Decode {
                        code,
                        reason: decode_failure(code),
                    });
                }
            }
            if let Some((_, f)) = outputs.as_mut() {
                for j in (0..chunk.len()).filter(|&j| wanted(base + j)) {
                    let row = self.logits_row(j as i32).ok_or(Error::Decode {
                        code: -1,
                        reason: "llama.cpp returned no logits for a requested output",
                    })?;
                    f(base + j, row);
                }
            }
        }
        self.logits_valid = true;
        Ok(Decoded::Done)
    }
}

fn decode_failure(code: i32) -> &'static str {
    match code {
        1 => "no KV cache slot for the batch (the context is full)",
        -1 => "invalid batch",
        _ => "llama.cpp failed to evaluate the batch",
    }
}

/// A llama_batch for up to `capacity` tokens of sequence 0, allocated once per context
/// and refilled for every decode, so that the per-token path allocates nothing.
pub(crate) struct Batch {
    raw: sys::llama_batch,
    capacity: usize,
}

// SAFETY: plain heap arrays owned by this value, with no thread affinity; `&mut self` on
// every write keeps access exclusive.
unsafe impl Send for Batch {}

impl Batch {
    pub(crate) fn new(capacity: u32) -> Batch {
        // n_batch comes from llama_n_batch, which llama.cpp caps at n_ctx.
        let capacity = capacity.clamp(1, i32::MAX as u32);
        // SAFETY: allocates arrays for `capacity` tokens (no embeddings), one sequence id
        // each; freed in Drop.
        let raw = unsafe { sys::llama_batch_init(capacity as i32, 0, 1) };
        Batch {
            raw,
            capacity: capacity as usize,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Writes `chunk` at positions `pos0..`, asking for logits where `output(j)`, and
    /// returns the batch to hand to llama_decode.
    fn fill(
        &mut self,
        chunk: &[Token],
        pos0: i32,
        output: impl Fn(usize) -> bool,
    ) -> sys::llama_batch {
        assert!(chunk.len() <= self.capacity, "chunk larger than the batch");
        let b = self.raw;
        for (j, t) in chunk.iter().enumerate() {
            // SAFETY: j < capacity, the length of every array llama_batch_init allocated;
            // seq_id[j] points at room for one id (n_seq_max = 1).
            unsafe {
                *b.token.add(j) = t.0;
                *b.pos.add(j) = pos0 + j as i32;
                *b.n_seq_id.add(j) = 1;
                **b.seq_id.add(j) = 0;
                *b.logits.add(j) = output(j) as i8;
            }
        }
        sys::llama_batch {
            n_tokens: chunk.len() as i32,
            ..b
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: allocated by llama_batch_init and freed exactly once.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}
