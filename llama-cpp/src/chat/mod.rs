//! Model-native chat: the GGUF's own Jinja chat template, tool calls, JSON-constrained
//! replies and thinking control, through llama.cpp's own chat layer (`common/chat.h`, the
//! code behind `llama-server --jinja`).
//!
//! * [`ChatTemplate`] renders a [`ChatRequest`] (messages with tool calls and results, tools,
//!   tool choice, a JSON schema, thinking on or off, template kwargs) into a [`ChatPrompt`]:
//!   the prompt, the reply's format, its grammar and triggers, stops and thinking tags.
//! * [`ChatSampler`] samples the reply as llama-server does: lazy tool-call grammar and a
//!   reasoning budget.
//! * [`ChatStream`] parses the reply while it streams into content, reasoning and tool-call
//!   deltas, and at the end into checked [`ToolCall`]s ([`ChatOutcome`]).
//!
//! GGUFs without a template of their own can still use llama.cpp's shape matching
//! ([`Model::apply_chat_template`](crate::Model::apply_chat_template)).

mod ffi;
mod legacy;
mod message;
mod parser;
mod sampler;
mod template;

pub use legacy::apply_template;
pub use message::{ChatMessage, Tool, ToolCall, ToolChoice};
pub use parser::{
    ChatDelta, ChatOutcome, ChatParser, ChatStream, ParsedCall, ParsedMessage, ToolCallProblem,
};
pub use sampler::ChatSampler;
pub use template::{
    json_schema_to_grammar, ChatGrammar, ChatPrompt, ChatRequest, ChatTemplate, GrammarTrigger,
    ReasoningFormat, TemplateInfo, ThinkingTags,
};
