//! `POST /v1/chat/completions` and `POST /v1/completions`: parse, check, route, then
//! answer with one JSON body or an SSE stream of chunks ending in `data: [DONE]`.
//!
//! The response waits for the generation's first event (or error) before it starts, so a
//! request the backend refuses (a prompt over the context, a feature the NPU lacks) gets
//! its proper status even when it asked to stream. Dropping the response (the client went
//! away) drops the [`Ticket`](crate::slot::Ticket), which cancels the generation.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edge_infer::{Event, Stats, StopReason, ToolCall};
use futures_util::stream;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::convert::{self, Plan};
use crate::error::ApiError;
use crate::openai::{
    parse_body, ChatChunk, ChunkChoice, Delta, FunctionDelta, TextChoice, TextChunk, ToolCallDelta,
    FINGERPRINT,
};
use crate::routes::{request_id, App};
use crate::slot::{Item, Ticket};

/// Which endpoint is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Text,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Text => "completions",
        }
    }
}

pub(crate) async fn chat(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(app, Endpoint::Chat, headers, body).await
}

pub(crate) async fn text(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(app, Endpoint::Text, headers, body).await
}

async fn handle(
    app: Arc<App>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id(&headers);
    let mut asked = String::from("-");
    match respond(&app, endpoint, &rid, body, &mut asked).await {
        Ok(r) => r,
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                tracing::warn!(request_id = %rid, status = status.as_u16(), "{e}");
            } else {
                tracing::info!(request_id = %rid, status = status.as_u16(), "{e}");
            }
            crate::metrics::request(&asked, endpoint.label(), status.as_u16());
            e.into_response()
        }
    }
}

async fn respond(
    app: &App,
    endpoint: Endpoint,
    rid: &str,
    body: Result<Bytes, BytesRejection>,
    asked: &mut String,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: app.config.body_limit,
            }
        } else {
            ApiError::BadRequest {
                message: format!("cannot read the body: {e}"),
                param: None,
                code: None,
            }
        }
    })?;
    let plan: Plan = match endpoint {
        Endpoint::Chat => convert::chat(parse_body(&bytes)?, &app.config)?,
        Endpoint::Text => convert::completion(parse_body(&bytes)?, &app.config)?,
    };
    if let Some(t) = &plan.target {
        t.clone_into(asked);
    }
    let deadline = Instant::now() + app.config.request_timeout;
    let timeout = app.config.request_timeout;
    let routed = tokio::time::timeout_at(
        deadline,
        app.pool.route(
            plan.target.as_deref(),
            plan.request,
            plan.latency_budget,
            rid,
        ),
    )
    .await
    .map_err(|_| ApiError::Timeout(timeout))??;
    routed.model.clone_into(asked);
    let mut ticket = routed.ticket;
    let (waited, first) = match tokio::time::timeout_at(deadline, first_event(&mut ticket)).await {
        Ok(r) => r?,
        Err(_) => {
            crate::metrics::cancelled(&routed.model, "timeout");
            return Err(ApiError::Timeout(timeout));
        }
    };
    tracing::info!(request_id = %rid, model = %routed.model, queued_ms = waited.as_millis() as u64, stream = plan.stream, "generating");
    crate::metrics::request(&routed.model, endpoint.label(), 200);
    let writer = Writer {
        endpoint,
        id: format!(
            "{}-{}",
            if endpoint == Endpoint::Chat {
                "chatcmpl"
            } else {
                "cmpl"
            },
            rid
        ),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: routed.model,
        has_tools: plan.has_tools,
        include_usage: plan.include_usage,
        waited,
    };
    if plan.stream {
        Ok(sse(writer, ticket, first, deadline, timeout).into_response())
    } else {
        whole(writer, ticket, first, deadline, timeout).await
    }
}

/// Waits for the job to start and for its first event.
async fn first_event(ticket: &mut Ticket) -> Result<(Duration, Event), ApiError> {
    let mut waited = Duration::ZERO;
    loop {
        match ticket.rx.recv().await {
            Some(Item::Started(w)) => waited = w,
            Some(Item::Event(e)) => return Ok((waited, e)),
            Some(Item::Failed(e)) => return Err(e),
            None => {
                return Err(ApiError::Internal(format!(
                    "model `{}` stopped before answering",
                    ticket.slot().name
                )))
            }
        }
    }
}

/// What every response of one request shares.
struct Writer {
    endpoint: Endpoint,
    id: String,
    created: u64,
    model: String,
    has_tools: bool,
    include_usage: bool,
    waited: Duration,
}

fn finish_reason(stats: &Stats, called: bool) -> &'static str {
    match stats.stop_reason {
        StopReason::MaxTokens | StopReason::ContextFull => "length",
        _ if called => "tool_calls",
        _ => "stop",
    }
}

fn usage(stats: &Stats) -> Value {
    let prompt = stats.prompt_tokens + stats.cached_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": stats.generated_tokens,
        "total_tokens": prompt + stats.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.cached_tokens},
    })
}

/// llama-server's `timings`, plus the time to first token and the queue wait.
fn timings(stats: &Stats, waited: Duration) -> Value {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let per_token = |d: Duration, n: usize| if n == 0 { 0.0 } else { ms(d) / n as f64 };
    let decoded = stats.generated_tokens.saturating_sub(1);
    json!({
        "cache_n": stats.cached_tokens,
        "prompt_n": stats.prompt_tokens,
        "prompt_ms": ms(stats.prefill_time),
        "prompt_per_token_ms": per_token(stats.prefill_time, stats.prompt_tokens),
        "prompt_per_second": stats.prefill_tokens_per_second(),
        "predicted_n": stats.generated_tokens,
        "predicted_ms": ms(stats.decode_time),
        "predicted_per_token_ms": per_token(stats.decode_time, decoded),
        "predicted_per_second": stats.decode_tokens_per_second(),
        "ttft_ms": ms(stats.time_to_first_token),
        "queue_ms": ms(waited),
    })
}

fn tool_call_json(c: &ToolCall) -> Value {
    json!({
        "id": c.id,
        "type": "function",
        "function": {"name": c.name, "arguments": c.arguments.to_string()},
    })
}

async fn whole(
    w: Writer,
    mut ticket: Ticket,
    first: Event,
    deadline: Instant,
    timeout: Duration,
) -> Result<Response, ApiError> {
    let (mut text, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
    let mut next = Some(first);
    let stats = loop {
        let event = match next.take() {
            Some(e) => e,
            None => match tokio::time::timeout_at(deadline, ticket.rx.recv()).await {
                Err(_) => {
                    crate::metrics::cancelled(&w.model, "timeout");
                    return Err(ApiError::Timeout(timeout));
                }
                Ok(Some(Item::Event(e))) => e,
                Ok(Some(Item::Failed(e))) => return Err(e),
                Ok(Some(Item::Started(_))) => continue,
                Ok(None) => {
                    return Err(ApiError::Internal(
                        "the model stopped before the end".into(),
                    ))
                }
            },
        };
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::Reasoning(r) => reasoning.push_str(&r),
            Event::ToolCall(c) => calls.push(tool_call_json(&c)),
            Event::Warning(warn) => tracing::info!(model = %w.model, "{warn}"),
            Event::Done(stats) => break stats,
            _ => {}
        }
    };
    let reason = finish_reason(&stats, !calls.is_empty());
    let choice = match w.endpoint {
        Endpoint::Chat => {
            let mut message = json!({"role": "assistant", "content": text});
            if !reasoning.is_empty() {
                message["reasoning_content"] = Value::String(reasoning);
            }
            if !calls.is_empty() {
                if text.is_empty() {
                    message["content"] = Value::Null;
                }
                message["tool_calls"] = Value::Array(calls);
            }
            json!({"index": 0, "message": message, "logprobs": null, "finish_reason": reason})
        }
        Endpoint::Text => {
            json!({"index": 0, "text": text, "logprobs": null, "finish_reason": reason})
        }
    };
    let _ = w.has_tools;
    Ok(Json(json!({
        "id": w.id,
        "object": if w.endpoint == Endpoint::Chat { "chat.completion" } else { "text_completion" },
        "created": w.created,
        "model": w.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [choice],
        "usage": usage(&stats),
        "timings": timings(&stats, w.waited),
    }))
    .into_response())
}

/// The state of one SSE response.
struct Streaming {
    w: Writer,
    ticket: Ticket,
    first: Option<Event>,
    deadline: Instant,
    timeout: Duration,
    started: bool,
    /// Calls whose pieces were streamed as deltas, by index.
    streamed_calls: Vec<usize>,
    calls: usize,
    /// Chunks still to send after `Done` (finish, usage, `[DONE]`).
    tail: Vec<String>,
    over: bool,
}

impl Streaming {
    fn chat(&self, delta: Delta<'_>, finish: Option<&str>, timings: Option<&Value>) -> String {
        let choices = [ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        }];
        serde_json::to_string(&ChatChunk {
            id: &self.w.id,
            object: "chat.completion.chunk",
            created: self.w.created,
            model: &self.w.model,
            system_fingerprint: FINGERPRINT,
            choices: &choices,
            usage: None,
            timings,
        })
        .expect("chunks serialize")
    }

    fn text(&self, text: &str, finish: Option<&str>, timings: Option<&Value>) -> String {
        let choices = [TextChoice {
            index: 0,
            text,
            logprobs: None,
            finish_reason: finish,
        }];
        serde_json::to_string(&TextChunk {
            id: &self.w.id,
            object: "text_completion",
            created: self.w.created,
            model: &self.w.model,
            system_fingerprint: FINGERPRINT,
            choices: &choices,
            usage: None,
            timings,
        })
        .expect("chunks serialize")
    }

    fn usage_chunk(&self, usage: &Value) -> String {
        let object = match self.w.endpoint {
            Endpoint::Chat => "chat.completion.chunk",
            Endpoint::Text => "text_completion",
        };
        serde_json::to_string(&json!({
            "id": self.w.id, "object": object, "created": self.w.created, "model": self.w.model,
            "system_fingerprint": FINGERPRINT, "choices": [], "usage": usage,
        }))
        .expect("chunks serialize")
    }

    /// The chunk for one event (`None`: nothing to send for it).
    fn chunk(&mut self, event: Event) -> Option<String> {
        let chat = self.w.endpoint == Endpoint::Chat;
        match event {
            Event::Text(t) if chat => Some(self.chat(
                Delta {
                    content: Some(&t),
                    ..Default::default()
                },
                None,
                None,
            )),
            Event::Text(t) => Some(self.text(&t, None, None)),
            Event::Reasoning(r) if chat => Some(self.chat(
                Delta {
                    reasoning_content: Some(&r),
                    ..Default::default()
                },
                None,
                None,
            )),
            Event::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } if chat => {
                if !self.streamed_calls.contains(&index) {
                    self.streamed_calls.push(index);
                }
                Some(self.chat(
                    Delta {
                        tool_calls: Some([ToolCallDelta {
                            index,
                            kind: id.as_ref().map(|_| "function"),
                            id: id.as_deref(),
                            function: FunctionDelta {
                                name: name.as_deref(),
                                arguments: &arguments,
                            },
                        }]),
                        ..Default::default()
                    },
                    None,
                    None,
                ))
            }
            Event::ToolCall(c) if chat => {
                let index = self.calls;
                self.calls += 1;
                // A call already streamed in pieces is complete on the client's side.
                if self.streamed_calls.contains(&index) {
                    return None;
                }
                let args = c.arguments.to_string();
                Some(self.chat(
                    Delta {
                        tool_calls: Some([ToolCallDelta {
                            index,
                            id: Some(&c.id),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(&c.name),
                                arguments: &args,
                            },
                        }]),
                        ..Default::default()
                    },
                    None,
                    None,
                ))
            }
            Event::Warning(warn) => {
                tracing::info!(model = %self.w.model, "{warn}");
                None
            }
            Event::Done(stats) => {
                let t = timings(&stats, self.w.waited);
                let reason = finish_reason(&stats, self.calls > 0);
                let last = if chat {
                    self.chat(Delta::default(), Some(reason), Some(&t))
                } else {
                    self.text("", Some(reason), Some(&t))
                };
                self.tail.push("[DONE]".into());
                if self.w.include_usage {
                    let u = self.usage_chunk(&usage(&stats));
                    self.tail.push(u);
                }
                self.over = true;
                Some(last)
            }
            _ => None,
        }
    }

    async fn next(&mut self) -> Option<String> {
        if !self.started {
            self.started = true;
            if self.w.endpoint == Endpoint::Chat {
                return Some(self.chat(
                    Delta {
                        role: Some("assistant"),
                        content: Some(""),
                        ..Default::default()
                    },
                    None,
                    None,
                ));
            }
        }
        loop {
            if let Some(t) = self.tail.pop() {
                return Some(t);
            }
            if self.over {
                return None;
            }
            let event = match self.first.take() {
                Some(e) => e,
                None => match tokio::time::timeout_at(self.deadline, self.ticket.rx.recv()).await {
                    Ok(Some(Item::Event(e))) => e,
                    Ok(Some(Item::Started(_))) => continue,
                    Ok(Some(Item::Failed(e))) => return Some(self.error(e)),
                    Ok(None) => {
                        return Some(self.error(ApiError::Internal(
                            "the model stopped before the end".into(),
                        )))
                    }
                    Err(_) => {
                        crate::metrics::cancelled(&self.w.model, "timeout");
                        return Some(self.error(ApiError::Timeout(self.timeout)));
                    }
                },
            };
            if let Some(chunk) = self.chunk(event) {
                return Some(chunk);
            }
        }
    }

    /// An error after the response began: one `{"error": ...}` chunk, then the end.
    fn error(&mut self, e: ApiError) -> String {
        tracing::warn!(model = %self.w.model, "stream ended by an error: {e}");
        self.over = true;
        e.body().to_string()
    }
}

fn sse(
    w: Writer,
    ticket: Ticket,
    first: Event,
    deadline: Instant,
    timeout: Duration,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let state = Streaming {
        w,
        ticket,
        first: Some(first),
        deadline,
        timeout,
        started: false,
        streamed_calls: Vec::new(),
        calls: 0,
        tail: Vec::new(),
        over: false,
    };
    Sse::new(stream::unfold(state, |mut s| async move {
        let data = s.next().await?;
        Some((Ok(SseEvent::default().data(data)), s))
    }))
}
