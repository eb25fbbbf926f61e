//! The adapter to edge-infer: the one file of this crate that uses its registry and
//! generation API, so that following that API (structured tool calls, issue 12) is a
//! change here and nowhere else.
//!
//! Each model runs on a thread of its own. The harness waits for an answer at most the
//! test's timeout; then it cancels the generation through edge-infer's [`CancelHandle`]
//! and waits [`CANCEL_GRACE`] for the backend to stop. A backend that ignores the
//! cancel is abandoned (its thread is left behind) and its remaining tests are failed,
//! so one hung model never stops the run.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use edge_infer::{
    CancelHandle, Completion, Generator, Message, ReasoningMode, Registry, Request, Sampling,
};

use crate::answer::{Answer, Attempt, Outcome, ToolCall};
use crate::error::{Error, Result};
use crate::memory;
use crate::suite;
use crate::target::{Prompt, Settings, Target, TargetInfo, TargetKind};

/// How long a backend has to stop after a cancel before it is abandoned.
pub const CANCEL_GRACE: Duration = Duration::from_secs(15);

/// The models a run can take: edge-infer's built-in registry or a registry file.
#[derive(Debug, Clone)]
pub struct Models {
    registry: Registry,
}

impl Models {
    /// edge-infer's built-in registry (its `default` profile is the default test model,
    /// fetched on first use).
    pub fn builtin() -> Models {
        Models {
            registry: Registry::builtin(),
        }
    }

    /// A registry file (`edge-infer.toml`).
    pub fn load(path: &Path) -> Result<Models> {
        Ok(Models {
            registry: Registry::load(path)?,
        })
    }

    /// A registry from TOML text (relative files are relative to the current directory).
    pub fn from_toml_str(text: &str) -> Result<Models> {
        Ok(Models {
            registry: Registry::from_toml_str(text)?,
        })
    }

    /// Every model, sorted by name.
    pub fn model_names(&self) -> Vec<String> {
        self.registry
            .models()
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// The profile used when none is named.
    pub fn default_profile(&self) -> Option<String> {
        self.registry.default_profile().map(String::from)
    }

    /// Whether `name` is a model of the registry.
    pub fn has_model(&self, name: &str) -> bool {
        self.registry.model(name).is_some()
    }

    /// Opens one model.
    pub fn open_model(&self, name: &str) -> Result<GeneratorTarget> {
        if !self.has_model(name) {
            return Err(Error::Open {
                name: name.into(),
                message: format!(
                    "no such model in the registry (models: {})",
                    self.model_names().join(", ")
                ),
            });
        }
        memory::reset_peak_rss(None);
        let start = Instant::now();
        let generator = self.registry.open_model(name).map_err(|e| Error::Open {
            name: name.into(),
            message: e.to_string(),
        })?;
        Ok(GeneratorTarget::start(generator, start.elapsed(), None))
    }

    /// Opens the first model of a profile that works, as edge-infer's router does.
    pub fn open_profile(&self, profile: &str) -> Result<GeneratorTarget> {
        memory::reset_peak_rss(None);
        let start = Instant::now();
        let routed = self.registry.open_profile(profile)?;
        let note = routed.report.to_string().replace('\n', "; ");
        Ok(GeneratorTarget::start(
            routed.generator,
            start.elapsed(),
            Some(note),
        ))
    }
}

type Reply = (edge_infer::Result<Completion>, Duration);

/// A model opened through edge-infer, run on its own thread.
pub struct GeneratorTarget {
    info: TargetInfo,
    cancel: CancelHandle,
    jobs: Option<Sender<Request>>,
    replies: Receiver<Reply>,
    worker: Option<JoinHandle<()>>,
    abandoned: bool,
}

impl std::fmt::Debug for GeneratorTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorTarget")
            .field("info", &self.info)
            .field("abandoned", &self.abandoned)
            .finish_non_exhaustive()
    }
}

impl GeneratorTarget {
    fn start(mut generator: Box<dyn Generator>, load: Duration, note: Option<String>) -> Self {
        let model = generator.info();
        let info = TargetInfo {
            name: model.name.clone(),
            backend: model.backend.to_string(),
            kind: TargetKind::Generator,
            endpoint: None,
            size_bytes: std::fs::metadata(&model.path).ok().map(|m| m.len()),
            size_label: None,
            load_seconds: Some(load.as_secs_f64()),
            note,
        };
        let cancel = generator.cancel_handle();
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Request>();
        let (reply_tx, replies) = crossbeam_channel::unbounded::<Reply>();
        let worker = std::thread::Builder::new()
            .name(format!("edge-eval {}", info.name))
            .spawn(move || {
                for request in job_rx {
                    // Each test starts from an empty KV cache, so no test reuses another's.
                    let reset = generator.reset();
                    let start = Instant::now();
                    let result = match reset {
                        Ok(()) => generator.generate(&request),
                        Err(e) => Err(e),
                    };
                    if reply_tx.send((result, start.elapsed())).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning a thread");
        GeneratorTarget {
            info,
            cancel,
            jobs: Some(jobs),
            replies,
            worker: Some(worker),
            abandoned: false,
        }
    }
}

/// The request of one test: the user message alone, fixed sampling, the budget, the
/// reasoning kept apart from the answer, and the tools when the test offers them.
fn request_of(prompt: Prompt<'_>, settings: &Settings) -> Result<Request, String> {
    let request = Request::new(vec![Message::user(prompt.text)])
        .sampling(
            Sampling::default()
                .temperature(settings.temperature)
                .seed(settings.seed),
        )
        .max_tokens(prompt.max_tokens)
        .reasoning(ReasoningMode::Separate);
    if prompt.tools {
        request
            .tools_json(&suite::tools_json().to_string())
            .map_err(|e| e.to_string())
    } else {
        Ok(request)
    }
}

fn answer_of(c: &Completion) -> Answer {
    Answer {
        text: c.text.clone(),
        reasoning: c.reasoning.clone(),
        tool_calls: c
            .tool_calls
            .iter()
            .map(|t| ToolCall {
                id: t.id.clone(),
                name: t.name.clone(),
                arguments: t.arguments.clone(),
            })
            .collect(),
        tool_calls_supported: true,
    }
}

fn attempt_of(reply: edge_infer::Result<Completion>, wall: Duration, outcome: Outcome) -> Attempt {
    match reply {
        Ok(c) => {
            let n = c.stats.generated_tokens;
            Attempt {
                answer: answer_of(&c),
                outcome,
                wall,
                ttft: (n > 0).then_some(c.stats.time_to_first_token),
                generated_tokens: Some(n),
                decode_tps: (n > 1).then(|| c.stats.decode_tokens_per_second()),
            }
        }
        // A backend that cannot serve tools for this model (a GGUF without a chat template,
        // an NPU model without one in the registry) makes a tool test unsupported, not an
        // error of the model: the reason becomes the answer's text.
        Err(edge_infer::Error::Model { cause, .. })
            if matches!(*cause, edge_infer::ModelError::Unsupported(_)) =>
        {
            Attempt {
                answer: Answer {
                    text: cause.to_string(),
                    tool_calls_supported: false,
                    ..Answer::default()
                },
                outcome,
                wall,
                ttft: None,
                generated_tokens: None,
                decode_tps: None,
            }
        }
        Err(e) if outcome == Outcome::TimedOut => Attempt {
            outcome,
            ..Attempt::failed(e.to_string(), wall)
        },
        Err(e) => Attempt::failed(e.to_string(), wall),
    }
}

impl Target for GeneratorTarget {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    fn run(&mut self, prompt: Prompt<'_>, settings: &Settings) -> Attempt {
        if self.abandoned {
            return Attempt::failed(
                format!(
                    "not run: this model did not stop within {} s of the cancel after an \
                     earlier timeout, and was abandoned",
                    CANCEL_GRACE.as_secs()
                ),
                Duration::ZERO,
            );
        }
        let request = match request_of(prompt, settings) {
            Ok(r) => r,
            Err(e) => return Attempt::failed(e, Duration::ZERO),
        };
        let sent = Instant::now();
        let jobs = self.jobs.as_ref().expect("jobs open until drop");
        if jobs.send(request).is_err() {
            return Attempt::failed("the model's thread is gone", Duration::ZERO);
        }
        match self.replies.recv_timeout(settings.timeout) {
            Ok((reply, wall)) => return attempt_of(reply, wall, Outcome::Completed),
            Err(RecvTimeoutError::Disconnected) => {
                return Attempt::failed("the model's thread is gone", sent.elapsed())
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        // Cancel until the backend stops: a cancel that lands before the generation has
        // started is reset by it, so one is not enough.
        let deadline = Instant::now() + CANCEL_GRACE;
        while Instant::now() < deadline {
            self.cancel.cancel();
            if let Ok((reply, _)) = self.replies.recv_timeout(Duration::from_millis(200)) {
                return attempt_of(reply, sent.elapsed(), Outcome::TimedOut);
            }
        }
        // Its remaining tests fail with a message that says why.
        self.abandoned = true;
        Attempt {
            outcome: Outcome::TimedOut,
            ..Attempt::failed("", sent.elapsed())
        }
    }

    fn peak_rss_bytes(&self) -> Option<u64> {
        memory::peak_rss_bytes(None)
    }

    fn usable(&self) -> bool {
        !self.abandoned
    }
}

impl Drop for GeneratorTarget {
    fn drop(&mut self) {
        // Closing the job queue ends the thread, which drops the generator there.
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            if !self.abandoned {
                let _ = worker.join();
            }
        }
    }
}
