//! OpenAI request bodies → edge-infer requests, with every check a client's mistake needs:
//! each failure names the field.

use std::time::Duration;

use edge_infer::{
    ContextPolicy, Message, ReasoningMode, Request, ResponseFormat, Role, Sampling, Tool, ToolCall,
    ToolChoice,
};
use serde_json::Value;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::openai::{
    ChatBody, CommonBody, CompletionBody, ContentIn, MessageIn, PromptIn, ResponseFormatIn, StopIn,
    ToolChoiceIn,
};

/// A checked request and how to answer it.
#[derive(Debug)]
pub(crate) struct Plan {
    /// A profile or model name (`None`: the default profile).
    pub target: Option<String>,
    pub request: Request,
    pub stream: bool,
    pub include_usage: bool,
    pub latency_budget: Option<Duration>,
    /// The request had tools (a finish with calls is `tool_calls`).
    pub has_tools: bool,
}

pub(crate) fn chat(body: ChatBody, cfg: &ServerConfig) -> Result<Plan, ApiError> {
    if body.messages.is_empty() {
        return Err(ApiError::bad(
            "messages",
            "`messages` is empty: give at least one user message",
        ));
    }
    if body.logprobs == Some(true) {
        return Err(ApiError::bad("logprobs", "logprobs are not supported"));
    }
    let max = body.max_completion_tokens.or(body.common.max_tokens);
    let param = if body.max_completion_tokens.is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let mut req = Request::new(messages(body.messages)?);
    req = common(req, &body.common, max, param, cfg)?;
    let has_tools = match body.tools {
        Some(Value::Null) | None => false,
        Some(v) => {
            let tools =
                Tool::from_openai_value(&v).map_err(|e| ApiError::bad("tools", e.to_string()))?;
            let any = !tools.is_empty();
            req = req.tools(tools);
            any
        }
    };
    if let Some(choice) = body.tool_choice {
        req = req.tool_choice(match choice {
            ToolChoiceIn::Mode(m) => match m.as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => {
                    return Err(ApiError::bad(
                        "tool_choice",
                        format!("`tool_choice` is `{other}`; use auto, none, required or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"),
                    ))
                }
            },
            ToolChoiceIn::Named(n) => ToolChoice::Function(n.function.name),
        });
    }
    if let Some(f) = body.response_format {
        req = req.response_format(match f {
            ResponseFormatIn::Text => ResponseFormat::Text,
            ResponseFormatIn::JsonObject => ResponseFormat::JsonObject,
            ResponseFormatIn::JsonSchema { json_schema } => match json_schema.schema {
                Some(s @ Value::Object(_)) => ResponseFormat::JsonSchema(s),
                Some(Value::Bool(true)) | None => ResponseFormat::JsonObject,
                Some(_) => {
                    return Err(ApiError::bad(
                        "response_format.json_schema.schema",
                        "the schema must be a JSON object",
                    ))
                }
            },
        });
    }
    req = req.reasoning(match body.reasoning_format.as_deref() {
        Some("none") => ReasoningMode::Inline,
        _ => ReasoningMode::Separate,
    });
    if let Some(kwargs) = body.chat_template_kwargs {
        for (k, v) in kwargs {
            if k == "enable_thinking" {
                match v {
                    Value::Bool(on) => req = req.thinking(on),
                    _ => {
                        return Err(ApiError::bad(
                            "chat_template_kwargs.enable_thinking",
                            "`enable_thinking` must be true or false",
                        ))
                    }
                }
            } else {
                req = req.template_kwarg(k, v);
            }
        }
    }
    if let Some(b) = body.reasoning_budget {
        if b >= 0 {
            req = req.reasoning_budget(b.min(u32::MAX as i64) as u32);
        }
        // -1 is llama-server's "unlimited": nothing to set.
    }
    if let Some(p) = body.prefill {
        req = req.prefill(p);
    }
    Ok(Plan {
        target: body.model.filter(|m| !m.is_empty()),
        request: req,
        stream: body.common.stream.unwrap_or(false),
        include_usage: include_usage(&body.common),
        latency_budget: body.common.latency_budget_ms.map(Duration::from_millis),
        has_tools,
    })
}

pub(crate) fn completion(body: CompletionBody, cfg: &ServerConfig) -> Result<Plan, ApiError> {
    let prompt = match body.prompt {
        PromptIn::One(p) => p,
        PromptIn::Many(mut v) if v.len() == 1 => v.remove(0),
        PromptIn::Many(_) => {
            return Err(ApiError::bad(
                "prompt",
                "give one prompt per request (a list of several is not supported)",
            ))
        }
    };
    if prompt.is_empty() {
        return Err(ApiError::bad("prompt", "`prompt` is empty"));
    }
    if body.echo == Some(true) {
        return Err(ApiError::bad("echo", "`echo` is not supported"));
    }
    let max = body.common.max_tokens;
    let req = common(
        Request::raw(prompt).reasoning(ReasoningMode::Inline),
        &body.common,
        max,
        "max_tokens",
        cfg,
    )?;
    Ok(Plan {
        target: body.model.filter(|m| !m.is_empty()),
        request: req,
        stream: body.common.stream.unwrap_or(false),
        include_usage: include_usage(&body.common),
        latency_budget: body.common.latency_budget_ms.map(Duration::from_millis),
        has_tools: false,
    })
}

fn include_usage(c: &CommonBody) -> bool {
    c.stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}

/// Sampling, limits and stop strings.
fn common(
    mut req: Request,
    c: &CommonBody,
    max_tokens: Option<i64>,
    max_param: &str,
    cfg: &ServerConfig,
) -> Result<Request, ApiError> {
    if let Some(n) = c.n {
        if n != 1 {
            return Err(ApiError::bad(
                "n",
                format!("`n` is {n}; only one choice per request is supported"),
            ));
        }
    }
    let max = match max_tokens {
        None => cfg.default_max_tokens.min(cfg.max_tokens_cap),
        Some(n) if n <= 0 => {
            return Err(ApiError::bad(
                max_param,
                format!("`{max_param}` is {n}; it must be at least 1"),
            ))
        }
        Some(n) if n as u64 > cfg.max_tokens_cap as u64 => {
            return Err(ApiError::bad(
                max_param,
                format!(
                    "`{max_param}` is {n}, above the server's cap of {} (--max-tokens-cap)",
                    cfg.max_tokens_cap
                ),
            ))
        }
        Some(n) => n as usize,
    };
    let mut s = Sampling::default();
    if let Some(t) = c.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::bad(
                "temperature",
                format!("`temperature` is {t}; use 0 to 2"),
            ));
        }
        s = s.temperature(t);
    }
    if let Some(p) = c.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::bad(
                "top_p",
                format!("`top_p` is {p}; use 0 to 1"),
            ));
        }
        s = s.top_p(p);
    }
    if let Some(k) = c.top_k {
        if k < 0 {
            return Err(ApiError::bad(
                "top_k",
                format!("`top_k` is {k}; use 0 (off) or more"),
            ));
        }
        s = s.top_k(k);
    }
    if let Some(p) = c.min_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::bad(
                "min_p",
                format!("`min_p` is {p}; use 0 to 1"),
            ));
        }
        s = s.min_p(p);
    }
    if let Some(p) = c.repeat_penalty {
        s = s.repeat_penalty(p);
    }
    if let Some(seed) = c.seed {
        // OpenAI's seed is 64-bit, llama.cpp's 32-bit.
        s = s.seed(seed as u32);
    }
    req = req
        .sampling(s)
        .max_tokens(max)
        .context_policy(ContextPolicy::Error);
    match &c.stop {
        None => {}
        Some(StopIn::One(s)) => req = req.stop(s.clone()),
        Some(StopIn::Many(v)) => {
            if v.len() > 16 {
                return Err(ApiError::bad("stop", "at most 16 stop strings"));
            }
            for s in v {
                req = req.stop(s.clone());
            }
        }
    }
    Ok(req)
}

fn messages(input: Vec<MessageIn>) -> Result<Vec<Message>, ApiError> {
    let mut out: Vec<Message> = Vec::with_capacity(input.len());
    for (i, m) in input.into_iter().enumerate() {
        let text = content(m.content, i)?;
        let role = match m.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => {
                return Err(ApiError::bad(
                    format!("messages[{i}].role"),
                    format!(
                        "role `{other}` is not one of system, developer, user, assistant, tool"
                    ),
                ))
            }
        };
        // Clients often send several system messages up front: one system prompt.
        if role == Role::System {
            if let Some(prev) = out.last_mut().filter(|p| p.role == Role::System) {
                prev.content.push_str("\n\n");
                prev.content.push_str(&text);
                continue;
            }
        }
        let mut msg = Message::new(role, text);
        if let Some(calls) = m.tool_calls {
            if role != Role::Assistant {
                return Err(ApiError::bad(
                    format!("messages[{i}].tool_calls"),
                    "only assistant messages carry tool_calls",
                ));
            }
            let mut parsed = Vec::with_capacity(calls.len());
            for (j, c) in calls.into_iter().enumerate() {
                let args = match c.function.arguments {
                    Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                        ApiError::bad(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            format!("the arguments are not valid JSON: {e}"),
                        )
                    })?,
                    v @ Value::Object(_) => v,
                    _ => {
                        return Err(ApiError::bad(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            "the arguments must be a JSON object (as a string)",
                        ))
                    }
                };
                parsed.push(ToolCall::new(c.id, c.function.name, args));
            }
            msg = msg.with_tool_calls(parsed);
        }
        if let Some(id) = m.tool_call_id {
            if role != Role::Tool {
                return Err(ApiError::bad(
                    format!("messages[{i}].tool_call_id"),
                    "only tool messages carry tool_call_id",
                ));
            }
            msg = Message::tool_result(id, msg.content);
        }
        out.push(msg);
    }
    match out.last().map(|m| m.role) {
        Some(Role::User | Role::Tool) => Ok(out),
        Some(r) => Err(ApiError::bad(
            format!("messages[{}].role", out.len() - 1),
            format!(
                "the last message is from `{}`; it must be from the user or a tool (use the \
                 `prefill` extension to continue a reply)",
                r.as_str()
            ),
        )),
        None => Err(ApiError::bad("messages", "`messages` is empty")),
    }
}

fn content(c: Option<ContentIn>, i: usize) -> Result<String, ApiError> {
    Ok(match c {
        None => String::new(),
        Some(ContentIn::Text(t)) => t,
        Some(ContentIn::Parts(parts)) => {
            let mut s = String::new();
            for (j, p) in parts.into_iter().enumerate() {
                match (p.kind.as_str(), p.text) {
                    ("text", Some(t)) => s.push_str(&t),
                    (kind, _) => {
                        return Err(ApiError::bad(
                            format!("messages[{i}].content[{j}]"),
                            format!("content part `{kind}` is not supported (text only)"),
                        ))
                    }
                }
            }
            s
        }
    })
}
