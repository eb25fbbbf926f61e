//! One model of the registry as the server holds it: its load state, a bounded queue of
//! requests, and the thread that owns its generator and runs the requests one at a time
//! (our users run `--parallel 1`).
//!
//! The thread is started by the first request (or at start with `--eager`), loads the
//! model after checking its memory estimate against the ceilings, serves jobs from the
//! queue, and ends after `idle_unload` without work, dropping the generator. Events go
//! back to the request's task over a tokio channel, so no async task ever blocks on the
//! backend; a request whose client went away is cancelled from its [`Ticket`]'s drop
//! (mid-step, through the generator's `CancelHandle`) and by the thread, which checks
//! the ticket's flag after every event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use edge_infer::{
    BackendKind, CancelHandle, Event, Generator, MemoryEstimate, ModelInfo, Registry, Request,
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::error::ApiError;
use crate::memory::Ledger;

/// What a request's task hears from the model thread.
#[derive(Debug)]
pub(crate) enum Item {
    /// The job left the queue and the generation began, after waiting this long.
    Started(Duration),
    /// An event of the generation (the last one is `Done`).
    Event(Event),
    /// The job failed (load, memory, backend, bad request) or was refused.
    Failed(ApiError),
}

/// Why a model is not loaded.
#[derive(Debug, Clone)]
pub(crate) struct LoadFailure {
    pub message: String,
    /// The memory ceiling refused it (worth falling back, not worth reporting as broken).
    pub memory: bool,
}

impl LoadFailure {
    pub(crate) fn to_error(&self) -> ApiError {
        if self.memory {
            ApiError::InsufficientMemory(self.message.clone())
        } else {
            ApiError::Unavailable {
                message: self.message.clone(),
                code: "model_unavailable",
            }
        }
    }
}

/// A model's state, as `/health`, `/v1/models` and the router see it.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Unloaded,
    Loading,
    Loaded(Arc<ModelInfo>),
    Failed(LoadFailure),
}

impl State {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            State::Unloaded => "unloaded",
            State::Loading => "loading",
            State::Loaded(_) => "loaded",
            State::Failed(_) => "failed",
        }
    }
}

/// Settings a slot takes from the server's.
#[derive(Debug, Clone)]
pub(crate) struct SlotSettings {
    pub queue_size: usize,
    pub idle_unload: Option<Duration>,
    pub memory_limit: Option<u64>,
}

struct Job {
    id: u64,
    request: Request,
    tx: mpsc::UnboundedSender<Item>,
    cancelled: Arc<AtomicBool>,
    enqueued: Instant,
    request_id: String,
}

#[derive(Default)]
struct Inner {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Jobs in the channel, not yet taken by the thread.
    queued: usize,
    /// The thread is running a job.
    busy: bool,
}

struct Running {
    id: u64,
    cancel: CancelHandle,
}

/// One model: state, queue and thread.
pub(crate) struct Slot {
    pub name: String,
    pub backend: BackendKind,
    registry: Arc<Registry>,
    ledger: Arc<Ledger>,
    settings: SlotSettings,
    shutting_down: Arc<AtomicBool>,
    state: watch::Sender<State>,
    inner: Mutex<Inner>,
    running: Mutex<Option<Running>>,
    /// Mean service time of recent requests (ms, exponentially weighted).
    service_ms: Mutex<Option<f64>>,
    estimate: Mutex<Option<Result<MemoryEstimate, String>>>,
    next_id: AtomicU64,
}

/// A request in a slot's queue or running. Dropping it before the end cancels it.
pub(crate) struct Ticket {
    pub rx: mpsc::UnboundedReceiver<Item>,
    slot: Arc<Slot>,
    id: u64,
    cancelled: Arc<AtomicBool>,
}

impl Ticket {
    /// The slot serving this request.
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // After the end this is a no-op: the thread no longer runs this id.
        self.cancelled.store(true, Ordering::Release);
        self.slot.cancel_if_running(self.id);
    }
}

/// `submit` refused the job.
pub(crate) enum Refused {
    QueueFull { queued: usize },
    ShuttingDown,
}

impl Slot {
    pub(crate) fn new(
        name: String,
        registry: Arc<Registry>,
        ledger: Arc<Ledger>,
        settings: SlotSettings,
        shutting_down: Arc<AtomicBool>,
    ) -> Arc<Slot> {
        let backend = registry.model(&name).expect("a registry model").backend();
        Arc::new(Slot {
            name,
            backend,
            registry,
            ledger,
            settings,
            shutting_down,
            state: watch::Sender::new(State::Unloaded),
            inner: Mutex::new(Inner::default()),
            running: Mutex::new(None),
            service_ms: Mutex::new(None),
            estimate: Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    pub(crate) fn state(&self) -> State {
        self.state.borrow().clone()
    }

    pub(crate) fn is_loaded(&self) -> bool {
        matches!(*self.state.borrow(), State::Loaded(_))
    }

    /// Requests waiting (not counting the running one).
    pub(crate) fn queued(&self) -> usize {
        self.inner.lock().queued
    }

    /// Whether one more request would be refused.
    pub(crate) fn is_full(&self) -> bool {
        let i = self.inner.lock();
        i.queued + usize::from(i.busy) > self.settings.queue_size
    }

    /// How long a request sent now would wait before it starts, from the recent mean
    /// service time (zero until a request has been served).
    pub(crate) fn expected_wait(&self) -> Duration {
        let (queued, busy) = {
            let i = self.inner.lock();
            (i.queued, i.busy)
        };
        let mean = self.service_ms.lock().unwrap_or(0.0);
        Duration::from_secs_f64(mean * (queued + usize::from(busy)) as f64 / 1e3)
    }

    /// The memory estimate (computed once; a dry run of llama.cpp's accounting).
    pub(crate) fn estimate(&self) -> Result<MemoryEstimate, String> {
        let mut e = self.estimate.lock();
        e.get_or_insert_with(|| {
            self.registry
                .estimate_memory(&self.name)
                .map_err(|e| e.to_string())
        })
        .clone()
    }

    /// Starts loading if nothing is loaded or loading, and waits for the outcome.
    pub(crate) async fn ensure_loaded(self: &Arc<Self>) -> Result<(), LoadFailure> {
        let mut watch = self.state.subscribe();
        loop {
            {
                let mut inner = self.inner.lock();
                if inner.jobs.is_none() {
                    if self.shutting_down.load(Ordering::Acquire) {
                        return Err(LoadFailure {
                            message: "the server is shutting down".into(),
                            memory: false,
                        });
                    }
                    self.start(&mut inner);
                }
            }
            loop {
                match &*watch.borrow_and_update() {
                    State::Loaded(_) => return Ok(()),
                    State::Failed(f) => return Err(f.clone()),
                    State::Unloaded => break, // unloaded again already: start over
                    State::Loading => {}
                }
                if watch.changed().await.is_err() {
                    return Err(LoadFailure {
                        message: "the model's slot is gone".into(),
                        memory: false,
                    });
                }
            }
        }
    }

    /// Queues a request; starts the model's thread (which loads it) when there is none.
    pub(crate) fn submit(
        self: &Arc<Self>,
        request: Request,
        request_id: String,
    ) -> Result<Ticket, Refused> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(Refused::ShuttingDown);
        }
        let mut inner = self.inner.lock();
        if inner.queued + usize::from(inner.busy) > self.settings.queue_size {
            return Err(Refused::QueueFull {
                queued: inner.queued,
            });
        }
        if inner.jobs.is_none() {
            self.start(&mut inner);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            id,
            request,
            tx,
            cancelled: cancelled.clone(),
            enqueued: Instant::now(),
            request_id,
        };
        let sent = inner.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err(Refused::ShuttingDown);
        }
        inner.queued += 1;
        crate::metrics::queue_depth(&self.name, inner.queued);
        Ok(Ticket {
            rx,
            slot: self.clone(),
            id,
            cancelled,
        })
    }

    /// Starts the thread (with `inner` locked and no thread running).
    fn start(self: &Arc<Self>, inner: &mut Inner) {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.state.send_replace(State::Loading);
        let slot = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("serve {}", self.name))
            .spawn(move || slot.run(rx));
        match spawned {
            Ok(handle) => {
                inner.jobs = Some(tx);
                // A previous thread has ended (it cleared `jobs` as it left): let it go.
                inner.thread = Some(handle);
            }
            Err(e) => {
                self.state.send_replace(State::Failed(LoadFailure {
                    message: format!("cannot start a thread for model `{}`: {e}", self.name),
                    memory: false,
                }));
            }
        }
    }

    /// Cancels the job `id` if it is the one running.
    fn cancel_if_running(&self, id: u64) {
        if let Some(r) = &*self.running.lock() {
            if r.id == id {
                r.cancel.cancel();
            }
        }
    }

    /// Cancels whatever runs now (shutdown after the grace period).
    pub(crate) fn cancel_running(&self) {
        if let Some(r) = &*self.running.lock() {
            r.cancel.cancel();
        }
    }

    /// Takes the thread to join on shutdown, closing the queue.
    pub(crate) fn close(&self) -> Option<JoinHandle<()>> {
        let mut inner = self.inner.lock();
        inner.jobs = None;
        inner.thread.take()
    }

    // ---- on the model's thread ------------------------------------------------------

    fn run(self: Arc<Self>, rx: Receiver<Job>) {
        let t0 = Instant::now();
        let mut generator = match self.open() {
            Ok(g) => g,
            Err(f) => {
                tracing::warn!(model = %self.name, "load failed: {}", f.message);
                crate::metrics::model_load(&self.name, false, t0.elapsed());
                let mut inner = self.inner.lock();
                inner.jobs = None;
                inner.queued = 0;
                self.state.send_replace(State::Failed(f.clone()));
                drop(inner);
                for job in rx.try_iter() {
                    let _ = job.tx.send(Item::Failed(f.to_error()));
                }
                crate::metrics::queue_depth(&self.name, 0);
                return;
            }
        };
        crate::metrics::model_load(&self.name, true, t0.elapsed());
        tracing::info!(model = %self.name, secs = t0.elapsed().as_secs_f64(), "loaded: {}", generator.info().description);
        self.state
            .send_replace(State::Loaded(Arc::new(generator.info().clone())));
        loop {
            let next = match self.settings.idle_unload {
                Some(d) => rx.recv_timeout(d),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(job) => self.serve(&mut generator, job),
                Err(RecvTimeoutError::Timeout) => {
                    let mut inner = self.inner.lock();
                    if inner.queued > 0 || !rx.is_empty() {
                        continue;
                    }
                    // Unload under the lock: a request arriving now starts a new thread
                    // only once this one has freed the model and its reservation.
                    inner.jobs = None;
                    drop(generator);
                    self.unloaded();
                    tracing::info!(model = %self.name, "unloaded after being idle");
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        drop(generator);
        self.unloaded();
    }

    fn unloaded(&self) {
        self.ledger.release(&self.name);
        crate::metrics::model_unloaded(&self.name);
        self.state.send_replace(State::Unloaded);
    }

    /// Checks the memory ceilings, then opens the model.
    fn open(&self) -> Result<Box<dyn Generator>, LoadFailure> {
        let fail = |message: String| LoadFailure {
            message,
            memory: false,
        };
        match self.estimate() {
            Ok(est) => {
                self.ledger
                    .reserve(&self.name, &est, self.settings.memory_limit)
                    .map_err(|message| LoadFailure {
                        message,
                        memory: true,
                    })?;
                crate::metrics::model_memory(&self.name, &est);
            }
            // The open below reports what is wrong with the file, if anything.
            Err(e) => tracing::debug!(model = %self.name, "no memory estimate: {e}"),
        }
        self.registry.open_model(&self.name).map_err(|e| {
            self.ledger.release(&self.name);
            fail(e.to_string())
        })
    }

    fn serve(&self, generator: &mut Box<dyn Generator>, job: Job) {
        {
            let mut inner = self.inner.lock();
            inner.queued = inner.queued.saturating_sub(1);
            inner.busy = true;
            crate::metrics::queue_depth(&self.name, inner.queued);
        }
        let waited = job.enqueued.elapsed();
        let mut last = None;
        if job.cancelled.load(Ordering::Acquire) {
            tracing::debug!(request_id = %job.request_id, "client left while queued");
        } else if self.shutting_down.load(Ordering::Acquire) {
            let _ = job.tx.send(Item::Failed(ApiError::ShuttingDown));
        } else {
            let start = Instant::now();
            *self.running.lock() = Some(Running {
                id: job.id,
                cancel: generator.cancel_handle(),
            });
            last = self.generate(generator, &job, waited);
            *self.running.lock() = None;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let mut mean = self.service_ms.lock();
            *mean = Some(mean.map_or(ms, |m| 0.7 * m + 0.3 * ms));
        }
        // Idle before the last event goes out: a client that sends its next request the
        // moment this one is answered finds the model free (not a 429 under --queue-size 0).
        self.inner.lock().busy = false;
        if let Some(item) = last {
            let _ = job.tx.send(item);
        }
    }

    /// Streams the generation to the job's client; returns its last item (`Done` or the
    /// error), for the caller to send once the slot is free.
    fn generate(
        &self,
        generator: &mut Box<dyn Generator>,
        job: &Job,
        waited: Duration,
    ) -> Option<Item> {
        let _ = job.tx.send(Item::Started(waited));
        let stream = match generator.stream(&job.request) {
            Ok(s) => s,
            Err(e) => return Some(Item::Failed(e.into())),
        };
        let cancel = stream.cancel_handle();
        // Once the client is gone the generation is cancelled, and its remaining events
        // (up to `Done`, for the metrics) are drained without being sent.
        let mut gone = false;
        for item in stream {
            match item {
                Ok(Event::Done(stats)) => {
                    // A ticket dropped mid-step cancels through the handle: the client is
                    // gone even though no send has failed yet.
                    gone |= job.cancelled.load(Ordering::Acquire);
                    crate::metrics::generation(&self.name, &stats, waited);
                    if gone {
                        crate::metrics::cancelled(&self.name, "client_gone");
                        tracing::info!(request_id = %job.request_id, model = %self.name, generated = stats.generated_tokens, "cancelled: the client went away");
                        return None;
                    }
                    return Some(Item::Event(Event::Done(stats)));
                }
                Ok(e) => {
                    if !gone && job.tx.send(Item::Event(e)).is_err() {
                        gone = true;
                    }
                }
                Err(e) => return (!gone).then(|| Item::Failed(e.into())),
            }
            if !gone && job.cancelled.load(Ordering::Acquire) {
                gone = true;
            }
            if gone {
                cancel.cancel();
            }
        }
        None
    }
}
