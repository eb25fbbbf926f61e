//! The events of one generation on their way from the backend's thread to the consumer:
//! the sending end a backend writes to, the blocking iterator, and (feature `async`) the
//! `futures_core::Stream`.

use std::marker::PhantomData;
#[cfg(feature = "async")]
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

#[cfg(feature = "async")]
pub use self::futures::AsyncEventStream;
#[cfg(feature = "async")]
pub(crate) use self::futures::WakerSlot;
use crate::backend_kind::BackendKind;
use crate::cancel::CancelHandle;
use crate::error::{Error, Result};
use crate::event::Event;

pub(crate) type Item = Result<Event>;

/// Where a generator delivers its events. Created by the [`Generator`] provided methods;
/// a generator sends `Text`/`Reasoning` events, then exactly one `Done` or one error.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: Sender<Item>,
    #[cfg(feature = "async")]
    waker: Option<Arc<WakerSlot>>,
}

impl EventSender {
    pub(crate) fn new(tx: Sender<Item>) -> Self {
        EventSender {
            tx,
            #[cfg(feature = "async")]
            waker: None,
        }
    }

    /// A sender that also wakes the async consumer's task.
    #[cfg(feature = "async")]
    pub(crate) fn with_waker(tx: Sender<Item>, slot: Arc<WakerSlot>) -> Self {
        EventSender {
            tx,
            waker: Some(slot),
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
    /// A stream of the events that `rx` receives from a generation of `model`.
    pub(crate) fn new(
        rx: Receiver<Item>,
        cancel: CancelHandle,
        model: (String, BackendKind),
    ) -> Self {
        EventStream {
            rx,
            cancel,
            model,
            finished: false,
            _gen: PhantomData,
        }
    }

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

#[cfg(feature = "async")]
mod futures {
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    use super::EventStream;
    use crate::cancel::CancelHandle;
    use crate::error::Result;
    use crate::event::Event;

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
}
