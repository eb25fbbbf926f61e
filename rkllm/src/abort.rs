//! The handle shared by a model, its abort handles and its runs, and the identity of runs.
//!
//! Every run gets an id when it starts. An abort names a run (or "the current one") and
//! calls `rkllm_abort` only while that run is the current one, under a lock that the next
//! run's start also takes: an abort of a finished run is a no-op, never an abort of the
//! next run. Whether a run was aborted is recorded on the run, not counted model-wide.
use crate::error::{Error, Result};
use crate::gate::{lock, RunGate};
use crate::runtime::Runtime;
use edge_infer_rkllm_sys as sys;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

thread_local! {
    /// Aborts requested from inside a run callback, completed by helper threads and joined
    /// when that run returns.
    static PENDING_ABORTS: RefCell<Vec<std::thread::JoinHandle<()>>> = const { RefCell::new(Vec::new()) };
}

#[derive(Clone, Copy, Debug)]
struct RawHandle(sys::LLMHandle);
// SAFETY: an LLMHandle is an opaque pointer the runtime accepts from any thread; what
// matters is which calls may overlap, which the gate controls.
unsafe impl Send for RawHandle {}
// SAFETY: as above; shared access only copies the pointer value.
unsafe impl Sync for RawHandle {}

/// The id of one run (never 0).
pub(crate) type RunId = u64;

#[derive(Debug, Default)]
struct RunSlot {
    /// The run in progress, 0 when none.
    id: RunId,
    aborted: bool,
}

/// State shared by [`Llm`](crate::Llm), [`AbortHandle`]s and runs.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) rt: Runtime,
    pub(crate) gate: Arc<RunGate>,
    /// NULL once destroyed. Read-locked by abort/is_running, write-locked by destroy.
    handle: RwLock<RawHandle>,
    runs: Mutex<RunSlot>,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(rt: Runtime, handle: sys::LLMHandle) -> Shared {
        Shared {
            rt,
            gate: Arc::new(RunGate::default()),
            handle: RwLock::new(RawHandle(handle)),
            runs: Mutex::new(RunSlot::default()),
            next_id: AtomicU64::new(1),
        }
    }

    /// The live handle. Only `destroy` nulls it, after every run has ended.
    pub(crate) fn handle(&self) -> sys::LLMHandle {
        self.handle.read().unwrap_or_else(|e| e.into_inner()).0
    }

    pub(crate) fn api(&self) -> &sys::Api {
        self.rt.api()
    }

    /// Registers the run about to start (the caller holds the gate).
    pub(crate) fn begin_run(&self) -> RunId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        *lock(&self.runs) = RunSlot { id, aborted: false };
        id
    }

    /// The run returned; whether it was aborted.
    pub(crate) fn end_run(&self, id: RunId) -> bool {
        let mut slot = lock(&self.runs);
        if slot.id == id {
            let aborted = slot.aborted;
            *slot = RunSlot::default();
            aborted
        } else {
            false
        }
    }

    /// Aborts run `id` (or whichever is in progress, for `None`) if it still runs. From the
    /// thread serving this model's callback the abort is completed by a helper thread: the
    /// runtime waits for that callback, so a blocking `rkllm_abort` there could deadlock.
    pub(crate) fn abort(self: &Arc<Self>, id: Option<RunId>) -> Result<()> {
        if self.gate.is_serving() {
            let shared = self.clone();
            let t = std::thread::spawn(move || {
                let _ = shared.abort_now(id);
            });
            PENDING_ABORTS.with(|p| p.borrow_mut().push(t));
            return Ok(());
        }
        self.abort_now(id)
    }

    fn abort_now(&self, id: Option<RunId>) -> Result<()> {
        let h = self.handle.read().unwrap_or_else(|e| e.into_inner());
        if h.0.is_null() {
            return Err(Error::Destroyed);
        }
        let mut slot = lock(&self.runs);
        if slot.id == 0 || id.is_some_and(|id| id != slot.id) {
            return Ok(()); // that run is over: never touch the next one
        }
        slot.aborted = true;
        // SAFETY: the handle is live while the read lock is held (destroy needs the write
        // lock); rkllm_abort is meant to be called while a run is in progress, which the
        // slot says it is. The slot lock keeps the next run from starting meanwhile.
        let rc = unsafe { (self.api().rkllm_abort)(h.0) };
        if rc != 0 {
            return Err(Error::CallFailed {
                function: "rkllm_abort",
                code: rc,
            });
        }
        Ok(())
    }

    pub(crate) fn is_running(&self) -> Result<bool> {
        let h = self.handle.read().unwrap_or_else(|e| e.into_inner());
        if h.0.is_null() {
            return Err(Error::Destroyed);
        }
        // SAFETY: as in `abort_now`; is_running is a query the runtime allows during runs.
        let rc = unsafe { (self.api().rkllm_is_running)(h.0) };
        Ok(rc > 0)
    }

    /// Destroys the handle. The caller holds the gate (no run in progress).
    pub(crate) fn destroy(&self) {
        let mut h = self.handle.write().unwrap_or_else(|e| e.into_inner());
        if !h.0.is_null() {
            // SAFETY: no run is in progress (the caller holds the gate after every run
            // returned) and abort/is_running are excluded by the write lock. Nulled so it is
            // never used again.
            let rc = unsafe { (self.api().rkllm_destroy)(h.0) };
            if rc != 0 {
                log::warn!("rkllm_destroy returned {rc}");
            }
            h.0 = std::ptr::null_mut();
        }
    }
}

/// Joins the aborts this thread deferred during a run callback.
pub(crate) fn join_pending_aborts() {
    for t in PENDING_ABORTS.with(|p| std::mem::take(&mut *p.borrow_mut())) {
        let _ = t.join();
    }
}

/// Aborts the run in progress on a model, from any thread. `Send + Sync + Clone`;
/// outliving the model is harmless ([`Error::Destroyed`]).
#[derive(Clone, Debug)]
pub struct AbortHandle {
    pub(crate) shared: Arc<Shared>,
}

impl AbortHandle {
    /// Asks the runtime to stop whichever run is in progress (nothing when idle). The real
    /// runtime has been measured taking about 1.3 s to stop.
    pub fn abort(&self) -> Result<()> {
        self.shared.abort(None)
    }
    /// Whether a run is in progress.
    pub fn is_running(&self) -> Result<bool> {
        self.shared.is_running()
    }
}
