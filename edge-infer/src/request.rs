//! What a generation is asked to do: messages, sampling, limits, stop strings, tools.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::reasoning::{Markers, ReasoningMode};
use crate::tools::{ResponseFormat, Tool, ToolCall, ToolChoice};

/// Who speaks in a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions for the whole conversation.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call the model asked for.
    Tool,
}

impl Role {
    /// The role's name in chat templates (`system`, `user`, `assistant`, `tool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One chat message.
///
/// ```
/// use edge_infer::{Message, ToolCall};
/// let call = ToolCall::new("call_0", "calculator", serde_json::json!({"expression": "6*7"}));
/// let turn = [
///     Message::user("What is 6*7?"),
///     Message::assistant("").with_tool_calls(vec![call]),
///     Message::tool_result("call_0", "42"),
/// ];
/// assert_eq!(turn[2].tool_call_id.as_deref(), Some("call_0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What they say.
    pub content: String,
    /// The tools an assistant message called.
    pub tool_calls: Vec<ToolCall>,
    /// For a tool result: the id of the call it answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message with any role.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
    /// A tool result that answers no particular call (for templates without call ids).
    pub fn tool(content: impl Into<String>) -> Self {
        Self::new(Role::Tool, content)
    }
    /// The result of the tool call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
    /// The same (assistant) message with these tool calls.
    pub fn with_tool_calls(mut self, calls: Vec<ToolCall>) -> Self {
        self.tool_calls = calls;
        self
    }
}

/// How to pick tokens. Backends apply what they support: llama.cpp all of it; RKLLM
/// temperature, top-k, top-p and the repeat penalty (per run on the 1.3 ABI), not min-p
/// or the seed.
///
/// ```
/// use edge_infer::Sampling;
/// let s = Sampling::default().temperature(0.7).top_k(40).seed(1);
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
    pub(crate) seed: u32,
}

impl Default for Sampling {
    /// Temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repeat penalty, seed 42.
    fn default() -> Self {
        Sampling {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            seed: 42,
        }
    }
}

impl Sampling {
    /// Always the most likely token (deterministic on llama.cpp; top-k 1 on RKLLM).
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
    /// Top-k (0 = off).
    pub fn top_k(mut self, k: i32) -> Self {
        self.top_k = k;
        self
    }
    /// Top-p (1 = off).
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = p;
        self
    }
    /// Min-p (0 = off; llama.cpp only).
    pub fn min_p(mut self, p: f32) -> Self {
        self.min_p = p;
        self
    }
    /// Repeat penalty (1 = off).
    pub fn repeat_penalty(mut self, p: f32) -> Self {
        self.repeat_penalty = p;
        self
    }
    /// Seed of the random draw (llama.cpp only).
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = seed;
        self
    }
    /// Whether this picks the argmax.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// What to do when a conversation no longer fits the context window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextPolicy {
    /// Drop the oldest turns (never the system prompt, never the last message) until it
    /// fits. The final [`Stats::dropped_messages`](crate::Stats::dropped_messages) says how
    /// many messages went, so a [`ChatSession`](crate::ChatSession) forgets them too.
    #[default]
    DropOldest,
    /// Fail with [`Error::ContextFull`].
    Error,
    /// Fold the oldest turns into a running summary, written by the same model and kept as
    /// a note in the system prompt; the `keep_recent` latest turns stay verbatim. Only a
    /// [`ChatSession`](crate::ChatSession) folds (a bare generator treats this as `Error`);
    /// [`Stats::folded_messages`](crate::Stats::folded_messages) says how many messages went
    /// into the summary. It folds once, leaving room for further turns, so the turns after it
    /// reuse the KV cache again.
    Fold {
        /// Turns (a user message and its replies) kept verbatim.
        keep_recent: usize,
        /// At most this many tokens of summary.
        summary_tokens: usize,
    },
}

/// One generation request: the conversation so far (ending with a user or tool message),
/// sampling, limits, stop strings, tools, the reply's format, and thinking control.
///
/// ```
/// use edge_infer::{Message, ReasoningMode, Request, ResponseFormat, Sampling, ToolChoice};
/// let req = Request::new(vec![Message::system("Be brief."), Message::user("Hi!")])
///     .sampling(Sampling::greedy())
///     .max_tokens(64)
///     .stop("\n\n")
///     .reasoning(ReasoningMode::Separate)
///     .reasoning_budget(0)
///     .tools_json(r#"[{"type": "function", "function": {"name": "get_time", "parameters": {}}}]"#)?
///     .tool_choice(ToolChoice::Auto);
/// assert_eq!(req.messages().len(), 2);
/// assert!(Request::user("x").tools_json("[{").is_err());
/// let json_only = Request::user("Three colours as JSON")
///     .response_format(ResponseFormat::JsonSchema(serde_json::json!({"type": "array"})));
/// # let _ = json_only;
/// # Ok::<(), edge_infer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub(crate) messages: Vec<Message>,
    pub(crate) sampling: Sampling,
    pub(crate) max_tokens: usize,
    pub(crate) stop: Vec<String>,
    pub(crate) tools: Vec<Tool>,
    pub(crate) tool_choice: ToolChoice,
    pub(crate) response_format: ResponseFormat,
    pub(crate) thinking: Option<bool>,
    pub(crate) reasoning_budget: Option<u32>,
    pub(crate) template_kwargs: Map<String, Value>,
    pub(crate) prefill: Option<String>,
    pub(crate) reasoning: ReasoningMode,
    pub(crate) markers: Vec<Markers>,
    pub(crate) grammar: Option<String>,
    pub(crate) context_policy: ContextPolicy,
    pub(crate) raw_prompt: Option<String>,
}

impl Default for Request {
    /// No messages (for [`ChatSession::settings`](crate::ChatSession::settings)), default settings.
    fn default() -> Self {
        Request::new(Vec::new())
    }
}

impl Request {
    /// A request over `messages`, with default sampling, 256 tokens at most, no stop
    /// strings, no tools, reasoning dropped, oldest turns dropped when the context fills.
    pub fn new(messages: Vec<Message>) -> Self {
        Request {
            messages,
            sampling: Sampling::default(),
            max_tokens: 256,
            stop: Vec::new(),
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            response_format: ResponseFormat::Text,
            thinking: None,
            reasoning_budget: None,
            template_kwargs: Map::new(),
            prefill: None,
            reasoning: ReasoningMode::Drop,
            markers: Markers::common(),
            grammar: None,
            context_policy: ContextPolicy::DropOldest,
            raw_prompt: None,
        }
    }
    /// A request with one user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(vec![Message::user(text)])
    }
    /// Sampling settings.
    pub fn sampling(mut self, s: Sampling) -> Self {
        self.sampling = s;
        self
    }
    /// Generate at most this many tokens (at least 1).
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n.max(1);
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
    /// Function tools the model may call. The model's chat template shows them to it, and
    /// its calls come back as [`Event::ToolCall`](crate::Event::ToolCall) on every backend.
    pub fn tools(mut self, tools: Vec<Tool>) -> Self {
        self.tools = tools;
        self
    }
    /// Tools from OpenAI's JSON (see [`Tool::from_openai_json`]); bad JSON is
    /// [`Error::InvalidTools`].
    pub fn tools_json(self, json: &str) -> Result<Self> {
        Ok(self.tools(Tool::from_openai_json(json)?))
    }
    /// Whether and which tool the model must call (default: it decides).
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = choice;
        self
    }
    /// The shape of the reply: JSON (matching a schema) instead of free text. The llama.cpp
    /// backend constrains sampling to it; RKLLM cannot, and refuses it.
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = format;
        self
    }
    /// Thinking on or off, for models whose template has it (Qwen3, ...). Default: the
    /// template's default (usually on).
    pub fn thinking(mut self, on: bool) -> Self {
        self.thinking = Some(on);
        self
    }
    /// At most this many thinking tokens; the generator then forces the end of the thinking.
    /// 0 means no thinking (llama-server's `--reasoning-budget 0`). It needs a model whose
    /// template has thinking.
    pub fn reasoning_budget(mut self, tokens: u32) -> Self {
        self.reasoning_budget = Some(tokens);
        self
    }
    /// The start of the reply: the model continues this text, which counts as its own (e.g.
    /// a tool-call opener, so that a small model calls a tool at once). The llama.cpp
    /// backend only: RKLLM cannot continue an assistant turn.
    pub fn prefill(mut self, text: impl Into<String>) -> Self {
        self.prefill = Some(text.into()).filter(|t| !t.is_empty());
        self
    }
    /// An extra variable for the chat template (`chat_template_kwargs`).
    pub fn template_kwarg(mut self, name: impl Into<String>, value: Value) -> Self {
        self.template_kwargs.insert(name.into(), value);
        self
    }
    /// What to do with reasoning text (`<think>…</think>` and the like).
    pub fn reasoning(mut self, mode: ReasoningMode) -> Self {
        self.reasoning = mode;
        self
    }
    /// The reasoning markers to recognise, replacing [`Markers::common`]: for a model
    /// whose template opens and closes its thinking with other markers.
    pub fn reasoning_markers(mut self, markers: Vec<Markers>) -> Self {
        self.markers = markers;
        self
    }
    /// Constrains the reply to a GBNF grammar (llama.cpp's syntax, start rule `root`),
    /// e.g. to force JSON for a tool call. The llama.cpp backend only: RKLLM has no
    /// constrained decoding, so the NPU backend refuses such a request.
    pub fn grammar(mut self, gbnf: impl Into<String>) -> Self {
        self.grammar = Some(gbnf.into());
        self
    }
    /// What to do when the conversation does not fit the context window.
    pub fn context_policy(mut self, p: ContextPolicy) -> Self {
        self.context_policy = p;
        self
    }
    /// A raw completion (OpenAI's `/v1/completions`): `prompt` is tokenized as it is, with no
    /// chat template, and the model continues it. No messages or tools go with it. The
    /// llama.cpp backend only: RKLLM always applies its chat template.
    ///
    /// ```
    /// let req = edge_infer::Request::raw("The capital of France is").max_tokens(8);
    /// assert!(req.messages().is_empty());
    /// ```
    pub fn raw(prompt: impl Into<String>) -> Self {
        Request {
            raw_prompt: Some(prompt.into()),
            ..Request::new(Vec::new())
        }
    }
    /// The conversation.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
    /// Replaces the conversation, keeping the other settings.
    pub fn with_messages(mut self, messages: Vec<Message>) -> Self {
        self.messages = messages;
        self
    }

    /// Checks what every backend needs: messages, ending with a user or tool message.
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(p) = &self.raw_prompt {
            if p.is_empty() {
                return Err(Error::InvalidRequest("the prompt is empty".into()));
            }
            if !self.messages.is_empty() || !self.tools.is_empty() || self.prefill.is_some() {
                return Err(Error::InvalidRequest(
                    "a raw prompt takes no messages, tools or prefill".into(),
                ));
            }
            return Ok(());
        }
        let last = self
            .messages
            .last()
            .ok_or_else(|| Error::InvalidRequest("the request has no messages".into()))?;
        if !matches!(last.role, Role::User | Role::Tool) {
            return Err(Error::InvalidRequest(format!(
                "the last message must be from the user or a tool, not `{}`",
                last.role.as_str()
            )));
        }
        if let Some(m) = self
            .markers
            .iter()
            .find(|m| m.open.is_empty() || m.close.is_empty())
        {
            return Err(Error::InvalidRequest(format!(
                "reasoning markers must not be empty (open {:?}, close {:?})",
                m.open, m.close
            )));
        }
        if let ToolChoice::Function(name) = &self.tool_choice {
            if !self.tools.iter().any(|t| &t.name == name) {
                return Err(Error::InvalidRequest(format!(
                    "tool_choice names `{name}`, which is not among the tools ({:?})",
                    self.tools
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                )));
            }
        }
        if self.tool_choice == ToolChoice::Required && self.tools.is_empty() {
            return Err(Error::InvalidRequest(
                "tool_choice `required` needs at least one tool".into(),
            ));
        }
        let mut calls: Vec<&str> = Vec::new();
        for (i, m) in self.messages.iter().enumerate() {
            if !m.tool_calls.is_empty() && m.role != Role::Assistant {
                return Err(Error::InvalidRequest(format!(
                    "message {i} ({}) has tool calls; only assistant messages can",
                    m.role.as_str()
                )));
            }
            calls.extend(m.tool_calls.iter().map(|c| c.id.as_str()));
            if let Some(id) = &m.tool_call_id {
                if !calls.contains(&id.as_str()) {
                    return Err(Error::InvalidRequest(format!(
                        "message {i} is the result of tool call `{id}`, but no earlier \
                         assistant message made a call with that id"
                    )));
                }
            }
        }
        if let Some(i) = self
            .messages
            .iter()
            .skip(1)
            .position(|m| m.role == Role::System)
        {
            return Err(Error::InvalidRequest(format!(
                "only the first message may be a system message (message {} is one)",
                i + 1
            )));
        }
        Ok(())
    }
}

/// Index of the first message that may be dropped when the context fills and how many
/// messages make up the oldest droppable turn (a user message and the replies up to the
/// next user message). `None` when only the last message (or the system prompt) is left.
pub(crate) fn oldest_turn(messages: &[Message]) -> Option<(usize, usize)> {
    let start = usize::from(messages.first().is_some_and(|m| m.role == Role::System));
    let last = messages.len().checked_sub(1)?;
    if start >= last {
        return None;
    }
    let mut end = start + 1;
    while end < last && messages[end].role != Role::User {
        end += 1;
    }
    Some((start, end - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_turn_keeps_system_and_last() {
        let m = vec![
            Message::system("s"),
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ];
        assert_eq!(oldest_turn(&m), Some((1, 2)));
        assert_eq!(oldest_turn(&m[..2]), None);
        assert_eq!(oldest_turn(&[Message::user("x")]), None);
        let m = vec![
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ];
        assert_eq!(oldest_turn(&m), Some((0, 2)));
    }

    #[test]
    fn validation() {
        assert!(matches!(
            Request::new(vec![]).validate(),
            Err(Error::InvalidRequest(_))
        ));
        assert!(Request::new(vec![Message::assistant("x")])
            .validate()
            .is_err());
        assert!(Request::new(vec![
            Message::user("x"),
            Message::system("y"),
            Message::user("z")
        ])
        .validate()
        .is_err());
        assert!(Request::new(vec![Message::system("s"), Message::user("x")])
            .validate()
            .is_ok());
    }

    #[test]
    fn bad_tools_json_is_a_typed_error() {
        for bad in [
            "[{",
            "{}",
            "[1]",
            r#"[{"name": 1}]"#,
            r#"[{"type": "function"}]"#,
        ] {
            let e = Request::user("x").tools_json(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidTools(_)), "{bad}: {e}");
        }
        let e = Request::user("x").tools_json("[{").unwrap_err().to_string();
        assert!(e.contains("EOF"), "{e}");
        assert!(Request::user("x")
            .tools_json("[]")
            .unwrap()
            .tools
            .is_empty());
    }
}
