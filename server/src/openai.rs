//! OpenAI's wire format: the request bodies the server reads and the chunks it streams.
//!
//! Bodies are read with `serde_path_to_error`, so a field of the wrong type is reported with
//! its path (`messages[1].content`). Unknown fields are ignored, as OpenAI's own server
//! and llama-server ignore them, so that clients that send more still work.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatBody {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<MessageIn>,
    #[serde(flatten)]
    pub common: CommonBody,
    #[serde(default)]
    pub tools: Option<Value>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoiceIn>,
    #[serde(default)]
    pub response_format: Option<ResponseFormatIn>,
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// llama-server's: `none` keeps reasoning in `content`; anything else separates it.
    #[serde(default)]
    pub reasoning_format: Option<String>,
    #[serde(default)]
    pub chat_template_kwargs: Option<Map<String, Value>>,
    /// Extension: at most this many thinking tokens (0 = thinking off).
    #[serde(default)]
    pub reasoning_budget: Option<i64>,
    /// Extension: the start of the reply, which the model continues (llama.cpp models).
    #[serde(default)]
    pub prefill: Option<String>,
    #[serde(default)]
    pub logprobs: Option<bool>,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionBody {
    #[serde(default)]
    pub model: Option<String>,
    pub prompt: PromptIn,
    #[serde(flatten)]
    pub common: CommonBody,
    #[serde(default)]
    pub echo: Option<bool>,
}

/// The fields both endpoints share.
#[derive(Debug, Deserialize)]
pub(crate) struct CommonBody {
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub top_k: Option<i32>,
    #[serde(default)]
    pub min_p: Option<f32>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub stop: Option<StopIn>,
    #[serde(default)]
    pub n: Option<i64>,
    #[serde(default)]
    pub repeat_penalty: Option<f32>,
    /// Extension: the longest this request may wait in a queue before its profile's next
    /// loaded model serves it.
    #[serde(default)]
    pub latency_budget_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum StopIn {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum PromptIn {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessageIn {
    pub role: String,
    #[serde(default)]
    pub content: Option<ContentIn>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallIn>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ContentIn {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallIn {
    pub id: String,
    pub function: FunctionCallIn,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionCallIn {
    pub name: String,
    /// The arguments as JSON text (OpenAI's shape); an object is accepted too.
    pub arguments: Value,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ToolChoiceIn {
    Mode(String),
    Named(NamedToolChoice),
}

#[derive(Debug, Deserialize)]
pub(crate) struct NamedToolChoice {
    pub function: NamedFunction,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NamedFunction {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ResponseFormatIn {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaIn },
}

#[derive(Debug, Deserialize)]
pub(crate) struct JsonSchemaIn {
    #[serde(default)]
    pub schema: Option<Value>,
}

/// Parses a body, naming the field of a type error and the place of a syntax error.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let syntax = |e: serde_json::Error| ApiError::BadRequest {
        message: format!("the body is not valid JSON: {e}"),
        param: None,
        code: Some("invalid_json"),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            syntax(inner)
        } else if path.is_empty() || path == "." {
            // `serde(flatten)` hides the path of the shared fields: find it by reading
            // them on their own.
            if let Some((path, inner)) = shared_field_error(bytes) {
                return ApiError::BadRequest {
                    message: format!("`{path}`: {inner}"),
                    param: Some(path),
                    code: Some("invalid_type"),
                };
            }
            ApiError::BadRequest {
                message: format!("the body does not match the request's schema: {inner}"),
                param: None,
                code: Some("invalid_type"),
            }
        } else {
            ApiError::BadRequest {
                message: format!("`{path}`: {inner}"),
                param: Some(path),
                code: Some("invalid_type"),
            }
        }
    })?;
    de.end().map_err(syntax)?;
    Ok(value)
}

/// The path and error of a wrongly typed field among the [`CommonBody`] ones.
fn shared_field_error(bytes: &[u8]) -> Option<(String, serde_json::Error)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, CommonBody>(&mut de) {
        Err(e) if !e.path().to_string().is_empty() && e.path().to_string() != "." => {
            Some((e.path().to_string(), e.into_inner()))
        }
        _ => None,
    }
}

// ---- what the server writes -------------------------------------------------------

/// One streamed chunk of a chat completion (borrowed: built per token without copying).
#[derive(Serialize)]
pub(crate) struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub system_fingerprint: &'static str,
    pub choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<&'a Value>,
}

#[derive(Serialize)]
pub(crate) struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
pub(crate) struct ToolCallDelta<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta<'a>,
}

#[derive(Serialize)]
pub(crate) struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// One streamed chunk of a text completion.
#[derive(Serialize)]
pub(crate) struct TextChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub system_fingerprint: &'static str,
    pub choices: &'a [TextChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<&'a Value>,
}

#[derive(Serialize)]
pub(crate) struct TextChoice<'a> {
    pub index: u32,
    pub text: &'a str,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'a str>,
}

/// `system_fingerprint` of every response: the crate and version that served it.
pub(crate) const FINGERPRINT: &str = concat!("edge-infer-server-", env!("CARGO_PKG_VERSION"));
