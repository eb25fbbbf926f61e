//! The crate's error type.
use crate::model_file::FileReport;
use crate::version::Abi;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the runtime library could not be opened (missing file or dependency, not linked,
/// not an RKLLM runtime). Its [`source`](std::error::Error::source) has the loader's words.
#[derive(Debug)]
pub struct RuntimeLoadError(edge_infer_rkllm_sys::LoadError);

impl RuntimeLoadError {
    pub(crate) fn wrap(e: edge_infer_rkllm_sys::LoadError) -> Error {
        Error::RuntimeLoad(RuntimeLoadError(e))
    }
}

impl std::fmt::Display for RuntimeLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RuntimeLoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<FileReport> for Error {
    fn from(r: FileReport) -> Error {
        Error::ModelFile(Box::new(r))
    }
}

/// Everything that can go wrong, each naming the problem and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- runtime library
    /// The runtime library could not be opened.
    #[error(transparent)]
    RuntimeLoad(RuntimeLoadError),
    /// The runtime library file could not be read to identify it.
    #[error("cannot read the RKLLM runtime {path:?} to identify it: {source}")]
    RuntimeUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The runtime is a known release (or the test double) of the other ABI generation.
    #[error(
        "the RKLLM runtime {path:?} is {found} ({found_abi} ABI) but this build calls the \
         {expected} ABI: install a matching librkllmrt, or build with{}",
        if *found_abi == Abi::V1_2 { " feature `abi-1-2`" } else { "out feature `abi-1-2`" }
    )]
    RuntimeVersionMismatch {
        path: PathBuf,
        found: String,
        found_abi: Abi,
        expected: Abi,
    },
    /// The runtime is a known release this crate cannot drive, or a build for another platform.
    #[error(
        "the RKLLM runtime {path:?} is release {release}, which edge-infer-rkllm cannot use: {why}"
    )]
    RuntimeUnsupported {
        path: PathBuf,
        release: String,
        why: String,
    },
    /// The runtime file is not a release edge-infer knows and no ABI was stated for it.
    #[error(
        "the RKLLM runtime {path:?} (git blob id {blob_id}) is not a Rockchip release edge-infer \
         knows (a vendor or distribution rebuild?). State its ABI: set EDGE_INFER_RKLLM_ABI={} \
         (this build calls the {compiled} ABI; a 1.2.x runtime needs a build with feature \
         `abi-1-2`), or use LlmBuilder::runtime_abi / Runtime::load_stated",
        compiled.short()
    )]
    RuntimeUnknown {
        path: PathBuf,
        blob_id: String,
        compiled: Abi,
    },
    /// The stated ABI is not the one this build calls with.
    #[error(
        "the RKLLM runtime was stated to be {stated} but this build calls the {compiled} ABI: \
         build with{} or state the right one",
        if *stated == Abi::V1_2 { " feature `abi-1-2`" } else { "out feature `abi-1-2`" }
    )]
    AbiStatementMismatch { stated: Abi, compiled: Abi },
    /// `EDGE_INFER_RKLLM_ABI` holds something else than `1.2` or `1.3`.
    #[error("EDGE_INFER_RKLLM_ABI={value:?}: {reason}")]
    BadAbiStatement { value: String, reason: String },
    /// The runtime's file could not be determined (needed to identify it).
    #[error("cannot determine which file the RKLLM runtime was loaded from; load it by path")]
    RuntimePathUnknown,
    /// The runtime's own init log line names a version of another ABI than the one used.
    #[error(
        "the RKLLM runtime reported version {logged} at init, which is not the {expected} ABI \
         it was called with (its ABI was {how}): fix the ABI statement, or install the runtime \
         file you meant"
    )]
    RuntimeContradicted {
        logged: String,
        expected: Abi,
        how: &'static str,
    },
    /// The RKNPU driver is older than the runtime needs.
    #[error(
        "the RKNPU driver is {found} (from {from}) but a 1.3 runtime needs {required} or newer \
         (with an older one init succeeds and every run fails): update the board's kernel or \
         rknpu module, or use a 1.2.x runtime"
    )]
    NpuDriverTooOld {
        found: String,
        required: String,
        from: String,
    },

    // ---- model file
    /// The model file has problems (all of them are listed).
    #[error("{0}")]
    ModelFile(Box<FileReport>),

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
    #[error("{what} needs the RKLLM 1.3 ABI; this build calls {abi} (feature `abi-1-2`)")]
    NotInAbi { what: &'static str, abi: Abi },

    // ---- init / calls
    /// `rkllm_init` failed.
    #[error(
        "rkllm_init failed with code {code} for {model:?}{}",
        if log.is_empty() {
            " (see the runtime's log; common causes: max_context_len above the model's conversion \
             limit, a model converted for another platform or toolkit version)".to_string()
        } else {
            format!("; the runtime said: {}", log.join(" | "))
        }
    )]
    InitFailed {
        code: i32,
        model: PathBuf,
        /// The runtime's error and warning lines, when they could be captured.
        log: Vec<String>,
    },
    /// `rkllm_init` reported success but returned no handle.
    #[error("rkllm_init reported success for {0:?} but returned a NULL handle (a runtime bug seen with bad model files)")]
    NullHandle(PathBuf),
    /// `rkllm_createDefaultParam` returned a value a C `bool` cannot hold: an ABI mismatch.
    #[error("rkllm_createDefaultParam returned {value} in the C bool `{field}`: the runtime is not of the {abi} ABI this build calls")]
    BadDefaultParam {
        field: &'static str,
        value: u8,
        abi: Abi,
    },
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

    // ---- inputs
    /// The prompt does not fit in the context window.
    #[error(
        "the prompt has {} {tokens} tokens and the KV cache holds {cached}, which does not fit \
         max_context_len {max_context_len}: shorten it, clear the history, or raise max_context_len{}",
        if *exact { "" } else { "up to" },
        if *exact { "" } else { " (counted as bytes: give LlmBuilder::tokenizer the model's tokenizer.json for an exact count)" }
    )]
    PromptTooLong {
        tokens: usize,
        cached: usize,
        max_context_len: i32,
        /// Whether `tokens` is an exact count (a tokenizer, or token/embedding inputs) or an
        /// upper bound (the prompt's bytes).
        exact: bool,
    },
    /// Embedding rows (or image embeddings) are not of the model's hidden size.
    #[error("{what} has {floats} floats, which is not {rows} rows of the model's hidden size {width} ({expected} floats)")]
    EmbeddingShape {
        what: &'static str,
        floats: usize,
        rows: usize,
        width: usize,
        expected: usize,
    },
    /// Embedding inputs need the model's hidden size, which is not known yet.
    #[error(
        "{what} needs the model's hidden size, which is not known: set LlmBuilder::hidden_size, \
         or run once in InferMode::LastHiddenLayer (the runtime reports it there)"
    )]
    HiddenSizeUnknown { what: &'static str },
    /// A token id is outside the vocabulary.
    #[error("token id {id} at position {index} is outside the vocabulary 0..{vocab_size}")]
    TokenOutOfRange {
        id: i32,
        index: usize,
        vocab_size: usize,
    },
    /// Token inputs need the vocabulary size, which is not known.
    #[error(
        "token inputs need the vocabulary size, which is not known: give LlmBuilder a tokenizer \
         or vocab_size, or run once in InferMode::Logits (or use the unsafe Input::tokens_unchecked)"
    )]
    VocabSizeUnknown,

    // ---- runs
    /// The run reported an error.
    #[error("the RKLLM run failed (code {code}; state ERROR: {error_state})")]
    RunFailed { code: i32, error_state: bool },
    /// `rkllm_run` returned without a final callback: the runtime refused the input
    /// silently (ABI.md: a bad input returns 0 and never calls back).
    #[error("the RKLLM runtime returned (code {code}) without running: it refused the input without saying why")]
    NotRun { code: i32 },
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
