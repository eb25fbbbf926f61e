use std::path::PathBuf;

/// Everything that can go wrong in this crate. Messages name the problem and, where
/// there is one, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields are named for what the variant docs say
pub enum Error {
    /// The model path does not exist.
    #[error("model file {0} does not exist")]
    ModelNotFound(PathBuf),
    /// The model path is a directory, socket or similar.
    #[error("model path {0} is not a regular file")]
    NotAFile(PathBuf),
    /// The model file is empty (a common download accident).
    #[error("model file {0} is empty (0 bytes); download it again")]
    EmptyFile(PathBuf),
    /// The file is a Git LFS pointer (a clone without `git lfs`), not the model.
    #[error(
        "{0} is a Git LFS pointer file, not the model: fetch the real file (`git lfs pull` \
         in its repository, or download it again)"
    )]
    LfsPointer(PathBuf),
    /// The file does not start with the GGUF magic.
    #[error("{path} is not a GGUF model (it starts with {magic:02x?}, not \"GGUF\")")]
    NotGguf { path: PathBuf, magic: Vec<u8> },
    /// llama.cpp rejected the model file (truncated, unsupported architecture, ...).
    #[error("llama.cpp could not load {path}: {reason}")]
    ModelLoad { path: PathBuf, reason: String },
    /// The progress callback asked to stop loading.
    #[error("loading {0} was cancelled by the progress callback")]
    LoadCancelled(PathBuf),
    /// An I/O error while inspecting a file.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A parameter is out of range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// A string handed to llama.cpp contains a NUL byte, which C cannot represent.
    #[error("{what} contains a NUL byte at offset {offset}; C strings cannot carry it")]
    InteriorNul { what: &'static str, offset: usize },
    /// A ggml type that llama.cpp's CPU backend cannot keep a K or V cache in (it has no
    /// cache kernels for it: using it would abort in ggml).
    #[error(
        "`{name}` ({at}) is not a KV cache type llama.cpp supports; use one of f32, f16, bf16, \
         q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl"
    )]
    UnsupportedKvType {
        /// The type's name.
        name: String,
        /// Where it was given, e.g. `layer 3 V` or `the early layers 0..6`.
        at: String,
        /// The layer, when it was given for one layer.
        layer: Option<u32>,
    },
    /// llama.cpp refuses a quantized V cache without flash attention.
    #[error(
        "a quantized V cache ({type_v}) needs flash attention, but flash attention is forced \
         off; use FlashAttention::Auto or On, or a non-quantized V type (f16)"
    )]
    QuantizedVNeedsFlashAttention { type_v: String },
    /// llama.cpp could not create a context.
    #[error("llama.cpp could not create a context: {0}")]
    ContextCreate(String),
    /// The prompt does not fit the context window.
    #[error(
        "the prompt needs {needed} tokens but the context holds {n_ctx} ({used} already used); \
         shorten the prompt or raise n_ctx"
    )]
    PromptTooLong {
        needed: usize,
        used: usize,
        n_ctx: usize,
    },
    /// The prompt tokenized to nothing.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// Tokenization failed.
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    /// A token id outside the vocabulary.
    #[error("token {token} is outside the vocabulary (0..{n_vocab})")]
    InvalidToken { token: i32, n_vocab: i32 },
    /// Sampling failed inside llama.cpp, e.g. a grammar that allows no token here.
    #[error("sampling failed: {0}; if a grammar is set, check that some token can continue it")]
    Sampling(String),
    /// [`Sampler::accept`](crate::Sampler::accept) was given a token that the sampler's
    /// grammar does not allow at this point; nothing was accepted.
    #[error(
        "token {token} is not allowed by the sampler's grammar at this point (nothing was \
         accepted); accept only tokens the grammar allows, or build a sampler without one"
    )]
    GrammarRejects { token: i32 },
    /// `llama_decode` failed.
    #[error("llama_decode failed with code {code}: {reason}")]
    Decode { code: i32, reason: &'static str },
    /// A [`CancelHandle`](crate::CancelHandle) stopped an evaluation. The tokens of the
    /// batches that completed stay cached ([`Context::tokens`](crate::Context::tokens)
    /// lists them); nothing of the interrupted batch does.
    #[error("the evaluation was cancelled")]
    Cancelled,
    /// llama.cpp threw a C++ exception, which the shim caught. The process goes on; a
    /// [`Context`](crate::Context) it was thrown out of is poisoned ([`Error::Poisoned`]).
    #[error("llama.cpp threw an exception in {call}: {message}")]
    Exception { call: &'static str, message: String },
    /// The context is unusable: llama.cpp threw an exception out of it earlier (the
    /// cause), and its state is unknown since.
    #[error(
        "this context is unusable since llama.cpp threw out of it ({0}); create a new one \
         (the old one is leaked, not freed, because its state is unknown)"
    )]
    Poisoned(String),
    /// The model has no chat template and none was given.
    #[error("the model has no built-in chat template; pass one explicitly")]
    NoChatTemplate,
    /// llama.cpp does not recognise the chat template.
    #[error("llama.cpp does not support this chat template: {0}")]
    ChatTemplate(String),
    /// The chat template does not parse as Jinja, or raises when llama.cpp probes what it can
    /// render.
    #[error("the chat template cannot be used (it does not parse, or fails when probed): {0}")]
    TemplateParse(String),
    /// The chat template failed while rendering (it raised, or met a value it cannot use).
    #[error("the chat template failed to render this conversation: {0}")]
    TemplateRender(String),
    /// The tools are not an array of function tools.
    #[error("invalid tools: {0}")]
    InvalidTools(String),
    /// The conversation is not one a chat template can render.
    #[error("invalid messages: {0}")]
    InvalidMessages(String),
    /// A tool result answers no earlier tool call.
    #[error(
        "message {index} is the result of tool call `{id}`, but no earlier assistant message \
         made a call with that id"
    )]
    UnknownToolCallId { index: usize, id: String },
    /// `tool_choice` names a tool that was not given.
    #[error("tool_choice names `{name}`, which is not among the tools ({known:?})")]
    UnknownTool { name: String, known: Vec<String> },
    /// llama.cpp cannot turn the JSON schema into a grammar.
    #[error("the JSON schema cannot be turned into a grammar: {0}")]
    Schema(String),
    /// The reply does not match the chat format (see also `ChatOutcome::problems`).
    #[error("the reply does not parse: {0}")]
    ChatParse(String),
    /// A reasoning budget for a template that has no thinking.
    #[error(
        "a reasoning budget needs a template with thinking tags, and this one (format {format}) \
         has none; drop the budget"
    )]
    ReasoningUnsupported { format: String },
    /// A user callback panicked; the panic was caught at the FFI boundary.
    #[error("a callback panicked: {0}")]
    CallbackPanicked(String),
    /// A per-layer K/V type table whose length is not the model's layer count.
    #[error(
        "the per-layer KV type table has {got} entries but the model has {expected} layers; \
         give exactly one (K, V) entry per layer"
    )]
    KvLayerTableLength { expected: u32, got: usize },
    /// A hybrid KV split past the model's last layer.
    #[error(
        "the hybrid KV split {split} is past the model's {n_layer} layers; use 0..={n_layer} \
         (0 = every layer late, {n_layer} = every layer early)"
    )]
    KvSplitOutOfRange { split: u32, n_layer: u32 },
    /// The cache cannot shift positions (M-RoPE models, or an iSWA cache smaller than the context).
    #[error(
        "this KV cache cannot shift token positions (K-shift); for a sliding-window model \
         create the context with swa_full(true), or re-evaluate the kept tokens instead"
    )]
    KvShiftUnsupported,
    /// A saved state made with other per-layer K/V types than this context's.
    #[error(
        "the saved state was made with a different KV cache layout: layer {layer} was saved as \
         {saved} but this context stores {current}; load it into a context created with the \
         same per-layer K/V types"
    )]
    StateLayoutMismatch {
        layer: u32,
        saved: String,
        current: String,
    },
    /// The bytes are not a state saved by `Context::state_save`.
    #[error("not a usable saved state: {0}")]
    StateFormat(String),
    /// llama.cpp rejected the saved KV data.
    #[error("llama.cpp refused the saved state: {0}")]
    StateLoad(String),
    /// llama.cpp could not serialise the state.
    #[error("llama.cpp could not save the state: {0}")]
    StateSave(String),
}

/// Shorthand for `Result<T, edge_infer_llama::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn check_nul(what: &'static str, s: &str) -> Result<()> {
    match s.bytes().position(|b| b == 0) {
        Some(offset) => Err(Error::InteriorNul { what, offset }),
        None => Ok(()),
    }
}

pub(crate) fn cstring(what: &'static str, s: &str) -> Result<std::ffi::CString> {
    check_nul(what, s)?;
    Ok(std::ffi::CString::new(s).expect("checked for NUL"))
}
