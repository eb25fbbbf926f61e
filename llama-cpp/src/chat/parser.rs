//! Parsing a reply into content, reasoning and tool calls, whole or while it streams.

use std::ptr::NonNull;

use edge_infer_llama_sys as sys;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ffi;
use super::message::ToolCall;
use super::template::ChatPrompt;
use crate::error::{Error, Result};

/// llama.cpp's parser for one reply format (the one [`ChatPrompt::format`] names): the same
/// code llama-server runs on a model's output. Create it with [`ChatPrompt::parser`].
pub struct ChatParser {
    raw: NonNull<sys::edge_chat_parser>,
}

// SAFETY: the parser object holds a parsed grammar arena and strings with no thread affinity;
// `parse` takes `&mut self`, so it is never used from two threads at once.
unsafe impl Send for ChatParser {}

impl Drop for ChatParser {
    fn drop(&mut self) {
        // SAFETY: `raw` came from edge_chat_parser_new and is freed exactly once.
        unsafe { sys::edge_chat_parser_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for ChatParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatParser").finish_non_exhaustive()
    }
}

/// A reply, parsed. While streaming, the last tool call's `arguments` may be incomplete JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct ParsedMessage {
    /// The answer text.
    pub content: String,
    /// The reasoning, when the prompt asked for it separately.
    pub reasoning_content: String,
    /// The tool calls, in order.
    pub tool_calls: Vec<ParsedCall>,
}

/// A tool call as the parser found it: arguments as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct ParsedCall {
    /// The call's id, when the format carries one (else empty).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

impl ChatParser {
    pub(crate) fn new(prompt: &ChatPrompt) -> Result<Self> {
        let params = json!({
            "format": prompt.format_id,
            "reasoning_format": prompt.reasoning_format,
            "generation_prompt": prompt.generation_prompt,
            "parse_tool_calls": prompt.parse_tool_calls,
            "is_continuation": prompt.continuation,
            "parser": prompt.parser,
        });
        let c = ffi::json_cstring("chat parser", &params)?;
        // SAFETY: `c` outlives the call.
        let raw = ffi::call(
            |err| unsafe { sys::edge_chat_parser_new(c.as_ptr(), err) },
            |p| p.is_null(),
        )
        .map_err(Error::ChatParse)?;
        Ok(ChatParser {
            raw: NonNull::new(raw).expect("checked for NULL above"),
        })
    }

    /// Parses `text`, the whole reply so far. With `partial`, more text may follow, and
    /// whatever can be said already is returned; without it, a reply that does not match the
    /// format is [`Error::ChatParse`].
    pub fn parse(&mut self, text: &str, partial: bool) -> Result<ParsedMessage> {
        // SAFETY: `raw` is live; `text` is valid for `len` bytes during the call.
        let out = ffi::call_string(|err| unsafe {
            sys::edge_chat_parser_parse(
                self.raw.as_ptr(),
                text.as_ptr().cast(),
                text.len(),
                partial,
                err,
            )
        })
        .map_err(Error::ChatParse)?;
        serde_json::from_str(&out)
            .map_err(|e| Error::ChatParse(format!("bad reply from the chat layer: {e}")))
    }
}

/// A change to a streaming reply, as OpenAI streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatDelta {
    /// More answer text.
    Content(String),
    /// More reasoning.
    Reasoning(String),
    /// A tool call began or grew: `id`/`name` when they first appear (or change), then
    /// pieces of the arguments' JSON text.
    ToolCall {
        /// Which call (0 for the first).
        index: usize,
        /// Its id, when newly known.
        id: Option<String>,
        /// Its name, when newly known.
        name: Option<String>,
        /// More of the arguments' JSON text.
        arguments: String,
    },
}

/// Why a tool call in a reply was not accepted. The call's text is kept as answer text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCallProblem {
    /// The reply does not match the format (a botched call, cut-off JSON, ...).
    Malformed(String),
    /// The arguments are not a JSON object.
    BadArguments {
        /// The tool.
        name: String,
        /// Why.
        reason: String,
    },
    /// The model called a tool it was not given.
    UnknownTool(String),
}

impl std::fmt::Display for ToolCallProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolCallProblem::Malformed(m) => {
                write!(f, "the reply does not parse as the template's format: {m}")
            }
            ToolCallProblem::BadArguments { name, reason } => {
                write!(
                    f,
                    "the arguments of the call to `{name}` are not a JSON object: {reason}"
                )
            }
            ToolCallProblem::UnknownTool(n) => {
                write!(f, "the model called `{n}`, which is not one of its tools")
            }
        }
    }
}

/// The end of a reply: the final parse, the accepted tool calls, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatOutcome {
    /// The answer text (with the text of rejected calls).
    pub content: String,
    /// The reasoning.
    pub reasoning: String,
    /// The accepted tool calls, with parsed arguments and ids (generated where the format
    /// has none: 9 random alphanumerics, the shape the strictest templates, Mistral's,
    /// insist on).
    pub tool_calls: Vec<ToolCall>,
    /// Rejected calls (non-fatal).
    pub problems: Vec<ToolCallProblem>,
}

/// A reply parsed while it streams: feed the generated text piece by piece, get the deltas,
/// then [`finish`](ChatStream::finish).
///
/// Deltas of tool calls are provisional (a call may still fail to parse at the end); the
/// calls in [`ChatOutcome`] are the ones to act on.
pub struct ChatStream {
    parser: ChatParser,
    tools: Vec<String>,
    text: String,
    last: ParsedMessage,
    parses_tools: bool,
    /// How many calls the reply may make (1 without parallel calls).
    max_calls: usize,
    /// A call beyond `max_calls` began: the reply is over.
    complete: bool,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("text_len", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// A stream over the reply to `prompt`.
    pub fn new(prompt: &ChatPrompt) -> Result<Self> {
        Ok(ChatStream {
            parser: prompt.parser()?,
            tools: prompt.tool_names().to_vec(),
            text: String::new(),
            last: ParsedMessage::default(),
            parses_tools: prompt.parses_tool_calls(),
            max_calls: if prompt.parallel { usize::MAX } else { 1 },
            complete: false,
        })
    }

    /// Whether the reply is over although the model goes on: it may make one call only
    /// (no parallel calls), and a second began. Stop generating; [`finish`](Self::finish)
    /// keeps the first.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The reply so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Adds generated text; returns what changed. A partial parse that fails only delays
    /// the deltas until more text arrives.
    pub fn push(&mut self, piece: &str, out: &mut Vec<ChatDelta>) -> Result<()> {
        if self.complete {
            return Ok(());
        }
        self.text.push_str(piece);
        let Ok(mut now) = self.parser.parse(&self.text, true) else {
            return Ok(());
        };
        if now.tool_calls.len() > self.max_calls {
            now.tool_calls.truncate(self.max_calls);
            self.complete = true;
        }
        diff(&self.last, &now, out)?;
        self.last = now;
        Ok(())
    }

    /// Ends the reply: the final (non-partial) parse, deltas for anything not yet streamed,
    /// and the tool calls checked against the tools given.
    pub fn finish(mut self, out: &mut Vec<ChatDelta>) -> Result<ChatOutcome> {
        let mut outcome = ChatOutcome::default();
        let msg = match self.parser.parse(&self.text, false) {
            Ok(mut m) => {
                m.tool_calls.truncate(self.max_calls);
                m
            }
            Err(Error::ChatParse(why)) => {
                // The model botched the format: all of it is answer text.
                outcome.problems.push(ToolCallProblem::Malformed(why));
                let prose = ParsedMessage {
                    content: self.text.clone(),
                    reasoning_content: self.last.reasoning_content.clone(),
                    tool_calls: Vec::new(),
                };
                if prose.content.starts_with(&self.last.content) {
                    out.push(ChatDelta::Content(
                        prose.content[self.last.content.len()..].to_string(),
                    ));
                }
                outcome.content = prose.content;
                outcome.reasoning = prose.reasoning_content;
                return Ok(outcome);
            }
            Err(e) => return Err(e),
        };
        // A final parse may drop a tool call that a partial parse showed; deltas then stop.
        if diff(&self.last, &msg, out).is_err() {
            out.clear();
        }
        outcome.reasoning = msg.reasoning_content.clone();
        outcome.content = msg.content.clone();
        for (i, call) in msg.tool_calls.iter().enumerate() {
            match check_call(call, &self.tools, self.parses_tools) {
                Ok(arguments) => outcome.tool_calls.push(ToolCall {
                    id: if call.id.is_empty() {
                        new_call_id(i)
                    } else {
                        call.id.clone()
                    },
                    name: call.name.clone(),
                    arguments,
                }),
                Err(problem) => {
                    // Keep what the model wrote, as text, so nothing it said is lost.
                    outcome.problems.push(problem);
                    let mut text = format!(
                        "{{\"name\": {}, \"arguments\": {}}}",
                        Value::String(call.name.clone()),
                        call.arguments
                    );
                    if !outcome.content.is_empty() {
                        text.insert(0, '\n');
                    }
                    outcome.content.push_str(&text);
                    out.push(ChatDelta::Content(text));
                }
            }
        }
        Ok(outcome)
    }
}

/// A fresh tool-call id: 9 characters of `[A-Za-z0-9]`, unique in practice across the turns
/// of a conversation (Mistral's templates refuse any other shape).
fn new_call_id(index: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // RandomState is seeded per process from the OS; the counter separates calls.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_usize(index);
    let mut n = h.finish();
    (0..9)
        .map(|_| {
            let c = ALPHABET[(n % 62) as usize] as char;
            n /= 62;
            c
        })
        .collect()
}

fn check_call(
    call: &ParsedCall,
    tools: &[String],
    parses_tools: bool,
) -> std::result::Result<Value, ToolCallProblem> {
    if !parses_tools || !tools.iter().any(|t| t == &call.name) {
        return Err(ToolCallProblem::UnknownTool(call.name.clone()));
    }
    let args = if call.arguments.trim().is_empty() {
        "{}"
    } else {
        call.arguments.as_str()
    };
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(ToolCallProblem::BadArguments {
            name: call.name.clone(),
            reason: format!("got {}", super::message::kind(&other)),
        }),
        Err(e) => Err(ToolCallProblem::BadArguments {
            name: call.name.clone(),
            reason: e.to_string(),
        }),
    }
}

fn string_diff<'a>(last: &str, now: &'a str) -> Result<&'a str> {
    if let Some(rest) = now.strip_prefix(last) {
        Ok(rest)
    } else if last.starts_with(now) {
        // The previous parse ended on a partial stop word that this one dropped.
        Ok("")
    } else {
        Err(Error::ChatParse(format!(
            "invalid diff: {last:?} is not a prefix of {now:?}"
        )))
    }
}

/// What changed between two parses of a growing reply (llama.cpp's
/// `common_chat_msg_diff::compute_diffs`).
pub(crate) fn diff(
    prev: &ParsedMessage,
    now: &ParsedMessage,
    out: &mut Vec<ChatDelta>,
) -> Result<()> {
    if prev.reasoning_content != now.reasoning_content {
        let d = string_diff(&prev.reasoning_content, &now.reasoning_content)?;
        if !d.is_empty() {
            out.push(ChatDelta::Reasoning(d.to_string()));
        }
    }
    if prev.content != now.content {
        let d = string_diff(&prev.content, &now.content)?;
        if !d.is_empty() {
            out.push(ChatDelta::Content(d.to_string()));
        }
    }
    if now.tool_calls.len() < prev.tool_calls.len() {
        return Err(Error::ChatParse(format!(
            "invalid diff: {} tool calls became {}",
            prev.tool_calls.len(),
            now.tool_calls.len()
        )));
    }
    if let Some(idx) = prev.tool_calls.len().checked_sub(1) {
        let (p, n) = (&prev.tool_calls[idx], &now.tool_calls[idx]);
        if p.name != n.name && !p.name.is_empty() && !n.name.starts_with(&p.name) {
            return Err(Error::ChatParse(format!(
                "invalid diff: tool call `{}` became `{}`",
                p.name, n.name
            )));
        }
        let args = string_diff(&p.arguments, &n.arguments)?;
        let renamed = p.id != n.id || p.name != n.name;
        if !args.is_empty() || renamed {
            out.push(ChatDelta::ToolCall {
                index: idx,
                id: renamed.then(|| n.id.clone()),
                name: renamed.then(|| n.name.clone()),
                arguments: args.to_string(),
            });
        }
    }
    for (index, c) in now
        .tool_calls
        .iter()
        .enumerate()
        .skip(prev.tool_calls.len())
    {
        out.push(ChatDelta::ToolCall {
            index,
            id: Some(c.id.clone()),
            name: Some(c.name.clone()),
            arguments: c.arguments.clone(),
        });
    }
    Ok(())
}
