//! Tools a model may call, its calls, and constrained replies: the same on every backend.

use serde_json::Value;

use crate::error::{Error, Result};

/// A function tool the model may call.
///
/// ```
/// use edge_infer::Tool;
/// let calc = Tool::new("calculator", "Evaluate an arithmetic expression",
///     serde_json::json!({"type": "object",
///                        "properties": {"expression": {"type": "string"}},
///                        "required": ["expression"]}));
/// assert_eq!(calc.name, "calculator");
/// let parsed = Tool::from_openai_json(r#"[{"type": "function", "function": {"name": "web_search"}}]"#)?;
/// assert_eq!(parsed[0].name, "web_search");
/// # Ok::<(), edge_infer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does (the model reads this).
    pub description: String,
    /// The JSON schema of its arguments object.
    pub parameters: Value,
}

impl Tool {
    /// A tool.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Tool {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }

    /// Tools from OpenAI's JSON (an array of `{"type": "function", "function": {...}}`).
    /// Anything else is [`Error::InvalidTools`], naming the problem.
    pub fn from_openai_json(json: &str) -> Result<Vec<Tool>> {
        edge_infer_llama::Tool::parse_openai(json)
            .map(|tools| tools.into_iter().map(Tool::from).collect())
            .map_err(invalid_tools)
    }

    /// [`Tool::from_openai_json`] over an already parsed value.
    pub fn from_openai_value(value: &Value) -> Result<Vec<Tool>> {
        edge_infer_llama::Tool::from_openai_value(value)
            .map(|tools| tools.into_iter().map(Tool::from).collect())
            .map_err(invalid_tools)
    }

    /// OpenAI's JSON for a list of tools.
    pub fn to_openai_json(tools: &[Tool]) -> String {
        Value::Array(
            tools
                .iter()
                .map(|t| edge_infer_llama::Tool::from(t.clone()).to_openai_value())
                .collect(),
        )
        .to_string()
    }
}

fn invalid_tools(e: edge_infer_llama::Error) -> Error {
    match e {
        edge_infer_llama::Error::InvalidTools(m) => Error::InvalidTools(m),
        other => Error::InvalidTools(other.to_string()),
    }
}

impl From<edge_infer_llama::Tool> for Tool {
    fn from(t: edge_infer_llama::Tool) -> Self {
        Tool {
            name: t.name,
            description: t.description,
            parameters: t.parameters,
        }
    }
}

impl From<Tool> for edge_infer_llama::Tool {
    fn from(t: Tool) -> Self {
        edge_infer_llama::Tool::new(t.name, t.description, t.parameters)
    }
}

/// A call of a tool by the model, with parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id: a `tool` message answering it carries the same id.
    pub id: String,
    /// The tool called.
    pub name: String,
    /// The arguments (a JSON object).
    pub arguments: Value,
}

impl ToolCall {
    /// A tool call.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        }
    }
}

impl From<edge_infer_llama::ToolCall> for ToolCall {
    fn from(c: edge_infer_llama::ToolCall) -> Self {
        ToolCall::new(c.id, c.name, c.arguments)
    }
}

impl From<&ToolCall> for edge_infer_llama::ToolCall {
    fn from(c: &ToolCall) -> Self {
        edge_infer_llama::ToolCall::new(c.id.clone(), c.name.clone(), c.arguments.clone())
    }
}

/// Whether, and which, tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides (on the CPU, a grammar arms when it opens a call).
    #[default]
    Auto,
    /// The model must call a tool.
    Required,
    /// The model must not call one.
    None,
    /// The model must call this tool.
    Function(String),
}

impl From<&ToolChoice> for edge_infer_llama::ToolChoice {
    fn from(c: &ToolChoice) -> Self {
        match c {
            ToolChoice::Auto => edge_infer_llama::ToolChoice::Auto,
            ToolChoice::Required => edge_infer_llama::ToolChoice::Required,
            ToolChoice::None => edge_infer_llama::ToolChoice::None,
            ToolChoice::Function(n) => edge_infer_llama::ToolChoice::Function(n.clone()),
        }
    }
}

/// The shape a reply must have (OpenAI's `response_format`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching this schema.
    JsonSchema(Value),
}

impl ResponseFormat {
    pub(crate) fn schema(&self) -> Option<Value> {
        match self {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(serde_json::json!({"type": "object"})),
            ResponseFormat::JsonSchema(s) => Some(s.clone()),
        }
    }
}

/// Something that went wrong without ending the generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A tool call the model botched (bad JSON, an unknown tool, the format broken): its
    /// text came back as answer text instead.
    RejectedToolCall(String),
    /// A request setting this backend cannot apply.
    Ignored(String),
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::RejectedToolCall(why) => write!(f, "tool call rejected: {why}"),
            Warning::Ignored(what) => write!(f, "ignored: {what}"),
        }
    }
}
