//! Stopping a generation from any thread.
//!
//! Every generation has its own flag. A stream's handle cancels that generation only, so
//! a stream that is dropped without waiting (the async one) can never cancel the
//! generation after it. The backend is interrupted mid-step only while the cancelled
//! generation is the one running, under the lock its start takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Stops a generation from any thread; works the same on every backend. `Send + Sync`,
/// cheap to clone.
///
/// A stream's handle ([`EventStream::cancel_handle`](crate::EventStream::cancel_handle))
/// stops that stream's generation, also before it has started. A generator's handle
/// ([`Generator::cancel_handle`](crate::Generator::cancel_handle)) stops the generation it
/// was last asked for, if that is still queued or running. Each generation starts
/// uncancelled.
#[derive(Clone)]
pub struct CancelHandle {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Run(Arc<Run>),
    Latest(Arc<Runs>),
}

/// One generation's flag.
struct Run {
    flag: AtomicBool,
    id: u64,
    runs: Arc<Runs>,
}

/// A backend's generations: which one is running, which was submitted last, and how to
/// interrupt the backend mid-step.
pub(crate) struct Runs {
    state: Mutex<RunState>,
    interrupt: Box<dyn Fn() + Send + Sync>,
}

#[derive(Default)]
struct RunState {
    next_id: u64,
    /// The generation running on the backend's thread, 0 when none.
    active: u64,
    latest: Weak<Run>,
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Runs {
    /// The generations of a backend that `interrupt` stops mid-step.
    pub(crate) fn new(interrupt: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Runs {
            state: Mutex::new(RunState::default()),
            interrupt: Box::new(interrupt),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new generation's handle; the generator's handle now points at it.
    pub(crate) fn start(self: &Arc<Self>) -> CancelHandle {
        let mut st = self.lock();
        st.next_id += 1;
        let run = Arc::new(Run {
            flag: AtomicBool::new(false),
            id: st.next_id,
            runs: self.clone(),
        });
        st.latest = Arc::downgrade(&run);
        CancelHandle {
            target: Target::Run(run),
        }
    }

    /// The generator's handle: it cancels the latest generation.
    pub(crate) fn latest(self: &Arc<Self>) -> CancelHandle {
        CancelHandle {
            target: Target::Latest(self.clone()),
        }
    }
}

impl Run {
    fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        let st = self.runs.lock();
        if st.active == self.id {
            (self.runs.interrupt)();
        }
    }
}

/// The backend's thread runs this generation until the guard drops.
pub(crate) struct Active<'a>(Option<&'a Run>);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if let Some(run) = self.0 {
            let mut st = run.runs.lock();
            if st.active == run.id {
                st.active = 0;
            }
        }
    }
}

impl CancelHandle {
    /// A handle that no backend watches: a flag for code of your own that polls
    /// [`is_cancelled`](Self::is_cancelled).
    pub fn new() -> Self {
        Runs::new(|| {}).start()
    }

    /// Requests that the generation stop.
    pub fn cancel(&self) {
        match &self.target {
            Target::Run(run) => run.cancel(),
            Target::Latest(runs) => {
                let latest = runs.lock().latest.upgrade();
                if let Some(run) = latest {
                    run.cancel();
                }
            }
        }
    }

    /// Whether a cancel is pending.
    pub fn is_cancelled(&self) -> bool {
        match &self.target {
            Target::Run(run) => run.flag.load(Ordering::Acquire),
            Target::Latest(runs) => runs
                .lock()
                .latest
                .upgrade()
                .is_some_and(|r| r.flag.load(Ordering::Acquire)),
        }
    }

    /// Marks this generation as the one the backend's thread runs, until the guard drops;
    /// only then does a cancel interrupt the backend.
    pub(crate) fn activate(&self) -> Active<'_> {
        match &self.target {
            Target::Run(run) => {
                run.runs.lock().active = run.id;
                Active(Some(run))
            }
            Target::Latest(_) => Active(None),
        }
    }
}

impl Default for CancelHandle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting() -> (Arc<Runs>, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        let runs = Runs::new(move || {
            m.fetch_add(1, Ordering::SeqCst);
        });
        (runs, n)
    }

    #[test]
    fn a_cancel_interrupts_only_the_generation_it_names_while_that_one_runs() {
        let (runs, interrupts) = counting();
        let first = runs.start();
        let second = runs.start();
        // The first is still running when its (dropped) stream cancels it.
        let active = first.activate();
        first.cancel();
        assert_eq!(interrupts.load(Ordering::SeqCst), 1);
        assert!(first.is_cancelled() && !second.is_cancelled());
        drop(active);
        // Finished: cancelling it again cannot interrupt the second.
        let active = second.activate();
        first.cancel();
        assert_eq!(interrupts.load(Ordering::SeqCst), 1);
        assert!(!second.is_cancelled());
        second.cancel();
        assert_eq!(interrupts.load(Ordering::SeqCst), 2);
        drop(active);
    }

    #[test]
    fn the_generators_handle_cancels_the_latest_generation() {
        let (runs, interrupts) = counting();
        let g = runs.latest();
        g.cancel(); // nothing submitted: a no-op
        assert!(!g.is_cancelled());
        let first = runs.start();
        let second = runs.start();
        g.cancel();
        assert!(g.is_cancelled() && second.is_cancelled() && !first.is_cancelled());
        // Queued, not running: no interrupt.
        assert_eq!(interrupts.load(Ordering::SeqCst), 0);
        drop(second);
        assert!(!g.is_cancelled(), "the latest generation is gone");
    }
}
