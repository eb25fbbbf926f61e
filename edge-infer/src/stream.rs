//! The event stream as a `futures_core::Stream` (feature `async`).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::error::Result;
use crate::generator::{CancelHandle, Event, EventStream};

/// Where the backend's thread finds the task to wake.
#[derive(Debug, Default)]
pub(crate) struct WakerSlot(Mutex<Option<Waker>>);

impl WakerSlot {
    pub(crate) fn wake(&self) {
        let w = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = w {
            w.wake();
        }
    }

    fn register(&self, w: &Waker) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(old) if old.will_wake(w) => {}
            _ => *slot = Some(w.clone()),
        }
    }
}

/// The events of one generation as a `Stream`; created by
/// [`Generator::stream_async`](crate::Generator::stream_async). The backend runs on its
/// own thread and wakes the task for each event; polling never blocks. Dropping it early
/// cancels the generation (and waits, briefly, for the backend to stop).
#[derive(Debug)]
pub struct AsyncEventStream<'g> {
    inner: EventStream<'g>,
    slot: std::sync::Arc<WakerSlot>,
}

impl<'g> AsyncEventStream<'g> {
    pub(crate) fn new(inner: EventStream<'g>, slot: std::sync::Arc<WakerSlot>) -> Self {
        AsyncEventStream { inner, slot }
    }

    /// A handle that cancels this generation.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.inner.cancel_handle()
    }
}

impl futures_core::Stream for AsyncEventStream<'_> {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(item) = this.inner.try_next_item() {
            return Poll::Ready(item);
        }
        this.slot.register(cx.waker());
        // An event may have arrived between the first check and the registration.
        match this.inner.try_next_item() {
            Some(item) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }
}
