//! The events of one generation on their way from the backend's thread to the consumer:
//! the sending end a backend writes to, the blocking iterator, and (feature `async`) the
//! `futures_core::Stream`.

use std::marker::PhantomData;

use crossbeam_channel::{Receiver, Sender};

#[cfg(feature = "async")]
pub use self::futures::AsyncEventStream;
use crate::backend_kind::BackendKind;
use crate::cancel::CancelHandle;
use crate::error::{Error, Result};
use crate::event::Event;

pub(crate) type Item = Result<Event>;

/// Where a backend delivers one generation's events: `Text`/`Reasoning`/tool events, then
/// exactly one `Done` or one error. (Public but unnameable outside the crate: it appears in
/// the sealed `Backend` trait.)
#[derive(Debug, Clone)]
pub enum EventSender {
    Blocking(Sender<Item>),
    #[cfg(feature = "async")]
    Async(futures_channel::mpsc::UnboundedSender<Item>),
}

impl EventSender {
    /// Sends an event or the final error; `false` when the consumer is gone (the
    /// generator should then stop).
    pub(crate) fn send(&self, item: Result<Event>) -> bool {
        match self {
            EventSender::Blocking(tx) => tx.send(item).is_ok(),
            #[cfg(feature = "async")]
            EventSender::Async(tx) => tx.unbounded_send(item).is_ok(),
        }
    }
}

fn is_last(item: &Item) -> bool {
    matches!(item, Ok(Event::Done(_)) | Err(_))
}

fn worker_gone(model: &(String, BackendKind)) -> Error {
    Error::model(&model.0, model.1, crate::error::ModelError::WorkerGone)
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
        let item = self
            .rx
            .recv()
            .unwrap_or_else(|_| Err(worker_gone(&self.model)));
        self.finished = is_last(&item);
        Some(item)
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
                if is_last(&item) {
                    break;
                }
            }
        }
    }
}

#[cfg(feature = "async")]
mod futures {
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_channel::mpsc::UnboundedReceiver;
    use futures_core::Stream;

    use super::{is_last, worker_gone, Item};
    use crate::backend_kind::BackendKind;
    use crate::cancel::CancelHandle;
    use crate::error::Result;
    use crate::event::Event;

    /// The events of one generation as a `Stream`; created by
    /// [`Generator::stream_async`](crate::Generator::stream_async). The backend runs on its
    /// own thread and wakes the task for each event; polling never blocks. Dropping it early
    /// cancels the generation and returns at once: the backend stops on its own thread (an
    /// NPU abort can take a second), and the generator's next generation waits its turn
    /// there.
    #[derive(Debug)]
    pub struct AsyncEventStream<'g> {
        rx: UnboundedReceiver<Item>,
        cancel: CancelHandle,
        model: (String, BackendKind),
        finished: bool,
        _gen: PhantomData<&'g mut ()>,
    }

    impl AsyncEventStream<'_> {
        pub(crate) fn new(
            rx: UnboundedReceiver<Item>,
            cancel: CancelHandle,
            model: (String, BackendKind),
        ) -> Self {
            AsyncEventStream {
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
    }

    impl Stream for AsyncEventStream<'_> {
        type Item = Result<Event>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let this = self.get_mut();
            if this.finished {
                return Poll::Ready(None);
            }
            let item = match Pin::new(&mut this.rx).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => Err(worker_gone(&this.model)),
            };
            this.finished = is_last(&item);
            Poll::Ready(Some(item))
        }
    }

    impl Drop for AsyncEventStream<'_> {
        fn drop(&mut self) {
            if !self.finished {
                self.cancel.cancel();
            }
        }
    }
}
