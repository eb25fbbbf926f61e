//! The model handle: init, runs, and handle-level operations.
//!
//! Soundness design:
//! * Every operation on a handle except `abort`/`is_running` passes the [`RunGate`], so runs
//!   (and KV-cache/template/LoRA calls) on one handle never overlap. `abort`/`is_running`
//!   only take a read lock on the handle pointer, which nothing holds during a run.
//! * Blocking runs call `rkllm_run` on a scoped helper thread while the calling thread
//!   serves the callbacks over a rendezvous channel: the user's `FnMut` (which need not be
//!   `Send`) always runs on the caller's thread, whatever thread the runtime calls back on,
//!   and the runtime thread waits in the trampoline, so borrowed buffers stay valid while
//!   the user looks at them. Panics are caught there and reported after the run.
//! * Async runs keep their context (userdata, channel, input buffers) in an `Arc` that the
//!   gate holds until the final callback has been seen and the runtime is idle; `Drop`
//!   aborts a run in progress, waits for its final callback, then destroys the handle.
use crate::checks::{check_context_len, check_cpu_mask, check_model_file};
use crate::error::{Error, Result};
use crate::input::{Input, InputKind};
use crate::param::LlmBuilder;
use crate::run::{
    AsyncEvent, CallState, Chunk, Control, Floats, PerfStats, RunOptions, RunSummary,
};
use crate::runtime::Runtime;
use crate::utf8::Utf8Assembler;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use edge_infer_rkllm_sys as sys;
use std::cell::Cell;
use std::ffi::{c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// An async run whose final callback never came is given up after the runtime has been idle
/// this long (its context is then kept until the handle is destroyed).
const STALE_AFTER: Duration = Duration::from_secs(2);
/// How long to wait for `rkllm_is_running` to drop to 0 after a final callback.
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// How long `Drop` waits for an aborted async run's final callback.
const DROP_WAIT: Duration = Duration::from_secs(30);

thread_local! {
    /// Set while a user callback runs on this thread: re-entering the gate would deadlock.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
    /// Aborts requested from inside a callback, joined when the run returns so a late abort
    /// can never hit the next run.
    static PENDING_ABORTS: std::cell::RefCell<Vec<std::thread::JoinHandle<()>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere; the guarded data stays consistent
    // (plain flags and Arcs), so keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy, Debug)]
struct RawHandle(sys::LLMHandle);
// SAFETY: an LLMHandle is an opaque pointer the runtime accepts from any thread; what
// matters is which calls may overlap, which Llm controls with the gate (see module docs).
unsafe impl Send for RawHandle {}
// SAFETY: as above; shared access only copies the pointer value.
unsafe impl Sync for RawHandle {}

/// State shared by [`Llm`], [`AbortHandle`]s and [`AsyncRun`]s.
#[derive(Debug)]
pub(crate) struct Shared {
    rt: Runtime,
    /// NULL once destroyed. Read-locked by abort/is_running, write-locked by destroy.
    handle: RwLock<RawHandle>,
    /// Bumped by every abort request; runs compare it to report `aborted`.
    aborts: AtomicU64,
}

impl Shared {
    /// Aborts without blocking the current thread when it is serving a run callback: the
    /// runtime thread is waiting for that callback, so a synchronous rkllm_abort there could
    /// deadlock. Elsewhere it calls rkllm_abort directly.
    fn abort_from_any_thread(self: &Arc<Self>) -> Result<()> {
        if IN_CALLBACK.with(Cell::get) {
            let shared = self.clone();
            self.aborts.fetch_add(1, Ordering::SeqCst);
            let t = std::thread::spawn(move || {
                let _ = shared.abort();
            });
            PENDING_ABORTS.with(|p| p.borrow_mut().push(t));
            return Ok(());
        }
        self.abort()
    }

    fn abort(&self) -> Result<()> {
        let h = self.handle.read().unwrap_or_else(|e| e.into_inner());
        if h.0.is_null() {
            return Err(Error::Destroyed);
        }
        self.aborts.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the handle is live while the read lock is held (destroy needs the write
        // lock); rkllm_abort is meant to be called while a run is in progress.
        let rc = unsafe { (self.rt.api().rkllm_abort)(h.0) };
        if rc != 0 {
            return Err(Error::CallFailed {
                function: "rkllm_abort",
                code: rc,
            });
        }
        Ok(())
    }

    fn is_running(&self) -> Result<bool> {
        let h = self.handle.read().unwrap_or_else(|e| e.into_inner());
        if h.0.is_null() {
            return Err(Error::Destroyed);
        }
        // SAFETY: as in `abort`; is_running is a query the runtime allows during runs.
        let rc = unsafe { (self.rt.api().rkllm_is_running)(h.0) };
        Ok(rc > 0)
    }

    fn wait_idle(&self, max: Duration) {
        let start = Instant::now();
        while self.is_running().unwrap_or(false) && start.elapsed() < max {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Aborts the run in progress on a model from any thread. `Send + Sync + Clone`; outliving
/// the model is harmless ([`Error::Destroyed`]).
#[derive(Clone, Debug)]
pub struct AbortHandle {
    shared: Arc<Shared>,
}

impl AbortHandle {
    /// Asks the runtime to stop the current run (no-op when idle).
    pub fn abort(&self) -> Result<()> {
        self.shared.abort_from_any_thread()
    }
    /// Whether a run is in progress.
    pub fn is_running(&self) -> Result<bool> {
        self.shared.is_running()
    }
}

// ------------------------------------------------------------------------------------ gate

#[derive(Default)]
struct GateState {
    busy: bool,
    current_async: Option<Arc<AsyncCtx>>,
    /// Async contexts whose final callback never came: kept until destroy.
    retired: Vec<Arc<AsyncCtx>>,
}

/// Serialises operations on one handle.
#[derive(Default)]
pub(crate) struct RunGate {
    state: Mutex<GateState>,
    cv: Condvar,
}

impl std::fmt::Debug for RunGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunGate")
    }
}

struct GateGuard<'g> {
    gate: &'g RunGate,
    armed: bool,
}

impl RunGate {
    fn acquire(&self, shared: &Shared) -> Result<GateGuard<'_>> {
        if IN_CALLBACK.with(Cell::get) {
            return Err(Error::InvalidArgument(
                "a run callback called back into the same model (would deadlock); use an AbortHandle or Control::Pause".into(),
            ));
        }
        let mut finished_async = None;
        let mut idle_since: Option<Instant> = None;
        let mut st = lock(&self.state);
        loop {
            if let Some(ctx) = st.current_async.clone() {
                if ctx.done.load(Ordering::Acquire) {
                    st.current_async = None;
                    st.busy = false;
                    finished_async = Some(ctx);
                } else {
                    // Never call into the runtime while holding the gate lock: its final
                    // callback takes this lock to signal us.
                    drop(st);
                    let running = shared.is_running().unwrap_or(false);
                    st = lock(&self.state);
                    let still_current = st
                        .current_async
                        .as_ref()
                        .is_some_and(|c| Arc::ptr_eq(c, &ctx));
                    if running {
                        idle_since = None;
                    } else if still_current
                        && !ctx.done.load(Ordering::Acquire)
                        && idle_since.get_or_insert_with(Instant::now).elapsed() > STALE_AFTER
                    {
                        log::warn!("RKLLM async run ended without a final callback; keeping its context until destroy");
                        st.retired.push(ctx);
                        st.current_async = None;
                        st.busy = false;
                    } else if still_current && !ctx.done.load(Ordering::Acquire) {
                        // Wait for the final callback's notify instead of spinning on
                        // rkllm_is_running for the whole run.
                        st = self
                            .cv
                            .wait_timeout(st, Duration::from_millis(20))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    continue;
                }
            }
            if !st.busy {
                st.busy = true;
                break;
            }
            st = self
                .cv
                .wait_timeout(st, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(st);
        if finished_async.is_some() {
            // The runtime may still be unwinding the previous async run after its final callback.
            shared.wait_idle(IDLE_WAIT);
        }
        Ok(GateGuard {
            gate: self,
            armed: true,
        })
    }

    fn notify(&self) {
        let _st = lock(&self.state);
        self.cv.notify_all();
    }
}

impl GateGuard<'_> {
    /// The async run now owns the gate until its final callback.
    fn hand_over(mut self, ctx: Arc<AsyncCtx>) {
        let mut st = lock(&self.gate.state);
        st.current_async = Some(ctx);
        self.armed = false;
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = lock(&self.gate.state);
            st.busy = false;
            self.gate.cv.notify_all();
        }
    }
}

// ------------------------------------------------------------------------------- contexts

const KIND_BLOCKING: u32 = 0x424c_4b31;
const KIND_ASYNC: u32 = 0x4153_5931;

/// First field of every userdata we hand the runtime, to tell the kinds apart.
#[repr(C)]
struct CtxHeader {
    kind: u32,
}

struct SendPtr<T>(*mut T);
// SAFETY: only used to carry a runtime-owned result pointer from the runtime's thread to the
// pumping thread while the runtime thread is blocked waiting for the reply (see `blocking_callback`).
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

#[repr(C)]
pub(crate) struct AsyncCtx {
    header: CtxHeader,
    tx: Sender<AsyncEvent>,
    utf8: Mutex<Utf8Assembler>,
    done: AtomicBool,
    gate: Arc<RunGate>,
    shared: Arc<Shared>,
    abort_mark: u64,
    /// The input and parameters the runtime may read until the run ends.
    _prepared: Prepared,
}

impl AsyncCtx {
    fn finish(&self, event: AsyncEvent) {
        let _ = self.tx.send(event);
        self.done.store(true, Ordering::Release);
        self.gate.notify();
    }
}

/// The one result callback registered at init; dispatches on the userdata's header.
unsafe extern "C" fn result_trampoline(
    result: *mut sys::RKLLMResult,
    userdata: *mut c_void,
    state: sys::LLMCallState,
) -> c_int {
    if userdata.is_null() {
        return sys::RKLLM_CALLBACK_CONTINUE;
    }
    let call = std::panic::AssertUnwindSafe(|| {
        // SAFETY: every non-NULL userdata we pass to the runtime starts with a CtxHeader
        // (repr(C) first field) and is alive until the run's final callback (see contexts).
        let kind = unsafe { (*(userdata as *const CtxHeader)).kind };
        match kind {
            // SAFETY: the header says which context this is.
            KIND_BLOCKING => unsafe {
                blocking_callback(&*(userdata as *const BlockingCtx), result, state)
            },
            // SAFETY: as above.
            KIND_ASYNC => unsafe { async_callback(userdata as *const AsyncCtx, result, state) },
            _ => sys::RKLLM_CALLBACK_CONTINUE,
        }
    });
    // Never unwind into C: an internal panic pauses the run.
    std::panic::catch_unwind(call).unwrap_or(sys::RKLLM_CALLBACK_PAUSE)
}

/// Hands the result to the thread running `Llm::run` and waits for its verdict, so the
/// runtime's buffers stay valid while user code looks at them.
unsafe fn blocking_callback(
    ctx: &BlockingCtx,
    result: *mut sys::RKLLMResult,
    state: c_int,
) -> c_int {
    if ctx
        .msgs
        .send(Msg::Callback {
            result: SendPtr(result),
            state,
        })
        .is_err()
    {
        return sys::RKLLM_CALLBACK_PAUSE;
    }
    ctx.replies.recv().unwrap_or(sys::RKLLM_CALLBACK_PAUSE)
}

/// Copies the result into owned events.
unsafe fn async_callback(
    ptr: *const AsyncCtx,
    result: *mut sys::RKLLMResult,
    state: c_int,
) -> c_int {
    // SAFETY: `ptr` comes from Arc::as_ptr on a context the gate keeps alive until the final
    // callback has been seen; hold our own count so signalling `done` cannot free it under us.
    let ctx = unsafe {
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    };
    // SAFETY: the runtime passes a valid result (or NULL) for the duration of the call.
    let r = unsafe { result.as_ref() };
    match state {
        sys::RKLLM_RUN_FINISH | sys::RKLLM_RUN_ERROR => {
            let trailing = lock(&ctx.utf8).finish();
            let event = if state == sys::RKLLM_RUN_FINISH {
                AsyncEvent::Finished(RunSummary {
                    perf: r.map(|r| PerfStats::from(r.perf)),
                    paused: false,
                    aborted: ctx.shared.aborts.load(Ordering::SeqCst) != ctx.abort_mark,
                    trailing_invalid: trailing,
                })
            } else {
                AsyncEvent::Failed(Error::RunFailed {
                    code: 0,
                    error_state: true,
                })
            };
            ctx.finish(event);
        }
        _ => {
            let Some(r) = r else {
                return sys::RKLLM_CALLBACK_CONTINUE;
            };
            // SAFETY: pointers in `r` are valid during the callback; we copy before returning.
            let view = unsafe { ResultView::new(r) };
            let (text, invalid) = lock(&ctx.utf8).push(view.bytes);
            if !invalid.is_empty() {
                let _ = ctx.tx.send(AsyncEvent::InvalidBytes(invalid));
            }
            if !text.is_empty() {
                let _ = ctx.tx.send(AsyncEvent::Text {
                    text,
                    token_id: r.token_id,
                });
            }
            if let Some(l) = view.logits {
                let _ = ctx.tx.send(AsyncEvent::Logits(l.to_owned()));
            }
            if let Some(h) = view.hidden {
                let _ = ctx.tx.send(AsyncEvent::HiddenStates(h.to_owned()));
            }
        }
    }
    sys::RKLLM_CALLBACK_CONTINUE
}

/// Borrowed views of one RKLLMResult.
struct ResultView<'a> {
    bytes: &'a [u8],
    logits: Option<Floats<'a>>,
    hidden: Option<Floats<'a>>,
}

impl<'a> ResultView<'a> {
    /// # Safety
    /// `r`'s pointers must be valid for `'a` (the duration of the callback).
    unsafe fn new(r: &'a sys::RKLLMResult) -> Self {
        let bytes = if r.text.is_null() {
            &[][..]
        } else {
            // SAFETY: non-NULL text is NUL-terminated and valid during the callback.
            unsafe { CStr::from_ptr(r.text) }.to_bytes()
        };
        let floats = |p: *const f32, w: c_int, n: c_int| {
            (!p.is_null() && w > 0 && n > 0).then(|| {
                let (w, n) = (w as usize, n as usize);
                // SAFETY: the runtime documents `w * n` floats at `p`, valid during the callback.
                Floats::new(unsafe { std::slice::from_raw_parts(p, w * n) }, w, n)
            })
        };
        ResultView {
            bytes,
            logits: floats(r.logits.logits, r.logits.vocab_size, r.logits.num_tokens),
            hidden: floats(
                r.last_hidden_layer.hidden_states,
                r.last_hidden_layer.embd_size,
                r.last_hidden_layer.num_tokens,
            ),
        }
    }
}

// ------------------------------------------------------------------------------- inputs

/// A run's C structures with stable addresses, owned until the run ends.
struct Prepared {
    _role: CString,
    _prompt: Option<CString>,
    _tokens: Vec<i32>,
    _embed: Vec<f32>,
    _lora_name: Option<CString>,
    _cache_path: Option<CString>,
    lora: *mut sys::RKLLMLoraParam,
    cache: *mut sys::RKLLMPromptCacheParam,
    #[cfg(not(feature = "abi-1-2"))]
    sampling: *mut sys::RKLLMSamplingParam,
    input: *mut sys::RKLLMInput,
    infer: *mut sys::RKLLMInferParam,
}

// SAFETY: Prepared owns every allocation its pointers point to; nothing mutates them after
// construction (the runtime only reads them), so moving/sharing across threads is fine.
unsafe impl Send for Prepared {}
// SAFETY: as above.
unsafe impl Sync for Prepared {}

fn boxed<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from `boxed` and is freed once (Prepared::drop).
        drop(unsafe { Box::from_raw(p) });
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        free(self.input);
        free(self.infer);
        free(self.lora);
        free(self.cache);
        #[cfg(not(feature = "abi-1-2"))]
        free(self.sampling);
    }
}

fn cstring(s: &str, what: &'static str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InteriorNul { what })
}

// ---------------------------------------------------------------------------------- Llm

/// Keeps what the runtime was given at init alive until after `rkllm_destroy`.
struct InitKeepAlive {
    _model_path: CString,
    #[cfg(not(feature = "abi-1-2"))]
    _callbacks: Box<sys::RKLLMCallback>,
}
// SAFETY: only holds allocations the runtime may read; we never touch them after init.
unsafe impl Send for InitKeepAlive {}
// SAFETY: as above.
unsafe impl Sync for InitKeepAlive {}

/// An initialised RKLLM model.
///
/// `Llm` is `Send + Sync`: runs and other handle operations from several threads are
/// serialised internally, while [`abort`](Llm::abort) and [`is_running`](Llm::is_running)
/// never wait for a run.
///
/// ```
/// # use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
/// # let abi = if cfg!(feature = "abi-1-2") { Abi::V1_2 } else { Abi::V1_3 };
/// # let dir = TempDir::new("doc-llm").unwrap();
/// # let model = FakeModel::default().reply("Hi there").write(dir.path().join("m.rkllm")).unwrap();
/// // `model` is a fake model for edge-infer's test double runtime here.
/// let llm = edge_infer_rkllm::Llm::builder(&model)
///     .runtime(edge_infer_rkllm::Runtime::load(library_path(abi))?)
///     .max_context_len(512)
///     .build()?;
/// let mut reply = String::new();
/// let summary = llm.run(&edge_infer_rkllm::Input::prompt("Hello"), &edge_infer_rkllm::RunOptions::new(), |chunk| {
///     reply.push_str(chunk.text());
///     edge_infer_rkllm::Control::Continue
/// })?;
/// assert_eq!(reply, "Hi there");
/// assert_eq!(summary.perf.unwrap().generate_tokens, 8);
/// # Ok::<(), edge_infer_rkllm::Error>(())
/// ```
pub struct Llm {
    shared: Arc<Shared>,
    gate: Arc<RunGate>,
    model_path: PathBuf,
    max_context_len: i32,
    #[cfg(not(feature = "abi-1-2"))]
    init_sampling: sys::RKLLMSamplingParam,
    #[cfg(feature = "tokenizer")]
    tokenizer: Option<Box<crate::tokenizer::Tokenizer>>,
    _keep: InitKeepAlive,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("model_path", &self.model_path)
            .field("max_context_len", &self.max_context_len)
            .field("runtime", &self.shared.rt)
            .finish()
    }
}

impl Llm {
    /// Starts a builder for the model at `model`.
    pub fn builder(model: impl Into<PathBuf>) -> LlmBuilder {
        LlmBuilder::new(model)
    }

    pub(crate) fn init(b: LlmBuilder) -> Result<Llm> {
        // 1. parameters
        if let Some(n) = b.max_context_len {
            check_context_len(n)?;
        }
        let cpu_count = b.cpu_count.unwrap_or(b.cpu_mask.count_ones() as i32);
        check_cpu_mask(b.cpu_mask, cpu_count)?;
        if cfg!(feature = "abi-1-2") && b.ignore_eos_token.is_some() {
            return Err(Error::NotInAbi {
                what: "ignore_eos_token",
                abi: sys::AbiGeneration::SELECTED,
            });
        }
        if cfg!(feature = "abi-1-2") && b.tokenizer_callback {
            return Err(Error::NotInAbi {
                what: "the tokenizer callback",
                abi: sys::AbiGeneration::SELECTED,
            });
        }
        if b.tokenizer_callback && b.tokenizer_path.is_none() {
            return Err(Error::InvalidArgument(
                "tokenizer_callback(true) needs tokenizer(path)".into(),
            ));
        }
        // 2. model file
        check_model_file(&b.model)?;
        let model_c = CString::new(b.model.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InteriorNul { what: "model path" })?;
        // 3. runtime (version-checked before any call into it)
        let rt = match (b.runtime, b.runtime_path) {
            (Some(rt), _) => rt,
            (None, Some(p)) => Runtime::load_with(p, b.version_check)?,
            (None, None) => Runtime::system_with(b.version_check)?,
        };
        // 4. host
        b.host_checks.run(b.cpu_mask, rt.is_test_double())?;
        // 5. tokenizer
        #[cfg(feature = "tokenizer")]
        let tokenizer = match &b.tokenizer_path {
            Some(p) => Some(Box::new(crate::tokenizer::Tokenizer::from_file(p)?)),
            None => None,
        };
        #[cfg(not(feature = "tokenizer"))]
        if b.tokenizer_path.is_some() {
            return Err(Error::Tokenizer(
                "rkllm was built without the `tokenizer` feature".into(),
            ));
        }

        // 6. init
        let api = rt.api();
        // SAFETY: the runtime's version matches our declarations (checked above), so the
        // by-value return has the layout we declare.
        let mut p = unsafe { (api.rkllm_createDefaultParam)() };
        p.model_path = model_c.as_ptr();
        if let Some(n) = b.max_context_len {
            p.max_context_len = n;
        }
        check_context_len(p.max_context_len)?;
        if let Some(n) = b.max_new_tokens {
            p.max_new_tokens = n;
        }
        if let Some(n) = b.n_keep {
            p.n_keep = n;
        }
        if let Some(v) = b.skip_special_token {
            p.skip_special_token = v;
        }
        #[cfg(not(feature = "abi-1-2"))]
        if let Some(v) = b.ignore_eos_token {
            p.ignore_eos_token = v;
        }
        b.sampling.apply_to_param(&mut p);
        p.is_async = false; // async runs use rkllm_run_async
        p.extend_param.enabled_cpus_mask = b.cpu_mask;
        p.extend_param.enabled_cpus_num = cpu_count as i8;
        p.extend_param.n_batch = 1; // results/inputs are single entries, not arrays
        if let Some(v) = b.embed_flash {
            p.extend_param.embed_flash = v as i8;
        }
        if let Some(v) = b.base_domain_id {
            p.extend_param.base_domain_id = v;
        }

        #[cfg(not(feature = "abi-1-2"))]
        let mut callbacks = {
            #[cfg(feature = "tokenizer")]
            let (tok_cb, tok_ud): (sys::LLMTokenizerCallback, *mut c_void) =
                match (&tokenizer, b.tokenizer_callback) {
                    (Some(t), true) => (
                        Some(crate::tokenizer::tokenizer_callback),
                        &**t as *const crate::tokenizer::Tokenizer as *mut c_void,
                    ),
                    _ => (None, null_mut()),
                };
            #[cfg(not(feature = "tokenizer"))]
            let (tok_cb, tok_ud): (sys::LLMTokenizerCallback, *mut c_void) = (None, null_mut());
            Box::new(sys::RKLLMCallback {
                result_callback: Some(result_trampoline),
                result_userdata: null_mut(),
                tokenizer_callback: tok_cb,
                tokenizer_userdata: tok_ud,
                embed_callback: None,
                embed_userdata: null_mut(),
            })
        };
        #[cfg(not(feature = "abi-1-2"))]
        let cb_arg: sys::InitCallbackArg = &mut *callbacks;
        #[cfg(feature = "abi-1-2")]
        let cb_arg: sys::InitCallbackArg = Some(result_trampoline);

        let mut handle: sys::LLMHandle = null_mut();
        // SAFETY: `p` and the callback table are valid for the call; everything they point
        // to (model path, callbacks, tokenizer) is kept alive by the returned Llm.
        let rc = unsafe { (api.rkllm_init)(&mut handle, &mut p, cb_arg) };
        if rc != 0 {
            return Err(Error::InitFailed {
                code: rc,
                model: b.model,
            });
        }
        if handle.is_null() {
            return Err(Error::NullHandle(b.model));
        }
        log::info!(
            "RKLLM model {:?} initialised (max_context_len {}, CPUs {:#x}){}",
            b.model,
            p.max_context_len,
            b.cpu_mask,
            if rt.is_test_double() {
                " on edge-infer's TEST DOUBLE runtime"
            } else {
                ""
            }
        );
        Ok(Llm {
            shared: Arc::new(Shared {
                rt,
                handle: RwLock::new(RawHandle(handle)),
                aborts: AtomicU64::new(0),
            }),
            gate: Arc::new(RunGate::default()),
            model_path: b.model,
            max_context_len: p.max_context_len,
            #[cfg(not(feature = "abi-1-2"))]
            init_sampling: sys::RKLLMSamplingParam {
                top_k: p.top_k,
                top_p: p.top_p,
                temperature: p.temperature,
                repeat_penalty: p.repeat_penalty,
                frequency_penalty: p.frequency_penalty,
                presence_penalty: p.presence_penalty,
                mirostat: p.mirostat,
                mirostat_tau: p.mirostat_tau,
                mirostat_eta: p.mirostat_eta,
            },
            #[cfg(feature = "tokenizer")]
            tokenizer,
            _keep: InitKeepAlive {
                _model_path: model_c,
                #[cfg(not(feature = "abi-1-2"))]
                _callbacks: callbacks,
            },
        })
    }

    fn handle(&self) -> sys::LLMHandle {
        // Only Drop nulls it, and Drop cannot run while `&self` exists.
        self.shared
            .handle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    fn api(&self) -> &sys::Api {
        self.shared.rt.api()
    }

    /// The runtime in use.
    pub fn runtime(&self) -> &Runtime {
        &self.shared.rt
    }

    /// The model file.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The effective context window.
    pub fn max_context_len(&self) -> i32 {
        self.max_context_len
    }

    /// The tokenizer given to the builder.
    #[cfg(feature = "tokenizer")]
    pub fn tokenizer(&self) -> Option<&crate::tokenizer::Tokenizer> {
        self.tokenizer.as_deref()
    }

    /// A `Send + Sync` handle that aborts runs from other threads.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            shared: self.shared.clone(),
        }
    }

    /// Aborts the run in progress (no-op when idle). Never waits for the run lock.
    pub fn abort(&self) -> Result<()> {
        self.shared.abort_from_any_thread()
    }

    /// Whether a run is in progress. Never waits for the run lock.
    pub fn is_running(&self) -> bool {
        self.shared.is_running().unwrap_or(false)
    }

    fn check_fits(&self, tokens: usize) -> Result<()> {
        if tokens >= self.max_context_len as usize {
            return Err(Error::PromptTooLong {
                tokens,
                max_context_len: self.max_context_len,
            });
        }
        Ok(())
    }

    fn prepare(&self, input: &Input, opts: &RunOptions) -> Result<Prepared> {
        let role = cstring(input.role.as_str(), "role")?;
        let mut prompt = None;
        let (mut tokens, mut embed) = (Vec::new(), Vec::new());
        // SAFETY: RKLLMInput is plain data (pointers, ints, bool false); all-zero is valid.
        let mut raw: sys::RKLLMInput = unsafe { std::mem::zeroed() };
        raw.role = role.as_ptr();
        raw.enable_thinking = input.enable_thinking;
        match &input.kind {
            InputKind::Prompt(text) => {
                let c = cstring(text, "prompt")?;
                #[cfg(feature = "tokenizer")]
                if let Some(t) = &self.tokenizer {
                    self.check_fits(t.count(text)?)?;
                }
                raw.input_type = sys::RKLLM_INPUT_PROMPT;
                raw.input.prompt_input = c.as_ptr();
                prompt = Some(c);
            }
            InputKind::Tokens(ids) => {
                if ids.is_empty() {
                    return Err(Error::InvalidArgument("token input is empty".into()));
                }
                self.check_fits(ids.len())?;
                tokens = ids.clone();
                raw.input_type = sys::RKLLM_INPUT_TOKEN;
                raw.input.token_input = sys::RKLLMTokenInput {
                    input_ids: tokens.as_mut_ptr(),
                    n_tokens: tokens.len(),
                };
            }
            InputKind::Embeddings { data, n_tokens } => {
                if *n_tokens == 0 || data.is_empty() || data.len() % n_tokens != 0 {
                    return Err(Error::InvalidArgument(format!(
                        "embedding input of {} floats is not n_tokens = {n_tokens} rows",
                        data.len()
                    )));
                }
                self.check_fits(*n_tokens)?;
                embed = data.clone();
                raw.input_type = sys::RKLLM_INPUT_EMBED;
                raw.input.embed_input = sys::RKLLMEmbedInput {
                    embed: embed.as_mut_ptr(),
                    n_tokens: *n_tokens,
                };
            }
        }
        let lora_name = opts
            .lora
            .as_deref()
            .map(|n| cstring(n, "LoRA name"))
            .transpose()?;
        let cache_path = opts
            .save_prompt_cache
            .as_ref()
            .map(|p| {
                CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| Error::InteriorNul {
                    what: "prompt cache path",
                })
            })
            .transpose()?;
        let lora = match &lora_name {
            Some(n) => boxed(sys::RKLLMLoraParam {
                lora_adapter_name: n.as_ptr(),
            }),
            None => null_mut(),
        };
        let cache = match &cache_path {
            Some(p) => boxed(sys::RKLLMPromptCacheParam {
                save_prompt_cache: 1,
                prompt_cache_path: p.as_ptr(),
            }),
            None => null_mut(),
        };
        #[cfg(feature = "abi-1-2")]
        {
            if opts.sampling.is_some() {
                free(lora);
                free(cache);
                return Err(Error::NotInAbi {
                    what: "per-run sampling",
                    abi: sys::AbiGeneration::SELECTED,
                });
            }
            if opts.max_new_tokens.is_some() {
                free(lora);
                free(cache);
                return Err(Error::NotInAbi {
                    what: "per-run max_new_tokens",
                    abi: sys::AbiGeneration::SELECTED,
                });
            }
        }
        #[cfg(not(feature = "abi-1-2"))]
        let sampling = match &opts.sampling {
            Some(s) => {
                let mut base = self.init_sampling;
                s.apply_to_sampling(&mut base);
                boxed(base)
            }
            None => null_mut(),
        };
        let infer = boxed(sys::RKLLMInferParam {
            mode: opts.mode.raw(),
            lora_params: lora,
            prompt_cache_params: cache,
            #[cfg(not(feature = "abi-1-2"))]
            sampling_params: sampling,
            keep_history: opts.keep_history as c_int,
            #[cfg(not(feature = "abi-1-2"))]
            max_new_tokens: opts.max_new_tokens.unwrap_or(0),
        });
        Ok(Prepared {
            _role: role,
            _prompt: prompt,
            _tokens: tokens,
            _embed: embed,
            _lora_name: lora_name,
            _cache_path: cache_path,
            lora,
            cache,
            #[cfg(not(feature = "abi-1-2"))]
            sampling,
            input: boxed(raw),
            infer,
        })
    }

    /// Runs to completion, streaming into `callback` on the calling thread. The callback
    /// need not be `Send` or `'static`; what it is given is valid only during the call.
    /// A panic in it stops the run (abort) and is returned as [`Error::CallbackPanicked`].
    pub fn run<F>(&self, input: &Input, opts: &RunOptions, mut callback: F) -> Result<RunSummary>
    where
        F: for<'a> FnMut(Chunk<'a>) -> Control,
    {
        let prepared = self.prepare(input, opts)?;
        let _guard = self.gate.acquire(&self.shared)?;
        let abort_mark = self.shared.aborts.load(Ordering::SeqCst);
        let (msg_tx, msg_rx) = bounded::<Msg>(0);
        let (reply_tx, reply_rx) = bounded::<c_int>(0);
        let ctx = BlockingCtx {
            header: CtxHeader {
                kind: KIND_BLOCKING,
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
                // SAFETY: the handle is live (we hold &Llm), the gate excludes other runs, and
                // input/infer/userdata stay valid until this blocking call returns.
                let rc = unsafe {
                    (self.api.rkllm_run)(self.handle, self.input, self.infer, self.userdata)
                };
                let _ = self.done.send(Msg::Done(rc));
            }
        }
        let job = Job {
            api: *self.api(),
            handle: self.handle(),
            input: prepared.input,
            infer: prepared.infer,
            userdata: &ctx as *const BlockingCtx as *mut c_void,
            done: msg_tx,
        };

        let mut pump = Pump::default_for(&self.shared);
        let rc = std::thread::scope(|s| {
            s.spawn(move || job.run());
            loop {
                match msg_rx.recv() {
                    Ok(Msg::Callback { result, state }) => {
                        let code = pump.handle(result.0, state, &mut callback);
                        let _ = reply_tx.send(code);
                    }
                    Ok(Msg::Done(rc)) => break rc,
                    Err(_) => break -1,
                }
            }
        });
        drop(ctx);
        drop(prepared);
        for t in PENDING_ABORTS.with(|p| std::mem::take(&mut *p.borrow_mut())) {
            let _ = t.join();
        }
        if let Some(msg) = pump.panic {
            return Err(Error::CallbackPanicked(msg));
        }
        if pump.error_state || rc != 0 {
            return Err(Error::RunFailed {
                code: rc,
                error_state: pump.error_state,
            });
        }
        Ok(RunSummary {
            perf: pump.perf,
            paused: pump.paused,
            aborted: self.shared.aborts.load(Ordering::SeqCst) != abort_mark,
            trailing_invalid: pump.trailing,
        })
    }

    /// Runs to completion and returns the whole text.
    pub fn generate(&self, input: &Input, opts: &RunOptions) -> Result<(String, RunSummary)> {
        let mut text = String::new();
        let summary = self.run(input, opts, |c| {
            text.push_str(c.text());
            Control::Continue
        })?;
        Ok((text, summary))
    }

    /// Starts a run on the runtime's thread; events arrive over a channel ([`AsyncRun`]).
    /// Other operations on this model wait until it ends; dropping the model aborts it.
    pub fn run_async(&self, input: &Input, opts: &RunOptions) -> Result<AsyncRun> {
        let prepared = self.prepare(input, opts)?;
        let guard = self.gate.acquire(&self.shared)?;
        let (tx, rx) = unbounded();
        let (input_ptr, infer_ptr) = (prepared.input, prepared.infer);
        let ctx = Arc::new(AsyncCtx {
            header: CtxHeader { kind: KIND_ASYNC },
            tx,
            utf8: Mutex::new(Utf8Assembler::default()),
            done: AtomicBool::new(false),
            gate: self.gate.clone(),
            shared: self.shared.clone(),
            abort_mark: self.shared.aborts.load(Ordering::SeqCst),
            _prepared: prepared,
        });
        // SAFETY: the handle is live, the gate excludes other runs, and `ctx` (holding the
        // input) stays alive until the final callback: the gate keeps an Arc (hand_over below,
        // or `retired` if the start fails), released only after `done` and the runtime is idle.
        let rc = unsafe {
            (self.api().rkllm_run_async)(
                self.handle(),
                input_ptr,
                infer_ptr,
                Arc::as_ptr(&ctx) as *mut c_void,
            )
        };
        if rc != 0 {
            lock(&self.gate.state).retired.push(ctx);
            drop(guard);
            return Err(Error::CallFailed {
                function: "rkllm_run_async",
                code: rc,
            });
        }
        guard.hand_over(ctx.clone());
        Ok(AsyncRun {
            rx,
            ctx,
            abort: self.abort_handle(),
            finished: false,
        })
    }

    fn call(
        &self,
        function: &'static str,
        f: impl FnOnce(&sys::Api, sys::LLMHandle) -> c_int,
    ) -> Result<()> {
        let _guard = self.gate.acquire(&self.shared)?;
        let rc = f(self.api(), self.handle());
        if rc != 0 {
            return Err(Error::CallFailed { function, code: rc });
        }
        Ok(())
    }

    /// Clears the KV cache, optionally keeping the system prompt.
    pub fn clear_kv_cache(&self, keep_system_prompt: bool) -> Result<()> {
        self.call("rkllm_clear_kv_cache", |api, h| {
            // SAFETY: live handle, no run in progress (gate); NULL ranges mean "all".
            unsafe {
                (api.rkllm_clear_kv_cache)(h, keep_system_prompt as c_int, null_mut(), null_mut())
            }
        })
    }

    /// Clears KV cache positions `range.start..range.end`.
    pub fn clear_kv_cache_range(
        &self,
        keep_system_prompt: bool,
        range: std::ops::Range<i32>,
    ) -> Result<()> {
        if range.start < 0 || range.end < range.start {
            return Err(Error::InvalidArgument(format!(
                "bad KV cache range {range:?}"
            )));
        }
        let (mut start, mut end) = ([range.start], [range.end]);
        self.call("rkllm_clear_kv_cache", |api, h| {
            // SAFETY: live handle, no run in progress; one entry per batch (n_batch = 1).
            unsafe {
                (api.rkllm_clear_kv_cache)(
                    h,
                    keep_system_prompt as c_int,
                    start.as_mut_ptr(),
                    end.as_mut_ptr(),
                )
            }
        })
    }

    /// Number of tokens in the KV cache.
    pub fn kv_cache_size(&self) -> Result<usize> {
        // The runtime writes n_batch ints; we init with n_batch = 1 and keep slack anyway.
        let mut sizes = [0 as c_int; 8];
        self.call("rkllm_get_kv_cache_size", |api, h| {
            // SAFETY: live handle; `sizes` has room for more than n_batch entries.
            unsafe { (api.rkllm_get_kv_cache_size)(h, sizes.as_mut_ptr()) }
        })?;
        Ok(sizes[0].max(0) as usize)
    }

    /// Sets the chat template: system prompt, and text put before/after each user prompt.
    pub fn set_chat_template(&self, system: &str, prefix: &str, postfix: &str) -> Result<()> {
        let (s, pre, post) = (
            cstring(system, "system prompt")?,
            cstring(prefix, "prompt prefix")?,
            cstring(postfix, "prompt postfix")?,
        );
        self.call("rkllm_set_chat_template", |api, h| {
            // SAFETY: live handle, no run; the strings outlive the call (the runtime copies them).
            unsafe { (api.rkllm_set_chat_template)(h, s.as_ptr(), pre.as_ptr(), post.as_ptr()) }
        })
    }

    /// Declares function tools (a JSON array, validated first). The model answers with
    /// tool calls; reply with [`Input::tool_response`].
    pub fn set_function_tools(
        &self,
        system: &str,
        tools_json: &str,
        tool_response_tag: &str,
    ) -> Result<()> {
        let tools = crate::tools::validate_tools(tools_json)?;
        let (s, t, tag) = (
            cstring(system, "system prompt")?,
            cstring(&tools, "tools")?,
            cstring(tool_response_tag, "tool response tag")?,
        );
        self.call("rkllm_set_function_tools", |api, h| {
            // SAFETY: live handle, no run; strings outlive the call.
            unsafe { (api.rkllm_set_function_tools)(h, s.as_ptr(), t.as_ptr(), tag.as_ptr()) }
        })
    }

    /// Loads a LoRA adapter under `name` (select it per run with [`RunOptions::lora`]).
    pub fn load_lora(&self, path: impl AsRef<Path>, name: &str, scale: f32) -> Result<()> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "LoRA adapter {path:?} does not exist"
            )));
        }
        let p = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InteriorNul { what: "LoRA path" })?;
        let n = cstring(name, "LoRA name")?;
        let mut adapter = sys::RKLLMLoraAdapter {
            lora_adapter_path: p.as_ptr(),
            lora_adapter_name: n.as_ptr(),
            scale,
        };
        self.call("rkllm_load_lora", |api, h| {
            // SAFETY: live handle, no run; the adapter and strings outlive the call.
            unsafe { (api.rkllm_load_lora)(h, &mut adapter) }
        })
    }

    /// Loads a prompt cache saved with [`RunOptions::save_prompt_cache`].
    pub fn load_prompt_cache(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = CString::new(path.as_ref().as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::InteriorNul {
                what: "prompt cache path",
            }
        })?;
        self.call("rkllm_load_prompt_cache", |api, h| {
            // SAFETY: live handle, no run; the path outlives the call.
            unsafe { (api.rkllm_load_prompt_cache)(h, p.as_ptr()) }
        })
    }

    /// Releases a loaded prompt cache.
    pub fn release_prompt_cache(&self) -> Result<()> {
        self.call("rkllm_release_prompt_cache", |api, h| {
            // SAFETY: live handle, no run.
            unsafe { (api.rkllm_release_prompt_cache)(h) }
        })
    }

    /// Raw handle for calls this crate does not wrap. The gate is not held: don't use it
    /// while a run may be in progress, and never destroy it.
    pub fn raw_handle(&self) -> sys::LLMHandle {
        self.handle()
    }
}

impl Drop for Llm {
    fn drop(&mut self) {
        let current = lock(&self.gate.state).current_async.clone();
        let mut leak = false;
        if let Some(ctx) = &current {
            if !ctx.done.load(Ordering::Acquire) {
                let _ = self.shared.abort();
                let deadline = Instant::now() + DROP_WAIT;
                let mut st = lock(&self.gate.state);
                while !ctx.done.load(Ordering::Acquire) && Instant::now() < deadline {
                    st = self
                        .gate
                        .cv
                        .wait_timeout(st, Duration::from_millis(20))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                drop(st);
                if !ctx.done.load(Ordering::Acquire) {
                    log::error!("RKLLM async run did not deliver its final callback after abort; destroying anyway");
                    leak = true;
                }
            }
        }
        self.shared.wait_idle(IDLE_WAIT);
        {
            let mut h = self
                .shared
                .handle
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if !h.0.is_null() {
                // SAFETY: no run is in progress (all borrows of self are gone, the async run
                // ended or was aborted and waited for), and abort/is_running are excluded by
                // the write lock. The handle is nulled so it is never used again.
                let rc = unsafe { (self.shared.rt.api().rkllm_destroy)(h.0) };
                if rc != 0 {
                    log::warn!("rkllm_destroy returned {rc}");
                }
                h.0 = null_mut();
            }
        }
        if let Some(ctx) = current {
            if !ctx.done.load(Ordering::Acquire) {
                ctx.finish(AsyncEvent::Failed(Error::Destroyed));
            }
            if leak {
                // A runtime that broke its contract might still call back: keep the userdata
                // (the gate's reference to it stays too).
                std::mem::forget(ctx);
                return;
            }
        }
        // The handle is destroyed, so no runtime thread can call back any more: break the
        // gate <-> async-context reference cycle so the contexts, the gate and the runtime
        // library are freed.
        let mut st = lock(&self.gate.state);
        st.current_async = None;
        st.retired.clear();
    }
}

/// State of a blocking run, on the calling thread.
struct Pump<'s> {
    shared: &'s Arc<Shared>,
    utf8: Utf8Assembler,
    panic: Option<String>,
    perf: Option<PerfStats>,
    error_state: bool,
    paused: bool,
    trailing: Vec<u8>,
}

impl<'s> Pump<'s> {
    fn default_for(shared: &'s Arc<Shared>) -> Self {
        Pump {
            shared,
            utf8: Utf8Assembler::default(),
            panic: None,
            perf: None,
            error_state: false,
            paused: false,
            trailing: Vec::new(),
        }
    }

    fn handle<F>(&mut self, result: *mut sys::RKLLMResult, state: c_int, callback: &mut F) -> c_int
    where
        F: for<'a> FnMut(Chunk<'a>) -> Control,
    {
        // SAFETY: the runtime thread is blocked in `blocking_callback` until we reply, so the
        // result and its buffers are valid for this whole function.
        let r = unsafe { result.as_ref() };
        match state {
            sys::RKLLM_RUN_FINISH => {
                self.perf = r.map(|r| PerfStats::from(r.perf));
                self.trailing = self.utf8.finish();
                sys::RKLLM_CALLBACK_CONTINUE
            }
            sys::RKLLM_RUN_ERROR => {
                self.error_state = true;
                self.trailing = self.utf8.finish();
                sys::RKLLM_CALLBACK_CONTINUE
            }
            _ if self.panic.is_some() || self.paused => sys::RKLLM_CALLBACK_CONTINUE,
            _ => {
                let Some(r) = r else {
                    return sys::RKLLM_CALLBACK_CONTINUE;
                };
                // SAFETY: see above.
                let view = unsafe { ResultView::new(r) };
                let (text, invalid) = self.utf8.push(view.bytes);
                let waiting = state == sys::RKLLM_RUN_WAITING;
                if waiting
                    && text.is_empty()
                    && invalid.is_empty()
                    && view.logits.is_none()
                    && view.hidden.is_none()
                {
                    return sys::RKLLM_CALLBACK_CONTINUE; // nothing complete yet
                }
                let chunk = Chunk {
                    text: &text,
                    invalid: &invalid,
                    token_id: r.token_id,
                    state: if waiting {
                        CallState::Waiting
                    } else {
                        CallState::Normal
                    },
                    logits: view.logits,
                    hidden: view.hidden,
                };
                IN_CALLBACK.with(|f| f.set(true));
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(chunk)));
                IN_CALLBACK.with(|f| f.set(false));
                match outcome {
                    Ok(Control::Continue) => sys::RKLLM_CALLBACK_CONTINUE,
                    Ok(Control::Pause) => {
                        self.paused = true;
                        // No FINISH follows a pause: hand back a held partial character
                        // now instead of losing it.
                        self.trailing = self.utf8.finish();
                        sys::RKLLM_CALLBACK_PAUSE
                    }
                    Err(payload) => {
                        let msg = payload
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| payload.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "non-string panic payload".into());
                        self.panic = Some(msg);
                        // Stop the run the documented way (from another thread: the runtime
                        // thread is waiting for this reply); later tokens are ignored until FINISH.
                        IN_CALLBACK.with(|f| f.set(true));
                        let _ = self.shared.abort_from_any_thread();
                        IN_CALLBACK.with(|f| f.set(false));
                        sys::RKLLM_CALLBACK_CONTINUE
                    }
                }
            }
        }
    }
}

/// An asynchronous run: iterate its [`AsyncEvent`]s (ending with `Finished` or `Failed`).
/// Dropping it before the end aborts the run.
pub struct AsyncRun {
    rx: Receiver<AsyncEvent>,
    ctx: Arc<AsyncCtx>,
    abort: AbortHandle,
    finished: bool,
}

impl std::fmt::Debug for AsyncRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRun")
            .field("finished", &self.finished)
            .finish()
    }
}

impl AsyncRun {
    /// The raw event channel.
    pub fn events(&self) -> &Receiver<AsyncEvent> {
        &self.rx
    }
    /// Aborts this run (from any thread via [`abort_handle`](Self::abort_handle)).
    pub fn abort(&self) -> Result<()> {
        self.abort.abort()
    }
    /// A `Send + Sync` abort handle for the model running this.
    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }
    /// Whether the runtime has sent its final callback.
    pub fn is_finished(&self) -> bool {
        self.ctx.done.load(Ordering::Acquire)
    }
    /// Waits for the end, collecting the text.
    pub fn wait(mut self) -> Result<(String, RunSummary)> {
        let mut text = String::new();
        for ev in self.by_ref() {
            match ev {
                AsyncEvent::Text { text: t, .. } => text.push_str(&t),
                AsyncEvent::Finished(s) => return Ok((text, s)),
                AsyncEvent::Failed(e) => return Err(e),
                _ => {}
            }
        }
        Err(Error::Destroyed)
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` once the run has ended,
    /// [`Error::Timeout`] if nothing arrived in time (the run goes on; call again or
    /// abort). For runtimes that might never send their final callback.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<AsyncEvent>> {
        if self.finished {
            return Ok(None);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => {
                if matches!(ev, AsyncEvent::Finished(_) | AsyncEvent::Failed(_)) {
                    self.finished = true;
                }
                Ok(Some(ev))
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Ok(None),
        }
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
                Ok(Some(AsyncEvent::Finished(s))) => return Ok((text, s)),
                Ok(Some(AsyncEvent::Failed(e))) => return Err(e),
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Destroyed),
                Err(e) => {
                    let _ = self.abort.abort();
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
        if matches!(ev, AsyncEvent::Finished(_) | AsyncEvent::Failed(_)) {
            self.finished = true;
        }
        Some(ev)
    }
}

impl Drop for AsyncRun {
    fn drop(&mut self) {
        if !self.finished && !self.is_finished() {
            let _ = self.abort.abort();
        }
    }
}
