//! Asynchronous runs: a blocking `rkllm_run` on a thread of ours, its events sent over a
//! channel.
//!
//! `rkllm_run_async` is not used, by choice: 1.2.1's never returns (ABI.md), and with any
//! release the end of an async run is known only from its final callback, which an aborted
//! run may never send. A blocking run on our own thread ends when `rkllm_run` returns, so
//! the end is always known without polling `rkllm_is_running`, the gate opens at that
//! moment, and an abort without FINISH still ends the event stream with `Finished`.
use crate::abort::{RunId, Shared};
use crate::callback::{CtxHeader, ResultView, RunText};
use crate::error::{Error, Result};
use crate::gate::{lock, GateGuard};
use crate::input::Input;
use crate::llm::{Facts, Llm};
use crate::options::{InferMode, RunOptions};
use crate::prepared::{prepare, Prepared};
use crate::summary::{AsyncEvent, PerfStats, RunSummary};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender, TryRecvError};
use edge_infer_rkllm_sys as sys;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct TextState {
    text: RunText,
    calls: usize,
    /// FINISH came (with its perf) / ERROR came.
    finish: Option<Option<PerfStats>>,
    error: bool,
    paused: bool,
}

#[repr(C)]
struct AsyncCtx {
    header: CtxHeader,
    tx: Sender<AsyncEvent>,
    text: Mutex<TextState>,
    pause: AtomicBool,
    /// The run's thread sent the last event.
    done: AtomicBool,
    /// Logits/hidden-state runs stop after the prompt's buffer (the runtime would go on
    /// with one per generated token, each copied).
    one_step: bool,
    facts: Arc<Facts>,
    /// The input and parameters the runtime reads until the run returns.
    _prepared: Prepared,
}

/// Copies the result into owned events.
///
/// # Safety
/// `ptr` is the AsyncCtx of a run in progress: the run's thread holds an `Arc` of it until
/// `rkllm_run` has returned.
unsafe fn callback(ptr: *const c_void, result: *mut sys::RKLLMResult, state: c_int) -> c_int {
    // SAFETY: see the function's contract.
    let ctx = unsafe { &*(ptr as *const AsyncCtx) };
    // SAFETY: the runtime passes a valid result (or NULL) for the duration of the call.
    let r = unsafe { result.as_ref() };
    let mut st = lock(&ctx.text);
    st.calls += 1;
    if st.finish.is_some() || st.error {
        return sys::RKLLM_CALLBACK_CONTINUE;
    }
    if st.paused {
        return sys::RKLLM_CALLBACK_PAUSE;
    }
    match state {
        // The last event is sent by the run's thread once rkllm_run has returned, when it
        // is known whether this run was aborted.
        sys::RKLLM_RUN_FINISH => {
            st.finish = Some(r.map(|r| PerfStats::from_raw(&r.perf)));
            sys::RKLLM_CALLBACK_CONTINUE
        }
        sys::RKLLM_RUN_ERROR => {
            st.error = true;
            sys::RKLLM_CALLBACK_CONTINUE
        }
        _ => {
            let Some(r) = r else {
                return sys::RKLLM_CALLBACK_CONTINUE;
            };
            // SAFETY: pointers in `r` are valid during the callback; we copy before returning.
            let view = unsafe { ResultView::new(r) };
            ctx.facts.learn(&view);
            let text = st.text.take(state, view.bytes);
            if !text.is_empty() {
                let _ = ctx.tx.send(AsyncEvent::Text {
                    text: text.to_owned(),
                    token_id: r.token_id,
                });
            }
            let mut floats = false;
            if let Some(l) = view.logits {
                floats = true;
                let _ = ctx.tx.send(AsyncEvent::Logits(l.to_owned()));
            }
            if let Some(h) = view.hidden {
                floats = true;
                let _ = ctx.tx.send(AsyncEvent::HiddenStates(h.to_owned()));
            }
            if ctx.pause.load(Ordering::Acquire) || (floats && ctx.one_step) {
                st.paused = true;
                return sys::RKLLM_CALLBACK_PAUSE;
            }
            sys::RKLLM_CALLBACK_CONTINUE
        }
    }
}

impl Llm {
    /// Starts a run on a thread of its own; events arrive over a channel ([`AsyncRun`]).
    /// Other operations on this model wait until it ends; dropping the model aborts it.
    ///
    /// In [`InferMode::Logits`] and [`InferMode::LastHiddenLayer`] the run delivers the
    /// prompt's buffer and stops.
    pub fn run_async(&self, input: &Input, opts: &RunOptions) -> Result<AsyncRun> {
        if self.n_batch > 1 {
            return Err(Error::InvalidArgument(format!(
                "this model was initialised with n_batch {}: use Llm::run_batch",
                self.n_batch
            )));
        }
        let prepared = prepare(self, std::slice::from_ref(input), opts)?;
        let guard = self.shared.gate.acquire()?;
        prepared.check_fits(self, opts)?;
        let (tx, rx) = unbounded();
        let ctx = Arc::new(AsyncCtx {
            header: CtxHeader {
                on_result: callback,
            },
            tx: tx.clone(),
            text: Mutex::new(TextState {
                text: RunText::default(),
                calls: 0,
                finish: None,
                error: false,
                paused: false,
            }),
            pause: AtomicBool::new(false),
            done: AtomicBool::new(false),
            one_step: opts.mode != InferMode::Generate,
            facts: self.facts.clone(),
            _prepared: prepared,
        });
        let run = self.shared.begin_run();
        let thread = RunThread {
            shared: self.shared.clone(),
            ctx: ctx.clone(),
            tx,
            run,
            _guard: guard,
        };
        let spawned = std::thread::Builder::new()
            .name("rkllm-run".into())
            .spawn(move || thread.run());
        if let Err(e) = spawned {
            self.shared.end_run(run);
            return Err(Error::InvalidArgument(format!(
                "cannot start the run's thread: {e}"
            )));
        }
        Ok(AsyncRun {
            rx,
            ctx,
            shared: self.shared.clone(),
            run,
            finished: false,
        })
    }
}

/// Everything the run's thread owns: the gate is released, and the context and the shared
/// handle dropped, only after `rkllm_run` has returned.
struct RunThread {
    shared: Arc<Shared>,
    ctx: Arc<AsyncCtx>,
    tx: Sender<AsyncEvent>,
    run: RunId,
    _guard: GateGuard,
}

impl RunThread {
    fn run(self) {
        let p = &self.ctx._prepared;
        // SAFETY: the handle is live (Llm::drop waits for this thread's gate guard before
        // destroying, and leaks the handle if it never comes), we hold the gate, and the
        // input and userdata are owned by `ctx`, which this thread keeps until after the
        // call returns.
        let rc = unsafe {
            (self.shared.api().rkllm_run)(
                self.shared.handle(),
                p.input,
                p.infer,
                Arc::as_ptr(&self.ctx) as *mut c_void,
            )
        };
        let aborted = self.shared.end_run(self.run);
        let mut st = lock(&self.ctx.text);
        let trailing = st.text.finish();
        // An ERROR (or a failure code) after our own abort is how that abort ended.
        let event = if (st.error || rc != 0) && !aborted {
            AsyncEvent::Failed(Error::RunFailed {
                code: rc,
                error_state: st.error,
            })
        } else if st.calls == 0 && !aborted {
            AsyncEvent::Failed(Error::NotRun { code: rc })
        } else {
            AsyncEvent::Finished(RunSummary {
                perf: st.finish.flatten(),
                paused: st.paused,
                aborted,
                trailing_text: trailing,
            })
        };
        drop(st);
        let _ = self.tx.send(event);
        self.ctx.done.store(true, Ordering::Release);
    }
}

/// An asynchronous run: iterate its [`AsyncEvent`]s (ending with `Finished` or `Failed`).
/// Dropping it before the end aborts this run (never another).
pub struct AsyncRun {
    rx: Receiver<AsyncEvent>,
    ctx: Arc<AsyncCtx>,
    shared: Arc<Shared>,
    run: RunId,
    finished: bool,
}

impl std::fmt::Debug for AsyncRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRun")
            .field("run", &self.run)
            .field("finished", &self.finished)
            .finish()
    }
}

impl AsyncRun {
    /// Aborts this run if it is still in progress (a no-op after its end: it can never stop
    /// a later run).
    pub fn abort(&self) -> Result<()> {
        self.shared.abort(Some(self.run))
    }

    /// Pauses this run at its next callback (the KV cache is kept; the runtime documents
    /// pausing for single-turn runs only). The run then ends with `Finished { paused }`.
    pub fn pause(&self) {
        self.ctx.pause.store(true, Ordering::Release);
    }

    /// Whether the run has ended (its last event may still be unread).
    pub fn is_finished(&self) -> bool {
        self.finished || self.ctx.done.load(Ordering::Acquire)
    }

    fn note(&mut self, ev: AsyncEvent) -> AsyncEvent {
        if matches!(ev, AsyncEvent::Finished(_) | AsyncEvent::Failed(_)) {
            self.finished = true;
        }
        ev
    }

    /// The next event if one is ready (`None` when none is yet, or the run has ended).
    pub fn try_next(&mut self) -> Option<AsyncEvent> {
        if self.finished {
            return None;
        }
        match self.rx.try_recv() {
            Ok(ev) => Some(self.note(ev)),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` once the run has ended,
    /// [`Error::Timeout`] if nothing arrived in time (the run goes on; call again or abort).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<AsyncEvent>> {
        if self.finished {
            return Ok(None);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => Ok(Some(self.note(ev))),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        }
    }

    /// Waits for the end, collecting the text.
    pub fn wait(mut self) -> Result<(String, RunSummary)> {
        let mut text = String::new();
        let mut summary = None;
        for ev in self.by_ref() {
            match ev {
                AsyncEvent::Text { text: t, .. } => text.push_str(&t),
                AsyncEvent::Finished(s) => summary = Some(s),
                AsyncEvent::Failed(e) => return Err(e),
                _ => {}
            }
        }
        let s = summary.ok_or(Error::Destroyed)?;
        text.push_str(&s.trailing_text);
        Ok((text, s))
    }

    /// [`AsyncRun::wait`] with a deadline for the whole run; on [`Error::Timeout`] the run
    /// is aborted.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<(String, RunSummary)> {
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_timeout(left) {
                Ok(Some(AsyncEvent::Text { text: t, .. })) => text.push_str(&t),
                Ok(Some(AsyncEvent::Finished(s))) => {
                    text.push_str(&s.trailing_text);
                    return Ok((text, s));
                }
                Ok(Some(AsyncEvent::Failed(e))) => return Err(e),
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Destroyed),
                Err(e) => {
                    let _ = self.abort();
                    return Err(match e {
                        Error::Timeout(_) => Error::Timeout(timeout),
                        e => e,
                    });
                }
            }
        }
    }
}

impl Iterator for AsyncRun {
    type Item = AsyncEvent;
    fn next(&mut self) -> Option<AsyncEvent> {
        if self.finished {
            return None;
        }
        let ev = self.rx.recv().ok()?;
        Some(self.note(ev))
    }
}

impl Drop for AsyncRun {
    fn drop(&mut self) {
        if !self.is_finished() {
            let _ = self.shared.abort(Some(self.run));
        }
    }
}
