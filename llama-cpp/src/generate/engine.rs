//! The generation engine: one state machine behind both streaming forms.

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::decode::Decoded;
use crate::error::{Error, Result};
use crate::generate::sampler::{RawSampler, SamplerRef};
use crate::generate::{Detokenizer, GenerateOptions, Prompt, Stats, StopReason};
use crate::token::Token;

/// One item of the streaming iterator.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// New text: always whole UTF-8 characters (a character split across tokens is
    /// held back until complete) and never part of a stop string.
    Text(String),
    /// The last event.
    Done(Stats),
}

enum Step {
    /// `engine.emit` holds new text (maybe empty).
    Text,
    Done(Stats),
}

/// The generation state machine shared by both streaming forms. Its per-token path
/// reuses its buffers and allocates nothing.
struct Engine<'c, 'm> {
    ctx: &'c mut Context<'m>,
    /// The caller's `&'c mut Sampler`, as a pointer so that the sampler's own model
    /// lifetime need not appear in `Generation`'s type.
    sampler: RawSampler,
    _sampler: PhantomData<&'c mut ()>,
    opts: GenerateOptions,
    prompt: Vec<Token>,
    started: Instant,
    prefilled: bool,
    prefill_time: Duration,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    generated: usize,
    text: Detokenizer<'m>,
    /// The text of the current step.
    emit: String,
    finish: Option<StopReason>,
    done: bool,
}

// SAFETY: the engine holds `&mut Context` (Send) and stands for a `&mut Sampler` or a
// `&mut ChatSampler`, both Send; nothing in it is tied to the creating thread.
unsafe impl Send for Engine<'_, '_> {}

impl<'c, 'm> Engine<'c, 'm> {
    fn new(
        ctx: &'c mut Context<'m>,
        prompt: Prompt<'_>,
        sampler: SamplerRef<'c, '_>,
        opts: GenerateOptions,
    ) -> Result<Self> {
        let started = Instant::now();
        // A grammar sampler indexes its own model's vocabulary with this context's ids.
        if sampler.model_ptr() != ctx.model().as_ptr().cast_const() {
            return Err(Error::InvalidParameter {
                name: "sampler",
                reason: "it was built for another model; build it with this context's model".into(),
            });
        }
        let mut sampler = sampler;
        sampler.bind_context(ctx.n_ctx());
        let sampler = sampler.into_raw();
        let prompt = match prompt {
            Prompt::Text(s) => ctx.model().tokenize(s, ctx.tokens().is_empty(), true)?,
            Prompt::Tokens(t) => t.to_vec(),
        };
        if prompt.is_empty() && ctx.tokens().is_empty() {
            return Err(Error::EmptyPrompt);
        }
        ctx.check_fits(&prompt)?;
        // A cancel aimed at an earlier generation must not stop this one.
        ctx.cancel_flag().store(false, Ordering::Release);
        Ok(Engine {
            text: Detokenizer::new(ctx.model(), &opts),
            emit: String::with_capacity(256),
            ctx,
            sampler,
            _sampler: PhantomData,
            opts,
            prompt,
            started,
            prefilled: false,
            prefill_time: Duration::ZERO,
            first_token: None,
            last_token: None,
            generated: 0,
            finish: None,
            done: false,
        })
    }

    fn cancelled(&self) -> bool {
        self.ctx.cancel_flag().load(Ordering::Acquire)
    }

    fn step(&mut self) -> Result<Step> {
        self.emit.clear();
        if let Some(reason) = self.finish.take() {
            return Ok(Step::Done(self.stats(reason)));
        }
        if !self.prefilled {
            self.prefilled = true;
            let t = Instant::now();
            let mut prompt = std::mem::take(&mut self.prompt);
            if prompt.is_empty() {
                // Nothing new: re-evaluate the last cached token to get fresh logits. If
                // the cache cannot be cut there, it was cleared: evaluate everything again.
                let cached = self.ctx.tokens().to_vec();
                let n = cached.len();
                self.ctx.truncate(n - 1);
                let kept = self.ctx.tokens().len();
                prompt.extend_from_slice(&cached[kept..]);
            }
            let decoded = self.ctx.decode(&prompt, None)?;
            self.prefill_time = t.elapsed();
            self.prompt = prompt;
            if decoded == Decoded::Cancelled {
                return self.end(StopReason::Cancelled);
            }
        }
        if self.cancelled() {
            return self.end(StopReason::Cancelled);
        }
        if self.generated >= self.opts.max_tokens {
            return self.end(StopReason::MaxTokens);
        }
        if self.ctx.tokens().len() >= self.ctx.n_ctx() as usize {
            return self.end(StopReason::ContextFull);
        }

        // SAFETY: the raw sampler stands for the `&'c mut` this engine was made from; the
        // last decode produced logits for its last token.
        let token = unsafe { self.sampler.sample(self.ctx.as_ptr()) }?;
        if self.ctx.model().is_eog(token) {
            return self.end(StopReason::EndOfGeneration);
        }
        // Only real tokens count: decode t/s is (generated - 1) over first..last token.
        let now = Instant::now();
        self.first_token.get_or_insert(now);
        self.last_token = Some(now);
        self.generated += 1;
        if let Some(stop) = self.text.push(token, &mut self.emit)? {
            self.finish = Some(StopReason::StopString(stop.to_string()));
            return Ok(Step::Text);
        }
        if self.generated >= self.opts.max_tokens {
            // The caller never needs this token's logits: skip its decode.
            return self.end(StopReason::MaxTokens);
        }
        if self.ctx.decode(std::slice::from_ref(&token), None)? == Decoded::Cancelled {
            return self.end(StopReason::Cancelled);
        }
        Ok(Step::Text)
    }

    /// Ends: held-back text goes out first (cut at a stop string if one is in it, which
    /// then is the reason).
    fn end(&mut self, reason: StopReason) -> Result<Step> {
        let reason = match self.text.finish(&mut self.emit) {
            Some(stop) => StopReason::StopString(stop.to_string()),
            None => reason,
        };
        if self.emit.is_empty() {
            Ok(Step::Done(self.stats(reason)))
        } else {
            self.finish = Some(reason);
            Ok(Step::Text)
        }
    }

    fn stats(&mut self, reason: StopReason) -> Stats {
        self.done = true;
        let end = self.last_token.unwrap_or_else(Instant::now);
        Stats {
            prompt_tokens: self.prompt.len(),
            generated_tokens: self.generated,
            time_to_first_token: self
                .first_token
                .map(|t| t - self.started)
                .unwrap_or_default(),
            prefill_time: self.prefill_time,
            decode_time: self.first_token.map(|t| end - t).unwrap_or_default(),
            stop_reason: reason,
        }
    }
}

/// Streaming generation as an iterator of [`Event`]s, ending with [`Event::Done`].
/// Created by [`Context::generate`].
pub struct Generation<'c, 'm> {
    engine: Engine<'c, 'm>,
}

impl Iterator for Generation<'_, '_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.engine.done {
                return None;
            }
            match self.engine.step() {
                Err(e) => {
                    self.engine.done = true;
                    return Some(Err(e));
                }
                Ok(Step::Done(stats)) => return Some(Ok(Event::Done(stats))),
                Ok(Step::Text) if self.engine.emit.is_empty() => continue,
                Ok(Step::Text) => return Some(Ok(Event::Text(self.engine.emit.clone()))),
            }
        }
    }
}

impl<'m> Context<'m> {
    /// Generates after `prompt`, streaming through an iterator.
    ///
    /// ```
    /// # fn main() -> edge_infer_llama::Result<()> {
    /// use edge_infer_llama::{Context, ContextParams, Event, GenerateOptions, Model, Sampling};
    /// # let path = xtask::default_model().unwrap();
    /// let model = Model::load(path, &Default::default())?;
    /// let mut ctx = Context::new(&model, &ContextParams::default().n_ctx(512))?;
    /// let mut sampler = Sampling::greedy().build(&model)?;
    /// for event in ctx.generate("The capital of France is", &mut sampler, GenerateOptions::default().max_tokens(16))? {
    ///     match event? {
    ///         Event::Text(t) => print!("{t}"),
    ///         Event::Done(stats) => println!("\n{:.1} t/s", stats.decode_tokens_per_second()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn generate<'c, 'p, 'x>(
        &'c mut self,
        prompt: impl Into<Prompt<'p>>,
        sampler: impl Into<SamplerRef<'c, 'x>>,
        opts: GenerateOptions,
    ) -> Result<Generation<'c, 'm>>
    where
        'x: 'c,
    {
        Ok(Generation {
            engine: Engine::new(self, prompt.into(), sampler.into(), opts)?,
        })
    }

    /// Generates after `prompt`, handing each new piece of text to `on_text`, which
    /// may stop early by returning `ControlFlow::Break(())`. Returns the stats. The
    /// per-token path allocates nothing.
    pub fn generate_with<'s, 'p, 'x, F>(
        &'s mut self,
        prompt: impl Into<Prompt<'p>>,
        sampler: impl Into<SamplerRef<'s, 'x>>,
        opts: GenerateOptions,
        mut on_text: F,
    ) -> Result<Stats>
    where
        'x: 's,
        F: FnMut(&str) -> ControlFlow<()>,
    {
        let mut engine = Engine::new(self, prompt.into(), sampler.into(), opts)?;
        loop {
            match engine.step()? {
                Step::Done(stats) => return Ok(stats),
                Step::Text if engine.emit.is_empty() => {}
                Step::Text => {
                    if on_text(&engine.emit).is_break() {
                        return Ok(engine.stats(StopReason::Cancelled));
                    }
                }
            }
        }
    }
}
