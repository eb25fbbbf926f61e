//! Which sampler a generation draws from: a chain or llama-server's chat sampler.

use std::ptr::NonNull;

use edge_infer_llama_sys as sys;

use crate::chat::ChatSampler;
use crate::error::{Error, Result};
use crate::sampling::Sampler;
use crate::shim;
use crate::token::Token;

/// The sampler a generation draws its tokens from: a [`Sampler`] chain, or a
/// [`ChatSampler`] (a chat reply's grammar and reasoning budget). Both convert from
/// `&mut`, so `ctx.generate(prompt, &mut sampler, opts)` takes either.
#[derive(Debug)]
pub enum SamplerRef<'s, 'm> {
    /// A sampler chain.
    Chain(&'s mut Sampler<'m>),
    /// llama-server's chat sampler.
    Chat(&'s mut ChatSampler<'m>),
}

impl<'s, 'm> From<&'s mut Sampler<'m>> for SamplerRef<'s, 'm> {
    fn from(s: &'s mut Sampler<'m>) -> Self {
        SamplerRef::Chain(s)
    }
}

impl<'s, 'm> From<&'s mut ChatSampler<'m>> for SamplerRef<'s, 'm> {
    fn from(s: &'s mut ChatSampler<'m>) -> Self {
        SamplerRef::Chat(s)
    }
}

impl SamplerRef<'_, '_> {
    /// Tells a chain the context size (its whole-context penalty window). The chat sampler
    /// takes its window from its own parameters.
    pub(crate) fn bind_context(&mut self, n_ctx: u32) {
        if let SamplerRef::Chain(s) = self {
            s.bind_context(n_ctx);
        }
    }

    pub(crate) fn model_ptr(&self) -> *const sys::llama_model {
        match self {
            SamplerRef::Chain(s) => s.model_ptr(),
            SamplerRef::Chat(s) => s.model_ptr(),
        }
    }

    /// The pointer form the engine keeps. The lifetimes are erased here and restored by the
    /// engine's `PhantomData<&'c mut ()>`: the engine never outlives the borrow it was made
    /// from.
    pub(crate) fn into_raw(self) -> RawSampler {
        match self {
            SamplerRef::Chain(s) => {
                RawSampler::Chain(NonNull::new(s.as_ptr()).expect("a Sampler is never NULL"))
            }
            SamplerRef::Chat(s) => RawSampler::Chat(NonNull::from(s).cast()),
        }
    }
}

/// A sampler held by the engine as a pointer, so that the sampler's own model lifetime
/// does not leak into the engine's type.
pub(crate) enum RawSampler {
    Chain(NonNull<sys::llama_sampler>),
    Chat(NonNull<ChatSampler<'static>>),
}

impl RawSampler {
    /// Samples from the last decode's last logits and accepts the token.
    ///
    /// # Safety
    /// The pointer must come from a borrow that is still live and unaliased (the engine's),
    /// and `ctx` must be a live context of the sampler's model whose last decode produced
    /// logits for its last token.
    pub(crate) unsafe fn sample(&mut self, ctx: *mut sys::llama_context) -> Result<Token> {
        match self {
            RawSampler::Chain(p) => {
                let mut raw = 0;
                let smpl = p.as_ptr();
                // Through the shim: a grammar that allows no token makes llama.cpp throw.
                shim::guarded(
                    // SAFETY: valid sampler and context (the caller's contract).
                    |err, len| unsafe {
                        sys::edge_llama_sampler_sample(smpl, ctx, -1, &mut raw, err, len)
                    },
                    Error::Sampling,
                )?;
                Ok(Token(raw))
            }
            // SAFETY: the pointer is the caller's live, unaliased `&mut ChatSampler`.
            RawSampler::Chat(p) => unsafe { p.as_mut() }.sample(ctx, -1),
        }
    }
}
