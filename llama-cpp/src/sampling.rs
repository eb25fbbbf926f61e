//! Sampling: a builder over llama.cpp's sampler chain.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ptr::NonNull;

use edge_infer_llama_sys as sys;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::shim;
use crate::token::Token;

/// How to pick the next token. Build one with [`Sampling::greedy`] or by setting a
/// temperature; turn it into a [`Sampler`] with [`Sampling::build`].
///
/// The chain is llama.cpp's usual order: penalties, top-k, top-p, min-p, temperature,
/// then a seeded random draw (or argmax when greedy).
///
/// ```
/// use edge_infer_llama::Sampling;
/// let s = Sampling::default().temperature(0.7).top_k(40).top_p(0.95).seed(42);
/// assert!(!s.is_greedy());
/// assert!(Sampling::greedy().is_greedy());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub(crate) temperature: f32,
    pub(crate) top_k: i32,
    pub(crate) top_p: f32,
    pub(crate) min_p: f32,
    pub(crate) repeat_penalty: f32,
    pub(crate) frequency_penalty: f32,
    pub(crate) presence_penalty: f32,
    pub(crate) penalty_last_n: i32,
    pub(crate) seed: u32,
    pub(crate) grammar: Option<String>,
}

impl Default for Sampling {
    /// llama.cpp's CLI defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no penalties.
    fn default() -> Self {
        Sampling {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            seed: sys::LLAMA_DEFAULT_SEED,
            grammar: None,
        }
    }
}

impl Sampling {
    /// Always the most likely token (deterministic).
    pub fn greedy() -> Self {
        Sampling {
            temperature: 0.0,
            ..Default::default()
        }
    }
    /// Temperature; 0 means greedy.
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = t;
        self
    }
    /// Keep the k most likely tokens (0 = off).
    pub fn top_k(mut self, k: i32) -> Self {
        self.top_k = k;
        self
    }
    /// Nucleus sampling threshold (1.0 = off).
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = p;
        self
    }
    /// Drop tokens below `p` × the top probability (0 = off).
    pub fn min_p(mut self, p: f32) -> Self {
        self.min_p = p;
        self
    }
    /// Repetition penalty (1.0 = off).
    pub fn repeat_penalty(mut self, p: f32) -> Self {
        self.repeat_penalty = p;
        self
    }
    /// Frequency penalty (0 = off).
    pub fn frequency_penalty(mut self, p: f32) -> Self {
        self.frequency_penalty = p;
        self
    }
    /// Presence penalty (0 = off).
    pub fn presence_penalty(mut self, p: f32) -> Self {
        self.presence_penalty = p;
        self
    }
    /// How many recent tokens the penalties look at: 0 = off, -1 = the context window
    /// (`n_ctx` of the first context the sampler generates with).
    pub fn penalty_last_n(mut self, n: i32) -> Self {
        self.penalty_last_n = n;
        self
    }
    /// Seed of the random draw.
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = seed;
        self
    }
    /// Constrains the output to a GBNF grammar whose start rule is `root` (llama.cpp's
    /// grammar syntax; `<[id]>` matches one token by id, `<name>` a special token by
    /// text). The grammar is parsed by [`Sampling::build`]; once it is complete only an
    /// end-of-generation token is allowed, so generation stops there.
    ///
    /// ```
    /// # fn main() -> edge_infer_llama::Result<()> {
    /// # let model = edge_infer_llama::Model::load(xtask::default_model().unwrap(), &Default::default())?;
    /// use edge_infer_llama::{Context, ContextParams, GenerateOptions, Sampling};
    /// let mut yes_no = Sampling::greedy().grammar(r#"root ::= "yes" | "no""#).build(&model)?;
    /// let mut ctx = Context::new(&model, &ContextParams::default().n_ctx(256))?;
    /// let mut answer = String::new();
    /// ctx.generate_with("Is the sky blue? Answer:", &mut yes_no, GenerateOptions::default(), |t| {
    ///     answer.push_str(t);
    ///     std::ops::ControlFlow::Continue(())
    /// })?;
    /// assert!(answer == "yes" || answer == "no");
    /// # Ok(()) }
    /// ```
    pub fn grammar(mut self, gbnf: impl Into<String>) -> Self {
        self.grammar = Some(gbnf.into());
        self
    }
    /// Whether this picks the argmax.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if !self.temperature.is_finite() {
            return bad("temperature", format!("{} is not finite", self.temperature));
        }
        if self.top_k < 0 {
            return bad("top_k", format!("{} is negative", self.top_k));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad("top_p", format!("{} is outside 0..=1", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", format!("{} is outside 0..=1", self.min_p));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad(
                "repeat_penalty",
                format!("{} must be positive (1.0 = off)", self.repeat_penalty),
            );
        }
        if !self.frequency_penalty.is_finite() || !self.presence_penalty.is_finite() {
            return bad("frequency/presence penalty", "must be finite".into());
        }
        if let Some(g) = &self.grammar {
            if g.trim().is_empty() {
                return bad("grammar", "the grammar is empty".into());
            }
        }
        if self.penalty_last_n < -1 {
            return bad(
                "penalty_last_n",
                format!("{} is below -1", self.penalty_last_n),
            );
        }
        Ok(())
    }

    /// Builds the sampler chain for `model`.
    pub fn build<'m>(&self, model: &'m Model) -> Result<Sampler<'m>> {
        self.validate()?;
        if let Some(g) = &self.grammar {
            // llama.cpp accepts unknown ids here and then throws while sampling.
            let n_vocab = model.n_vocab();
            for id in grammar_token_ids(g) {
                if !id.parse::<i32>().is_ok_and(|t| (0..n_vocab).contains(&t)) {
                    return Err(Error::InvalidParameter {
                        name: "grammar",
                        reason: format!(
                            "token <[{id}]> is not a token id of this model (0..{n_vocab})"
                        ),
                    });
                }
            }
        }
        // SAFETY: plain getter and constructor.
        let chain = unsafe {
            let mut cp = sys::llama_sampler_chain_default_params();
            cp.no_perf = true;
            sys::llama_sampler_chain_init(cp)
        };
        let chain = NonNull::new(chain).ok_or_else(|| Error::InvalidParameter {
            name: "sampling",
            reason: "llama.cpp could not create a sampler chain".into(),
        })?;
        // From here on the Sampler owns the chain (and frees it on an early return).
        let mut sampler = Sampler {
            raw: chain,
            grammar: None,
            deferred: None,
            model: model.as_ptr(),
            n_vocab: model.n_vocab(),
            _model: PhantomData,
        };
        // The grammar goes first, so everything after it only sees allowed tokens.
        if let Some(g) = &self.grammar {
            let gbnf = crate::error::cstring("the grammar", g)?;
            // SAFETY: the vocab outlives the sampler (a Sampler borrows its model) and
            // llama.cpp copies the grammar strings.
            let gs = unsafe {
                sys::edge_llama_sampler_init_grammar(
                    model.vocab_ptr(),
                    gbnf.as_ptr(),
                    c"root".as_ptr(),
                )
            };
            let gs = NonNull::new(gs).ok_or_else(|| Error::InvalidParameter {
                name: "grammar",
                reason: "llama.cpp could not parse it (syntax error, undefined or \
                         left-recursive rule, no `root` rule, or a `<token>` that is \
                         not one token of this model; the llama.cpp log has the details)"
                    .into(),
            })?;
            sampler.add(gs.as_ptr());
            sampler.grammar = Some(gs);
        }
        let penalties = self.repeat_penalty != 1.0
            || self.frequency_penalty != 0.0
            || self.presence_penalty != 0.0;
        if penalties && self.penalty_last_n != 0 {
            let p = Penalties {
                repeat: self.repeat_penalty,
                frequency: self.frequency_penalty,
                presence: self.presence_penalty,
            };
            if self.penalty_last_n < 0 {
                // The window is the context's, known when a context first uses the sampler.
                sampler.deferred = Some(Deferred {
                    // SAFETY: valid chain.
                    at: unsafe { sys::llama_sampler_chain_n(chain.as_ptr()) },
                    penalties: p,
                    early: VecDeque::new(),
                    cap: model.n_ctx_train().max(1) as usize,
                });
            } else {
                sampler.add(p.init(sampler.n_vocab, self.penalty_last_n));
            }
        }
        // SAFETY: plain constructors; `add` hands each to the chain, which owns it.
        unsafe {
            if self.is_greedy() {
                sampler.add(sys::llama_sampler_init_greedy());
            } else {
                if self.top_k > 0 {
                    sampler.add(sys::llama_sampler_init_top_k(self.top_k));
                }
                if self.top_p < 1.0 {
                    sampler.add(sys::llama_sampler_init_top_p(self.top_p, 1));
                }
                if self.min_p > 0.0 {
                    sampler.add(sys::llama_sampler_init_min_p(self.min_p, 1));
                }
                sampler.add(sys::llama_sampler_init_temp(self.temperature));
                sampler.add(sys::llama_sampler_init_dist(self.seed));
            }
        }
        Ok(sampler)
    }
}

/// The penalty weights of a chain.
#[derive(Debug, Clone, Copy)]
struct Penalties {
    repeat: f32,
    frequency: f32,
    presence: f32,
}

impl Penalties {
    fn init(self, n_vocab: i32, last_n: i32) -> *mut sys::llama_sampler {
        // SAFETY: plain constructor; the caller hands the sampler to a chain.
        unsafe {
            sys::llama_sampler_init_penalties(
                n_vocab,
                last_n,
                self.repeat,
                self.frequency,
                self.presence,
            )
        }
    }
}

/// Penalties over "the whole context" (`penalty_last_n(-1)`), waiting for the first
/// context to say how large that is.
#[derive(Debug)]
struct Deferred {
    /// Where in the chain they go.
    at: i32,
    penalties: Penalties,
    /// Tokens accepted before then (the latest `cap`), counted once the window is known.
    early: VecDeque<Token>,
    cap: usize,
}

/// The ids of `<[id]>` token references in a GBNF grammar, skipping string literals,
/// character classes and comments.
fn grammar_token_ids(g: &str) -> Vec<&str> {
    let b = g.as_bytes();
    let mut ids = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'[') => {
                let close = if q == b'"' { b'"' } else { b']' };
                i += 1;
                while i < b.len() && b[i] != close {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'<' if b.get(i + 1) == Some(&b'[') => {
                let start = i + 2;
                let len = g[start..].find("]>").unwrap_or(g.len() - start);
                ids.push(g[start..start + len].trim());
                i = start + len + 2;
            }
            _ => i += 1,
        }
    }
    ids
}

/// A built llama.cpp sampler chain. It keeps state (penalty history, RNG, grammar
/// position), so one sampler follows one conversation; [`Sampler::reset`] starts it afresh.
///
/// It borrows the model because a grammar sampler reads the model's vocabulary.
pub struct Sampler<'m> {
    raw: NonNull<sys::llama_sampler>,
    /// The grammar sampler, a member of the chain (owned by it).
    grammar: Option<NonNull<sys::llama_sampler>>,
    /// Penalties whose window is the context's, not yet in the chain.
    deferred: Option<Deferred>,
    /// The model it was built for, so a context of another model can refuse it.
    model: *const sys::llama_model,
    n_vocab: i32,
    _model: PhantomData<&'m Model>,
}

// SAFETY: a sampler chain is plain heap state with no thread affinity; `&mut self`
// on every use keeps access exclusive.
unsafe impl Send for Sampler<'_> {}

impl std::fmt::Debug for Sampler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("grammar", &self.grammar.is_some())
            .finish_non_exhaustive()
    }
}

impl Sampler<'_> {
    pub(crate) fn model_ptr(&self) -> *const sys::llama_model {
        self.model
    }

    pub(crate) fn as_ptr(&mut self) -> *mut sys::llama_sampler {
        self.raw.as_ptr()
    }

    fn add(&mut self, s: *mut sys::llama_sampler) {
        // SAFETY: valid chain; it takes ownership of `s`, a freshly built sampler.
        unsafe { sys::llama_sampler_chain_add(self.raw.as_ptr(), s) }
    }

    /// Called when a context of `n_ctx` tokens starts generating with this sampler: puts
    /// penalties over "the whole context" into the chain, now that its size is known,
    /// counting the tokens accepted so far.
    pub(crate) fn bind_context(&mut self, n_ctx: u32) {
        let Some(d) = self.deferred.take() else {
            return;
        };
        let last_n = n_ctx.min(i32::MAX as u32) as i32;
        let pen = d.penalties.init(self.n_vocab, last_n);
        let skip = d.early.len().saturating_sub(last_n as usize);
        for t in d.early.iter().skip(skip) {
            // SAFETY: a valid penalties sampler; ids were checked by `accept`. Recording a
            // token in the penalty ring cannot throw.
            unsafe { sys::llama_sampler_accept(pen, t.0) };
        }
        let chain = self.raw.as_ptr();
        // SAFETY: valid chain; `at` was its length when the penalties were deferred, so
        // the samplers removed are the ones added after that. chain_remove hands each back
        // to us, and chain_add returns ownership to the chain in the original order.
        unsafe {
            let n = sys::llama_sampler_chain_n(chain);
            let after: Vec<_> = (d.at..n)
                .map(|_| sys::llama_sampler_chain_remove(chain, d.at))
                .collect();
            sys::llama_sampler_chain_add(chain, pen);
            for s in after {
                sys::llama_sampler_chain_add(chain, s);
            }
        }
    }

    /// Forgets history and reseeds as at creation.
    pub fn reset(&mut self) {
        // SAFETY: valid chain.
        unsafe { sys::llama_sampler_reset(self.raw.as_ptr()) }
        if let Some(d) = &mut self.deferred {
            d.early.clear();
        }
    }

    /// Records a token as generated without sampling it, e.g. prompt tokens for the
    /// penalties, or a forced token.
    ///
    /// Fails with [`Error::InvalidToken`] for an id outside the vocabulary and, with a
    /// grammar, with [`Error::GrammarRejects`] for a token the grammar would not let
    /// sampling pick at this point (an end-of-generation token included while the grammar
    /// is incomplete); the sampler is then unchanged.
    pub fn accept(&mut self, token: Token) -> Result<()> {
        if token.0 < 0 || token.0 >= self.n_vocab {
            return Err(Error::InvalidToken {
                token: token.0,
                n_vocab: self.n_vocab,
            });
        }
        let chain = self.raw.as_ptr();
        let grammar = self.grammar.map_or(std::ptr::null_mut(), NonNull::as_ptr);
        let rc = shim::guarded(
            // SAFETY: valid chain; the grammar sampler, if any, is a member of it; the id is
            // in the vocabulary (llama.cpp indexes a vector with it).
            |err, len| unsafe { sys::edge_llama_sampler_accept(chain, grammar, token.0, err, len) },
            Error::Sampling,
        )?;
        if rc == 1 {
            return Err(Error::GrammarRejects { token: token.0 });
        }
        if let Some(d) = &mut self.deferred {
            if d.early.len() == d.cap {
                d.early.pop_front();
            }
            d.early.push_back(token);
        }
        Ok(())
    }
}

impl Drop for Sampler<'_> {
    fn drop(&mut self) {
        // SAFETY: the chain owns its samplers and is freed once.
        unsafe { sys::llama_sampler_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::grammar_token_ids;

    #[test]
    fn token_references_outside_literals() {
        let g = r#"root ::= <[6]> "<[7]>" [<[] x <[ 12 ]> # <[99]>
            x ::= "\"<[8]>" <[abc]>"#;
        assert_eq!(grammar_token_ids(g), ["6", "12", "abc"]);
        assert_eq!(grammar_token_ids("root ::= <[5"), ["5"]);
    }
}
