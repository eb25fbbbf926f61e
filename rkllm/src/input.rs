//! What a run consumes.

/// Who speaks: `user` for prompts, `tool` for function-call results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Role {
    /// A user turn (default).
    #[default]
    User,
    /// The result of a tool call, answering a `<tool_call>` the model made.
    Tool,
    /// Any other role string the model's template knows.
    Other(String),
}

impl Role {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Role::User => "user",
            Role::Tool => "tool",
            Role::Other(s) => s,
        }
    }
}

/// The payload of an [`Input`].
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// Text, templated and tokenized by the runtime.
    Prompt(String),
    /// Token ids.
    Tokens(Vec<i32>),
    /// Embeddings: `n_tokens` rows of `data.len() / n_tokens` floats.
    Embeddings { data: Vec<f32>, n_tokens: usize },
}

/// One run's input.
///
/// ```
/// use edge_infer_rkllm::{Input, Role};
/// let i = Input::prompt("What is 2+2?").thinking(true);
/// assert_eq!(i.role(), &Role::User);
/// let t = Input::tool_response(r#"{"temperature": 21}"#);
/// assert_eq!(t.role(), &Role::Tool);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub(crate) role: Role,
    pub(crate) enable_thinking: bool,
    pub(crate) kind: InputKind,
}

impl Input {
    /// A user text prompt.
    pub fn prompt(text: impl Into<String>) -> Input {
        Input {
            role: Role::User,
            enable_thinking: false,
            kind: InputKind::Prompt(text.into()),
        }
    }
    /// A tool's reply (role `tool`), after the model asked for a function call.
    pub fn tool_response(text: impl Into<String>) -> Input {
        Input::prompt(text).with_role(Role::Tool)
    }
    /// Token ids.
    pub fn tokens(ids: impl Into<Vec<i32>>) -> Input {
        Input {
            role: Role::User,
            enable_thinking: false,
            kind: InputKind::Tokens(ids.into()),
        }
    }
    /// Embeddings for `n_tokens` tokens (`data.len()` must be a multiple of `n_tokens`).
    pub fn embeddings(data: impl Into<Vec<f32>>, n_tokens: usize) -> Input {
        Input {
            role: Role::User,
            enable_thinking: false,
            kind: InputKind::Embeddings {
                data: data.into(),
                n_tokens,
            },
        }
    }
    /// Sets the role.
    pub fn with_role(mut self, role: Role) -> Input {
        self.role = role;
        self
    }
    /// Enables "thinking" for models that support it (e.g. Qwen3).
    pub fn thinking(mut self, on: bool) -> Input {
        self.enable_thinking = on;
        self
    }
    /// The role.
    pub fn role(&self) -> &Role {
        &self.role
    }
    /// The payload.
    pub fn kind(&self) -> &InputKind {
        &self.kind
    }
}
