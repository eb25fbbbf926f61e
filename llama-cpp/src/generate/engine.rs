//! The generation engine: one state machine behind both streaming forms.

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edge_infer_llama_sys as sys;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::generate::text::TextAssembler;
use crate::generate::{GenerateOptions, Prompt, Stats, StopReason};
use crate::sampling::Sampler;
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
    /// `engine.text.emit` holds new text (maybe empty).
    Text,
    Done(Stats),
}

/// The generation state machine shared by both streaming forms. Its per-token path
/// reuses its buffers and allocates nothing.
struct Engine<'c, 'm> {
    ctx: &'c mut Context<'m>,
    /// The caller's `&'c mut Sampler`, as a pointer so that the sampler's own model
    /// lifetime need not appear in `Generation`'s type.
    sampler: NonNull<sys::llama_sampler>,
    _sampler: PhantomData<&'c mut ()>,
    opts: GenerateOptions,
    prompt: Vec<Token>,
    started: Instant,
    prefilled: bool,
    prefill_time: Duration,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    generated: usize,
    text: TextAssembler,
    finish: Option<StopReason>,
    done: bool,
}

// SAFETY: the engine holds `&mut Context` (Send) and stands for a `&mut Sampler`, which
// is Send; nothing in it is tied to the creating thread.
unsafe impl Send for Engine<'_, '_> {}

impl<'c, 'm> Engine<'c, 'm> {
    fn new(
        ctx: &'c mut Context<'m>,
        prompt: Prompt<'_>,
        sampler: &'c mut Sampler<'_>,
        opts: GenerateOptions,
    ) -> Result<Self> {
        let started = Instant::now();
        // A grammar sampler indexes its own model's vocabulary with this context's ids.
        if sampler.model_ptr() != ctx.model().as_raw().cast_const() {
            return Err(Error::InvalidParameter {
                name: "sampler",
                reason: "it was built for another model; build it with this context's model".into(),
            });
        }
        let sampler = NonNull::new(sampler.as_ptr()).expect("a Sampler is never NULL");
        let prompt = match prompt {
            Prompt::Text(s) => ctx.model().tokenize(s, ctx.tokens().is_empty(), true)?,
            Prompt::Tokens(t) => {
                for &tok in t {
                    ctx.model().check_token(tok)?;
                }
                t.to_vec()
            }
        };
        if prompt.is_empty() && ctx.tokens().is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let used = ctx.tokens().len();
        if used + prompt.len() > ctx.n_ctx() as usize {
            return Err(Error::PromptTooLong {
                needed: prompt.len(),
                used,
                n_ctx: ctx.n_ctx() as usize,
            });
        }
        // A cancel aimed at an earlier generation must not stop this one.
        ctx.cancel_flag().store(false, Ordering::Release);
        Ok(Engine {
            text: TextAssembler::new(opts.stop.clone()),
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
        self.text.emit.clear();
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
            let ok = self.ctx.decode(&prompt)?;
            self.prefill_time = t.elapsed();
            self.prompt = prompt;
            if !ok {
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

        // Through the shim: a grammar that allows no token makes llama.cpp throw.
        let mut raw = 0;
        let mut err = [0 as std::ffi::c_char; 256];
        // SAFETY: valid sampler and context; the last decode produced logits for its
        // last token (idx -1); `err` is writable for its length.
        let rc = unsafe {
            sys::edge_llama_sampler_sample(
                self.sampler.as_ptr(),
                self.ctx.as_ptr(),
                -1,
                &mut raw,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if rc != 0 {
            // SAFETY: the shim NUL-terminates within the buffer.
            let msg = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) };
            return Err(Error::Sampling(msg.to_string_lossy().into_owned()));
        }
        let token = Token(raw);
        let model = self.ctx.model();
        if model.is_eog(token) {
            return self.end(StopReason::EndOfGeneration);
        }
        // Only real tokens count: decode t/s is (generated - 1) over first..last token.
        let now = Instant::now();
        self.first_token.get_or_insert(now);
        self.last_token = Some(now);
        self.generated += 1;
        let special = self.opts.special || self.opts.keep.contains(&token);
        model.token_to_bytes(token, special, &mut self.text.bytes)?;
        if let Some(reason) = self.text.advance() {
            return self.end_after_emit(reason);
        }
        if self.generated >= self.opts.max_tokens {
            // The caller never needs this token's logits: skip its decode.
            return self.end_after_emit(StopReason::MaxTokens);
        }
        if !self.ctx.decode(std::slice::from_ref(&token))? {
            return self.end_after_emit(StopReason::Cancelled);
        }
        Ok(Step::Text)
    }

    /// Ends now; held-back text goes out first if there is any.
    fn end(&mut self, reason: StopReason) -> Result<Step> {
        self.text.flush();
        if self.text.emit.is_empty() {
            self.done = true;
            Ok(Step::Done(self.stats(reason)))
        } else {
            self.finish = Some(reason);
            Ok(Step::Text)
        }
    }

    fn end_after_emit(&mut self, reason: StopReason) -> Result<Step> {
        if !matches!(reason, StopReason::StopString(_)) {
            self.text.flush();
        }
        self.finish = Some(reason);
        Ok(Step::Text)
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
                Ok(Step::Text) if self.engine.text.emit.is_empty() => continue,
                Ok(Step::Text) => return Some(Ok(Event::Text(self.engine.text.emit.clone()))),
            }
        }
    }
}

impl<'m> Context<'m> {
    /// Generates after `prompt`, streaming through an iterator.
    ///
    /// ```no_run
    /// # fn main() -> edge_infer_llama::Result<()> {
    /// use edge_infer_llama::{Context, ContextParams, Event, GenerateOptions, Model, Sampling};
    /// let model = Model::load("model.gguf", &Default::default())?;
    /// let mut ctx = Context::new(&model, &ContextParams::default())?;
    /// let mut sampler = Sampling::greedy().build(&model)?;
    /// for event in ctx.generate("The capital of France is", &mut sampler, GenerateOptions::default().max_tokens(16))? {
    ///     match event? {
    ///         Event::Text(t) => print!("{t}"),
    ///         Event::Done(stats) => println!("\n{:.1} t/s", stats.decode_tokens_per_second()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn generate<'c, 'p>(
        &'c mut self,
        prompt: impl Into<Prompt<'p>>,
        sampler: &'c mut Sampler<'_>,
        opts: GenerateOptions,
    ) -> Result<Generation<'c, 'm>> {
        Ok(Generation {
            engine: Engine::new(self, prompt.into(), sampler, opts)?,
        })
    }

    /// Generates after `prompt`, handing each new piece of text to `on_text`, which
    /// may stop early by returning `ControlFlow::Break(())`. Returns the stats. The
    /// per-token path allocates nothing.
    pub fn generate_with<'p, F>(
        &mut self,
        prompt: impl Into<Prompt<'p>>,
        sampler: &mut Sampler<'_>,
        opts: GenerateOptions,
        mut on_text: F,
    ) -> Result<Stats>
    where
        F: FnMut(&str) -> ControlFlow<()>,
    {
        let mut engine = Engine::new(self, prompt.into(), sampler, opts)?;
        loop {
            match engine.step()? {
                Step::Done(stats) => return Ok(stats),
                Step::Text if engine.text.emit.is_empty() => {}
                Step::Text => {
                    if on_text(&engine.text.emit).is_break() {
                        return Ok(engine.stats(StopReason::Cancelled));
                    }
                }
            }
        }
    }
}

/// The per-token text path of streaming generation without the model evaluation: token
/// → bytes → whole characters → stop-string filter → `on_text`. Benchmarks use it to
/// measure the streaming overhead in isolation; not part of the stable API.
#[doc(hidden)]
pub fn stream_text_path(
    model: &crate::Model,
    tokens: &[Token],
    stops: &[String],
    mut on_text: impl FnMut(&str),
) -> Result<()> {
    let mut text = TextAssembler::new(stops.to_vec());
    for &t in tokens {
        text.emit.clear();
        model.token_to_bytes(t, false, &mut text.bytes)?;
        let stop = text.advance();
        if !text.emit.is_empty() {
            on_text(&text.emit);
        }
        if stop.is_some() {
            break;
        }
    }
    Ok(())
}
