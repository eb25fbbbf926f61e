//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong around a run (a test that fails is a verdict, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// edge-infer refused: a registry that does not load, an unknown profile or model.
    #[error("{0}")]
    EdgeInfer(Box<edge_infer::Error>),
    /// A model or profile could not be opened.
    #[error("cannot open `{name}`: {message}")]
    Open {
        /// The model or profile.
        name: String,
        /// Why.
        message: String,
    },
    /// An endpoint URL that is not `http://host[:port][/base]`.
    #[error("`{url}` is not an endpoint URL ({reason}); give e.g. http://127.0.0.1:8081 or http://127.0.0.1:11434/v1")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing to run.
    #[error("no target to run: {0}")]
    NoTargets(String),
    /// A results file that cannot be read back.
    #[error("{path} is not an edge-eval results file: {message}")]
    BadResults {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The plot could not be drawn.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A bad command-line value.
    #[error("{0}")]
    Usage(String),
}

impl From<edge_infer::Error> for Error {
    fn from(e: edge_infer::Error) -> Self {
        Error::EdgeInfer(Box::new(e))
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
