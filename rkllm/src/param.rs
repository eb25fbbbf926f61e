//! Init parameters and sampling settings.
use crate::checks::HostChecks;
use crate::runtime::{Runtime, VersionCheck};
use std::path::PathBuf;

/// RK3588's fast Cortex-A76 cores, 4–7.
pub const RK3588_A76_MASK: u32 = 0xF0;

/// Sampling settings; unset fields keep the runtime's defaults (at init) or the init
/// values (per run, 1.3).
///
/// ```
/// let s = edge_infer_rkllm::Sampling::new().top_k(1).temperature(0.7).mirostat(2, 5.0, 0.1);
/// assert_eq!(s.get_top_k(), Some(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampling {
    pub(crate) top_k: Option<i32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) temperature: Option<f32>,
    pub(crate) repeat_penalty: Option<f32>,
    pub(crate) frequency_penalty: Option<f32>,
    pub(crate) presence_penalty: Option<f32>,
    pub(crate) mirostat: Option<(i32, f32, f32)>,
}

impl Sampling {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Top-k (1 = greedy).
    pub fn top_k(mut self, k: i32) -> Self {
        self.top_k = Some(k);
        self
    }
    /// Nucleus sampling threshold.
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }
    /// Temperature.
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }
    /// Repetition penalty.
    pub fn repeat_penalty(mut self, p: f32) -> Self {
        self.repeat_penalty = Some(p);
        self
    }
    /// Frequency penalty.
    pub fn frequency_penalty(mut self, p: f32) -> Self {
        self.frequency_penalty = Some(p);
        self
    }
    /// Presence penalty.
    pub fn presence_penalty(mut self, p: f32) -> Self {
        self.presence_penalty = Some(p);
        self
    }
    /// Mirostat mode (0 off, 1, 2) with tau and eta.
    pub fn mirostat(mut self, mode: i32, tau: f32, eta: f32) -> Self {
        self.mirostat = Some((mode, tau, eta));
        self
    }
    /// The top-k, if set.
    pub fn get_top_k(&self) -> Option<i32> {
        self.top_k
    }

    pub(crate) fn apply_to_param(&self, p: &mut edge_infer_rkllm_sys::RKLLMParam) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { p.$f = v; } )* };
        }
        set!(
            top_k,
            top_p,
            temperature,
            repeat_penalty,
            frequency_penalty,
            presence_penalty
        );
        if let Some((m, tau, eta)) = self.mirostat {
            p.mirostat = m;
            p.mirostat_tau = tau;
            p.mirostat_eta = eta;
        }
    }

    #[cfg(not(feature = "abi-1-2"))]
    pub(crate) fn apply_to_sampling(&self, s: &mut edge_infer_rkllm_sys::RKLLMSamplingParam) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { s.$f = v; } )* };
        }
        set!(
            top_k,
            top_p,
            temperature,
            repeat_penalty,
            frequency_penalty,
            presence_penalty
        );
        if let Some((m, tau, eta)) = self.mirostat {
            s.mirostat = m;
            s.mirostat_tau = tau;
            s.mirostat_eta = eta;
        }
    }
}

/// Builder for an [`Llm`](crate::Llm): model path, context, sampling, CPUs, checks.
///
/// ```no_run
/// let llm = edge_infer_rkllm::Llm::builder("/models/qwen2.5-1.5b.rkllm")
///     .max_context_len(4096)
///     .max_new_tokens(512)
///     .sampling(edge_infer_rkllm::Sampling::new().top_k(20).top_p(0.8).temperature(0.7))
///     .build()?;
/// # Ok::<(), edge_infer_rkllm::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LlmBuilder {
    pub(crate) model: PathBuf,
    pub(crate) runtime: Option<Runtime>,
    pub(crate) runtime_path: Option<PathBuf>,
    pub(crate) version_check: VersionCheck,
    pub(crate) max_context_len: Option<i32>,
    pub(crate) max_new_tokens: Option<i32>,
    pub(crate) sampling: Sampling,
    pub(crate) n_keep: Option<i32>,
    pub(crate) skip_special_token: Option<bool>,
    pub(crate) ignore_eos_token: Option<bool>,
    pub(crate) cpu_mask: u32,
    pub(crate) cpu_count: Option<i32>,
    pub(crate) embed_flash: Option<bool>,
    pub(crate) base_domain_id: Option<i32>,
    pub(crate) host_checks: HostChecks,
    pub(crate) tokenizer_path: Option<PathBuf>,
    pub(crate) tokenizer_callback: bool,
}

impl LlmBuilder {
    pub(crate) fn new(model: impl Into<PathBuf>) -> Self {
        LlmBuilder {
            model: model.into(),
            runtime: None,
            runtime_path: None,
            version_check: VersionCheck::Strict,
            max_context_len: None,
            max_new_tokens: None,
            sampling: Sampling::default(),
            n_keep: None,
            skip_special_token: None,
            ignore_eos_token: None,
            cpu_mask: RK3588_A76_MASK,
            cpu_count: None,
            embed_flash: None,
            base_domain_id: None,
            host_checks: HostChecks::default(),
            tokenizer_path: None,
            tokenizer_callback: false,
        }
    }
    /// Use this runtime (default: [`Runtime::system`]).
    pub fn runtime(mut self, rt: Runtime) -> Self {
        self.runtime = Some(rt);
        self
    }
    /// Load the runtime from this file (version-checked before it is opened).
    pub fn runtime_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_path = Some(path.into());
        self
    }
    /// Version policy when this builder loads the runtime itself.
    pub fn version_check(mut self, check: VersionCheck) -> Self {
        self.version_check = check;
        self
    }
    /// Context window, 1..=16384 and at most the model's conversion limit.
    pub fn max_context_len(mut self, n: i32) -> Self {
        self.max_context_len = Some(n);
        self
    }
    /// Maximum generated tokens per run.
    pub fn max_new_tokens(mut self, n: i32) -> Self {
        self.max_new_tokens = Some(n);
        self
    }
    /// Sampling settings.
    pub fn sampling(mut self, s: Sampling) -> Self {
        self.sampling = s;
        self
    }
    /// KV entries kept at the start when the context window shifts.
    pub fn n_keep(mut self, n: i32) -> Self {
        self.n_keep = Some(n);
        self
    }
    /// Drop special tokens from the output text.
    pub fn skip_special_token(mut self, on: bool) -> Self {
        self.skip_special_token = Some(on);
        self
    }
    /// Keep generating past EOS (1.3 only; a [`Error::NotInAbi`](crate::Error::NotInAbi) on 1.2).
    pub fn ignore_eos_token(mut self, on: bool) -> Self {
        self.ignore_eos_token = Some(on);
        self
    }
    /// CPUs for the runtime's CPU work (default 0xF0, RK3588's A76 cores); the count is
    /// derived from the mask unless set with [`cpu_count`](Self::cpu_count).
    pub fn cpu_mask(mut self, mask: u32) -> Self {
        self.cpu_mask = mask;
        self
    }
    /// Explicit CPU count (must equal the number of bits in the mask).
    pub fn cpu_count(mut self, n: i32) -> Self {
        self.cpu_count = Some(n);
        self
    }
    /// Read word embeddings from flash instead of RAM.
    pub fn embed_flash(mut self, on: bool) -> Self {
        self.embed_flash = Some(on);
        self
    }
    /// NPU memory domain base id.
    pub fn base_domain_id(mut self, id: i32) -> Self {
        self.base_domain_id = Some(id);
        self
    }
    /// Host checks (online CPUs, NPU device node).
    pub fn host_checks(mut self, c: HostChecks) -> Self {
        self.host_checks = c;
        self
    }
    /// The model's `tokenizer.json`: prompts are counted before each run and refused with
    /// [`Error::PromptTooLong`](crate::Error::PromptTooLong) when they do not fit.
    pub fn tokenizer(mut self, path: impl Into<PathBuf>) -> Self {
        self.tokenizer_path = Some(path.into());
        self
    }
    /// Also hand the tokenizer to the runtime as its tokenizer callback (1.3, for models
    /// converted without an internal tokenizer).
    pub fn tokenizer_callback(mut self, on: bool) -> Self {
        self.tokenizer_callback = on;
        self
    }
    /// Runs the up-front checks and initialises the model.
    pub fn build(self) -> crate::Result<crate::Llm> {
        crate::llm::Llm::init(self)
    }
}
