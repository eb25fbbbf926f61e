//! Init parameters, and init itself: every check that can run before the runtime does,
//! then `rkllm_init`, then the checks of what the runtime said.
use crate::abort::Shared;
use crate::checks::{board_platform, check_context_len, check_cpu_mask, check_driver, HostChecks};
use crate::cstr::{cstring, path_cstring};
use crate::error::{Error, Result};
use crate::init_log::{capture, InitLog};
use crate::llm::{Facts, InitKeepAlive, Llm, Template, DROP_TIMEOUT};
use crate::model_file::FileCheck;
use crate::runtime::{AbiSource, Runtime, VersionCheck};
use crate::sampling::Sampling;
use crate::version::Abi;
use edge_infer_rkllm_sys as sys;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::ptr::null_mut;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// RK3588's fast Cortex-A76 cores, 4–7.
pub const RK3588_A76_MASK: u32 = sys::CPU4 | sys::CPU5 | sys::CPU6 | sys::CPU7;

type SharedEmbedFn = Arc<dyn Fn(&[i32], &mut [f32]) -> bool + Send + Sync>;

/// Builder for an [`Llm`]: model path, context, sampling, CPUs, checks.
///
/// ```no_run
/// let llm = edge_infer_rkllm::Llm::builder("/models/qwen2.5-1.5b.rkllm")
///     .max_context_len(4096)
///     .max_new_tokens(512)
///     .sampling(edge_infer_rkllm::Sampling::new().top_k(20).top_p(0.8).temperature(0.7))
///     .build()?;
/// # Ok::<(), edge_infer_rkllm::Error>(())
/// ```
#[derive(Clone)]
pub struct LlmBuilder {
    pub(crate) model: PathBuf,
    runtime: Option<Runtime>,
    runtime_path: Option<PathBuf>,
    runtime_abi: Option<Abi>,
    version_check: VersionCheck,
    max_context_len: Option<i32>,
    max_new_tokens: Option<i32>,
    sampling: Sampling,
    n_keep: Option<i32>,
    skip_special_token: Option<bool>,
    ignore_eos_token: Option<bool>,
    cpu_mask: u32,
    cpu_count: Option<i32>,
    embed_flash: Option<bool>,
    base_domain_id: Option<i32>,
    n_batch: usize,
    cross_attention: bool,
    image_tags: Option<(String, String, String)>,
    embed_callback: Option<SharedEmbedFn>,
    host_checks: HostChecks,
    tokenizer_path: Option<PathBuf>,
    tokenizer_callback: bool,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    capture_init_log: bool,
    drop_timeout: Duration,
}

impl std::fmt::Debug for LlmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmBuilder")
            .field("model", &self.model)
            .field("max_context_len", &self.max_context_len)
            .field("cpu_mask", &format_args!("{:#x}", self.cpu_mask))
            .field("n_batch", &self.n_batch)
            .finish_non_exhaustive()
    }
}

impl Llm {
    /// Starts a builder for the model at `model`.
    pub fn builder(model: impl Into<PathBuf>) -> LlmBuilder {
        LlmBuilder::new(model)
    }
}

impl LlmBuilder {
    pub(crate) fn new(model: impl Into<PathBuf>) -> Self {
        LlmBuilder {
            model: model.into(),
            runtime: None,
            runtime_path: None,
            runtime_abi: None,
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
            n_batch: 1,
            cross_attention: false,
            image_tags: None,
            embed_callback: None,
            host_checks: HostChecks::default(),
            tokenizer_path: None,
            tokenizer_callback: false,
            vocab_size: None,
            hidden_size: None,
            capture_init_log: true,
            drop_timeout: DROP_TIMEOUT,
        }
    }
    /// Use this runtime (default: [`Runtime::system`]).
    pub fn runtime(mut self, rt: Runtime) -> Self {
        self.runtime = Some(rt);
        self
    }
    /// Load the runtime from this file (identified before it is opened).
    pub fn runtime_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_path = Some(path.into());
        self
    }
    /// States the ABI of a runtime file whose git blob id edge-infer does not know (a
    /// vendor's rebuild), when this builder loads the runtime itself.
    pub fn runtime_abi(mut self, abi: Abi) -> Self {
        self.runtime_abi = Some(abi);
        self
    }
    /// Weaker identification when this builder loads the runtime itself.
    ///
    /// # Safety
    /// See [`Runtime::load_with`]: the caller vouches that the runtime is of [`Abi::COMPILED`].
    pub unsafe fn version_check(mut self, check: VersionCheck) -> Self {
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
    /// Keep generating past EOS (1.3 only; a [`Error::NotInAbi`] on 1.2).
    pub fn ignore_eos_token(mut self, on: bool) -> Self {
        self.ignore_eos_token = Some(on);
        self
    }
    /// CPUs for the runtime's CPU work (default 0xF0, RK3588's A76 cores; see
    /// `edge_infer_rkllm_sys::CPU0..CPU7`); the count is derived from the mask unless set
    /// with [`cpu_count`](Self::cpu_count).
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
    /// Inputs per run, 1..=255 (default 1): above 1, runs take that many inputs at once
    /// ([`Llm::run_batch`]).
    pub fn n_batch(mut self, n: usize) -> Self {
        self.n_batch = n;
        self
    }
    /// Initialise for cross-attention (encoder-decoder models; see
    /// [`Llm::set_cross_attn_params`]).
    pub fn cross_attention(mut self, on: bool) -> Self {
        self.cross_attention = on;
        self
    }
    /// The model's image tags (text before, after and inside each image), for multimodal
    /// inputs. On 1.2 they are set at init; on 1.3 they apply to images without their own.
    pub fn image_tags(mut self, start: &str, end: &str, content: &str) -> Self {
        self.image_tags = Some((start.into(), end.into(), content.into()));
        self
    }
    /// The 1.3 embedding callback: the runtime asks it for the embeddings of token ids, to
    /// be written into the slice (`ids.len() ×` hidden size floats); return false on error.
    /// It runs on the runtime's threads; a panic in it is an error for the runtime.
    pub fn embed_callback(
        mut self,
        f: impl Fn(&[i32], &mut [f32]) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.embed_callback = Some(Arc::new(f));
        self
    }
    /// Host checks (online CPUs, NPU device node, RKNPU driver, board platform).
    pub fn host_checks(mut self, c: HostChecks) -> Self {
        self.host_checks = c;
        self
    }
    /// The model's `tokenizer.json`: prompts are counted exactly before each run and
    /// refused with [`Error::PromptTooLong`] when they do not fit; token ids are checked
    /// against its vocabulary.
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
    /// The model's vocabulary size, to check token inputs (else learned from the tokenizer
    /// or a logits run).
    pub fn vocab_size(mut self, n: usize) -> Self {
        self.vocab_size = Some(n);
        self
    }
    /// The model's hidden size, to check embedding and image inputs (else learned from a
    /// hidden-state run).
    pub fn hidden_size(mut self, n: usize) -> Self {
        self.hidden_size = Some(n);
        self
    }
    /// Capture the runtime's log lines during init (default on): fds 1 and 2 are briefly
    /// redirected and written through. The version line is checked against the ABI, the
    /// driver version against the runtime's need, and error lines go into
    /// [`Error::InitFailed`].
    pub fn capture_init_log(mut self, on: bool) -> Self {
        self.capture_init_log = on;
        self
    }
    /// How long dropping the model waits for a run in progress to return after its abort
    /// (default 30 s); past it, the handle and what the runtime may use are leaked.
    pub fn drop_timeout(mut self, d: Duration) -> Self {
        self.drop_timeout = d;
        self
    }

    /// Runs the up-front checks and initialises the model.
    pub fn build(self) -> Result<Llm> {
        let b = self;
        // 1. parameters
        if let Some(n) = b.max_context_len {
            check_context_len(n)?;
        }
        let cpu_count = b.cpu_count.unwrap_or(b.cpu_mask.count_ones() as i32);
        check_cpu_mask(b.cpu_mask, cpu_count)?;
        if !(1..=255).contains(&b.n_batch) {
            return Err(Error::InvalidArgument(format!(
                "n_batch {} is not in 1..=255",
                b.n_batch
            )));
        }
        let not_1_2 = |on: bool, what| {
            if cfg!(rkllm_abi_1_2) && on {
                Err(Error::NotInAbi {
                    what,
                    abi: Abi::COMPILED,
                })
            } else {
                Ok(())
            }
        };
        not_1_2(b.ignore_eos_token.is_some(), "ignore_eos_token")?;
        not_1_2(b.tokenizer_callback, "the tokenizer callback")?;
        not_1_2(b.embed_callback.is_some(), "the embedding callback")?;
        if b.tokenizer_callback && b.tokenizer_path.is_none() {
            return Err(Error::InvalidArgument(
                "tokenizer_callback(true) needs tokenizer(path)".into(),
            ));
        }
        // 2. the model file, before the runtime: a bad download is reported on any machine
        let mut check = FileCheck::new(&b.model);
        if let Some(n) = b.max_context_len {
            check = check.context(n);
        }
        if let Some(board) = board_platform(b.host_checks.root_path()) {
            check = check.board_platform(board);
        }
        let report = check.run();
        if report.has_errors() {
            return Err(report.into());
        }
        for w in report.warnings() {
            log::warn!("model file {:?}: {w}", b.model);
        }
        let model_c = path_cstring(&b.model, "model path")?;
        // 3. runtime (identified before any call into it)
        let rt = match (b.runtime, b.runtime_path) {
            (Some(rt), _) => rt,
            (None, Some(p)) => match b.runtime_abi {
                Some(abi) if b.version_check == VersionCheck::Strict => {
                    Runtime::load_stated(p, abi)?
                }
                // SAFETY: `version_check` is Strict unless the caller used the unsafe
                // setter, whose contract is this call's.
                _ => unsafe { Runtime::load_with(p, b.version_check)? },
            },
            (None, None) => match b.runtime_abi {
                Some(abi) if b.version_check == VersionCheck::Strict => {
                    Runtime::system_stated(abi)?
                }
                // SAFETY: as above.
                _ => unsafe { Runtime::system_with(b.version_check)? },
            },
        };
        // 4. host
        b.host_checks.run(b.cpu_mask, rt.is_test_double())?;
        // 5. tokenizer
        #[cfg(feature = "tokenizer")]
        let tokenizer = match &b.tokenizer_path {
            Some(p) => Some(crate::tokenizer::Tokenizer::from_file(p)?),
            None => None,
        };
        #[cfg(not(feature = "tokenizer"))]
        if b.tokenizer_path.is_some() {
            return Err(Error::Tokenizer(
                "rkllm was built without the `tokenizer` feature".into(),
            ));
        }
        #[cfg(feature = "tokenizer")]
        let vocab = b.vocab_size.or(tokenizer.as_ref().map(|t| t.vocab_size()));
        #[cfg(not(feature = "tokenizer"))]
        let vocab = b.vocab_size;

        // 6. parameters in zeroed memory: the real rkllm_createDefaultParam writes neither
        // the reserved bytes nor the padding.
        let api = rt.api();
        // SAFETY: the runtime is of the compiled ABI (identified above), so the by-value
        // return has the layout we declare.
        let d = unsafe { (api.rkllm_createDefaultParam)() };
        check_bools(&d)?;
        let mut p = zeroed_param();
        copy_fields(&d, &mut p);
        p.model_path = model_c.as_ptr();
        if let Some(n) = b.max_context_len {
            p.max_context_len = n;
        }
        check_context_len(p.max_context_len)?;
        if let Some(n) = b.max_new_tokens {
            p.max_new_tokens = n;
        }
        if let Some(n) = b.n_keep {
            p.n_keep = n;
        }
        if let Some(v) = b.skip_special_token {
            p.skip_special_token = v as sys::c_bool;
        }
        #[cfg(not(rkllm_abi_1_2))]
        if let Some(v) = b.ignore_eos_token {
            p.ignore_eos_token = v as sys::c_bool;
        }
        b.sampling.apply_to_param(&mut p);
        p.is_async = 0; // runs are blocking rkllm_run calls on threads of ours
        p.extend_param.enabled_cpus_mask = b.cpu_mask;
        p.extend_param.enabled_cpus_num = cpu_count as i8;
        p.extend_param.n_batch = b.n_batch as u8;
        p.extend_param.use_cross_attn = b.cross_attention as i8;
        if let Some(v) = b.embed_flash {
            p.extend_param.embed_flash = v as i8;
        }
        if let Some(v) = b.base_domain_id {
            p.extend_param.base_domain_id = v;
        }
        #[cfg_attr(not(rkllm_abi_1_2), allow(unused_mut))]
        let mut strings = Vec::new();
        #[cfg(rkllm_abi_1_2)]
        if let Some((s, e, c)) = &b.image_tags {
            for (slot, v, what) in [
                (&mut p.img_start, s, "image start tag"),
                (&mut p.img_end, e, "image end tag"),
                (&mut p.img_content, c, "image content tag"),
            ] {
                let c = cstring(v, what)?;
                *slot = c.as_ptr();
                strings.push(c);
            }
        }
        #[cfg(not(rkllm_abi_1_2))]
        for (v, what) in b.image_tags.iter().flat_map(|(s, e, c)| {
            [
                (s, "image start tag"),
                (e, "image end tag"),
                (c, "image content tag"),
            ]
        }) {
            cstring(v, what)?; // validated here; passed per input
        }

        let mut keep = InitKeepAlive {
            _model_path: model_c,
            _strings: strings,
            #[cfg(not(rkllm_abi_1_2))]
            callbacks: null_mut(),
            #[cfg(feature = "tokenizer")]
            tokenizer: tokenizer.map_or(null_mut(), |t| Box::into_raw(Box::new(t))),
            #[cfg(not(rkllm_abi_1_2))]
            embed: null_mut(),
            cross_attn: Mutex::new(None),
            param: None,
        };
        #[cfg(not(rkllm_abi_1_2))]
        let cb_arg: sys::InitCallbackArg = {
            #[cfg(feature = "tokenizer")]
            let (tok_cb, tok_ud): (sys::LLMTokenizerCallback, *mut std::ffi::c_void) =
                if b.tokenizer_callback && !keep.tokenizer.is_null() {
                    (
                        Some(crate::tokenizer::tokenizer_callback),
                        keep.tokenizer.cast(),
                    )
                } else {
                    (None, null_mut())
                };
            #[cfg(not(feature = "tokenizer"))]
            let (tok_cb, tok_ud): (sys::LLMTokenizerCallback, *mut std::ffi::c_void) =
                (None, null_mut());
            if let Some(f) = &b.embed_callback {
                let f = f.clone();
                let boxed: crate::embed::EmbedFn = Box::new(move |ids, out| f(ids, out));
                keep.embed = Box::into_raw(Box::new(boxed));
            }
            keep.callbacks = Box::into_raw(Box::new(sys::RKLLMCallback {
                result_callback: Some(crate::callback::result_trampoline),
                result_userdata: null_mut(),
                tokenizer_callback: tok_cb,
                tokenizer_userdata: tok_ud,
                embed_callback: if keep.embed.is_null() {
                    None
                } else {
                    Some(crate::embed::embed_trampoline)
                },
                embed_userdata: keep.embed.cast(),
            }));
            keep.callbacks
        };
        #[cfg(rkllm_abi_1_2)]
        let cb_arg: sys::InitCallbackArg = Some(crate::callback::result_trampoline);

        // 7. init, with its log lines captured
        let mut handle: sys::LLMHandle = null_mut();
        let (rc, lines) = capture(b.capture_init_log, || {
            // SAFETY: `p` and the callback table are valid for the call; everything they
            // point to (model path, callbacks, tokenizer, tags) is owned by `keep`, which
            // lives until after rkllm_destroy (or is leaked).
            unsafe { (api.rkllm_init)(&mut handle, &mut *p, cb_arg) }
        });
        let log = InitLog::parse(lines);
        if rc != 0 {
            return Err(Error::InitFailed {
                code: rc,
                model: b.model,
                log: log.problems(),
            });
        }
        if handle.is_null() {
            return Err(Error::NullHandle(b.model));
        }
        let max_context_len = p.max_context_len;
        keep.param = Some(p); // in case the runtime keeps a pointer to it
        let shared = Arc::new(Shared::new(rt, handle));
        // 8. what the runtime said, against what it was taken for
        if let Err(e) = check_init_log(&log, &shared.rt, &b.host_checks) {
            shared.destroy();
            return Err(e);
        }
        log::info!(
            "RKLLM model {:?} initialised (max_context_len {}, CPUs {:#x}, runtime {}){}",
            b.model,
            max_context_len,
            b.cpu_mask,
            log.runtime_version
                .as_ref()
                .map_or("version not logged".into(), |v| v.to_string()),
            if shared.rt.is_test_double() {
                " on edge-infer's TEST DOUBLE runtime"
            } else {
                ""
            }
        );
        #[cfg(not(rkllm_abi_1_2))]
        let init_sampling = {
            let p = keep.param.as_ref().expect("just set");
            sys::RKLLMSamplingParam {
                top_k: p.top_k,
                top_p: p.top_p,
                temperature: p.temperature,
                repeat_penalty: p.repeat_penalty,
                frequency_penalty: p.frequency_penalty,
                presence_penalty: p.presence_penalty,
                mirostat: p.mirostat,
                mirostat_tau: p.mirostat_tau,
                mirostat_eta: p.mirostat_eta,
            }
        };
        Ok(Llm {
            shared,
            model_path: b.model,
            max_context_len,
            n_batch: b.n_batch,
            cross_attention: b.cross_attention,
            #[cfg(not(rkllm_abi_1_2))]
            init_sampling,
            facts: Arc::new(Facts::new(vocab, b.hidden_size)),
            image_tags: b.image_tags,
            template: Mutex::new(Template::default()),
            init_log: log,
            drop_timeout: b.drop_timeout,
            keep: Some(keep),
        })
    }
}

/// The runtime's version line must name a version of the ABI it is called with; a 1.3
/// runtime must not be on a driver older than 0.9.7.
fn check_init_log(log: &InitLog, rt: &Runtime, checks: &HostChecks) -> Result<()> {
    if let Some(v) = &log.runtime_version {
        if !Abi::COMPILED.accepts(v) {
            let how = match rt.abi_source() {
                AbiSource::Release => "known from the file's git blob id",
                AbiSource::TestDouble => "the test double's",
                AbiSource::Stated => "stated in code",
                AbiSource::Environment => "stated by EDGE_INFER_RKLLM_ABI",
                AbiSource::Feature => "stated by the abi-1-2 feature",
                AbiSource::Assumed => "assumed",
            };
            if rt.check != VersionCheck::Strict {
                log::warn!(
                    "the RKLLM runtime logged version {v}, not of the {} ABI ({how})",
                    Abi::COMPILED
                );
            } else {
                return Err(Error::RuntimeContradicted {
                    logged: v.to_string(),
                    expected: Abi::COMPILED,
                    how,
                });
            }
        }
    }
    if checks.driver_check_enabled(rt.is_test_double()) {
        if let Some(d) = &log.driver_version {
            check_driver(Abi::COMPILED, d, "the runtime's init log")?;
        } else if log.driver_too_low() && Abi::COMPILED == Abi::V1_3 {
            return Err(Error::NpuDriverTooOld {
                found: "older than 0.9.7".into(),
                required: crate::checks::MIN_DRIVER_1_3.to_string(),
                from: "the runtime's init log".into(),
            });
        }
    }
    Ok(())
}

/// The C `bool`s of the defaults: any byte but 0 or 1 means the layout is not the one we
/// declare (or a broken runtime).
fn check_bools(d: &sys::RKLLMParam) -> Result<()> {
    #[cfg_attr(rkllm_abi_1_2, allow(unused_mut))]
    let mut bools = vec![
        ("skip_special_token", d.skip_special_token),
        ("is_async", d.is_async),
    ];
    #[cfg(not(rkllm_abi_1_2))]
    bools.push(("ignore_eos_token", d.ignore_eos_token));
    for (field, value) in bools {
        if value > 1 {
            return Err(Error::BadDefaultParam {
                field,
                value,
                abi: Abi::COMPILED,
            });
        }
    }
    Ok(())
}

/// An all-zero RKLLMParam on the heap (padding included: it is never moved).
fn zeroed_param() -> Box<sys::RKLLMParam> {
    let b: Box<MaybeUninit<sys::RKLLMParam>> = Box::new(MaybeUninit::zeroed());
    // SAFETY: RKLLMParam is plain data (pointers, integers, floats, bytes); all-zero is a
    // valid value, and MaybeUninit<T> has T's layout.
    unsafe { Box::from_raw(Box::into_raw(b).cast::<sys::RKLLMParam>()) }
}

/// Copies every field of the defaults (not `reserved`, not padding) into `p`.
fn copy_fields(d: &sys::RKLLMParam, p: &mut sys::RKLLMParam) {
    macro_rules! copy {
        ($($f:ident),*) => { $( p.$f = d.$f; )* };
    }
    copy!(
        model_path,
        max_context_len,
        max_new_tokens,
        top_k,
        n_keep,
        top_p,
        temperature,
        repeat_penalty,
        frequency_penalty,
        presence_penalty,
        mirostat,
        mirostat_tau,
        mirostat_eta,
        skip_special_token,
        is_async
    );
    #[cfg(not(rkllm_abi_1_2))]
    copy!(ignore_eos_token);
    #[cfg(rkllm_abi_1_2)]
    copy!(img_start, img_end, img_content);
    let (x, y) = (&d.extend_param, &mut p.extend_param);
    y.base_domain_id = x.base_domain_id;
    y.embed_flash = x.embed_flash;
    y.enabled_cpus_num = x.enabled_cpus_num;
    y.enabled_cpus_mask = x.enabled_cpus_mask;
    y.n_batch = x.n_batch;
    y.use_cross_attn = x.use_cross_attn;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_c_bool_that_is_not_0_or_1_is_an_abi_error_not_ub() {
        let mut d = *zeroed_param();
        check_bools(&d).unwrap();
        d.skip_special_token = 1;
        check_bools(&d).unwrap();
        d.is_async = 0xAB; // what an unwritten byte or another layout would give
        let e = check_bools(&d).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadDefaultParam {
                    field: "is_async",
                    value: 0xAB,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn defaults_are_copied_into_zeroed_memory_field_by_field() {
        // SAFETY: plain data; every byte 0xAB stands for memory the runtime left unwritten.
        let mut d: sys::RKLLMParam =
            unsafe { std::mem::transmute([0xABu8; std::mem::size_of::<sys::RKLLMParam>()]) };
        d.max_context_len = 512;
        let mut p = zeroed_param();
        copy_fields(&d, &mut p);
        assert_eq!(p.max_context_len, 512);
        assert!(p.extend_param.reserved.iter().all(|&b| b == 0));
    }
}
