//! The llama.cpp (CPU) backend.
//!
//! The model is loaded on the caller's thread (so load errors come back at once) and
//! shared with a worker thread that owns the [`edge_infer_llama::Context`] for the generator's
//! lifetime. The worker pins itself to the configured cores before creating the context
//! and before any decode, so llama.cpp's OpenMP workers inherit the placement (see
//! `run_worker`).
//!
//! Chat: each request is rendered with the model's own Jinja chat template (or the
//! registry's `chat_template` file) by llama.cpp's chat layer, sampled with llama-server's
//! sampler (the reply's grammar, lazily armed for tool calls, and the reasoning budget) and
//! parsed by the format's parser into text, reasoning and tool calls. GGUFs without a
//! template fall back to llama.cpp's shape matching, without tools.
//!
//! History reuse: each request's prompt is rendered and tokenized; the KV cache keeps the longest common prefix with what it holds and only
//! the rest is evaluated (`Stats::cached_tokens` / `Stats::prompt_tokens`).
//! Sliding-window models (Gemma 3) are given a full-size SWA cache (`swa_full`, default
//! on) because a windowed cache cannot be cut at an arbitrary earlier position: llama.cpp
//! would then drop the whole cache and re-evaluate the conversation every turn.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{Receiver, Sender};
use edge_infer_llama::{
    ChatMessage, ChatPrompt, ChatRequest, ChatSampler, ChatStream, ChatTemplate, Context,
    ContextParams, GenerateOptions, Model, ModelParams, Prompt, ReasoningFormat, Token,
};

use crate::cancel::{CancelHandle, Runs};
use crate::config::{BackendKind, LlamaModel};
use crate::error::{Error, ModelError, Result};
use crate::event::Event;
use crate::generator::backend::Backend;
use crate::generator::{Generator, ModelInfo};
use crate::output::{Output, Parse};
use crate::reasoning::{Markers, ReasoningMode};
use crate::request::{oldest_turn, ContextPolicy, Message, Request};
use crate::stats::{peak_rss_bytes, Stats, StopReason};
use crate::stream::EventSender;
use crate::worker::{Job, Worker};

/// A llama.cpp model with its own context on a worker thread.
pub(crate) struct LlamaGenerator {
    info: ModelInfo,
    worker: Worker,
}

struct Settings {
    name: String,
    params: ContextParams,
    cores: Vec<usize>,
    /// The registry's chat template (Jinja source), overriding the model's own.
    template: Option<String>,
}

pub(crate) fn open(
    name: &str,
    cfg: &LlamaModel,
    path: PathBuf,
    base_dir: &std::path::Path,
) -> Result<LlamaGenerator, ModelError> {
    if !path.is_file() {
        return Err(ModelError::FileMissing(path));
    }
    let model = Arc::new(Model::load(&path, &ModelParams::default())?);
    let cores = match &cfg.cores {
        Some(c) => c.clone(),
        None => edge_infer_llama::big_cores().unwrap_or_default(),
    };
    let threads = match cfg.threads {
        Some(t) => i32::try_from(t).unwrap_or(i32::MAX),
        None if !cores.is_empty() => cores.len() as i32,
        None => edge_infer_llama::default_threads() as i32,
    };
    let mut params = ContextParams::default()
        .n_ctx(cfg.context_len())
        .n_threads(threads)
        .swa_full(cfg.swa_full.unwrap_or(true));
    if let Some(t) = cfg.cache_type_k {
        params = params.type_k(t);
    }
    if let Some(t) = cfg.cache_type_v {
        params = params.type_v(t);
    }
    if let Some(l) = &cfg.cache_layers {
        params = params.kv_layers(l.clone());
    }
    if let Some(fa) = cfg.flash_attention {
        params = params.flash_attention(fa);
    }
    let description = format!(
        "{} · {} threads{} · n_ctx {}",
        model.description(),
        threads,
        if cores.is_empty() {
            String::new()
        } else {
            format!(" pinned to cores {cores:?}")
        },
        cfg.context_len()
    );

    let llama_cancel: Arc<OnceLock<edge_infer_llama::CancelHandle>> = Arc::new(OnceLock::new());
    let hook = llama_cancel.clone();
    let runs = Runs::new(move || {
        if let Some(h) = hook.get() {
            h.cancel();
        }
    });
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let template = match &cfg.chat_template {
        Some(p) => {
            let path = crate::config::resolve_path(base_dir, p);
            Some(std::fs::read_to_string(&path).map_err(|e| {
                ModelError::Setting(format!("cannot read chat_template {}: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let settings = Settings {
        name: name.to_string(),
        params,
        cores,
        template,
    };
    let worker = Worker::spawn(format!("edge-infer llama {name}"), runs, move |jobs| {
        worker(model, settings, jobs, ready_tx, llama_cancel)
    })?;
    // On failure, dropping `worker` joins the thread, which has already returned.
    let n_ctx = ready_rx.recv().map_err(|_| ModelError::WorkerGone)??;
    Ok(LlamaGenerator {
        info: ModelInfo {
            name: name.to_string(),
            backend: BackendKind::Llama,
            path,
            n_ctx,
            description,
        },
        worker,
    })
}

fn worker(
    model: Arc<Model>,
    settings: Settings,
    jobs: Receiver<Job>,
    ready: Sender<Result<usize, ModelError>>,
    llama_cancel: Arc<OnceLock<edge_infer_llama::CancelHandle>>,
) {
    // Pin first: everything llama.cpp starts from this thread inherits the mask.
    if !settings.cores.is_empty() {
        // llama.cpp is built with OpenMP: libgomp creates a thread's worker pool at the
        // first parallel region that thread runs, and new threads inherit its affinity, so
        // pinning the thread that calls `llama_decode` before its first decode places all
        // of llama.cpp's compute threads (ggml's own pool inherits it the same way).
        // `OMP_PROC_BIND`/`GOMP_CPU_AFFINITY` in the environment override this.
        if let Err(e) = edge_infer_base::cpu::pin_current_thread(&settings.cores) {
            let source = match e {
                edge_infer_base::Error::Pin { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            };
            let _ = ready.send(Err(ModelError::Affinity {
                cores: settings.cores.clone(),
                source,
            }));
            return;
        }
    }
    let mut ctx = match Context::new(&model, &settings.params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let template = match &settings.template {
        Some(src) => ChatTemplate::from_source_for(&model, src),
        None => ChatTemplate::from_model(&model),
    };
    let template = match template {
        Ok(t) => t,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let _ = llama_cancel.set(ctx.cancel_handle());
    if ready.send(Ok(ctx.n_ctx() as usize)).is_err() {
        return;
    }
    for job in jobs {
        match job {
            Job::Generate(req, tx, cancel) => {
                let _running = cancel.activate();
                let mut out = Output::new(
                    req.stop.clone(),
                    req.reasoning,
                    req.markers.clone(),
                    None,
                    tx,
                );
                let result = generate(
                    &settings.name,
                    &model,
                    &template,
                    &mut ctx,
                    &req,
                    &mut out,
                    &cancel,
                );
                out.end(result.map(Event::Done));
            }
            Job::Reset(done) => {
                ctx.clear();
                let _ = done.send(Ok(()));
            }
        }
    }
}

fn chat_message(m: &Message) -> ChatMessage {
    let mut c = ChatMessage::new(m.role.as_str(), m.content.clone())
        .with_tool_calls(m.tool_calls.iter().map(Into::into).collect());
    c.tool_call_id = m.tool_call_id.clone();
    c
}

/// The chat layer's view of a request.
fn chat_request(req: &Request, messages: &[Message]) -> ChatRequest {
    let mut chat: Vec<ChatMessage> = messages.iter().map(chat_message).collect();
    if let Some(p) = &req.prefill {
        chat.push(ChatMessage::assistant(p.clone()));
    }
    let mut r = ChatRequest::new(chat)
        .continue_final_message(req.prefill.is_some())
        .tools(req.tools.iter().cloned().map(Into::into).collect())
        .tool_choice((&req.tool_choice).into())
        .thinking(req.thinking.unwrap_or(true) && req.reasoning_budget != Some(0))
        .reasoning_format(match req.reasoning {
            ReasoningMode::Inline => ReasoningFormat::None,
            ReasoningMode::Drop | ReasoningMode::Separate => ReasoningFormat::Auto,
        });
    if let Some(schema) = req.response_format.schema() {
        r = r.json_schema(schema);
    }
    if let Some(g) = &req.grammar {
        r = r.grammar(g.clone());
    }
    for (k, v) in &req.template_kwargs {
        r = r.kwarg(k.clone(), v.clone());
    }
    r
}

/// The prompt for `messages`: the chat layer's rendering, or llama.cpp's shape matching for
/// a GGUF without a template (which cannot show tools or constrain the reply's format).
enum Rendered {
    Chat(Box<ChatPrompt>),
    Plain(String),
}

fn render(
    model: &Model,
    template: &ChatTemplate,
    req: &Request,
    messages: &[Message],
) -> Result<Rendered, ModelError> {
    if let Some(raw) = &req.raw_prompt {
        return Ok(Rendered::Plain(raw.clone()));
    }
    if template.info().explicit {
        return Ok(Rendered::Chat(Box::new(
            template.render(&chat_request(req, messages))?,
        )));
    }
    if !req.tools.is_empty() {
        return Err(ModelError::Unsupported(
            "tools on a GGUF without a chat template (give `chat_template` in the registry)",
        ));
    }
    if req.reasoning_budget.is_some() {
        return Err(ModelError::Unsupported(
            "a reasoning budget on a GGUF without a chat template (give `chat_template` in the \
             registry)",
        ));
    }
    let chat: Vec<ChatMessage> = messages.iter().map(chat_message).collect();
    let mut prompt = model.apply_chat_template(&chat, true)?;
    if let Some(p) = &req.prefill {
        prompt.push_str(p);
    }
    Ok(Rendered::Plain(prompt))
}

/// The control tokens that reasoning markers are made of. llama.cpp drops control
/// tokens from text, so without rendering these (and only these) a thought channel
/// written in special tokens, like Gemma's, would never reach the splitter.
fn marker_tokens(model: &Model, markers: &[Markers]) -> Vec<Token> {
    let mut out = Vec::new();
    for text in markers.iter().flat_map(|m| [&m.open, &m.close]) {
        for t in model.tokenize(text, false, true).unwrap_or_default() {
            if model.is_control(t) && !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn generate(
    name: &str,
    model: &Model,
    template: &ChatTemplate,
    ctx: &mut Context<'_>,
    req: &Request,
    out: &mut Output,
    cancel: &CancelHandle,
) -> Result<Stats> {
    let fail = |e: ModelError| Error::model(name, BackendKind::Llama, e);
    let llama = |e: edge_infer_llama::Error| fail(e.into());
    let n_ctx = ctx.n_ctx() as usize;
    // Room kept for the reply when deciding whether the prompt fits.
    let reserve = req.max_tokens.min(n_ctx / 2);
    let mut messages = req.messages.clone();
    let mut dropped = 0;
    let (rendered, tokens) = loop {
        let rendered = render(model, template, req, &messages).map_err(fail)?;
        let text = match &rendered {
            Rendered::Chat(p) => p.prompt.as_str(),
            Rendered::Plain(p) => p.as_str(),
        };
        let tokens = model.tokenize(text, true, true).map_err(llama)?;
        if tokens.len() + reserve <= n_ctx {
            break (rendered, tokens);
        }
        match (req.context_policy, oldest_turn(&messages)) {
            (ContextPolicy::DropOldest, Some((start, n))) => {
                messages.drain(start..start + n);
                dropped += n;
            }
            _ => {
                return Err(Error::ContextFull {
                    model: name.to_string(),
                    needed: tokens.len() + reserve,
                    n_ctx,
                })
            }
        }
    };
    let empty = |reason| Stats {
        prompt_tokens: 0,
        cached_tokens: 0,
        generated_tokens: 0,
        time_to_first_token: Default::default(),
        prefill_time: Default::default(),
        decode_time: Default::default(),
        peak_memory_bytes: peak_rss_bytes(),
        dropped_messages: dropped,
        folded_messages: 0,
        stop_reason: reason,
    };
    if cancel.is_cancelled() {
        return Ok(empty(StopReason::Cancelled));
    }

    let s = &req.sampling;
    let sampling = if s.is_greedy() {
        edge_infer_llama::Sampling::greedy()
    } else {
        edge_infer_llama::Sampling::default()
            .temperature(s.temperature)
            .top_k(s.top_k)
            .top_p(s.top_p)
            .min_p(s.min_p)
            .seed(s.seed)
    }
    .repeat_penalty(s.repeat_penalty);
    let mut render_tokens = marker_tokens(model, &req.markers);
    enum Picker<'m> {
        Chat(ChatSampler<'m>),
        Chain(edge_infer_llama::Sampler<'m>),
    }
    let mut picker = match &rendered {
        Rendered::Chat(prompt) => {
            let sampler =
                ChatSampler::new(model, prompt, &sampling, req.reasoning_budget).map_err(llama)?;
            for &t in sampler.preserved_tokens() {
                if !render_tokens.contains(&t) {
                    render_tokens.push(t);
                }
            }
            out.add_stops(&prompt.stops);
            out.set_parse(Parse {
                stream: ChatStream::new(prompt).map_err(llama)?,
                reasons: prompt.thinking.is_some(),
            });
            Picker::Chat(sampler)
        }
        Rendered::Plain(_) => {
            // Without a template a JSON reply is still a grammar away.
            let grammar = match (&req.grammar, req.response_format.schema()) {
                (Some(_), Some(_)) => {
                    return Err(Error::InvalidRequest(
                        "a grammar and a JSON response format cannot both constrain the reply"
                            .into(),
                    ))
                }
                (Some(g), None) => Some(g.clone()),
                (None, Some(schema)) => {
                    Some(edge_infer_llama::json_schema_to_grammar(&schema).map_err(llama)?)
                }
                (None, None) => None,
            };
            let chain = match grammar {
                Some(g) => sampling.grammar(g),
                None => sampling,
            };
            Picker::Chain(chain.build(model).map_err(llama)?)
        }
    };

    // Keep the longest common prefix; at least one token must be evaluated for fresh logits.
    let common = ctx
        .tokens()
        .iter()
        .zip(&tokens)
        .take_while(|(a, b)| a == b)
        .count()
        .min(tokens.len() - 1);
    ctx.truncate(common);
    let reused = ctx.tokens().len();

    let opts = GenerateOptions::default()
        .max_tokens(req.max_tokens)
        .render_tokens(render_tokens);
    let mut cancelled = false;
    let on_text = |text: &str| {
        if cancel.is_cancelled() {
            cancelled = true;
            return ControlFlow::Break(());
        }
        if out.push(text) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    };
    let prompt = Prompt::Tokens(&tokens[reused..]);
    let stats = match &mut picker {
        Picker::Chat(s) => ctx.generate_with(prompt, s, opts, on_text),
        Picker::Chain(s) => ctx.generate_with(prompt, s, opts, on_text),
    }
    .map_err(llama)?;
    out.finish();
    let mut done = Stats {
        cached_tokens: reused,
        peak_memory_bytes: peak_rss_bytes(),
        dropped_messages: dropped,
        ..Stats::from(stats)
    };
    if let Some(s) = &out.stopped_by {
        done.stop_reason = StopReason::StopString(s.clone());
    } else if cancelled || out.disconnected() || cancel.is_cancelled() {
        done.stop_reason = StopReason::Cancelled;
    }
    Ok(done)
}

/// The llama.cpp layer's counts and timings; what only edge-infer knows (reused history,
/// memory, dropped and folded messages) starts empty.
impl From<edge_infer_llama::Stats> for Stats {
    fn from(s: edge_infer_llama::Stats) -> Self {
        Stats {
            prompt_tokens: s.prompt_tokens,
            cached_tokens: 0,
            generated_tokens: s.generated_tokens,
            time_to_first_token: s.time_to_first_token,
            prefill_time: s.prefill_time,
            decode_time: s.decode_time,
            peak_memory_bytes: None,
            dropped_messages: 0,
            folded_messages: 0,
            stop_reason: s.stop_reason,
        }
    }
}

impl Backend for LlamaGenerator {
    fn submit(&mut self, request: &Request, events: EventSender) -> Result<CancelHandle> {
        request.validate()?;
        self.worker.submit(&self.info, request, events)
    }
}

impl Generator for LlamaGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn cancel_handle(&self) -> CancelHandle {
        self.worker.cancel_handle()
    }

    fn reset(&mut self) -> Result<()> {
        self.worker.reset(&self.info)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_llama_layers_stats_convert_and_what_it_cannot_know_starts_empty() {
        let ms = Duration::from_millis;
        let s = Stats::from(edge_infer_llama::Stats {
            prompt_tokens: 19,
            generated_tokens: 16,
            time_to_first_token: ms(200),
            prefill_time: ms(190),
            decode_time: ms(400),
            stop_reason: StopReason::MaxTokens,
        });
        assert_eq!((s.prompt_tokens, s.generated_tokens), (19, 16));
        assert_eq!(
            (s.time_to_first_token, s.prefill_time, s.decode_time),
            (ms(200), ms(190), ms(400))
        );
        assert_eq!(s.stop_reason, StopReason::MaxTokens);
        assert_eq!(
            (s.cached_tokens, s.dropped_messages, s.folded_messages),
            (0, 0, 0)
        );
        assert_eq!(s.peak_memory_bytes, None);
        assert!((s.decode_tokens_per_second() - 15.0 / 0.4).abs() < 1e-9);
    }
}
