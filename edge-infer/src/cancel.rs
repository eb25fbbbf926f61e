//! Stopping a generation from any thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
