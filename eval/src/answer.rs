//! What a target answered to one prompt, and how the attempt went.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A structured tool call, in the shape of edge-infer's planned `ToolCall` (issue 12) and
/// of an OpenAI `tool_calls` entry with its `arguments` parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id (may be empty).
    #[serde(default)]
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON; a string when the target sent arguments that did not parse.
    pub arguments: serde_json::Value,
}

/// The answer: text, separated reasoning, and structured tool calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The reply text.
    pub text: String,
    /// Reasoning the target returned separately (`<think>` and the like).
    #[serde(default)]
    pub reasoning: String,
    /// Structured tool calls.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Whether the target can return structured tool calls at all. When it cannot, a
    /// tool-call test is reported as unsupported rather than as a model's failure.
    pub tool_calls_supported: bool,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum Outcome {
    /// The target answered (whatever the answer is worth).
    Completed,
    /// The per-test timeout ran out; the generation was cancelled or the request dropped.
    TimedOut,
    /// The target failed (HTTP error, backend error); the message says how.
    Failed(String),
}

/// One prompt's result from a target, before any judging.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// What came back (partial when timed out).
    pub answer: Answer,
    /// How it ended.
    pub outcome: Outcome,
    /// From sending the prompt to the last byte of the answer.
    pub wall: Duration,
    /// From sending the prompt to the first generated token, when known.
    pub ttft: Option<Duration>,
    /// Tokens generated, when known.
    pub generated_tokens: Option<usize>,
    /// Decode speed in tokens per second, when known.
    pub decode_tps: Option<f64>,
}

impl Attempt {
    /// An attempt that failed before anything came back.
    pub fn failed(message: impl Into<String>, wall: Duration) -> Attempt {
        Attempt {
            answer: Answer::default(),
            outcome: Outcome::Failed(message.into()),
            wall,
            ttft: None,
            generated_tokens: None,
            decode_tps: None,
        }
    }
}
