use std::path::PathBuf;

/// What can go wrong in this crate. Messages name the problem and, where there is one,
/// the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model path does not exist.
    #[error("model file {0} does not exist")]
    NotFound(PathBuf),
    /// The model path is a directory, socket or similar.
    #[error("model path {0} is not a regular file")]
    NotAFile(PathBuf),
    /// The model file is empty (a common download accident).
    #[error("model file {0} is empty (0 bytes); download it again")]
    Empty(PathBuf),
    /// The file is a Git LFS pointer: the repository was cloned without `git lfs`.
    #[error(
        "{0} is a Git LFS pointer file, not the model: fetch the real file (`git lfs pull` \
         in its repository, or download it again)"
    )]
    LfsPointer(PathBuf),
    /// The file does not start with its format's magic bytes.
    #[error("{path} is not a {format} file (it starts with {found:02x?}, not {expected:?})")]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// The expected format, e.g. `GGUF`.
        format: &'static str,
        /// The magic that was expected, as text.
        expected: &'static str,
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// An I/O error while inspecting a file.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A CPU list such as `0-3,6` that does not parse.
    #[error("`{list}` is not a CPU list ({reason}); write it like 0-3,6")]
    CpuList {
        /// The list as given.
        list: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel refused to pin the thread.
    #[error("cannot pin the thread to CPUs {cpus:?}: {source}")]
    Pin {
        /// The CPUs asked for.
        cpus: Vec<usize>,
        /// What the kernel said.
        source: std::io::Error,
    },
}

/// Shorthand for `Result<T, edge_infer_base::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
