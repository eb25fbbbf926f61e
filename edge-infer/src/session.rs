//! Multi-turn chat over a [`Generator`].

use std::ops::ControlFlow;

use crate::error::{Error, Result};
use crate::event::{Completion, Event};
use crate::generator::Generator;
use crate::request::{ContextPolicy, Message, Request, Role};
use crate::stats::Stats;
use crate::Sampling;

/// What the model is asked when a conversation is folded.
const FOLD_INSTRUCTIONS: &str = "You maintain the memory of a long conversation. Write a \
    brief, factual summary of the conversation below, keeping names, numbers, decisions, \
    tool results and open questions. Write only the summary.";

/// A multi-turn chat: a system prompt, the history, and the request settings for each
/// turn. Each turn sends the whole conversation; the generator reuses what its KV cache
/// already holds (llama.cpp: the common token prefix; RKLLM: `keep_history`), so only the
/// new turn is evaluated. When the context fills, the request's
/// [`ContextPolicy`](crate::ContextPolicy) applies and the session forgets the messages
/// the generator dropped.
///
/// ```
/// use edge_infer::{ChatSession, Registry, Request, Sampling};
/// let routed = Registry::builtin().open_profile("default")?;
/// let mut chat = ChatSession::new(routed.generator)
///     .system("You are terse.")
///     .settings(Request::default().sampling(Sampling::greedy()).max_tokens(16));
/// let first = chat.send("Name a colour.")?;
/// let second = chat.send("Another one?")?;
/// println!("{} / {} ({} prompt tokens evaluated)", first.text, second.text, second.stats.prompt_tokens);
/// # Ok::<(), edge_infer::Error>(())
/// ```
pub struct ChatSession {
    generator: Box<dyn Generator>,
    system: Option<String>,
    /// The running summary of folded turns ([`ContextPolicy::Fold`]).
    summary: Option<String>,
    history: Vec<Message>,
    settings: Request,
}

impl std::fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSession")
            .field("model", &self.generator.info().name)
            .field("system", &self.system)
            .field("history", &self.history.len())
            .finish()
    }
}

impl ChatSession {
    /// A session over `generator` with default settings and no system prompt.
    pub fn new(generator: Box<dyn Generator>) -> Self {
        ChatSession {
            generator,
            system: None,
            summary: None,
            history: Vec::new(),
            settings: Request::default(),
        }
    }

    /// Sets the system prompt.
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system = Some(text.into());
        self
    }

    /// Settings used for every turn (sampling, max tokens, stop strings, tools, reasoning
    /// mode, context policy); the request's own messages are ignored.
    pub fn settings(mut self, settings: Request) -> Self {
        self.settings = settings;
        self
    }

    /// Replaces the settings used for the next turns (e.g. a tool choice for one turn).
    pub fn set_settings(&mut self, settings: Request) {
        self.settings = settings;
    }

    /// The settings used for each turn.
    pub fn current_settings(&self) -> &Request {
        &self.settings
    }

    /// Sends a user message, streaming the reply into `on_event` (returning
    /// `ControlFlow::Break(())` cancels). The reply (its text and tool calls) joins the
    /// history.
    pub fn send_with(
        &mut self,
        text: &str,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Stats> {
        self.turn(vec![Message::user(text)], on_event)
    }

    /// Sends a user message and returns the whole reply.
    pub fn send(&mut self, text: &str) -> Result<Completion> {
        self.collect(vec![Message::user(text)])
    }

    /// Sends the results of the tool calls of the last reply (`tool` messages, e.g.
    /// [`Message::tool_result`]) and streams the model's next reply.
    pub fn send_tool_results_with(
        &mut self,
        results: Vec<Message>,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Stats> {
        if results.is_empty() || results.iter().any(|m| m.role != Role::Tool) {
            return Err(Error::InvalidRequest(
                "tool results must be one or more `tool` messages".into(),
            ));
        }
        self.turn(results, on_event)
    }

    /// Sends tool results and returns the whole next reply.
    pub fn send_tool_results(&mut self, results: Vec<Message>) -> Result<Completion> {
        if results.is_empty() || results.iter().any(|m| m.role != Role::Tool) {
            return Err(Error::InvalidRequest(
                "tool results must be one or more `tool` messages".into(),
            ));
        }
        self.collect(results)
    }

    fn collect(&mut self, new: Vec<Message>) -> Result<Completion> {
        let (mut text, mut reasoning) = (String::new(), String::new());
        let (mut tool_calls, mut warnings) = (Vec::new(), Vec::new());
        let stats = self.turn(new, &mut |e| {
            match e {
                Event::Text(t) => text.push_str(t),
                Event::Reasoning(r) => reasoning.push_str(r),
                Event::ToolCall(c) => tool_calls.push(c.clone()),
                Event::Warning(w) => warnings.push(w.clone()),
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
        Ok(Completion {
            text,
            reasoning,
            tool_calls,
            warnings,
            stats,
        })
    }

    fn turn(
        &mut self,
        new: Vec<Message>,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Stats> {
        let ContextPolicy::Fold {
            keep_recent,
            summary_tokens,
        } = self.settings.context_policy
        else {
            return self.run(&new, 0, on_event);
        };
        // Ask the backend to refuse, not drop, when the conversation does not fit; then fold
        // and try once more (dropping, if even the recent turns do not fit).
        let strict = self.settings.clone().context_policy(ContextPolicy::Error);
        let settings = std::mem::replace(&mut self.settings, strict);
        let first = self.run(&new, 0, on_event);
        self.settings = settings;
        match first {
            Err(Error::ContextFull { .. }) => {
                let folded = self.fold(keep_recent, summary_tokens)?;
                let relaxed = self
                    .settings
                    .clone()
                    .context_policy(ContextPolicy::DropOldest);
                let settings = std::mem::replace(&mut self.settings, relaxed);
                let again = self.run(&new, folded, on_event);
                self.settings = settings;
                again
            }
            other => other,
        }
    }

    /// The system prompt with the running summary, as the generator sees it.
    fn system_message(&self) -> Option<Message> {
        match (&self.system, &self.summary) {
            (None, None) => None,
            (Some(s), None) => Some(Message::system(s.clone())),
            (sys, Some(sum)) => Some(Message::system(format!(
                "{}Summary of the earlier conversation: {sum}",
                sys.as_ref().map(|s| format!("{s}\n\n")).unwrap_or_default()
            ))),
        }
    }

    fn run(
        &mut self,
        new: &[Message],
        folded: usize,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Stats> {
        let mut messages = Vec::with_capacity(self.history.len() + new.len() + 1);
        messages.extend(self.system_message());
        messages.extend(self.history.iter().cloned());
        messages.extend(new.iter().cloned());
        let request = self.settings.clone().with_messages(messages);
        let mut answer = String::new();
        let mut calls = Vec::new();
        let mut stats = self.generator.generate_with(&request, &mut |e| {
            match e {
                Event::Text(t) => answer.push_str(t),
                Event::ToolCall(c) => calls.push(c.clone()),
                _ => {}
            }
            on_event(e)
        })?;
        let drop_n = stats.dropped_messages.min(self.history.len());
        self.history.drain(..drop_n);
        self.history.extend(new.iter().cloned());
        self.history
            .push(Message::assistant(answer).with_tool_calls(calls));
        stats.folded_messages = folded;
        Ok(stats)
    }

    /// Folds all but the `keep_recent` latest turns into the running summary, with the same
    /// model. Returns how many messages were folded.
    fn fold(&mut self, keep_recent: usize, summary_tokens: usize) -> Result<usize> {
        // Turns start at user messages; whole turns go, the `keep_recent` latest stay.
        let starts: Vec<usize> = self
            .history
            .iter()
            .enumerate()
            .filter(|(i, m)| *i == 0 || m.role == Role::User)
            .map(|(i, _)| i)
            .collect();
        let keep = keep_recent.max(1);
        let fold_n = match starts.len().checked_sub(keep) {
            Some(k) if k > 0 => starts[k],
            _ => {
                return Err(Error::InvalidRequest(format!(
                    "the conversation does not fit the context, and folding would leave \
                     nothing to fold (it keeps the {keep} latest turns)"
                )))
            }
        };
        let old: Vec<Message> = self.history[..fold_n].to_vec();
        let mut transcript = String::new();
        if let Some(s) = &self.summary {
            transcript.push_str(&format!("Summary so far: {s}\n\n"));
        }
        for m in &old {
            transcript.push_str(&format!("{}: {}", m.role.as_str(), m.content));
            for c in &m.tool_calls {
                transcript.push_str(&format!(" [called {}({})]", c.name, c.arguments));
            }
            transcript.push('\n');
        }
        let request = Request::new(vec![
            Message::system(FOLD_INSTRUCTIONS),
            Message::user(transcript),
        ])
        .sampling(Sampling::greedy())
        .max_tokens(summary_tokens.max(1))
        .context_policy(ContextPolicy::DropOldest);
        let summary = self.generator.generate(&request)?.text.trim().to_string();
        self.summary = Some(summary);
        self.history.drain(..fold_n);
        Ok(fold_n)
    }

    /// The running summary of the folded turns, if any turns were folded.
    pub fn summary(&self) -> Option<&str> {
        self.summary.as_deref()
    }

    /// Forgets the history and the summary (the system prompt stays) and clears the
    /// generator's cache.
    pub fn reset(&mut self) -> Result<()> {
        self.history.clear();
        self.summary = None;
        self.generator.reset()
    }

    /// The conversation so far (without the system prompt).
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// The generator.
    pub fn generator(&self) -> &dyn Generator {
        &*self.generator
    }

    /// Switches to another generator (e.g. another profile), keeping the history; the new
    /// one evaluates the whole conversation on the next turn. Returns the old one.
    pub fn set_generator(&mut self, generator: Box<dyn Generator>) -> Box<dyn Generator> {
        std::mem::replace(&mut self.generator, generator)
    }
}
