//! The model handle: operations on it, and its end of life.
//!
//! Soundness design (the run machinery is in `blocking`, `async_run` and `batch`):
//! * Every operation on a handle except `abort`/`is_running` passes the run gate, so runs
//!   (and KV-cache/template/LoRA calls) on one handle never overlap.
//! * A run holds the gate until `rkllm_run` has returned; `Drop` aborts a run in progress,
//!   waits (without polling) for the gate, then destroys the handle. If the runtime never
//!   returns within the drop timeout, the handle is *not* destroyed and everything the
//!   runtime may still touch (callback table, tokenizer, embed callback, model path, run
//!   buffers) is leaked on purpose, with an error log line.
//! * The runtime library stays mapped for the life of the process (RTLD_NODELETE).
use crate::abort::{AbortHandle, Shared};
use crate::callback::ResultView;
use crate::cstr::{cstring, path_cstring};
use crate::error::{Error, Result};
use crate::gate::lock;
use crate::init_log::InitLog;
use crate::runtime::Runtime;
use edge_infer_rkllm_sys as sys;
use std::ffi::{c_int, CString};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long `Drop` waits for a run in progress to return after its abort, by default.
pub(crate) const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sizes of the model learned from the builder or from the runtime's own results
/// (0 = unknown).
#[derive(Debug, Default)]
pub(crate) struct Facts {
    vocab: AtomicUsize,
    hidden: AtomicUsize,
}

impl Facts {
    pub(crate) fn new(vocab: Option<usize>, hidden: Option<usize>) -> Facts {
        Facts {
            vocab: AtomicUsize::new(vocab.unwrap_or(0)),
            hidden: AtomicUsize::new(hidden.unwrap_or(0)),
        }
    }
    pub(crate) fn vocab_size(&self) -> Option<usize> {
        Some(self.vocab.load(Ordering::Relaxed)).filter(|&v| v > 0)
    }
    pub(crate) fn hidden_size(&self) -> Option<usize> {
        Some(self.hidden.load(Ordering::Relaxed)).filter(|&v| v > 0)
    }
    /// Widths the runtime reports in logits (vocabulary) and hidden-state (hidden size) results.
    pub(crate) fn learn(&self, view: &ResultView<'_>) {
        if let Some(l) = &view.logits {
            self.vocab.store(l.width(), Ordering::Relaxed);
        }
        if let Some(h) = &view.hidden {
            self.hidden.store(h.width(), Ordering::Relaxed);
        }
    }
}

/// What the runtime was given at init and may use until `rkllm_destroy`: freed after it,
/// or leaked when the handle cannot be destroyed.
pub(crate) struct InitKeepAlive {
    pub(crate) _model_path: CString,
    pub(crate) _strings: Vec<CString>,
    #[cfg(not(rkllm_abi_1_2))]
    pub(crate) callbacks: *mut sys::RKLLMCallback,
    #[cfg(feature = "tokenizer")]
    pub(crate) tokenizer: *mut crate::tokenizer::Tokenizer,
    #[cfg(not(rkllm_abi_1_2))]
    pub(crate) embed: *mut crate::embed::EmbedFn,
    /// The cross-attention buffers last given to the runtime (it may keep the pointers).
    pub(crate) cross_attn: Mutex<Option<Box<dyn std::any::Any + Send + Sync>>>,
    pub(crate) param: Option<Box<sys::RKLLMParam>>,
}

// SAFETY: only holds allocations the runtime may read; the pointers are owned (from
// Box::into_raw) and freed once, in Drop, after rkllm_destroy. The tokenizer and embed
// callback are Sync (they are called from runtime threads).
unsafe impl Send for InitKeepAlive {}
// SAFETY: as above.
unsafe impl Sync for InitKeepAlive {}

#[cfg(any(not(rkllm_abi_1_2), feature = "tokenizer"))]
fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: every pointer here came from Box::into_raw and is freed once.
        drop(unsafe { Box::from_raw(p) });
    }
}

impl Drop for InitKeepAlive {
    fn drop(&mut self) {
        #[cfg(not(rkllm_abi_1_2))]
        free(self.callbacks);
        #[cfg(feature = "tokenizer")]
        free(self.tokenizer);
        #[cfg(not(rkllm_abi_1_2))]
        free(self.embed);
    }
}

/// The chat template strings, for counting a prompt's tokens.
#[derive(Debug, Default)]
pub(crate) struct Template {
    pub(crate) system: String,
    pub(crate) prefix: String,
    pub(crate) postfix: String,
}

/// An initialised RKLLM model.
///
/// `Llm` is `Send + Sync`: runs and other handle operations from several threads are
/// serialised internally, while [`abort`](Llm::abort) and [`is_running`](Llm::is_running)
/// never wait for a run.
///
/// ```
/// # use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
/// # let abi = if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_2 { Abi::V1_2 } else { Abi::V1_3 };
/// # let dir = TempDir::new("doc-llm").unwrap();
/// # let model = FakeModel::default().reply("Hi there").write(dir.path().join("m.rkllm")).unwrap();
/// // `model` is a fake model for edge-infer's test double runtime here.
/// let llm = edge_infer_rkllm::Llm::builder(&model)
///     .runtime(edge_infer_rkllm::Runtime::load(library_path(abi))?)
///     .max_context_len(512)
///     .build()?;
/// let mut reply = String::new();
/// let summary = llm.run(&edge_infer_rkllm::Input::prompt("Hello"), &edge_infer_rkllm::RunOptions::new(), |chunk| {
///     reply.push_str(chunk.text());
///     edge_infer_rkllm::Control::Continue
/// })?;
/// assert_eq!(reply, "Hi there");
/// assert_eq!(summary.perf.unwrap().generate_tokens, 8);
/// # Ok::<(), edge_infer_rkllm::Error>(())
/// ```
pub struct Llm {
    pub(crate) shared: Arc<Shared>,
    pub(crate) model_path: PathBuf,
    pub(crate) max_context_len: i32,
    pub(crate) n_batch: usize,
    pub(crate) cross_attention: bool,
    #[cfg(not(rkllm_abi_1_2))]
    pub(crate) init_sampling: sys::RKLLMSamplingParam,
    pub(crate) facts: Arc<Facts>,
    #[cfg_attr(rkllm_abi_1_2, allow(dead_code))] // 1.2 takes them at init
    pub(crate) image_tags: Option<(String, String, String)>,
    pub(crate) template: Mutex<Template>,
    pub(crate) init_log: InitLog,
    pub(crate) drop_timeout: Duration,
    /// `None` only after Drop leaked it.
    pub(crate) keep: Option<InitKeepAlive>,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("model_path", &self.model_path)
            .field("max_context_len", &self.max_context_len)
            .field("runtime", &self.shared.rt)
            .finish()
    }
}

impl Llm {
    /// The runtime in use.
    pub fn runtime(&self) -> &Runtime {
        &self.shared.rt
    }

    /// What the runtime logged during init (empty when it could not be captured).
    pub fn init_log(&self) -> &InitLog {
        &self.init_log
    }

    /// The model file.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The effective context window.
    pub fn max_context_len(&self) -> i32 {
        self.max_context_len
    }

    /// Entries per run (1 unless [`LlmBuilder::n_batch`](crate::LlmBuilder::n_batch) said more).
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// The model's vocabulary size, when known (tokenizer, builder, or a logits run).
    pub fn vocab_size(&self) -> Option<usize> {
        self.facts.vocab_size()
    }

    /// The model's hidden size, when known (builder, or a hidden-state run).
    pub fn hidden_size(&self) -> Option<usize> {
        self.facts.hidden_size()
    }

    /// The tokenizer given to the builder.
    #[cfg(feature = "tokenizer")]
    pub fn tokenizer(&self) -> Option<&crate::tokenizer::Tokenizer> {
        let p = self.keep.as_ref()?.tokenizer;
        // SAFETY: the tokenizer is owned by `keep`, which lives as long as `self`.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// An upper bound of the tokens `text` takes as a prompt, template included, and
    /// whether it is exact: the tokenizer's count when there is one, else the byte length
    /// (no token is shorter than a byte).
    pub fn token_bound(&self, text: &str) -> Result<(usize, bool)> {
        let t = lock(&self.template);
        #[cfg(feature = "tokenizer")]
        if let Some(tok) = self.tokenizer() {
            let mut n = tok.count(text)?;
            for s in [&t.system, &t.prefix, &t.postfix] {
                if !s.is_empty() {
                    n += tok.encode(s, false)?.len();
                }
            }
            return Ok((n, true));
        }
        Ok((
            text.len() + t.system.len() + t.prefix.len() + t.postfix.len(),
            false,
        ))
    }

    /// A `Send + Sync` handle that aborts runs from other threads.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            shared: self.shared.clone(),
        }
    }

    /// Aborts the run in progress (nothing when idle). Never waits for the run lock.
    pub fn abort(&self) -> Result<()> {
        self.shared.abort(None)
    }

    /// Whether a run is in progress. Never waits for the run lock.
    pub fn is_running(&self) -> bool {
        self.shared.is_running().unwrap_or(false)
    }

    fn call(
        &self,
        function: &'static str,
        f: impl FnOnce(&sys::Api, sys::LLMHandle) -> c_int,
    ) -> Result<()> {
        let _guard = self.shared.gate.acquire()?;
        let rc = f(self.shared.api(), self.shared.handle());
        if rc != 0 {
            return Err(Error::CallFailed { function, code: rc });
        }
        Ok(())
    }

    /// Clears the KV cache, optionally keeping the system prompt.
    pub fn clear_kv_cache(&self, keep_system_prompt: bool) -> Result<()> {
        self.call("rkllm_clear_kv_cache", |api, h| {
            // SAFETY: live handle, no run in progress (gate); NULL ranges mean "all".
            unsafe {
                (api.rkllm_clear_kv_cache)(h, keep_system_prompt as c_int, null_mut(), null_mut())
            }
        })
    }

    /// Clears KV cache positions `range.start..range.end` (of every batch entry).
    pub fn clear_kv_cache_range(
        &self,
        keep_system_prompt: bool,
        range: std::ops::Range<i32>,
    ) -> Result<()> {
        if range.start < 0 || range.end < range.start {
            return Err(Error::InvalidArgument(format!(
                "bad KV cache range {range:?}"
            )));
        }
        let (mut start, mut end) = (
            vec![range.start; self.n_batch],
            vec![range.end; self.n_batch],
        );
        self.call("rkllm_clear_kv_cache", |api, h| {
            // SAFETY: live handle, no run in progress; one entry per batch entry.
            unsafe {
                (api.rkllm_clear_kv_cache)(
                    h,
                    keep_system_prompt as c_int,
                    start.as_mut_ptr(),
                    end.as_mut_ptr(),
                )
            }
        })
    }

    pub(crate) fn kv_sizes_gated(&self) -> Result<Vec<usize>> {
        // The runtime writes n_batch ints.
        let mut sizes = vec![0 as c_int; self.n_batch];
        // SAFETY: live handle, the caller holds the gate; `sizes` has n_batch entries.
        let rc = unsafe {
            (self.shared.api().rkllm_get_kv_cache_size)(self.shared.handle(), sizes.as_mut_ptr())
        };
        if rc != 0 {
            return Err(Error::CallFailed {
                function: "rkllm_get_kv_cache_size",
                code: rc,
            });
        }
        Ok(sizes.into_iter().map(|s| s.max(0) as usize).collect())
    }

    /// Number of tokens in the KV cache (of the first batch entry).
    pub fn kv_cache_size(&self) -> Result<usize> {
        Ok(self.kv_cache_sizes()?[0])
    }

    /// Number of tokens in the KV cache of each batch entry.
    pub fn kv_cache_sizes(&self) -> Result<Vec<usize>> {
        let _guard = self.shared.gate.acquire()?;
        self.kv_sizes_gated()
    }

    /// Sets the chat template: system prompt, and text put before/after each user prompt.
    pub fn set_chat_template(&self, system: &str, prefix: &str, postfix: &str) -> Result<()> {
        let (s, pre, post) = (
            cstring(system, "system prompt")?,
            cstring(prefix, "prompt prefix")?,
            cstring(postfix, "prompt postfix")?,
        );
        self.call("rkllm_set_chat_template", |api, h| {
            // SAFETY: live handle, no run; the strings outlive the call (the runtime copies them).
            unsafe { (api.rkllm_set_chat_template)(h, s.as_ptr(), pre.as_ptr(), post.as_ptr()) }
        })?;
        *lock(&self.template) = Template {
            system: system.into(),
            prefix: prefix.into(),
            postfix: postfix.into(),
        };
        Ok(())
    }

    /// Declares function tools (a JSON array, validated first). The model answers with
    /// tool calls; reply with [`Input::tool_response`](crate::Input::tool_response).
    pub fn set_function_tools(
        &self,
        system: &str,
        tools_json: &str,
        tool_response_tag: &str,
    ) -> Result<()> {
        let tools = crate::tools::validate_tools(tools_json)?;
        let (s, t, tag) = (
            cstring(system, "system prompt")?,
            cstring(&tools, "tools")?,
            cstring(tool_response_tag, "tool response tag")?,
        );
        self.call("rkllm_set_function_tools", |api, h| {
            // SAFETY: live handle, no run; strings outlive the call.
            unsafe { (api.rkllm_set_function_tools)(h, s.as_ptr(), t.as_ptr(), tag.as_ptr()) }
        })
    }

    /// Loads a LoRA adapter under `name` (select it per run with [`RunOptions::lora`]).
    pub fn load_lora(&self, path: impl AsRef<Path>, name: &str, scale: f32) -> Result<()> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "LoRA adapter {path:?} does not exist"
            )));
        }
        let p = path_cstring(path, "LoRA path")?;
        let n = cstring(name, "LoRA name")?;
        let mut adapter = sys::RKLLMLoraAdapter {
            lora_adapter_path: p.as_ptr(),
            lora_adapter_name: n.as_ptr(),
            scale,
        };
        self.call("rkllm_load_lora", |api, h| {
            // SAFETY: live handle, no run; the adapter and strings outlive the call.
            unsafe { (api.rkllm_load_lora)(h, &mut adapter) }
        })
    }

    /// Loads a prompt cache saved with [`RunOptions::save_prompt_cache`].
    pub fn load_prompt_cache(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref(), "prompt cache path")?;
        self.call("rkllm_load_prompt_cache", |api, h| {
            // SAFETY: live handle, no run; the path outlives the call.
            unsafe { (api.rkllm_load_prompt_cache)(h, p.as_ptr()) }
        })
    }

    /// Releases a loaded prompt cache.
    pub fn release_prompt_cache(&self) -> Result<()> {
        self.call("rkllm_release_prompt_cache", |api, h| {
            // SAFETY: live handle, no run.
            unsafe { (api.rkllm_release_prompt_cache)(h) }
        })
    }

    /// The raw handle for calls this crate does not wrap. The gate is not held: don't use
    /// it while a run may be in progress, and never destroy it.
    pub fn raw_handle(&self) -> *mut std::ffi::c_void {
        self.shared.handle()
    }
}

impl Drop for Llm {
    fn drop(&mut self) {
        // Only an async run can be in progress (blocking runs borrow `self`).
        let _ = self.shared.abort(None);
        let deadline = Instant::now() + self.drop_timeout;
        match self.shared.gate.acquire_until(deadline) {
            Some(_guard) => self.shared.destroy(),
            None => {
                log::error!(
                    "RKLLM model {:?}: a run did not return within {:?} of its abort; the handle is \
                     NOT destroyed and its callbacks, tokenizer and buffers are leaked on purpose, \
                     because the runtime may still use them",
                    self.model_path,
                    self.drop_timeout
                );
                std::mem::forget(self.keep.take());
            }
        }
    }
}
