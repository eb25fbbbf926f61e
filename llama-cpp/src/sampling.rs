//! Sampling: a builder over llama.cpp's sampler chain.

use std::marker::PhantomData;
use std::ptr::NonNull;

use edge_infer_llama_sys as sys;

use crate::error::{Error, Result};
use crate::model::Model;

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
    /// How many recent tokens the penalties look at (0 = off, -1 = whole context).
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
    /// ```no_run
    /// # fn main() -> edge_infer_llama::Result<()> {
    /// # let model = edge_infer_llama::Model::load("model.gguf", &Default::default())?;
    /// let yes_no = edge_infer_llama::Sampling::greedy().grammar(r#"root ::= "yes" | "no""#);
    /// let sampler = yes_no.build(&model)?;
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
        // SAFETY: plain constructors; every sampler added is owned by the chain, which
        // frees them with itself.
        unsafe {
            let mut cp = sys::llama_sampler_chain_default_params();
            cp.no_perf = true;
            let chain = NonNull::new(sys::llama_sampler_chain_init(cp)).ok_or_else(|| {
                Error::InvalidParameter {
                    name: "sampling",
                    reason: "llama.cpp could not create a sampler chain".into(),
                }
            })?;
            let sampler = Sampler {
                raw: chain,
                model: model.as_raw(),
                _model: PhantomData,
            };
            let add = |s: *mut sys::llama_sampler| sys::llama_sampler_chain_add(chain.as_ptr(), s);
            // The grammar goes first, so everything after it only sees allowed tokens.
            if let Some(g) = &self.grammar {
                let gbnf = crate::error::cstring("the grammar", g)?;
                let root = c"root";
                // The vocab outlives the sampler: a Sampler is built per model and llama.cpp
                // copies the grammar strings.
                let gs = sys::edge_llama_sampler_init_grammar(
                    model.vocab_ptr(),
                    gbnf.as_ptr(),
                    root.as_ptr(),
                );
                if gs.is_null() {
                    return Err(Error::InvalidParameter {
                        name: "grammar",
                        reason: "llama.cpp could not parse it (syntax error, undefined or \
                                 left-recursive rule, no `root` rule, or a `<token>` that is \
                                 not one token of this model; the llama.cpp log has the details)"
                            .into(),
                    });
                }
                add(gs);
            }
            let penalties = self.repeat_penalty != 1.0
                || self.frequency_penalty != 0.0
                || self.presence_penalty != 0.0;
            if penalties && self.penalty_last_n != 0 {
                let last_n = if self.penalty_last_n < 0 {
                    model.n_vocab().max(64)
                } else {
                    self.penalty_last_n
                };
                add(sys::llama_sampler_init_penalties(
                    model.n_vocab(),
                    last_n,
                    self.repeat_penalty,
                    self.frequency_penalty,
                    self.presence_penalty,
                ));
            }
            if self.is_greedy() {
                add(sys::llama_sampler_init_greedy());
            } else {
                if self.top_k > 0 {
                    add(sys::llama_sampler_init_top_k(self.top_k));
                }
                if self.top_p < 1.0 {
                    add(sys::llama_sampler_init_top_p(self.top_p, 1));
                }
                if self.min_p > 0.0 {
                    add(sys::llama_sampler_init_min_p(self.min_p, 1));
                }
                add(sys::llama_sampler_init_temp(self.temperature));
                add(sys::llama_sampler_init_dist(self.seed));
            }
            Ok(sampler)
        }
    }
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

/// A built llama.cpp sampler chain. It keeps state (penalty history, RNG), so one
/// sampler follows one conversation; [`Sampler::reset`] starts it afresh.
///
/// It borrows the model because a grammar sampler reads the model's vocabulary.
pub struct Sampler<'m> {
    raw: NonNull<sys::llama_sampler>,
    /// The model it was built for, so a context of another model can refuse it.
    model: *const sys::llama_model,
    _model: PhantomData<&'m Model>,
}

// SAFETY: a sampler chain is plain heap state with no thread affinity; `&mut self`
// on every use keeps access exclusive.
unsafe impl Send for Sampler<'_> {}

impl std::fmt::Debug for Sampler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler").finish_non_exhaustive()
    }
}

impl Sampler<'_> {
    pub(crate) fn model_ptr(&self) -> *const sys::llama_model {
        self.model
    }

    pub(crate) fn as_ptr(&mut self) -> *mut sys::llama_sampler {
        self.raw.as_ptr()
    }

    /// Forgets history and reseeds as at creation.
    pub fn reset(&mut self) {
        // SAFETY: valid chain.
        unsafe { sys::llama_sampler_reset(self.raw.as_ptr()) }
    }

    /// Records a token as generated without sampling it (e.g. prompt tokens, for penalties).
    pub fn accept(&mut self, token: crate::Token) {
        // SAFETY: valid chain.
        unsafe { sys::llama_sampler_accept(self.raw.as_ptr(), token.0) }
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
