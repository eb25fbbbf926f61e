//! What a generation is asked to do: messages, sampling, limits, stop strings, tools.

use crate::error::{Error, Result};
use crate::reasoning::{Markers, ReasoningMode};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What they say.
    pub content: String,
}

impl Message {
    /// A message with any role.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
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
    /// A tool result.
    pub fn tool(content: impl Into<String>) -> Self {
        Self::new(Role::Tool, content)
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
}

/// One generation request: the conversation so far (ending with a user or tool message),
/// sampling, limits, stop strings, optional tools, and the reasoning mode.
///
/// ```
/// use edge_infer::{Message, ReasoningMode, Request, Sampling};
/// let req = Request::new(vec![Message::system("Be brief."), Message::user("Hi!")])
///     .sampling(Sampling::greedy())
///     .max_tokens(64)
///     .stop("\n\n")
///     .reasoning(ReasoningMode::Separate)
///     .tools(r#"[{"name": "get_time", "parameters": {}}]"#)?;
/// assert_eq!(req.messages().len(), 2);
/// assert!(Request::new(vec![Message::user("x")]).tools("[{").is_err());
/// # Ok::<(), edge_infer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub(crate) messages: Vec<Message>,
    pub(crate) sampling: Sampling,
    pub(crate) max_tokens: usize,
    pub(crate) stop: Vec<String>,
    pub(crate) tools: Option<String>,
    pub(crate) reasoning: ReasoningMode,
    pub(crate) markers: Vec<Markers>,
    pub(crate) grammar: Option<String>,
    pub(crate) context_policy: ContextPolicy,
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
            tools: None,
            reasoning: ReasoningMode::Drop,
            markers: Markers::common(),
            grammar: None,
            context_policy: ContextPolicy::DropOldest,
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
    /// Function tools the model may call: a JSON array of tool objects, each with a
    /// string `name` (at the top level or under `function`, OpenAI style). Validated
    /// here: bad JSON is [`Error::InvalidTools`].
    pub fn tools(mut self, json: &str) -> Result<Self> {
        let compact = edge_infer_rkllm::tools::validate_tools(json).map_err(|e| match e {
            edge_infer_rkllm::Error::InvalidToolsJson(m) => Error::InvalidTools(m),
            other => Error::InvalidTools(other.to_string()),
        })?;
        self.tools = Some(compact);
        Ok(self)
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
    /// The conversation.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
    /// Replaces the conversation, keeping the other settings.
    pub fn with_messages(mut self, messages: Vec<Message>) -> Self {
        self.messages = messages;
        self
    }
    /// The token limit.
    pub fn get_max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Checks what every backend needs: messages, ending with a user or tool message.
    pub(crate) fn validate(&self) -> Result<()> {
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
        for bad in ["[{", "{}", "[]", r#"[{"name": 1}]"#] {
            let e = Request::user("x").tools(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidTools(_)), "{bad}: {e}");
        }
        let e = Request::user("x").tools("[{").unwrap_err().to_string();
        assert!(e.contains("EOF"), "{e}");
    }
}
