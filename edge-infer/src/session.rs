//! Multi-turn chat over a [`Generator`].

use std::ops::ControlFlow;

use crate::error::Result;
use crate::generator::{Completion, Event, Generator, Stats};
use crate::request::{Message, Request};

/// A multi-turn chat: a system prompt, the history, and the request settings for each
/// turn. Each turn sends the whole conversation; the generator reuses what its KV cache
/// already holds (llama.cpp: the common token prefix; RKLLM: `keep_history`), so only the
/// new turn is evaluated. When the context fills, the request's
/// [`ContextPolicy`](crate::ContextPolicy) applies and the session forgets the messages
/// the generator dropped.
///
/// ```no_run
/// use edge_infer::{ChatSession, Registry, Request, Sampling};
/// let routed = Registry::builtin().open_profile("default")?;
/// let mut chat = ChatSession::new(routed.generator)
///     .system("You are terse.")
///     .settings(Request::default().sampling(Sampling::greedy()).max_tokens(64));
/// let first = chat.send("Name a colour.")?;
/// let second = chat.send("Another one?")?;
/// println!("{} / {} ({} prompt tokens evaluated)", first.text, second.text, second.stats.prompt_tokens);
/// # Ok::<(), edge_infer::Error>(())
/// ```
pub struct ChatSession {
    generator: Box<dyn Generator>,
    system: Option<String>,
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

    /// Sends a user message, streaming the reply into `on_event` (returning
    /// `ControlFlow::Break(())` cancels). The reply's answer text joins the history.
    pub fn send_with(
        &mut self,
        text: &str,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Stats> {
        let mut messages = Vec::with_capacity(self.history.len() + 2);
        messages.extend(self.system.iter().map(Message::system));
        messages.extend(self.history.iter().cloned());
        messages.push(Message::user(text));
        let request = self.settings.clone().with_messages(messages);
        let mut answer = String::new();
        let stats = self.generator.generate_with(&request, &mut |e| {
            if let Event::Text(t) = e {
                answer.push_str(t);
            }
            on_event(e)
        })?;
        let drop_n = stats.dropped_messages.min(self.history.len());
        self.history.drain(..drop_n);
        self.history.push(Message::user(text));
        self.history.push(Message::assistant(answer));
        Ok(stats)
    }

    /// Sends a user message and returns the whole reply.
    pub fn send(&mut self, text: &str) -> Result<Completion> {
        let (mut text_out, mut reasoning) = (String::new(), String::new());
        let stats = self.send_with(text, &mut |e| {
            match e {
                Event::Text(t) => text_out.push_str(t),
                Event::Reasoning(r) => reasoning.push_str(r),
                Event::Done(_) => {}
            }
            ControlFlow::Continue(())
        })?;
        Ok(Completion {
            text: text_out,
            reasoning,
            stats,
        })
    }

    /// Forgets the history (the system prompt stays) and clears the generator's cache.
    pub fn reset(&mut self) -> Result<()> {
        self.history.clear();
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
