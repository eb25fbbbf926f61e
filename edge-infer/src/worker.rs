//! The thread each backend runs its model on: both backends own their runtime state on
//! one thread and take jobs from the generator over a channel.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use std::sync::Arc;

use crate::cancel::{CancelHandle, Runs};
use crate::error::{Error, ModelError, Result};
use crate::generator::ModelInfo;
use crate::request::Request;
use crate::stream::EventSender;

/// Work for a backend's thread.
pub(crate) enum Job {
    /// Stream a generation into the sender; the handle is that generation's.
    Generate(Box<Request>, EventSender, CancelHandle),
    /// Forget the conversation; report when done.
    Reset(Sender<Result<()>>),
}

/// A backend's thread and the channel to it. Dropping it cancels a running generation,
/// closes the channel and joins the thread, so the runtime is freed before the
/// generator is gone.
pub(crate) struct Worker {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    runs: Arc<Runs>,
}

impl Worker {
    /// Starts `run` on a named thread with the receiving end of the job channel.
    pub(crate) fn spawn(
        name: String,
        runs: Arc<Runs>,
        run: impl FnOnce(Receiver<Job>) + Send + 'static,
    ) -> std::result::Result<Self, ModelError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(rx))
            .map_err(|e| ModelError::Setting(format!("cannot start the worker thread: {e}")))?;
        Ok(Worker {
            jobs: Some(tx),
            thread: Some(thread),
            runs,
        })
    }

    /// The generator's handle: it cancels the latest generation.
    pub(crate) fn cancel_handle(&self) -> CancelHandle {
        self.runs.latest()
    }

    fn send(&self, info: &ModelInfo, job: Job) -> Result<()> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| gone(info))
    }

    pub(crate) fn submit(
        &self,
        info: &ModelInfo,
        req: &Request,
        events: EventSender,
    ) -> Result<CancelHandle> {
        let run = self.runs.start();
        self.send(
            info,
            Job::Generate(Box::new(req.clone()), events, run.clone()),
        )?;
        Ok(run)
    }

    pub(crate) fn reset(&self, info: &ModelInfo) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(info, Job::Reset(tx))?;
        rx.recv().map_err(|_| gone(info))?
    }
}

fn gone(info: &ModelInfo) -> Error {
    Error::model(&info.name, info.backend, ModelError::WorkerGone)
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.runs.latest().cancel();
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
