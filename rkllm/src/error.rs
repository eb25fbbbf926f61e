//! The crate's error type.
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, each naming the problem and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- runtime library
    /// The runtime library could not be reached.
    #[error(transparent)]
    RuntimeLoad(#[from] edge_infer_rkllm_sys::LoadError),
    /// The runtime library file could not be read for its version check.
    #[error("cannot read the RKLLM runtime {path:?} to check its version: {source}")]
    RuntimeUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The runtime's embedded version belongs to another ABI generation.
    #[error(
        "the RKLLM runtime {path:?} is version {found} ({text:?}) but this build of rkllm targets \
         the {expected} ABI: install a matching librkllmrt, or rebuild with{hint}"
    )]
    RuntimeVersionMismatch {
        path: PathBuf,
        found: edge_infer_rkllm_sys::RuntimeVersion,
        text: String,
        expected: edge_infer_rkllm_sys::AbiGeneration,
        hint: &'static str,
    },
    /// No version string could be found in the runtime file.
    #[error(
        "no RKLLM version string found in {path:?}; if you are sure it is a {expected} runtime, \
         use VersionCheck::AllowUnknown"
    )]
    RuntimeVersionUnknown {
        path: PathBuf,
        expected: edge_infer_rkllm_sys::AbiGeneration,
    },
    /// The runtime's file could not be determined (needed for the version check).
    #[error("cannot determine which file the RKLLM runtime was loaded from; use VersionCheck::Skip to bypass")]
    RuntimePathUnknown,

    // ---- model file
    /// The model file does not exist.
    #[error("model file {0:?} does not exist")]
    ModelNotFound(PathBuf),
    /// The model path is a directory.
    #[error("model path {0:?} is a directory, not a .rkllm file")]
    ModelIsDirectory(PathBuf),
    /// The model file is empty (an interrupted download?).
    #[error("model file {0:?} is empty (0 bytes): re-download or re-convert it")]
    ModelEmpty(PathBuf),
    /// The model file cannot be read.
    #[error("model file {path:?} is not readable: {source}")]
    ModelUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The model file is a Git LFS pointer, not the model.
    #[error("model file {0:?} is a Git LFS pointer, not the model: run `git lfs pull` (or download the file itself)")]
    ModelIsLfsPointer(PathBuf),

    // ---- parameters
    /// `max_context_len` outside 1..=16384.
    #[error("max_context_len {0} is out of range: it must be between 1 and 16384 (and at most the model's conversion limit)")]
    InvalidContextLen(i32),
    /// The CPU mask is empty.
    #[error(
        "CPU mask is empty: name at least one CPU (RK3588's fast A76 cores are 4-7, mask 0xF0)"
    )]
    EmptyCpuMask,
    /// The CPU count differs from the number of bits in the mask.
    #[error("CPU count {count} does not match CPU mask {mask:#x}, which names {bits} CPUs")]
    CpuCountMismatch { mask: u32, count: i32, bits: u32 },
    /// The mask names CPUs that are offline or absent.
    #[error("CPU mask {mask:#x} names CPUs {offline:?} that are not online (online: {online:?}, from {path:?})")]
    CpusOffline {
        mask: u32,
        offline: Vec<u32>,
        online: String,
        path: PathBuf,
    },
    /// The online-CPU list could not be read or parsed.
    #[error("cannot read the online CPU list {path:?}: {reason}")]
    CpuListUnreadable { path: PathBuf, reason: String },
    /// No NPU device node exists.
    #[error(
        "no NPU device node found (looked for {searched:?}): is the rknpu driver loaded? \
         (set RKLLM_SKIP_NPU_CHECK=1 or HostChecks::npu(Check::Skip) to bypass)"
    )]
    NoNpuDevice { searched: Vec<PathBuf> },
    /// An NPU device node exists but cannot be opened.
    #[error("NPU device {path:?} is not accessible: {source} (add the user to the `render`/`video` group?)")]
    NpuDeviceInaccessible {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A string argument contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    InteriorNul { what: &'static str },
    /// An argument is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The feature does not exist in the ABI generation this crate was built for.
    #[error("{what} needs the RKLLM 1.3 ABI; this build targets {abi} (feature `abi-1-2`)")]
    NotInAbi {
        what: &'static str,
        abi: edge_infer_rkllm_sys::AbiGeneration,
    },

    // ---- init / calls
    /// `rkllm_init` failed.
    #[error(
        "rkllm_init failed with code {code} for {model:?} (see the runtime's log; common causes: \
         max_context_len above the model's conversion limit, a model converted for another \
         platform or toolkit version)"
    )]
    InitFailed { code: i32, model: PathBuf },
    /// `rkllm_init` reported success but returned no handle.
    #[error("rkllm_init reported success for {0:?} but returned a NULL handle (a runtime bug seen with bad model files)")]
    NullHandle(PathBuf),
    /// A runtime function returned an error code.
    #[error("{function} failed with code {code}")]
    CallFailed { function: &'static str, code: i32 },
    /// An asynchronous run sent nothing within the time given (see
    /// [`AsyncRun::next_timeout`](crate::AsyncRun::next_timeout)).
    #[error("the RKLLM runtime sent no event within {0:?}; the run may be stuck (abort it, or wait longer)")]
    Timeout(std::time::Duration),
    /// The handle was destroyed (e.g. an AbortHandle used after the model was dropped).
    #[error("the RKLLM model handle has been destroyed")]
    Destroyed,

    // ---- runs
    /// The prompt does not fit in the context window.
    #[error("prompt has {tokens} tokens, which does not fit max_context_len {max_context_len}: shorten it")]
    PromptTooLong { tokens: usize, max_context_len: i32 },
    /// The run reported an error.
    #[error("the RKLLM run failed (code {code}; state ERROR: {error_state})")]
    RunFailed { code: i32, error_state: bool },
    /// The user callback panicked; the run was stopped.
    #[error("the run callback panicked: {0}")]
    CallbackPanicked(String),
    /// Function-tools JSON is not valid.
    #[error("function tools must be a JSON array of tool objects: {0}")]
    InvalidToolsJson(String),
    /// Tokenizer problem.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}
