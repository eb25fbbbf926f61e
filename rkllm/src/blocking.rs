//! Blocking runs: `rkllm_run` on a scoped helper thread while the calling thread serves
//! each callback over a rendezvous channel. The user's `FnMut` (which need not be `Send`)
//! always runs on the caller's thread, whatever thread the runtime calls back on, and the
//! runtime's thread waits in the callback, so borrowed buffers stay valid while the user
//! looks at them. Panics are caught there and reported after the run.
use crate::abort::{join_pending_aborts, RunId};
use crate::callback::{panic_message, CtxHeader, ResultView, RunText};
use crate::chunk::{Chunk, Control};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::llm::Llm;
use crate::options::RunOptions;
use crate::prepared::{prepare, Prepared};
use crate::summary::{PerfStats, RunSummary};
use crossbeam_channel::{bounded, Receiver, Sender};
use edge_infer_rkllm_sys as sys;
use std::ffi::{c_int, c_void};

struct SendPtr<T>(*mut T);
// SAFETY: only carries a runtime-owned result pointer from the runtime's thread to the
// serving thread while the runtime thread is blocked waiting for the reply.
unsafe impl<T> Send for SendPtr<T> {}

enum Msg {
    Callback {
        result: SendPtr<sys::RKLLMResult>,
        state: c_int,
    },
    Done(c_int),
}

#[repr(C)]
struct BlockingCtx {
    header: CtxHeader,
    msgs: Sender<Msg>,
    replies: Receiver<c_int>,
}

/// Hands the result to the serving thread and waits for its verdict.
///
/// # Safety
/// `ctx` is the BlockingCtx of a run in progress (alive until `rkllm_run` returns).
unsafe fn callback(ctx: *const c_void, result: *mut sys::RKLLMResult, state: c_int) -> c_int {
    // SAFETY: see the function's contract.
    let ctx = unsafe { &*(ctx as *const BlockingCtx) };
    let sent = ctx.msgs.send(Msg::Callback {
        result: SendPtr(result),
        state,
    });
    if sent.is_err() {
        return sys::RKLLM_CALLBACK_PAUSE;
    }
    ctx.replies.recv().unwrap_or(sys::RKLLM_CALLBACK_PAUSE)
}

/// What serving one run produced, besides the handler's own state.
pub(crate) struct Served {
    pub(crate) rc: c_int,
    pub(crate) aborted: bool,
    /// Number of callbacks, and whether a final one (FINISH/ERROR) came.
    pub(crate) calls: usize,
    pub(crate) finished: bool,
}

/// Runs `prepared` with `rkllm_run`, calling `handler(result, state)` on this thread for
/// each callback. The caller holds the gate.
pub(crate) fn serve(
    llm: &Llm,
    run: RunId,
    prepared: &Prepared,
    mut handler: impl FnMut(*mut sys::RKLLMResult, c_int) -> c_int,
) -> Served {
    let (msg_tx, msg_rx) = bounded::<Msg>(0);
    let (reply_tx, reply_rx) = bounded::<c_int>(0);
    let ctx = BlockingCtx {
        header: CtxHeader {
            on_result: callback,
        },
        msgs: msg_tx.clone(),
        replies: reply_rx,
    };
    struct Job {
        api: sys::Api,
        handle: sys::LLMHandle,
        input: *mut sys::RKLLMInput,
        infer: *mut sys::RKLLMInferParam,
        userdata: *mut c_void,
        done: Sender<Msg>,
    }
    // SAFETY: the pointers refer to `prepared` and `ctx`, which outlive the scoped thread.
    unsafe impl Send for Job {}
    impl Job {
        fn run(self) {
            // SAFETY: the handle is live (the caller holds &Llm and the gate), no other run
            // overlaps, and input/infer/userdata stay valid until this blocking call returns.
            let rc =
                unsafe { (self.api.rkllm_run)(self.handle, self.input, self.infer, self.userdata) };
            let _ = self.done.send(Msg::Done(rc));
        }
    }
    let job = Job {
        api: *llm.shared.api(),
        handle: llm.shared.handle(),
        input: prepared.input,
        infer: prepared.infer,
        userdata: &ctx as *const BlockingCtx as *mut c_void,
        done: msg_tx,
    };
    let (mut calls, mut finished) = (0, false);
    let rc = std::thread::scope(|s| {
        // Both ends live inside the scope: if anything here unwinds, the runtime thread's
        // send/recv fail and it is told to pause instead of waiting forever.
        let reply_tx = reply_tx;
        let msg_rx = msg_rx;
        s.spawn(move || job.run());
        let _serving = llm.shared.gate.serving();
        loop {
            match msg_rx.recv() {
                Ok(Msg::Callback { result, state }) => {
                    calls += 1;
                    finished |= state == sys::RKLLM_RUN_FINISH || state == sys::RKLLM_RUN_ERROR;
                    let code = handler(result.0, state);
                    let _ = reply_tx.send(code);
                }
                Ok(Msg::Done(rc)) => break rc,
                Err(_) => break -1,
            }
        }
    });
    drop(ctx);
    join_pending_aborts();
    let aborted = llm.shared.end_run(run);
    Served {
        rc,
        aborted,
        calls,
        finished,
    }
}

/// State of one blocking run's text, on the calling thread.
struct Pump {
    text: RunText,
    panic: Option<String>,
    perf: Option<PerfStats>,
    error_state: bool,
    paused: bool,
    trailing: String,
}

impl Pump {
    fn new() -> Pump {
        Pump {
            text: RunText::default(),
            panic: None,
            perf: None,
            error_state: false,
            paused: false,
            trailing: String::new(),
        }
    }

    fn end(&mut self) {
        self.trailing = self.text.finish();
    }

    fn handle<F>(
        &mut self,
        llm: &Llm,
        result: *mut sys::RKLLMResult,
        state: c_int,
        callback: &mut F,
    ) -> c_int
    where
        F: for<'a> FnMut(Chunk<'a>) -> Control,
    {
        // SAFETY: the runtime thread is blocked in `callback` until we reply, so the result
        // and its buffers are valid for this whole function.
        let r = unsafe { result.as_ref() };
        match state {
            sys::RKLLM_RUN_FINISH => {
                self.perf = r.map(|r| PerfStats::from_raw(&r.perf));
                self.end();
                sys::RKLLM_CALLBACK_CONTINUE
            }
            sys::RKLLM_RUN_ERROR => {
                self.error_state = true;
                self.end();
                sys::RKLLM_CALLBACK_CONTINUE
            }
            // After a pause or a panic the runtime may still call: keep telling it to stop.
            _ if self.paused => sys::RKLLM_CALLBACK_PAUSE,
            _ if self.panic.is_some() => sys::RKLLM_CALLBACK_CONTINUE,
            _ => {
                let Some(r) = r else {
                    return sys::RKLLM_CALLBACK_CONTINUE;
                };
                // SAFETY: see above.
                let view = unsafe { ResultView::new(r) };
                llm.facts.learn(&view);
                let text = self.text.take(state, view.bytes);
                if text.is_empty() && view.logits.is_none() && view.hidden.is_none() {
                    return sys::RKLLM_CALLBACK_CONTINUE; // nothing complete yet
                }
                let chunk = Chunk {
                    text,
                    token_id: r.token_id,
                    logits: view.logits,
                    hidden: view.hidden,
                };
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(chunk)));
                match outcome {
                    Ok(Control::Continue) => sys::RKLLM_CALLBACK_CONTINUE,
                    Ok(Control::Pause) => {
                        self.paused = true;
                        // No FINISH may follow a pause: hand back a held partial character now.
                        self.end();
                        sys::RKLLM_CALLBACK_PAUSE
                    }
                    Err(payload) => {
                        self.panic = Some(panic_message(&*payload));
                        // Stop the run the documented way; later tokens are ignored.
                        let _ = llm.shared.abort(None);
                        sys::RKLLM_CALLBACK_CONTINUE
                    }
                }
            }
        }
    }
}

impl Llm {
    /// Runs to completion, streaming into `callback` on the calling thread. The callback
    /// need not be `Send` or `'static`; what it is given is valid only during the call.
    /// A panic in it stops the run (abort) and is returned as [`Error::CallbackPanicked`].
    ///
    /// In [`InferMode::Logits`](crate::InferMode::Logits) and
    /// [`LastHiddenLayer`](crate::InferMode::LastHiddenLayer) the runtime goes on calling
    /// back (one row per generated token) until the callback returns [`Control::Pause`].
    pub fn run<F>(&self, input: &Input, opts: &RunOptions, mut callback: F) -> Result<RunSummary>
    where
        F: for<'a> FnMut(Chunk<'a>) -> Control,
    {
        if self.n_batch > 1 {
            return Err(Error::InvalidArgument(format!(
                "this model was initialised with n_batch {}: use Llm::run_batch",
                self.n_batch
            )));
        }
        let prepared = prepare(self, std::slice::from_ref(input), opts)?;
        let _guard = self.shared.gate.acquire()?;
        prepared.check_fits(self, opts)?;
        let run = self.shared.begin_run();
        let mut pump = Pump::new();
        let served = serve(self, run, &prepared, |r, s| {
            pump.handle(self, r, s, &mut callback)
        });
        drop(prepared);
        if let Some(msg) = pump.panic {
            return Err(Error::CallbackPanicked(msg));
        }
        // An ERROR (or a failure code) after our own abort is how that abort ended.
        if (pump.error_state || served.rc != 0) && !served.aborted {
            return Err(Error::RunFailed {
                code: served.rc,
                error_state: pump.error_state,
            });
        }
        if served.calls == 0 && !served.aborted {
            return Err(Error::NotRun { code: served.rc });
        }
        if !served.finished && !pump.paused {
            pump.end(); // no FINISH (an abort, or a runtime that sends none): flush the text state
        }
        Ok(RunSummary {
            perf: pump.perf,
            paused: pump.paused,
            aborted: served.aborted,
            trailing_text: pump.trailing,
        })
    }

    /// Runs to completion and returns the whole text.
    pub fn generate(&self, input: &Input, opts: &RunOptions) -> Result<(String, RunSummary)> {
        let mut text = String::new();
        let summary = self.run(input, opts, |c| {
            text.push_str(c.text());
            Control::Continue
        })?;
        text.push_str(&summary.trailing_text);
        Ok((text, summary))
    }
}
