//! The RKLLM (NPU) backend.
//!
//! RKLLM applies the model's chat template itself and keeps the conversation in its KV
//! cache when a run asks for `keep_history`. The backend remembers which messages the
//! cache holds; a request that extends them by one user (or tool) message sends only that
//! message. Any other request (an edited history, another system prompt or tool set)
//! clears the cache and sends the conversation again, earlier turns flattened into the
//! prompt as a transcript (RKLLM has no way to insert an assistant turn).
//!
//! System prompts go through `rkllm_set_chat_template` when the registry gives the
//! model's `prompt_prefix`/`prompt_postfix`, through `rkllm_set_function_tools` when the
//! request has tools, and are otherwise put before the first prompt. Generation runs on a
//! worker thread; cancel aborts the run (`rkllm_abort`).
//!
//! Tool calls and reasoning: the runtime renders prompts itself, so the registry's
//! `chat_template` (the model's Jinja file) only tells the reply's format; the NPU's text
//! then goes through the same llama.cpp parser as on the CPU and comes out as the same
//! events. RKLLM has no grammar sampler: JSON response formats are refused, and a reasoning
//! budget can only be 0 (thinking off, `enable_thinking = false`).
//!
//! The recorded conversation always equals the runtime's KV cache: a run that was stopped
//! by edge-infer (stop string, cancel, or `max_tokens` where the ABI has no per-run limit)
//! keeps generating for as long as the abort takes (about 1.3 s on a board), and those
//! tokens stay in the cache, so after such a stop the cache is cleared and the next turn
//! sends the conversation again.
//!
//! Per-request sampling exists only in the 1.3 ABI. On 1.2 a request whose sampling differs
//! from the default is refused (`ModelError::Unsupported`) rather than silently run with the
//! model's init sampling.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use edge_infer_llama::{ChatMessage, ChatRequest, ChatStream, ChatTemplate, ReasoningFormat};
use edge_infer_rkllm::{Abi, Control, FileCheck, Input, Llm, Problem, RunOptions, Runtime};

use crate::cancel::{CancelHandle, Runs};
use crate::config::{resolve_path, BackendKind, RkllmModel};
use crate::error::{Error, ModelError, Result};
use crate::event::Event;
use crate::generator::backend::Backend;
use crate::generator::{Generator, ModelInfo};
use crate::output::{Output, Parse};
use crate::reasoning::ReasoningMode;
use crate::request::{oldest_turn, ContextPolicy, Message, Request, Role};
use crate::stats::{Stats, StopReason};
use crate::stream::EventSender;
use crate::tools::Tool;
use crate::worker::{Job, Worker};

/// An RKLLM model driven from a worker thread.
pub(crate) struct RkllmGenerator {
    info: ModelInfo,
    worker: Worker,
    /// The registry gave a chat template, so replies are parsed (tool calls, reasoning).
    parses_chat: bool,
}

pub(crate) fn open(
    name: &str,
    cfg: &RkllmModel,
    path: PathBuf,
    base_dir: &std::path::Path,
) -> Result<RkllmGenerator, ModelError> {
    // The file first: a bad download (LFS pointer, empty, wrong platform, context above the
    // model's limit) is reported on any machine, every problem at once, not hidden behind a
    // missing NPU runtime.
    let context = cfg.context_len().min(i32::MAX as u32) as i32;
    let mut check = FileCheck::new(&path).context(context);
    if let Some(board) = edge_infer_rkllm::checks::board_platform(std::path::Path::new("/")) {
        check = check.board_platform(board);
    }
    let report = check.run();
    if report.problems == [Problem::Missing] {
        return Err(ModelError::FileMissing(path));
    }
    for w in report.warnings() {
        log::warn!("model `{name}`: {w}");
    }
    if report.has_errors() {
        return Err(ModelError::Rkllm(report.into()));
    }
    let runtime = match &cfg.runtime {
        Some(p) => Runtime::load(resolve_path(base_dir, p)),
        None => Runtime::system(),
    }
    .map_err(ModelError::NpuRuntimeUnavailable)?;
    let test_double = runtime.is_test_double();
    let mask = cfg.cpu_mask.unwrap_or(edge_infer_rkllm::RK3588_A76_MASK);
    let mut b = Llm::builder(&path)
        .runtime(runtime)
        .max_context_len(context)
        .cpu_mask(mask);
    if let Some(t) = &cfg.tokenizer {
        b = b.tokenizer(resolve_path(base_dir, t));
    }
    let llm = b.build()?;
    let chat = match &cfg.chat_template {
        Some(p) => {
            let path = resolve_path(base_dir, p);
            let src = std::fs::read_to_string(&path).map_err(|e| {
                ModelError::Setting(format!("cannot read chat_template {}: {e}", path.display()))
            })?;
            Some(ChatTemplate::from_source(&src, "", "")?)
        }
        None => None,
    };
    let template = match (&cfg.prompt_prefix, &cfg.prompt_postfix) {
        (Some(pre), Some(post)) => {
            llm.set_chat_template("", pre, post)?;
            Some((pre.clone(), post.clone()))
        }
        _ => None,
    };
    let parses_chat = chat.is_some();
    let llm = Arc::new(llm);
    let abort = llm.abort_handle();
    let runs = Runs::new(move || {
        let _ = abort.abort();
    });
    let state = State {
        name: name.to_string(),
        llm: llm.clone(),
        template,
        chat,
        sent: Vec::new(),
        system: String::new(),
        tools: Vec::new(),
        cancel: CancelHandle::new(),
    };
    let worker = Worker::spawn(format!("edge-infer rkllm {name}"), runs, move |jobs| {
        worker(state, jobs)
    })?;
    Ok(RkllmGenerator {
        info: ModelInfo {
            name: name.to_string(),
            backend: BackendKind::Rkllm,
            path,
            n_ctx: llm.max_context_len().max(0) as usize,
            description: format!(
                "RKLLM {} · CPU mask {mask:#x} · max_context_len {}{}",
                Abi::COMPILED,
                llm.max_context_len(),
                if test_double {
                    " · TEST DOUBLE runtime (no NPU)"
                } else {
                    ""
                }
            ),
        },
        worker,
        parses_chat,
    })
}

struct State {
    name: String,
    llm: Arc<Llm>,
    template: Option<(String, String)>,
    /// The model's Jinja template from the registry: the reply's format and parser.
    chat: Option<ChatTemplate>,
    /// The conversation the runtime's KV cache holds (system prompt excluded).
    sent: Vec<Message>,
    /// The system prompt the runtime was given.
    system: String,
    /// The tools the runtime was given.
    tools: Vec<Tool>,
    /// The generation in progress.
    cancel: CancelHandle,
}

fn worker(mut state: State, jobs: Receiver<Job>) {
    for job in jobs {
        match job {
            Job::Generate(req, tx, cancel) => {
                let _running = cancel.activate();
                state.cancel = cancel.clone();
                let mut out = Output::new(
                    req.stop.clone(),
                    req.reasoning,
                    req.markers.clone(),
                    None,
                    tx,
                );
                let result = state.generate(&req, &mut out);
                if result.is_err() {
                    // The cache may hold part of a failed run: start afresh next time.
                    state.forget();
                }
                out.end(result.map(Event::Done));
            }
            Job::Reset(done) => {
                let r = state.llm.clear_kv_cache(false).map_err(|e| state.fail(e));
                state.sent.clear();
                let _ = done.send(r);
            }
        }
    }
}

/// What to send: the prompt and whether it continues the cached conversation.
struct Plan {
    input: Input,
    incremental: bool,
    cached: usize,
}

impl State {
    fn fail(&self, e: impl Into<ModelError>) -> Error {
        Error::model(&self.name, BackendKind::Rkllm, e)
    }

    fn forget(&mut self) {
        self.sent.clear();
        let _ = self.llm.clear_kv_cache(false);
    }

    fn count(&self, text: &str) -> Result<usize> {
        // The same bound the runtime crate's own guard uses: the tokenizer's count (with
        // the template), else the byte length.
        self.llm
            .token_bound(text)
            .map(|(n, _)| n)
            .map_err(|e| self.fail(e))
    }

    fn generate(&mut self, req: &Request, out: &mut Output) -> Result<Stats> {
        let (system, mut messages) = match req.messages.split_first() {
            Some((first, rest)) if first.role == Role::System => {
                (first.content.clone(), rest.to_vec())
            }
            _ => (String::new(), req.messages.clone()),
        };
        // The reply's parser, from the model's template (the runtime renders the prompt).
        if let Some(chat) = &self.chat {
            let chat_req = ChatRequest::new(req.messages.iter().map(chat_message).collect())
                .tools(req.tools.iter().cloned().map(Into::into).collect())
                .tool_choice((&req.tool_choice).into())
                .thinking(thinking(req))
                .reasoning_format(match req.reasoning {
                    ReasoningMode::Inline => ReasoningFormat::None,
                    _ => ReasoningFormat::Auto,
                });
            let prompt = chat.render(&chat_req).map_err(|e| self.fail(e))?;
            out.add_stops(&prompt.stops);
            out.set_parse(Parse {
                stream: ChatStream::new(&prompt).map_err(|e| self.fail(e))?,
                reasons: prompt.thinking.is_some(),
            });
        }
        // A new system prompt or tool set changes the conversation's start: start afresh.
        if system != self.system || req.tools != self.tools {
            self.forget();
            if !req.tools.is_empty() {
                self.llm
                    .set_function_tools(&system, &Tool::to_openai_json(&req.tools), "tool_response")
                    .map_err(|e| self.fail(e))?;
            } else if let Some((pre, post)) = &self.template {
                self.llm
                    .set_chat_template(&system, pre, post)
                    .map_err(|e| self.fail(e))?;
            }
            self.system = system.clone();
            self.tools = req.tools.clone();
        }
        let system_in_runtime = !req.tools.is_empty() || self.template.is_some();

        let n_ctx = self.llm.max_context_len().max(1) as usize;
        let reserve = req.max_tokens.min(n_ctx / 2);
        let mut dropped = 0;
        let mut may_continue = !self.sent.is_empty()
            && messages.len() == self.sent.len() + 1
            && messages[..self.sent.len()] == self.sent[..];
        let plan = loop {
            let plan = if may_continue {
                let last = messages.last().expect("validated: not empty");
                Plan {
                    input: input_for(last, &last.content).thinking(thinking(req)),
                    incremental: true,
                    cached: self.llm.kv_cache_size().map_err(|e| self.fail(e))?,
                }
            } else {
                let text = flatten(&messages, (!system_in_runtime).then_some(system.as_str()));
                Plan {
                    input: input_for(messages.last().expect("validated"), &text)
                        .thinking(thinking(req)),
                    incremental: false,
                    cached: 0,
                }
            };
            let prompt_len = match plan.input.kind() {
                edge_infer_rkllm::InputKind::Prompt(t) => self.count(t)?,
                _ => 0,
            };
            let needed = plan.cached + prompt_len + reserve;
            if needed <= n_ctx {
                break plan;
            }
            match req.context_policy {
                ContextPolicy::DropOldest if may_continue => may_continue = false,
                ContextPolicy::DropOldest => match oldest_turn(&messages) {
                    Some((start, n)) => {
                        messages.drain(start..start + n);
                        dropped += n;
                    }
                    None => {
                        return Err(Error::ContextFull {
                            model: self.name.clone(),
                            needed,
                            n_ctx,
                        })
                    }
                },
                ContextPolicy::Error | ContextPolicy::Fold { .. } => {
                    return Err(Error::ContextFull {
                        model: self.name.clone(),
                        needed,
                        n_ctx,
                    })
                }
            }
        };
        if !plan.incremental && !self.sent.is_empty() {
            self.forget();
        }

        let mut stats = Stats {
            prompt_tokens: 0,
            cached_tokens: plan.cached,
            generated_tokens: 0,
            time_to_first_token: Duration::ZERO,
            prefill_time: Duration::ZERO,
            decode_time: Duration::ZERO,
            peak_memory_bytes: None,
            dropped_messages: dropped,
            folded_messages: 0,
            stop_reason: StopReason::Cancelled,
        };
        if self.cancel.is_cancelled() {
            return Ok(stats);
        }

        let mut opts = RunOptions::new().keep_history(true);
        let per_run_limit = Abi::COMPILED == Abi::V1_3;
        if !per_run_limit && req.sampling != crate::request::Sampling::default() {
            return Err(self.fail(ModelError::Unsupported(
                "per-request sampling on the RKLLM 1.2 ABI, which takes sampling at init only \
                 (use a 1.3 runtime, or the default sampling)",
            )));
        }
        if per_run_limit {
            let s = &req.sampling;
            let mut rs = edge_infer_rkllm::Sampling::new()
                .top_p(s.top_p)
                .repeat_penalty(s.repeat_penalty);
            rs = if s.is_greedy() {
                rs.top_k(1)
            } else {
                rs.top_k(s.top_k).temperature(s.temperature)
            };
            opts = opts
                .sampling(rs)
                .max_new_tokens(req.max_tokens.min(i32::MAX as usize) as i32);
        }

        #[derive(PartialEq)]
        enum Halt {
            No,
            Cancelled,
            Output,
            MaxTokens,
        }
        let started = Instant::now();
        let mut first: Option<Instant> = None;
        let mut tokens = 0usize;
        let mut halt = Halt::No;
        let abort = self.llm.abort_handle();
        let cancel = &self.cancel;
        let summary = self
            .llm
            .run(&plan.input, &opts, |chunk| {
                if halt != Halt::No {
                    return Control::Continue; // aborted: ignore what is still in flight
                }
                tokens += 1;
                first.get_or_insert_with(Instant::now);
                halt = if cancel.is_cancelled() {
                    Halt::Cancelled
                } else if !out.push(chunk.text()) {
                    Halt::Output
                } else if tokens >= req.max_tokens && !per_run_limit {
                    // 1.3 stops by itself at max_new_tokens: no abort, nothing extra cached.
                    Halt::MaxTokens
                } else {
                    Halt::No
                };
                if halt != Halt::No {
                    let _ = abort.abort();
                }
                Control::Continue
            })
            .map_err(|e| self.fail(e))?;
        if matches!(halt, Halt::No | Halt::MaxTokens) {
            // A character the run's end cut off: U+FFFD, as the CPU path ends such a reply.
            out.push(&summary.trailing_text);
        }
        out.finish();

        stats.time_to_first_token = first.map(|t| t - started).unwrap_or_default();
        stats.generated_tokens = tokens;
        if let Some(p) = summary.perf {
            stats.prompt_tokens = p.prompt_tokens();
            stats.generated_tokens = p.generated_tokens();
            stats.prefill_time = p.prefill_time();
            stats.decode_time = p.generate_time();
            stats.peak_memory_bytes = Some(p.peak_memory_bytes());
        }
        stats.stop_reason = if let Some(s) = &out.stopped_by {
            StopReason::StopString(s.clone())
        } else if halt == Halt::Cancelled || out.disconnected() || cancel.is_cancelled() {
            StopReason::Cancelled
        } else if halt == Halt::MaxTokens || stats.generated_tokens.max(tokens) >= req.max_tokens {
            StopReason::MaxTokens
        } else if summary.aborted {
            StopReason::Cancelled
        } else {
            StopReason::EndOfGeneration
        };
        if halt == Halt::No && !summary.aborted && !summary.paused {
            messages.push(Message::assistant(out.answer()).with_tool_calls(out.tool_calls.clone()));
            self.sent = messages;
        } else {
            // Tokens generated after the stop (the abort takes time) are in the cache but
            // not in the answer: start the next turn afresh.
            self.forget();
        }
        Ok(stats)
    }
}

/// Thinking on or off for this request: a budget of 0 means off (the only budget RKLLM
/// can honour).
fn thinking(req: &Request) -> bool {
    req.thinking.unwrap_or(true) && req.reasoning_budget != Some(0)
}

fn chat_message(m: &Message) -> ChatMessage {
    let mut c = ChatMessage::new(m.role.as_str(), m.content.clone())
        .with_tool_calls(m.tool_calls.iter().map(Into::into).collect());
    c.tool_call_id = m.tool_call_id.clone();
    c
}

fn input_for(last: &Message, text: &str) -> Input {
    match last.role {
        Role::Tool => Input::tool_response(text),
        _ => Input::prompt(text),
    }
}

/// The conversation as one prompt: earlier turns as a transcript, then the last message.
fn flatten(messages: &[Message], system: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(sys) = system.filter(|s| !s.is_empty()) {
        s.push_str(sys);
        s.push_str("\n\n");
    }
    let (last, earlier) = messages.split_last().expect("validated: not empty");
    if !earlier.is_empty() {
        s.push_str("Conversation so far:\n");
        for m in earlier {
            s.push_str(m.role.as_str());
            s.push_str(": ");
            s.push_str(&m.content);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&last.content);
    s
}

impl Backend for RkllmGenerator {
    fn submit(&mut self, request: &Request, events: EventSender) -> Result<CancelHandle> {
        request.validate()?;
        let unsupported = |what| {
            Err(Error::model(
                &self.info.name,
                BackendKind::Rkllm,
                ModelError::Unsupported(what),
            ))
        };
        if request.raw_prompt.is_some() {
            return unsupported("a raw prompt (RKLLM always applies its chat template)");
        }
        if request.grammar.is_some() {
            return unsupported("grammar-constrained output (RKLLM has no grammar sampler)");
        }
        if request.prefill.is_some() {
            return unsupported("a reply prefill (RKLLM cannot continue an assistant turn)");
        }
        if request.response_format.schema().is_some() {
            return unsupported(
                "a JSON response format (RKLLM has no grammar sampler to enforce it)",
            );
        }
        if request.reasoning_budget.is_some_and(|b| b > 0) {
            return unsupported(
                "a reasoning budget above 0 (RKLLM cannot end the thinking early; 0 turns it off)",
            );
        }
        if !request.tools.is_empty() && !self.parses_chat {
            return unsupported(
                "tool calls without `chat_template` in the registry (the template tells the reply's \
                 tool-call format; the .rkllm file carries none)",
            );
        }
        self.worker.submit(&self.info, request, events)
    }
}

impl Generator for RkllmGenerator {
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
    use super::*;

    #[test]
    fn flatten_transcript() {
        let m = vec![
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ];
        assert_eq!(
            flatten(&m, Some("sys")),
            "sys\n\nConversation so far:\nuser: a\nassistant: b\n\nc"
        );
        assert_eq!(flatten(&m[2..], None), "c");
    }
}
