//! What a generation streams, and what it comes to when collected.

use crate::stats::Stats;
use crate::tools::{ToolCall, Warning};

/// One streamed event. A stream is any number of `Text`, `Reasoning`, `ToolCallDelta`,
/// `ToolCall` and `Warning` events, then exactly one `Done`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Answer text: whole UTF-8 characters, never part of a stop string or a reasoning
    /// marker.
    Text(String),
    /// Reasoning text ([`ReasoningMode::Separate`](crate::ReasoningMode::Separate) only).
    Reasoning(String),
    /// A tool call is being written (as OpenAI streams it): `id` and `name` when they first
    /// appear, then pieces of the arguments' JSON text. Provisional: the calls to act on are
    /// the [`Event::ToolCall`]s, which come after the text, once the call is checked.
    ToolCallDelta {
        /// Which call of this reply (0 for the first).
        index: usize,
        /// The call's id, when newly known.
        id: Option<String>,
        /// The tool's name, when newly known.
        name: Option<String>,
        /// More of the arguments' JSON text.
        arguments: String,
    },
    /// A complete tool call, arguments parsed and the tool checked against the request's.
    ToolCall(ToolCall),
    /// Something went wrong without ending the generation (e.g. a botched tool call, whose
    /// text came back as `Text`).
    Warning(Warning),
    /// The last event.
    Done(Stats),
}

/// A whole generation, collected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Completion {
    /// The answer.
    pub text: String,
    /// The reasoning, when it was asked for separately.
    pub reasoning: String,
    /// The tool calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// What went wrong without ending the generation.
    pub warnings: Vec<Warning>,
    /// Stats.
    pub stats: Stats,
}
