//! The [`Generator`] trait: one loaded model, and the ways to consume its generations.

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::backend_kind::BackendKind;
use crate::cancel::CancelHandle;
use crate::error::Result;
use crate::event::{Completion, Event};
use crate::request::Request;
use crate::stats::Stats;
use crate::stream::{EventSender, EventStream};

/// What a generator runs: its registry name, backend and file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The registry name.
    pub name: String,
    /// The backend.
    pub backend: BackendKind,
    /// The model file.
    pub path: PathBuf,
    /// The context window in tokens.
    pub n_ctx: usize,
    /// A one-line description (architecture, size, placement).
    pub description: String,
}

/// A text generator over one loaded model: llama.cpp on the CPU
/// ([`open_model`](crate::Registry::open_model) with `backend = "llama"`) or RKLLM on the
/// NPU (`backend = "rkllm"`). Every backend takes the same [`Request`] and streams the
/// same [`Event`]s; consume them with [`stream`](Generator::stream) (an iterator),
/// [`generate_with`](Generator::generate_with) (a callback),
/// [`generate`](Generator::generate) (collected), or `stream_async` (feature `async`).
///
/// A generator keeps the conversation's KV cache between requests: a request that
/// extends the previous one (same messages plus a reply and a new user message) only
/// evaluates the new part. [`reset`](Generator::reset) forgets it.
///
/// ```
/// use edge_infer::{Event, Generator, Registry, Request};
/// let registry = Registry::builtin();
/// let mut routed = registry.open_profile("default")?;
/// for event in routed.generator.stream(&Request::user("Hello!").max_tokens(16))? {
///     match event? {
///         Event::Text(t) => print!("{t}"),
///         Event::Done(stats) => println!("\n{stats}"),
///         _ => {}
///     }
/// }
/// # Ok::<(), edge_infer::Error>(())
/// ```
///
/// The trait is sealed: only this crate's backends implement it, so that the plumbing
/// between a backend and its event streams can change without breaking anyone.
pub trait Generator: Send + backend::Backend {
    /// What this generator runs.
    fn info(&self) -> &ModelInfo;

    /// The handle that cancels this generator's generations.
    fn cancel_handle(&self) -> CancelHandle;

    /// Forgets the conversation held in the KV cache.
    fn reset(&mut self) -> Result<()>;

    /// Streams a generation as an iterator of events.
    fn stream(&mut self, request: &Request) -> Result<EventStream<'_>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let cancel = self.submit(request, EventSender::Blocking(tx))?;
        Ok(EventStream::new(
            rx,
            cancel,
            (self.info().name.clone(), self.info().backend),
        ))
    }

    /// Streams a generation into `on_event`, on the calling thread; returning
    /// `ControlFlow::Break(())` cancels it. Returns the final stats.
    fn generate_with(
        &mut self,
        request: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Stats> {
        let mut stream = self.stream(request)?;
        let mut broke = false;
        while let Some(item) = stream.next_item() {
            let event = item?;
            if let Event::Done(stats) = event {
                return Ok(stats);
            }
            if !broke && on_event(&event).is_break() {
                broke = true;
                stream.cancel_handle().cancel();
            }
        }
        unreachable!("a stream always ends with Done or an error")
    }

    /// Runs a generation to the end and returns the text, reasoning and tool calls.
    fn generate(&mut self, request: &Request) -> Result<Completion> {
        let (mut text, mut reasoning) = (String::new(), String::new());
        let (mut tool_calls, mut warnings) = (Vec::new(), Vec::new());
        let stats = self.generate_with(request, &mut |e| {
            match e {
                Event::Text(t) => text.push_str(t),
                Event::Reasoning(r) => reasoning.push_str(r),
                Event::ToolCall(c) => tool_calls.push(c.clone()),
                Event::Warning(w) => warnings.push(w.clone()),
                Event::ToolCallDelta { .. } | Event::Done(_) => {}
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

    /// Streams a generation as a `futures_core::Stream` (feature `async`). The backend
    /// runs on its own thread; polling never blocks.
    #[cfg(feature = "async")]
    fn stream_async(&mut self, request: &Request) -> Result<crate::stream::AsyncEventStream<'_>> {
        let (tx, rx) = futures_channel::mpsc::unbounded();
        let cancel = self.submit(request, EventSender::Async(tx))?;
        Ok(crate::stream::AsyncEventStream::new(
            rx,
            cancel,
            (self.info().name.clone(), self.info().backend),
        ))
    }
}

/// The implementer side of [`Generator`], which users can neither name nor call.
pub(crate) mod backend {
    use super::{CancelHandle, EventSender, Request, Result};

    /// What a backend implements besides [`Generator`](super::Generator)'s own methods.
    pub trait Backend {
        /// Starts a generation whose events go to `events` and returns its cancel handle,
        /// once the request is accepted; validation errors are returned directly.
        fn submit(&mut self, request: &Request, events: EventSender) -> Result<CancelHandle>;
    }

    impl<G: Backend + ?Sized> Backend for Box<G> {
        fn submit(&mut self, request: &Request, events: EventSender) -> Result<CancelHandle> {
            (**self).submit(request, events)
        }
    }
}

impl<G: Generator + ?Sized> Generator for Box<G> {
    fn info(&self) -> &ModelInfo {
        (**self).info()
    }
    fn cancel_handle(&self) -> CancelHandle {
        (**self).cancel_handle()
    }
    fn reset(&mut self) -> Result<()> {
        (**self).reset()
    }
}

impl std::fmt::Debug for dyn Generator + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("info", self.info())
            .finish_non_exhaustive()
    }
}
