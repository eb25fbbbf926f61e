//! The model's own Jinja chat template, rendered by llama.cpp's chat layer.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::time::{SystemTime, UNIX_EPOCH};

use edge_infer_llama_sys as sys;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::ffi;
use super::message::{validate_history, ChatMessage, Tool, ToolChoice};
use super::parser::ChatParser;
use crate::error::{cstring, Error, Result};
use crate::model::Model;

/// A chat template: the GGUF's `tokenizer.chat_template` (with its `tool_use` variant, if
/// any), or a template given as Jinja source. Rendering, tool-call formats and grammars are
/// llama.cpp's own (`common/chat.h`), exactly what `llama-server --jinja` uses.
///
/// ```
/// use edge_infer_llama::{ChatMessage, ChatRequest, ChatTemplate};
/// let tmpl = ChatTemplate::from_source(
///     "{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}\
///      {% if add_generation_prompt %}<assistant>{% endif %}",
///     "<s>",
///     "</s>",
/// )?;
/// let prompt = tmpl.render(&ChatRequest::new(vec![ChatMessage::user("Hi")]))?;
/// assert_eq!(prompt.prompt, "<user>Hi</s><assistant>");
/// # Ok::<(), edge_infer_llama::Error>(())
/// ```
pub struct ChatTemplate {
    raw: NonNull<sys::edge_chat_templates>,
    info: TemplateInfo,
}

// SAFETY: the templates object holds parsed programs and strings with no thread affinity;
// it is only ever used through `&self` or dropped by its owner. It is not `Sync`: whether
// llama.cpp's Jinja runtime may render one program from two threads at once is not stated.
unsafe impl Send for ChatTemplate {}

impl Drop for ChatTemplate {
    fn drop(&mut self) {
        // SAFETY: `raw` came from edge_chat_templates_init and is freed exactly once.
        unsafe { sys::edge_chat_templates_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("explicit", &self.info.explicit)
            .field("caps", &self.info.caps)
            .finish_non_exhaustive()
    }
}

/// What a template is and can do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateInfo {
    /// The Jinja source.
    pub source: String,
    /// Whether it came from the model or the caller (not llama.cpp's ChatML stand-in).
    pub explicit: bool,
    /// llama.cpp's capability probe (`supports_tools`, `supports_tool_calls`,
    /// `supports_system_role`, `supports_parallel_tool_calls`, ...).
    pub caps: BTreeMap<String, bool>,
    /// Whether the template reacts to `enable_thinking`.
    #[serde(rename = "supports_enable_thinking")]
    pub supports_thinking: bool,
}

impl TemplateInfo {
    fn cap(&self, name: &str) -> bool {
        self.caps.get(name).copied().unwrap_or(false)
    }
    /// Whether the template renders tool definitions.
    pub fn supports_tools(&self) -> bool {
        self.cap("supports_tools")
    }
    /// Whether the template renders several tool calls in one message.
    pub fn supports_parallel_tool_calls(&self) -> bool {
        self.cap("supports_parallel_tool_calls")
    }
}

impl ChatTemplate {
    /// The model's own template. A GGUF without one gets llama.cpp's ChatML stand-in
    /// ([`TemplateInfo::explicit`] is then false).
    pub fn from_model(model: &Model) -> Result<Self> {
        Self::init(Some(model), None, "", "")
    }

    /// A template from Jinja source, with the BOS and EOS strings the template prints
    /// (`bos_token`, `eos_token`).
    pub fn from_source(source: &str, bos: &str, eos: &str) -> Result<Self> {
        Self::init(None, Some(source), bos, eos)
    }

    /// A template from Jinja source, rendered for `model` (its BOS/EOS, and whether its
    /// tokenizer adds BOS itself, in which case a leading BOS is not rendered twice).
    pub fn from_source_for(model: &Model, source: &str) -> Result<Self> {
        Self::init(Some(model), Some(source), "", "")
    }

    fn init(model: Option<&Model>, source: Option<&str>, bos: &str, eos: &str) -> Result<Self> {
        let source = source.map(|s| cstring("chat template", s)).transpose()?;
        let (bos, eos) = (cstring("bos token", bos)?, cstring("eos token", eos)?);
        let model_ptr = model.map_or(std::ptr::null(), |m| m.as_ptr() as *const _);
        let raw = ffi::call(
            // SAFETY: the strings outlive the call; `model_ptr` is NULL or a live model that
            // the shim only reads (vocab, metadata) during the call.
            |err| unsafe {
                sys::edge_chat_templates_init(
                    model_ptr,
                    source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                    bos.as_ptr(),
                    eos.as_ptr(),
                    err,
                )
            },
            |p| p.is_null(),
        )
        .map_err(Error::TemplateParse)?;
        let raw = NonNull::new(raw).expect("checked for NULL above");
        // SAFETY: `raw` is a live templates object.
        let info =
            ffi::call_string(|err| unsafe { sys::edge_chat_templates_info(raw.as_ptr(), err) });
        let info = match info.and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string())) {
            Ok(info) => info,
            Err(e) => {
                // SAFETY: not yet owned by a ChatTemplate, so freed here exactly once.
                unsafe { sys::edge_chat_templates_free(raw.as_ptr()) };
                return Err(Error::TemplateParse(e));
            }
        };
        Ok(ChatTemplate { raw, info })
    }

    /// What the template is and can do.
    pub fn info(&self) -> &TemplateInfo {
        &self.info
    }

    /// Renders a conversation: the prompt, plus what generating and parsing its reply needs
    /// (the tool-call format, grammar, triggers, stops, thinking tags).
    pub fn render(&self, request: &ChatRequest) -> Result<ChatPrompt> {
        validate_history(&request.messages)?;
        let tools = request.effective_tools()?;
        let tool_names = tools.iter().map(|t| t.name.clone()).collect();
        let inputs = request.inputs_json(&tools, &self.info);
        let mut prompt = self.render_json(&inputs)?;
        prompt.tools = tool_names;
        Ok(prompt)
    }

    /// Renders from the shim's input object directly: `messages` and `tools` in OpenAI's
    /// shapes, `tool_choice` ("auto", "required", "none"), `parallel_tool_calls`,
    /// `json_schema`, `grammar`, `add_generation_prompt`, `enable_thinking`,
    /// `reasoning_format`, `chat_template_kwargs`, `now`. This is the path llama-server's
    /// OpenAI endpoint takes; [`ChatTemplate::render`] builds the same object from types.
    pub fn render_json(&self, inputs: &Value) -> Result<ChatPrompt> {
        let c = ffi::json_cstring("chat inputs", inputs)?;
        // SAFETY: `self.raw` is live, `c` outlives the call.
        let out = ffi::call_string(|err| unsafe {
            sys::edge_chat_templates_apply(self.raw.as_ptr(), c.as_ptr(), err)
        })
        .map_err(Error::TemplateRender)?;
        let wire: WirePrompt = serde_json::from_str(&out)
            .map_err(|e| Error::TemplateRender(format!("bad reply from the chat layer: {e}")))?;
        let reasoning_format = inputs
            .get("reasoning_format")
            .and_then(Value::as_str)
            .unwrap_or("auto")
            .to_string();
        let parse_tool_calls = inputs
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty())
            && inputs.get("tool_choice").and_then(Value::as_str) != Some("none");
        let continuation = inputs
            .get("continue_final_message")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let parallel = inputs
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let tools = inputs
            .get("tools")
            .and_then(|t| Tool::from_openai_value(t).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.name)
            .collect();
        let mut prompt = wire.into_prompt(reasoning_format, parse_tool_calls, tools);
        prompt.continuation = continuation;
        prompt.parallel = parallel;
        Ok(prompt)
    }
}

/// How the reply's reasoning (`<think>…</think>`, a thought channel) is returned by the
/// parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReasoningFormat {
    /// Left in the content, markers and all.
    None,
    /// Separated into `reasoning_content` (llama-server's `auto`).
    #[default]
    Auto,
}

impl ReasoningFormat {
    fn name(self) -> &'static str {
        match self {
            ReasoningFormat::None => "none",
            ReasoningFormat::Auto => "auto",
        }
    }
}

/// A conversation to render, with what the reply may or must be.
///
/// ```
/// use edge_infer_llama::{ChatMessage, ChatRequest, Tool, ToolChoice};
/// let search = Tool::new("web_search", "Search the web",
///     serde_json::json!({"type": "object", "properties": {"query": {"type": "string"}}}));
/// let req = ChatRequest::new(vec![ChatMessage::user("News?")])
///     .tools(vec![search])
///     .tool_choice(ToolChoice::Required)
///     .thinking(false);
/// assert_eq!(req.messages().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    messages: Vec<ChatMessage>,
    tools: Vec<Tool>,
    tool_choice: ToolChoice,
    parallel_tool_calls: Option<bool>,
    json_schema: Option<Value>,
    grammar: Option<String>,
    add_generation_prompt: bool,
    continue_final: bool,
    thinking: bool,
    reasoning_format: ReasoningFormat,
    kwargs: Map<String, Value>,
    now: Option<SystemTime>,
}

impl ChatRequest {
    /// A request over `messages`: no tools, thinking on (where the template has it),
    /// reasoning separated, ending with the opening of the assistant's turn.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            messages,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: None,
            json_schema: None,
            grammar: None,
            add_generation_prompt: true,
            continue_final: false,
            thinking: true,
            reasoning_format: ReasoningFormat::Auto,
            kwargs: Map::new(),
            now: None,
        }
    }
    /// The tools the model may call.
    pub fn tools(mut self, tools: Vec<Tool>) -> Self {
        self.tools = tools;
        self
    }
    /// Whether and which tool the model must call.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = choice;
        self
    }
    /// Allow several calls in one reply (default: what the template supports, but one call
    /// for a named [`ToolChoice::Function`]).
    pub fn parallel_tool_calls(mut self, on: bool) -> Self {
        self.parallel_tool_calls = Some(on);
        self
    }
    /// Constrain the reply to JSON matching this schema (`response_format`).
    pub fn json_schema(mut self, schema: Value) -> Self {
        self.json_schema = Some(schema);
        self
    }
    /// Constrain the reply to a GBNF grammar (not with tools).
    pub fn grammar(mut self, gbnf: impl Into<String>) -> Self {
        self.grammar = Some(gbnf.into());
        self
    }
    /// End with the opening of the assistant's turn (default true).
    pub fn add_generation_prompt(mut self, on: bool) -> Self {
        self.add_generation_prompt = on;
        self
    }
    /// Continue the last message (an assistant message) instead of opening a new turn: its
    /// content is the start of the reply, e.g. a tool-call opener that forces a call.
    pub fn continue_final_message(mut self, on: bool) -> Self {
        self.continue_final = on;
        self
    }
    /// Thinking on or off, for templates that support `enable_thinking`.
    pub fn thinking(mut self, on: bool) -> Self {
        self.thinking = on;
        self
    }
    /// How the parser returns reasoning.
    pub fn reasoning_format(mut self, f: ReasoningFormat) -> Self {
        self.reasoning_format = f;
        self
    }
    /// An extra template variable (`chat_template_kwargs`), e.g. `reasoning_effort`.
    pub fn kwarg(mut self, name: impl Into<String>, value: Value) -> Self {
        self.kwargs.insert(name.into(), value);
        self
    }
    /// The time `strftime_now` sees (default: now). Fix it for reproducible prompts.
    pub fn now(mut self, t: SystemTime) -> Self {
        self.now = Some(t);
        self
    }
    /// The conversation.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// The tools the template is shown: a named tool choice narrows them to that tool.
    fn effective_tools(&self) -> Result<Vec<Tool>> {
        let mut seen = Vec::new();
        for t in &self.tools {
            if seen.contains(&&t.name) {
                return Err(Error::InvalidTools(format!(
                    "two tools are named `{}`",
                    t.name
                )));
            }
            seen.push(&t.name);
        }
        if self.grammar.is_some() && !self.tools.is_empty() && self.tool_choice != ToolChoice::None
        {
            return Err(Error::InvalidParameter {
                name: "grammar",
                reason: "a grammar cannot be combined with tools; drop one".into(),
            });
        }
        match &self.tool_choice {
            ToolChoice::Function(name) => match self.tools.iter().find(|t| &t.name == name) {
                Some(t) => Ok(vec![t.clone()]),
                None => Err(Error::UnknownTool {
                    name: name.clone(),
                    known: self.tools.iter().map(|t| t.name.clone()).collect(),
                }),
            },
            ToolChoice::Required if self.tools.is_empty() => Err(Error::InvalidParameter {
                name: "tool_choice",
                reason: "`required` needs at least one tool".into(),
            }),
            _ => Ok(self.tools.clone()),
        }
    }

    fn inputs_json(&self, tools: &[Tool], info: &TemplateInfo) -> Value {
        let choice = match self.tool_choice {
            ToolChoice::Auto => "auto",
            ToolChoice::Required | ToolChoice::Function(_) => "required",
            ToolChoice::None => "none",
        };
        let now = self.now.unwrap_or_else(SystemTime::now);
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        json!({
            "messages": self.messages,
            "tools": tools.iter().map(Tool::to_openai_value).collect::<Vec<_>>(),
            "tool_choice": choice,
            // A named tool is one call of it (OpenAI's meaning); otherwise what the template can.
            "parallel_tool_calls": self.parallel_tool_calls.unwrap_or(
                !matches!(self.tool_choice, ToolChoice::Function(_)) && info.supports_parallel_tool_calls()
            ),
            "json_schema": self.json_schema,
            "grammar": self.grammar.clone().unwrap_or_default(),
            "add_generation_prompt": self.add_generation_prompt && !self.continue_final,
            "continue_final_message": self.continue_final,
            "enable_thinking": self.thinking,
            "reasoning_format": self.reasoning_format.name(),
            "chat_template_kwargs": self.kwargs,
            "now": now,
        })
    }
}

/// How a lazy grammar is armed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarTrigger {
    /// This token id.
    Token(i32),
    /// This text anywhere in the output.
    Word(String),
    /// A regex match anywhere in the output (the grammar applies from the first group).
    Pattern(String),
    /// A regex that must match the whole output.
    PatternFull(String),
}

/// The grammar a rendered prompt asks for: from the tools (tool-call syntax with each tool's
/// argument schema), a JSON schema, or a user grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatGrammar {
    /// GBNF, start rule `root`.
    pub gbnf: String,
    /// Applied only once a trigger is seen (tool calls when the model may also answer in
    /// prose).
    pub lazy: bool,
    /// What arms a lazy grammar.
    pub triggers: Vec<GrammarTrigger>,
}

/// The tags around the template's thinking, where it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkingTags {
    /// Opens the thinking (e.g. `<think>`).
    pub start: String,
    /// Close it; the first is the one forced when a reasoning budget runs out.
    pub ends: Vec<String>,
}

/// A rendered conversation and what generating and parsing its reply needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPrompt {
    /// The prompt text (special tokens as text: tokenize with special-token parsing).
    pub prompt: String,
    /// llama.cpp's name of the reply format (`Content-only`, `peg-native`, ...).
    pub format: String,
    /// The grammar to sample with, if any.
    pub grammar: Option<ChatGrammar>,
    /// Special tokens that must be rendered as text in the reply (the parser needs them).
    pub preserved_tokens: Vec<String>,
    /// Extra stop strings the format needs.
    pub stops: Vec<String>,
    /// What the template already opened for the reply (e.g. `<think>\n`); the parser reads
    /// the reply as if it followed this text.
    pub generation_prompt: String,
    /// The template's thinking tags, where it has them.
    pub thinking: Option<ThinkingTags>,
    pub(crate) format_id: i32,
    pub(crate) parser: String,
    pub(crate) reasoning_format: String,
    pub(crate) parse_tool_calls: bool,
    pub(crate) continuation: bool,
    pub(crate) parallel: bool,
    pub(crate) tools: Vec<String>,
}

impl ChatPrompt {
    /// A parser for the reply to this prompt.
    pub fn parser(&self) -> Result<ChatParser> {
        ChatParser::new(self)
    }
    /// The names of the tools the model was shown.
    pub fn tool_names(&self) -> &[String] {
        &self.tools
    }
    /// Whether the parser looks for tool calls.
    pub fn parses_tool_calls(&self) -> bool {
        self.parse_tool_calls
    }
}

#[derive(Deserialize)]
struct WireTrigger {
    #[serde(rename = "type")]
    kind: i32,
    value: String,
    token: i64,
}

#[derive(Deserialize)]
struct WirePrompt {
    prompt: String,
    format: i32,
    format_name: String,
    grammar: String,
    grammar_lazy: bool,
    grammar_triggers: Vec<WireTrigger>,
    preserved_tokens: Vec<String>,
    additional_stops: Vec<String>,
    generation_prompt: String,
    thinking_start_tag: String,
    thinking_end_tags: Vec<String>,
    parser: String,
}

impl WirePrompt {
    fn into_prompt(
        self,
        reasoning_format: String,
        parse_tool_calls: bool,
        tools: Vec<String>,
    ) -> ChatPrompt {
        let triggers = self
            .grammar_triggers
            .into_iter()
            .filter_map(|t| match t.kind {
                0 => Some(GrammarTrigger::Token(t.token as i32)),
                1 => Some(GrammarTrigger::Word(t.value)),
                2 => Some(GrammarTrigger::Pattern(t.value)),
                3 => Some(GrammarTrigger::PatternFull(t.value)),
                _ => None,
            })
            .collect();
        let thinking = if self.thinking_start_tag.is_empty() || self.thinking_end_tags.is_empty() {
            None
        } else {
            Some(ThinkingTags {
                start: self.thinking_start_tag,
                ends: self.thinking_end_tags,
            })
        };
        ChatPrompt {
            prompt: self.prompt,
            format: self.format_name,
            grammar: if self.grammar.is_empty() {
                None
            } else {
                Some(ChatGrammar {
                    gbnf: self.grammar,
                    lazy: self.grammar_lazy,
                    triggers,
                })
            },
            preserved_tokens: self.preserved_tokens,
            stops: self.additional_stops,
            generation_prompt: self.generation_prompt,
            thinking,
            format_id: self.format,
            parser: self.parser,
            reasoning_format,
            parse_tool_calls,
            continuation: false,
            parallel: false,
            tools,
        }
    }
}

/// GBNF for a JSON schema (llama.cpp's converter; `{}` means any object).
///
/// ```
/// let g = edge_infer_llama::json_schema_to_grammar(&serde_json::json!({
///     "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
/// }))?;
/// assert!(g.contains("root ::="));
/// assert!(edge_infer_llama::json_schema_to_grammar(&serde_json::json!({"type": "nonsense"})).is_err());
/// # Ok::<(), edge_infer_llama::Error>(())
/// ```
pub fn json_schema_to_grammar(schema: &Value) -> Result<String> {
    let c = ffi::json_cstring("json schema", schema)?;
    // SAFETY: `c` outlives the call.
    ffi::call_string(|err| unsafe { sys::edge_chat_json_schema_to_grammar(c.as_ptr(), err) })
        .map_err(Error::Schema)
}
