//! The [`Generator`] trait, its events, and the ways to consume them.

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::backend_kind::BackendKind;
use crate::error::{Error, Result};
use crate::request::Request;
use crate::tools::{ToolCall, Warning};

pub use edge_infer_base::StopReason;

/// Timings and counts of one generation. Times are `Duration`s; rates are derived.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Prompt tokens evaluated by this generation (after any reused history).
    pub prompt_tokens: usize,
    /// Prompt tokens reused from the KV cache instead of being evaluated again.
    pub cached_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// From the request to the first generated token.
    pub time_to_first_token: Duration,
    /// Prompt evaluation time.
    pub prefill_time: Duration,
    /// Generation time after the first token.
    pub decode_time: Duration,
    /// Peak resident memory of the process (VmHWM) after the generation, where known.
    pub peak_memory_bytes: Option<u64>,
    /// Oldest messages dropped to fit the context ([`ContextPolicy::DropOldest`](crate::ContextPolicy)).
    pub dropped_messages: usize,
    /// Oldest messages folded into the running summary before this turn
    /// ([`ContextPolicy::Fold`](crate::ContextPolicy::Fold), in a `ChatSession`).
    pub folded_messages: usize,
    /// Why it ended.
    pub stop_reason: StopReason,
}

impl Stats {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        rate(self.prompt_tokens, self.prefill_time)
    }
    /// Generated tokens per second (over the intervals between generated tokens).
    pub fn decode_tokens_per_second(&self) -> f64 {
        rate(self.generated_tokens.saturating_sub(1), self.decode_time)
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "prompt {} tok (+{} cached), generated {} tok, TTFT {:.1} ms, prefill {:.1} t/s, decode {:.1} t/s",
            self.prompt_tokens,
            self.cached_tokens,
            self.generated_tokens,
            self.time_to_first_token.as_secs_f64() * 1e3,
            self.prefill_tokens_per_second(),
            self.decode_tokens_per_second()
        )?;
        if let Some(m) = self.peak_memory_bytes {
            write!(f, ", peak RSS {:.1} MiB", m as f64 / (1024.0 * 1024.0))?;
        }
        if self.dropped_messages > 0 {
            write!(f, ", dropped {} old messages", self.dropped_messages)?;
        }
        if self.folded_messages > 0 {
            write!(
                f,
                ", folded {} old messages into the summary",
                self.folded_messages
            )?;
        }
        write!(f, ", stop: {:?}", self.stop_reason)
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    if n == 0 || d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

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

/// Stops the generation in progress from any thread; works the same on every backend.
/// `Send + Sync`, cheap to clone. A cancel before a generation starts stops it at once;
/// each new generation (each [`Generator::stream`] call) starts uncancelled.
#[derive(Clone)]
pub struct CancelHandle {
    inner: Arc<CancelInner>,
}

struct CancelInner {
    flag: AtomicBool,
    hook: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelHandle {
    /// A handle that also calls `hook` on cancel (to interrupt the backend mid-step).
    pub(crate) fn with_hook(hook: impl Fn() + Send + Sync + 'static) -> Self {
        CancelHandle {
            inner: Arc::new(CancelInner {
                flag: AtomicBool::new(false),
                hook: Box::new(hook),
            }),
        }
    }
    /// A handle with no backend hook (for generators that only poll the flag).
    pub fn new() -> Self {
        Self::with_hook(|| {})
    }
    /// Requests that the generation in progress stop.
    pub fn cancel(&self) {
        self.inner.flag.store(true, Ordering::Release);
        (self.inner.hook)();
    }
    /// Whether a cancel is pending.
    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }
    pub(crate) fn reset(&self) {
        self.inner.flag.store(false, Ordering::Release);
    }
}

impl Default for CancelHandle {
    fn default() -> Self {
        Self::new()
    }
}

type Item = Result<Event>;

/// Where a generator delivers its events. Created by the [`Generator`] provided methods;
/// a generator sends `Text`/`Reasoning` events, then exactly one `Done` or one error.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: Sender<Item>,
    #[cfg(feature = "async")]
    waker: Option<Arc<crate::stream::WakerSlot>>,
}

impl EventSender {
    fn new(tx: Sender<Item>) -> Self {
        EventSender {
            tx,
            #[cfg(feature = "async")]
            waker: None,
        }
    }
    /// Sends an event or the final error; `false` when the consumer is gone (the
    /// generator should then stop).
    pub fn send(&self, item: Result<Event>) -> bool {
        let ok = self.tx.send(item).is_ok();
        #[cfg(feature = "async")]
        if let Some(w) = &self.waker {
            w.wake();
        }
        ok
    }
}

/// The events of one generation as an iterator; ends after `Done` or an error.
/// Dropping it early cancels the generation and waits for the backend to stop.
pub struct EventStream<'g> {
    rx: Receiver<Item>,
    cancel: CancelHandle,
    model: (String, BackendKind),
    finished: bool,
    _gen: PhantomData<&'g mut ()>,
}

impl std::fmt::Debug for EventStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("finished", &self.finished)
            .finish()
    }
}

impl EventStream<'_> {
    /// A handle that cancels this generation.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    pub(crate) fn next_item(&mut self) -> Option<Item> {
        if self.finished {
            return None;
        }
        let item = self.rx.recv().unwrap_or_else(|_| Err(self.worker_gone()));
        Some(self.observe(item))
    }

    #[cfg(feature = "async")]
    pub(crate) fn try_next_item(&mut self) -> Option<Option<Item>> {
        if self.finished {
            return Some(None);
        }
        match self.rx.try_recv() {
            Ok(item) => Some(Some(self.observe(item))),
            Err(crossbeam_channel::TryRecvError::Empty) => None,
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                let e = self.worker_gone();
                Some(Some(self.observe(Err(e))))
            }
        }
    }

    fn worker_gone(&self) -> Error {
        Error::model(
            &self.model.0,
            self.model.1,
            crate::error::ModelError::WorkerGone,
        )
    }

    fn observe(&mut self, item: Item) -> Item {
        if matches!(item, Ok(Event::Done(_)) | Err(_)) {
            self.finished = true;
        }
        item
    }
}

impl Iterator for EventStream<'_> {
    type Item = Result<Event>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_item()
    }
}

impl Drop for EventStream<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.cancel();
            // Wait for the final event so the next request never overlaps this one.
            while let Ok(item) = self.rx.recv() {
                if matches!(item, Ok(Event::Done(_)) | Err(_)) {
                    break;
                }
            }
        }
    }
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
        let cancel = self.cancel_handle();
        cancel.reset();
        self.submit(request, EventSender::new(tx))?;
        Ok(EventStream {
            rx,
            cancel,
            model: (self.info().name.clone(), self.info().backend),
            finished: false,
            _gen: PhantomData,
        })
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
                stream.cancel.cancel();
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
        let (tx, rx) = crossbeam_channel::unbounded();
        let cancel = self.cancel_handle();
        cancel.reset();
        let slot = Arc::new(crate::stream::WakerSlot::default());
        let mut sender = EventSender::new(tx);
        sender.waker = Some(slot.clone());
        self.submit(request, sender)?;
        Ok(crate::stream::AsyncEventStream::new(
            EventStream {
                rx,
                cancel,
                model: (self.info().name.clone(), self.info().backend),
                finished: false,
                _gen: PhantomData,
            },
            slot,
        ))
    }
}

/// The implementer side of [`Generator`], which users can neither name nor call.
pub(crate) mod backend {
    use super::{EventSender, Request, Result};

    /// What a backend implements besides [`Generator`](super::Generator)'s own methods.
    pub trait Backend {
        /// Starts a generation whose events go to `events`. It returns once the request is
        /// accepted; validation errors are returned directly.
        fn submit(&mut self, request: &Request, events: EventSender) -> Result<()>;
    }

    impl<G: Backend + ?Sized> Backend for Box<G> {
        fn submit(&mut self, request: &Request, events: EventSender) -> Result<()> {
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

/// Peak resident memory of this process (VmHWM from `/proc/self/status`), if readable.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl std::fmt::Debug for dyn Generator + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("info", self.info())
            .finish_non_exhaustive()
    }
}
