//! llama-server's sampler for a chat reply: the sampling chain, the reply's grammar (lazy,
//! armed by the tool-call opener) and the reasoning budget.

use std::marker::PhantomData;
use std::ptr::NonNull;

use edge_infer_llama_sys as sys;
use serde_json::{json, Value};

use super::ffi;
use super::template::{ChatPrompt, GrammarTrigger};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::sampling::Sampling;
use crate::token::Token;

/// Picks the tokens of a chat reply the way llama-server does (`common_sampler`): the
/// [`Sampling`] chain, the grammar of the [`ChatPrompt`] (applied lazily from its triggers
/// when the model may also answer in prose), and an optional reasoning budget that forces
/// the end of the thinking after that many tokens (0: think not at all).
///
/// It borrows its model: its grammar reads the model's vocabulary.
pub struct ChatSampler<'m> {
    raw: NonNull<sys::edge_chat_sampler>,
    model: *const sys::llama_model,
    preserved: Vec<Token>,
    _model: PhantomData<&'m Model>,
}

// SAFETY: the sampler state (chain, grammar, budget) has no thread affinity; every use goes
// through `&mut self`.
unsafe impl Send for ChatSampler<'_> {}

impl Drop for ChatSampler<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from edge_chat_sampler_init and is freed exactly once.
        unsafe { sys::edge_chat_sampler_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for ChatSampler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSampler")
            .field("preserved", &self.preserved)
            .finish_non_exhaustive()
    }
}

impl<'m> ChatSampler<'m> {
    /// A sampler for the reply to `prompt`. `reasoning_budget`: the most thinking tokens
    /// before the end tag is forced (`Some(0)`: none); it needs a template with thinking
    /// tags, else [`Error::ReasoningUnsupported`]. A grammar set on `sampling` is refused
    /// when the prompt brings its own (from tools or a JSON schema).
    pub fn new(
        model: &'m Model,
        prompt: &ChatPrompt,
        sampling: &Sampling,
        reasoning_budget: Option<u32>,
    ) -> Result<Self> {
        sampling.validate()?;
        let (grammar, kind) = match (&prompt.grammar, &sampling.grammar) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidParameter {
                    name: "grammar",
                    reason: "the prompt brings its own grammar (tools or a JSON schema); drop the sampling grammar".into(),
                })
            }
            // Like llama-server: a grammar from the template is of the tool-call kind, which
            // is advanced past the generation prompt.
            (Some(g), None) => (Some(g), "tool_calls"),
            (None, Some(_)) => (None, "user"),
            (None, None) => (None, "user"),
        };
        if reasoning_budget.is_some() && prompt.thinking.is_none() {
            return Err(Error::ReasoningUnsupported {
                format: prompt.format.clone(),
            });
        }
        let triggers: Vec<Value> = grammar
            .map(|g| {
                g.triggers
                    .iter()
                    .map(|t| match t {
                        GrammarTrigger::Token(id) => json!({"type": 0, "value": "", "token": id}),
                        GrammarTrigger::Word(w) => json!({"type": 1, "value": w}),
                        GrammarTrigger::Pattern(p) => json!({"type": 2, "value": p}),
                        GrammarTrigger::PatternFull(p) => json!({"type": 3, "value": p}),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let gbnf = grammar
            .map(|g| g.gbnf.clone())
            .or_else(|| sampling.grammar.clone())
            .unwrap_or_default();
        let params = json!({
            "temperature": sampling.temperature,
            "top_k": sampling.top_k,
            "top_p": sampling.top_p,
            "min_p": sampling.min_p,
            "repeat_penalty": sampling.repeat_penalty,
            "penalty_last_n": sampling.penalty_last_n,
            "seed": sampling.seed,
            "grammar": gbnf,
            "grammar_type": kind,
            "grammar_lazy": grammar.is_some_and(|g| g.lazy),
            "grammar_triggers": triggers,
            "preserved_tokens": prompt.preserved_tokens,
            "generation_prompt": prompt.generation_prompt,
            "reasoning_budget_tokens": reasoning_budget.map_or(-1, |b| b.min(i32::MAX as u32) as i64),
            "thinking_start_tag": prompt.thinking.as_ref().map(|t| t.start.clone()).unwrap_or_default(),
            "thinking_end_tags": prompt.thinking.as_ref().map(|t| t.ends.clone()).unwrap_or_default(),
        });
        let c = ffi::json_cstring("chat sampler", &params)?;
        let raw = ffi::call(
            // SAFETY: the model is live for 'm; `c` outlives the call.
            |err| unsafe {
                sys::edge_chat_sampler_init(model.as_ptr() as *const _, c.as_ptr(), err)
            },
            |p| p.is_null(),
        )
        .map_err(|m| Error::InvalidParameter {
            name: "grammar",
            reason: m,
        })?;
        let raw = NonNull::new(raw).expect("checked for NULL above");
        // SAFETY: `raw` is live.
        let ids =
            ffi::call_string(|err| unsafe { sys::edge_chat_sampler_preserved(raw.as_ptr(), err) })
                .ok()
                .and_then(|s| serde_json::from_str::<Vec<i32>>(&s).ok())
                .unwrap_or_default();
        Ok(ChatSampler {
            raw,
            model: model.as_ptr() as *const _,
            preserved: ids.into_iter().map(Token).collect(),
            _model: PhantomData,
        })
    }

    /// The special tokens the reply must show as text (tool-call and thinking markers):
    /// render them, e.g. with `GenerateOptions::render_tokens`.
    pub fn preserved_tokens(&self) -> &[Token] {
        &self.preserved
    }

    pub(crate) fn model_ptr(&self) -> *const sys::llama_model {
        self.model
    }

    /// Samples from the logits of output row `idx` (-1: the last) and accepts the token.
    pub(crate) fn sample(&mut self, ctx: *mut sys::llama_context, idx: i32) -> Result<Token> {
        let mut token = 0;
        // SAFETY: `raw` is live; the caller hands a live context of this sampler's model
        // whose last decode produced logits at `idx`.
        ffi::call(
            |err| unsafe {
                sys::edge_chat_sampler_sample(self.raw.as_ptr(), ctx, idx, &mut token, err)
            },
            |rc| *rc != 0,
        )
        .map_err(Error::Sampling)?;
        // SAFETY: as above.
        ffi::call(
            |err| unsafe { sys::edge_chat_sampler_accept(self.raw.as_ptr(), token, true, err) },
            |rc| *rc != 0,
        )
        .map_err(Error::Sampling)?;
        Ok(Token(token))
    }
}
