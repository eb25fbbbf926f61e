//! Streaming generation: a callback form and an `Iterator` form over one engine.

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edge_infer_llama_sys as sys;

use crate::chat::ChatSampler;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::sampling::Sampler;
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

/// A sampler held by the engine as a pointer, so that the sampler's own model lifetime
/// does not leak into the engine's type.
enum RawSampler {
    Chain(NonNull<sys::llama_sampler>),
    Chat(NonNull<ChatSampler<'static>>),
}

/// Through the shim: a grammar that allows no token makes llama.cpp throw.
fn chain_sample(sampler: NonNull<sys::llama_sampler>, ctx: *mut sys::llama_context) -> Result<Token> {
    let mut raw = 0;
    let mut err = [0 as std::ffi::c_char; 256];
    // SAFETY: valid sampler and context; the last decode produced logits for its last
    // token (idx -1); `err` is writable for its length.
    let rc = unsafe {
        sys::edge_llama_sampler_sample(sampler.as_ptr(), ctx, -1, &mut raw, err.as_mut_ptr(), err.len())
    };
    if rc != 0 {
        // SAFETY: the shim NUL-terminates within the buffer.
        let msg = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) };
        return Err(Error::Sampling(msg.to_string_lossy().into_owned()));
    }
    Ok(Token(raw))
}

/// What to generate from: text (tokenized with the model's special-token parsing, BOS
/// added when the cache is empty) or tokens.
#[derive(Debug, Clone, Copy)]
pub enum Prompt<'a> {
    /// Text, e.g. the output of [`Model::apply_chat_template`](crate::Model::apply_chat_template).
    Text(&'a str),
    /// Tokens, used as they are.
    Tokens(&'a [Token]),
}

impl<'a> From<&'a str> for Prompt<'a> {
    fn from(s: &'a str) -> Self {
        Prompt::Text(s)
    }
}

impl<'a> From<&'a String> for Prompt<'a> {
    fn from(s: &'a String) -> Self {
        Prompt::Text(s)
    }
}

impl<'a> From<&'a [Token]> for Prompt<'a> {
    fn from(t: &'a [Token]) -> Self {
        Prompt::Tokens(t)
    }
}

impl<'a> From<&'a Vec<Token>> for Prompt<'a> {
    fn from(t: &'a Vec<Token>) -> Self {
        Prompt::Tokens(t)
    }
}

/// Limits and stop conditions of one generation. Defaults: 256 tokens, no stop strings.
///
/// ```
/// let o = edge_infer_llama::GenerateOptions::default().max_tokens(32).stop("\n\n");
/// assert_eq!(o.get_max_tokens(), 32);
/// ```
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    max_tokens: usize,
    stop: Vec<String>,
    special: bool,
    keep: Vec<Token>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            stop: Vec::new(),
            special: false,
            keep: Vec::new(),
        }
    }
}

impl GenerateOptions {
    /// Stop after this many generated tokens.
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n;
        self
    }
    /// Stop when the output contains `s` (which is not emitted). May be given many times.
    pub fn stop(mut self, s: impl Into<String>) -> Self {
        let s = s.into();
        if !s.is_empty() {
            self.stop.push(s);
        }
        self
    }
    /// Render every control token as text instead of dropping it.
    pub fn render_special(mut self, on: bool) -> Self {
        self.special = on;
        self
    }
    /// Render these control tokens as text and drop the others: for markers a caller
    /// parses out of the stream, such as a reasoning model's thought-channel tokens,
    /// without letting turn markers and the like into the text. May be given many times.
    pub fn render_tokens(mut self, tokens: impl IntoIterator<Item = Token>) -> Self {
        self.keep.extend(tokens);
        self
    }
    /// The token limit.
    pub fn get_max_tokens(&self) -> usize {
        self.max_tokens
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The output reached this stop string.
    StopString(String),
    /// A [`CancelHandle`](crate::CancelHandle) or the callback stopped it.
    Cancelled,
    /// The context window is full.
    ContextFull,
}

/// Timings and counts of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Tokens evaluated for the prompt (after any cached prefix).
    pub prompt_tokens: usize,
    /// Tokens generated (not counting an end-of-generation token).
    pub generated_tokens: usize,
    /// From the call to the first generated token's text.
    pub time_to_first_token: Duration,
    /// Prompt evaluation time.
    pub prefill_time: Duration,
    /// From the first generated token to the last.
    pub decode_time: Duration,
    /// Why it stopped.
    pub stop_reason: StopReason,
}

impl Stats {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        rate(self.prompt_tokens, self.prefill_time)
    }
    /// Generated tokens per second, over the intervals between generated tokens.
    pub fn decode_tokens_per_second(&self) -> f64 {
        rate(self.generated_tokens.saturating_sub(1), self.decode_time)
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    if n == 0 || d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

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
    text: TextAssembler,
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
        let model_ptr = match &sampler {
            SamplerRef::Chain(s) => s.model_ptr(),
            SamplerRef::Chat(s) => s.model_ptr(),
        };
        // A grammar sampler indexes its own model's vocabulary with this context's ids.
        if model_ptr != ctx.model().as_raw().cast_const() {
            return Err(Error::InvalidParameter {
                name: "sampler",
                reason: "it was built for another model; build it with this context's model".into(),
            });
        }
        let sampler = match sampler {
            SamplerRef::Chain(s) => RawSampler::Chain(NonNull::new(s.as_ptr()).expect("a Sampler is never NULL")),
            // The lifetime is erased here and restored by `_sampler`: the engine never
            // outlives the `&'c mut` it was made from.
            SamplerRef::Chat(s) => RawSampler::Chat(NonNull::from(s).cast()),
        };
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

        let token = match &mut self.sampler {
            RawSampler::Chain(p) => chain_sample(*p, self.ctx.as_ptr())?,
            // SAFETY: the pointer was made from the caller's `&'c mut ChatSampler`, which the
            // engine's `_sampler` marker keeps borrowed for the engine's life.
            RawSampler::Chat(p) => unsafe { p.as_mut() }.sample(self.ctx.as_ptr(), -1)?,
        };
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

/// Turns token bytes into emittable text: whole UTF-8 characters only, and never a
/// stop string or a prefix of one that may still complete. Reuses its buffers.
#[derive(Debug, Default)]
pub(crate) struct TextAssembler {
    stops: Vec<String>,
    /// Bytes of an incomplete trailing character.
    pub(crate) bytes: Vec<u8>,
    /// Decoded text held back because it may begin a stop string.
    pending: String,
    /// Text ready to hand out.
    pub(crate) emit: String,
}

impl TextAssembler {
    pub(crate) fn new(stops: Vec<String>) -> Self {
        TextAssembler {
            stops,
            bytes: Vec::with_capacity(64),
            pending: String::with_capacity(256),
            emit: String::with_capacity(256),
        }
    }

    /// Processes the bytes appended to `self.bytes`, appending to `emit`. Returns the
    /// stop reason if a stop string completed (text from it on is dropped).
    pub(crate) fn advance(&mut self) -> Option<StopReason> {
        self.take_complete_chars();
        self.scan_stops()
    }

    /// Moves whole characters from `bytes` to `pending`; an incomplete trailing
    /// character stays, bytes that can never be UTF-8 become U+FFFD.
    fn take_complete_chars(&mut self) {
        loop {
            match std::str::from_utf8(&self.bytes) {
                Ok(s) => {
                    self.pending.push_str(s);
                    self.bytes.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY: from_utf8 vouched for the first `valid` bytes.
                    self.pending
                        .push_str(unsafe { std::str::from_utf8_unchecked(&self.bytes[..valid]) });
                    match e.error_len() {
                        None => {
                            self.bytes.drain(..valid);
                            return;
                        }
                        Some(bad) => {
                            self.pending.push(char::REPLACEMENT_CHARACTER);
                            self.bytes.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    fn scan_stops(&mut self) -> Option<StopReason> {
        let hit = self
            .stops
            .iter()
            .filter_map(|stop| self.pending.find(stop.as_str()).map(|i| (i, stop)))
            .min_by_key(|&(i, _)| i);
        if let Some((cut, stop)) = hit {
            let reason = StopReason::StopString(stop.clone());
            self.emit.push_str(&self.pending[..cut]);
            self.pending.clear();
            self.bytes.clear();
            return Some(reason);
        }
        let mut hold = 0;
        for stop in &self.stops {
            for (k, _) in stop.char_indices().skip(1) {
                if k > hold && self.pending.ends_with(&stop[..k]) {
                    hold = k;
                }
            }
        }
        let keep_from = self.pending.len() - hold;
        self.emit.push_str(&self.pending[..keep_from]);
        self.pending.drain(..keep_from);
        None
    }

    /// At the end: held-back text is real output; an unfinished character becomes U+FFFD.
    pub(crate) fn flush(&mut self) {
        self.emit.push_str(&self.pending);
        self.pending.clear();
        if !self.bytes.is_empty() {
            self.emit.push(char::REPLACEMENT_CHARACTER);
            self.bytes.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stops: &[&str], chunks: &[&[u8]]) -> (Vec<String>, Option<StopReason>) {
        let mut t = TextAssembler::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        for c in chunks {
            t.emit.clear();
            t.bytes.extend_from_slice(c);
            let stop = t.advance();
            out.push(t.emit.clone());
            if stop.is_some() {
                return (out, stop);
            }
        }
        t.emit.clear();
        t.flush();
        out.push(t.emit.clone());
        (out, None)
    }

    #[test]
    fn holds_a_character_split_across_tokens() {
        // "é" = C3 A9, "€" = E2 82 AC, "🦀" = F0 9F A6 80
        let (out, _) = feed(
            &[],
            &[
                b"caf\xC3",
                b"\xA9 ",
                b"\xE2",
                b"\x82",
                b"\xAC\xF0\x9F",
                b"\xA6\x80!",
            ],
        );
        assert_eq!(out, ["caf", "é ", "", "", "€", "🦀!", ""]);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (out, _) = feed(&[], &[b"a\xFFb", b"\xC3"]);
        assert_eq!(out, ["a\u{FFFD}b", "", "\u{FFFD}"]);
    }

    #[test]
    fn stop_string_split_across_tokens_is_never_emitted() {
        let (out, stop) = feed(&["</s>"], &[b"hello <", b"/", b"s> tail"]);
        assert_eq!(out.concat(), "hello ");
        assert_eq!(stop, Some(StopReason::StopString("</s>".into())));
    }

    #[test]
    fn held_back_prefix_is_released_when_it_does_not_complete() {
        let (out, stop) = feed(&["STOP"], &[b"a ST", b"OR", b"Y"]);
        assert_eq!(out, ["a ", "STOR", "Y", ""]);
        assert_eq!(stop, None);
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (out, stop) = feed(&["b", "xyz"], &[b"axyzb"]);
        assert_eq!(out, ["a"]);
        assert_eq!(stop, Some(StopReason::StopString("xyz".into())));
    }

    #[test]
    fn multibyte_stop_string() {
        let (out, stop) = feed(&["€"], &[b"5 \xE2\x82", b"\xAC more"]);
        assert_eq!(out.concat(), "5 ");
        assert!(stop.is_some());
    }
}
