//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

use crate::backend_kind::BackendKind;

/// Shorthand for `Result<T, edge_infer::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong. Messages name the model, profile or file concerned and,
/// where there is one, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A registry file could not be read.
    #[error("cannot read the model registry {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A registry is not valid TOML or does not match the schema (missing field, wrong
    /// type, unknown field): serde's message, with the line and column.
    #[error("invalid model registry{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Config {
        /// The file, when the registry came from one.
        path: Option<PathBuf>,
        /// What is wrong, and where.
        message: String,
    },
    /// No profile has this name.
    #[error("unknown profile `{profile}`; the registry has {}", list(known))]
    UnknownProfile {
        /// The name asked for.
        profile: String,
        /// The profiles that exist.
        known: Vec<String>,
    },
    /// The profile lists no models.
    #[error("profile `{profile}` lists no models; add at least one model name to it")]
    EmptyProfile {
        /// The profile.
        profile: String,
    },
    /// No model has this name.
    #[error("unknown model `{model}`; the registry has {}", list(known))]
    UnknownModel {
        /// The name asked for.
        model: String,
        /// The models that exist.
        known: Vec<String>,
    },
    /// Every model of a profile failed to open; one cause per model, in profile order.
    #[error("no model of profile `{profile}` could be opened:{}", failures.iter().map(|f| format!("\n  - {f}")).collect::<String>())]
    AllModelsFailed {
        /// The profile.
        profile: String,
        /// Why each model was skipped.
        failures: Vec<Skipped>,
    },
    /// A model could not be opened or failed while generating.
    #[error("model `{model}` ({backend}): {cause}")]
    Model {
        /// The model's registry name.
        model: String,
        /// Its backend.
        backend: BackendKind,
        /// What happened (boxed: keeps `Result<_, Error>` small on the hot path).
        cause: Box<ModelError>,
    },
    /// The tools JSON does not parse or is not an array of tool objects.
    #[error("invalid tools JSON: {0}")]
    InvalidTools(String),
    /// A request that no backend can serve (no messages, last message not from the user, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The conversation does not fit the context window and the policy is
    /// [`ContextPolicy::Error`](crate::ContextPolicy::Error) (or nothing is left to drop).
    #[error(
        "model `{model}`: the conversation needs about {needed} tokens (prompt plus reply \
         budget) but the context holds {n_ctx}; start a new conversation, lower max_tokens, \
         or use ContextPolicy::DropOldest"
    )]
    ContextFull {
        /// The model.
        model: String,
        /// Tokens the prompt and the reply budget need.
        needed: usize,
        /// The context window.
        n_ctx: usize,
    },
}

/// Why a model could not be opened or run: the backend's own error, or a cause found by
/// edge-infer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model file does not exist.
    #[error("model file {0} does not exist")]
    FileMissing(PathBuf),
    /// `file = "default"`, but the default model is neither named by `EDGE_INFER_MODEL`
    /// nor in the cache directory; the message says how to get it.
    #[error("{0}")]
    DefaultModel(String),
    /// No RKLLM runtime library could be loaded (no NPU software stack on this machine).
    #[error("NPU runtime unavailable: {0}")]
    NpuRuntimeUnavailable(#[source] edge_infer_rkllm::Error),
    /// The CPU placement could not be applied.
    #[error("cannot pin the generation thread to cores {cores:?}: {source}")]
    Affinity {
        /// The core list.
        cores: Vec<usize>,
        /// The OS error.
        source: std::io::Error,
    },
    /// The request asks for something this backend cannot do.
    #[error("this backend does not support {0}")]
    Unsupported(&'static str),
    /// A setting in the registry is not valid for this model.
    #[error("invalid setting: {0}")]
    Setting(String),
    /// llama.cpp failed.
    #[error(transparent)]
    Llama(#[from] edge_infer_llama::Error),
    /// The RKLLM runtime failed.
    #[error(transparent)]
    Rkllm(#[from] edge_infer_rkllm::Error),
    /// The backend's worker thread ended unexpectedly (it panicked).
    #[error("the backend's worker thread stopped unexpectedly")]
    WorkerGone,
}

/// A model the router skipped, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The model's registry name.
    pub model: String,
    /// Its backend.
    pub backend: BackendKind,
    /// The cause.
    pub cause: ModelError,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}): {}", self.model, self.backend, self.cause)
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Error {
    pub(crate) fn model(model: &str, backend: BackendKind, cause: impl Into<ModelError>) -> Self {
        Error::Model {
            model: model.to_string(),
            backend,
            cause: Box::new(cause.into()),
        }
    }
}
