//! The run gate: every operation on a handle except abort and is_running passes it, so
//! runs (and KV-cache, template, LoRA calls) on one handle never overlap.
//!
//! A run holds the gate from before `rkllm_run` until after it returned; an asynchronous
//! run's thread releases it. Waiting is on a condition variable, never a polling loop.
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere; the guarded data stays consistent
    // (plain flags and ids), so keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// Gates whose run callback this thread is serving: re-entering one would deadlock.
    /// Per gate, not per thread, so a callback may use *another* model.
    static SERVING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Serialises operations on one handle.
#[derive(Debug, Default)]
pub(crate) struct RunGate {
    busy: Mutex<bool>,
    cv: Condvar,
}

/// Holds the gate; dropping it opens the gate.
#[derive(Debug)]
pub(crate) struct GateGuard {
    gate: Arc<RunGate>,
}

impl RunGate {
    fn id(&self) -> usize {
        self as *const RunGate as usize
    }

    /// Waits for the gate. Refused (instead of a deadlock) on the thread serving this
    /// model's run callback.
    pub(crate) fn acquire(self: &Arc<Self>) -> Result<GateGuard> {
        if self.is_serving() {
            return Err(Error::InvalidArgument(
                "a run callback called back into the same model (would deadlock); use an \
                 AbortHandle or Control::Pause"
                    .into(),
            ));
        }
        let mut busy = lock(&self.busy);
        while *busy {
            busy = self.cv.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        Ok(GateGuard { gate: self.clone() })
    }

    /// Waits for the gate until `deadline`; `None` if it stayed closed.
    pub(crate) fn acquire_until(self: &Arc<Self>, deadline: Instant) -> Option<GateGuard> {
        let mut busy = lock(&self.busy);
        while *busy {
            let left = deadline.checked_duration_since(Instant::now())?;
            busy = self
                .cv
                .wait_timeout(busy, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *busy = true;
        Some(GateGuard { gate: self.clone() })
    }

    /// Whether this thread is serving this gate's run callback.
    pub(crate) fn is_serving(&self) -> bool {
        SERVING.with(|s| s.borrow().contains(&self.id()))
    }

    /// Marks this thread as serving the gate's callback until the marker drops.
    pub(crate) fn serving(&self) -> Serving {
        SERVING.with(|s| s.borrow_mut().push(self.id()));
        Serving(self.id())
    }
}

impl Drop for GateGuard {
    fn drop(&mut self) {
        *lock(&self.gate.busy) = false;
        self.gate.cv.notify_all();
    }
}

/// See [`RunGate::serving`].
pub(crate) struct Serving(usize);

impl Drop for Serving {
    fn drop(&mut self) {
        SERVING.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&g| g == self.0) {
                s.remove(i);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn serialises_and_refuses_reentry_per_gate() {
        let a = Arc::new(RunGate::default());
        let b = Arc::new(RunGate::default());
        let g = a.acquire().unwrap();
        assert!(a
            .acquire_until(Instant::now() + Duration::from_millis(20))
            .is_none());
        drop(g);
        assert!(a
            .acquire_until(Instant::now() + Duration::from_millis(20))
            .is_some());
        let _s = a.serving();
        assert!(a.acquire().is_err(), "same model from its own callback");
        assert!(b.acquire().is_ok(), "another model is fine");
    }
}
