//! Chat messages, tools and tool calls, in the shapes of OpenAI's chat completions API (which
//! is what llama.cpp's chat layer reads, and what most chat templates were written against).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One chat message.
///
/// ```
/// use edge_infer_llama::{ChatMessage, ToolCall};
/// let call = ToolCall::new("call_1", "calculator", serde_json::json!({"expression": "2+2"}));
/// let history = [
///     ChatMessage::user("What is 2+2?"),
///     ChatMessage::assistant("").with_tool_calls(vec![call]),
///     ChatMessage::tool("call_1", "4"),
/// ];
/// assert_eq!(history[2].tool_call_id.as_deref(), Some("call_1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks: `system`, `user`, `assistant`, `tool` (templates may know others).
    pub role: String,
    /// What they say.
    #[serde(default)]
    pub content: String,
    /// The tools an assistant message called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a `tool` message: the tool's name (some templates print it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An assistant message's reasoning, for templates that render past thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            ..Default::default()
        }
    }
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
    /// The result of the tool call `id`.
    pub fn tool(id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(id.into()),
            ..Self::new("tool", content)
        }
    }
    /// The same message with these tool calls (for an assistant message).
    pub fn with_tool_calls(mut self, calls: Vec<ToolCall>) -> Self {
        self.tool_calls = calls;
        self
    }
    /// The same message with this reasoning (for an assistant message).
    pub fn with_reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.reasoning_content = Some(reasoning.into());
        self
    }
    /// The same message with a tool name (for a tool message).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A call of a tool by the model. `arguments` is parsed JSON (an object for every format we
/// know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id, used by the `tool` message that answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments.
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

// OpenAI's wire shape: {"id", "type": "function", "function": {"name", "arguments": "<json>"}}.
#[derive(Serialize, Deserialize)]
struct WireCall {
    #[serde(default)]
    id: String,
    #[serde(rename = "type", default = "function_type")]
    kind: String,
    function: WireFunction,
}

#[derive(Serialize, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

fn function_type() -> String {
    "function".into()
}

impl Serialize for ToolCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        WireCall {
            id: self.id.clone(),
            kind: function_type(),
            function: WireFunction {
                name: self.name.clone(),
                arguments: Value::String(self.arguments.to_string()),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ToolCall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let w = WireCall::deserialize(d)?;
        if w.kind != "function" {
            return Err(serde::de::Error::custom(format!(
                "tool call type {:?} is not \"function\"",
                w.kind
            )));
        }
        // OpenAI sends the arguments as a JSON string; accept an object too.
        let arguments = match w.function.arguments {
            Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                serde::de::Error::custom(format!("tool call arguments are not JSON ({e}): {s}"))
            })?,
            Value::Null => Value::Object(Default::default()),
            other => other,
        };
        Ok(ToolCall {
            id: w.id,
            name: w.function.name,
            arguments,
        })
    }
}

/// A function tool the model may call.
///
/// ```
/// use edge_infer_llama::Tool;
/// let tools = Tool::parse_openai(r#"[{"type": "function", "function": {
///     "name": "web_search", "description": "Search the web",
///     "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
///                    "required": ["query"]}}}]"#)?;
/// assert_eq!(tools[0].name, "web_search");
/// assert!(Tool::parse_openai(r#"{"name": "x"}"#).is_err()); // not an array
/// # Ok::<(), edge_infer_llama::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its parameters, as a JSON schema (an object schema).
    pub parameters: Value,
}

impl Tool {
    /// A tool; `parameters` is a JSON schema of the arguments object.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Tool {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }

    /// Tools from OpenAI's JSON: an array of `{"type": "function", "function": {"name",
    /// "description", "parameters"}}` objects (the bare function objects are accepted too).
    pub fn parse_openai(json: &str) -> Result<Vec<Tool>> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::InvalidTools(format!("not JSON: {e}")))?;
        Self::from_openai_value(&value)
    }

    /// [`Tool::parse_openai`] over an already parsed value.
    pub fn from_openai_value(value: &Value) -> Result<Vec<Tool>> {
        let items = value.as_array().ok_or_else(|| {
            Error::InvalidTools(format!("expected an array of tools, got {}", kind(value)))
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let bad = |why: String| Error::InvalidTools(format!("tool {i}: {why}"));
                let obj = item
                    .as_object()
                    .ok_or_else(|| bad(format!("expected an object, got {}", kind(item))))?;
                let func = match obj.get("type") {
                    Some(Value::String(t)) if t == "function" => obj
                        .get("function")
                        .and_then(Value::as_object)
                        .ok_or_else(|| bad("has no \"function\" object".into()))?,
                    Some(other) => {
                        return Err(bad(format!("type {other} is not \"function\"")));
                    }
                    None => obj,
                };
                let name = match func.get("name") {
                    Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
                    Some(Value::String(_)) => return Err(bad("the name is empty".into())),
                    Some(other) => return Err(bad(format!("the name is {}", kind(other)))),
                    None => return Err(bad("has no \"name\"".into())),
                };
                let description = match func.get("description") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(d)) => d.clone(),
                    Some(other) => {
                        return Err(bad(format!("the description is {}", kind(other))));
                    }
                };
                let parameters = match func.get("parameters") {
                    None | Some(Value::Null) => {
                        serde_json::json!({"type": "object", "properties": {}})
                    }
                    Some(p @ Value::Object(_)) => p.clone(),
                    Some(other) => {
                        return Err(bad(format!(
                            "`{name}` has parameters that are {}, not a JSON schema object",
                            kind(other)
                        )));
                    }
                };
                Ok(Tool {
                    name,
                    description,
                    parameters,
                })
            })
            .collect()
    }

    /// OpenAI's JSON for this tool.
    pub fn to_openai_value(&self) -> Value {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            }
        })
    }
}

/// Whether, and which, tools the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// The model must call a tool.
    Required,
    /// The model must not call a tool (the tools are still shown to it).
    None,
    /// The model must call this tool.
    Function(String),
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks what templates assume and llama.cpp does not: tool results answer a call made
/// earlier, and tool calls carry names.
pub(crate) fn validate_history(messages: &[ChatMessage]) -> Result<()> {
    let mut calls: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        for c in &m.tool_calls {
            if c.name.trim().is_empty() {
                return Err(Error::InvalidMessages(format!(
                    "message {i} has a tool call without a name"
                )));
            }
            if m.role != "assistant" {
                return Err(Error::InvalidMessages(format!(
                    "message {i} ({}) has tool calls; only assistant messages can",
                    m.role
                )));
            }
            if !c.id.is_empty() {
                calls.push(&c.id);
            }
        }
        if m.role == "tool" {
            match m.tool_call_id.as_deref() {
                Some(id) if !calls.contains(&id) => {
                    return Err(Error::UnknownToolCallId {
                        index: i,
                        id: id.to_string(),
                    })
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_travel_as_openai_json() {
        let m = ChatMessage::assistant("").with_tool_calls(vec![ToolCall::new(
            "c1",
            "f",
            serde_json::json!({"b": 1, "a": "x"}),
        )]);
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["tool_calls"][0]["type"], "function");
        // Key order is the model's, not sorted.
        assert_eq!(
            j["tool_calls"][0]["function"]["arguments"],
            r#"{"b":1,"a":"x"}"#
        );
        let back: ChatMessage = serde_json::from_value(j).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn bad_tools_are_typed_errors() {
        for (json, needle) in [
            ("{", "not JSON"),
            (r#"{"name":"x"}"#, "expected an array"),
            ("[1]", "expected an object"),
            (r#"[{"type":"retrieval"}]"#, "is not \"function\""),
            (r#"[{"type":"function"}]"#, "no \"function\""),
            (r#"[{"description":"x"}]"#, "no \"name\""),
            (r#"[{"name":""}]"#, "empty"),
            (
                r#"[{"name":"x","parameters":[1]}]"#,
                "not a JSON schema object",
            ),
        ] {
            let e = Tool::parse_openai(json).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn tool_results_must_answer_a_call() {
        let call = ToolCall::new("c1", "f", serde_json::json!({}));
        let ok = [
            ChatMessage::user("q"),
            ChatMessage::assistant("").with_tool_calls(vec![call]),
            ChatMessage::tool("c1", "r"),
        ];
        validate_history(&ok).unwrap();
        let bad = [ChatMessage::user("q"), ChatMessage::tool("c9", "r")];
        assert!(matches!(
            validate_history(&bad),
            Err(Error::UnknownToolCallId { index: 1, .. })
        ));
    }
}
