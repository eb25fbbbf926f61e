//! A run's C structures, validated against the model and owned (with stable addresses)
//! until the run has returned.
use crate::cstr::{cstring, path_cstring};
use crate::error::{Error, Result};
use crate::input::{Images, Input, InputKind, IMAGE_PLACEHOLDER};
use crate::llm::Llm;
use crate::options::RunOptions;
use edge_infer_rkllm_sys as sys;
use std::ffi::{c_int, CString};
use std::ptr::null_mut;

/// How many tokens an input will take in the context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needed {
    pub(crate) tokens: usize,
    /// False when `tokens` is an upper bound (bytes of text, without a tokenizer).
    pub(crate) exact: bool,
}

/// Owns everything the runtime reads during a run.
pub(crate) struct Prepared {
    _strings: Vec<CString>,
    _tokens: Vec<Vec<i32>>,
    _floats: Vec<Vec<f32>>,
    n: usize,
    lora: *mut sys::RKLLMLoraParam,
    cache: *mut sys::RKLLMPromptCacheParam,
    #[cfg(not(rkllm_abi_1_2))]
    sampling: *mut sys::RKLLMSamplingParam,
    /// `n` RKLLMInput (an array for n_batch > 1).
    pub(crate) input: *mut sys::RKLLMInput,
    pub(crate) infer: *mut sys::RKLLMInferParam,
    pub(crate) needed: Vec<Needed>,
}

// SAFETY: Prepared owns every allocation its pointers point to; nothing mutates them after
// construction (the runtime only reads them), so moving/sharing across threads is fine.
unsafe impl Send for Prepared {}
// SAFETY: as above.
unsafe impl Sync for Prepared {}

fn boxed<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from `boxed` and is freed once (Prepared::drop).
        drop(unsafe { Box::from_raw(p) });
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if !self.input.is_null() {
            // SAFETY: `input` came from Box::<[RKLLMInput]>::into_raw with `n` entries.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.input, self.n)) });
        }
        free(self.infer);
        free(self.lora);
        free(self.cache);
        #[cfg(not(rkllm_abi_1_2))]
        free(self.sampling);
    }
}

struct Builder<'l> {
    llm: &'l Llm,
    strings: Vec<CString>,
    tokens: Vec<Vec<i32>>,
    floats: Vec<Vec<f32>>,
}

impl Builder<'_> {
    fn keep_str(&mut self, s: &str, what: &'static str) -> Result<*const std::ffi::c_char> {
        let c = cstring(s, what)?;
        let p = c.as_ptr();
        self.strings.push(c); // a CString's buffer does not move with the Vec
        Ok(p)
    }

    fn text_needed(&self, text: &str) -> Result<Needed> {
        let (tokens, exact) = self.llm.token_bound(text)?;
        Ok(Needed { tokens, exact })
    }

    fn check_rows(
        &self,
        what: &'static str,
        data: &[f32],
        rows: usize,
        checked: bool,
    ) -> Result<()> {
        if rows == 0 || data.is_empty() || data.len() % rows != 0 {
            return Err(Error::InvalidArgument(format!(
                "{what} of {} floats is not {rows} rows",
                data.len()
            )));
        }
        if !checked {
            return Ok(());
        }
        let width = self
            .llm
            .facts
            .hidden_size()
            .ok_or(Error::HiddenSizeUnknown { what })?;
        let expected = rows.checked_mul(width);
        if expected != Some(data.len()) {
            return Err(Error::EmbeddingShape {
                what,
                floats: data.len(),
                rows,
                width,
                expected: expected.unwrap_or(usize::MAX),
            });
        }
        Ok(())
    }

    fn input(&mut self, input: &Input) -> Result<(sys::RKLLMInput, Needed)> {
        // SAFETY: RKLLMInput is plain data (pointers, ints, bytes); all-zero is valid.
        let mut raw: sys::RKLLMInput = unsafe { std::mem::zeroed() };
        raw.role = self.keep_str(input.role.as_str(), "role")?;
        raw.enable_thinking = input.enable_thinking as sys::c_bool;
        let needed = match &input.kind {
            InputKind::Prompt(text) => {
                raw.input_type = sys::RKLLM_INPUT_PROMPT;
                raw.input.prompt_input = self.keep_str(text, "prompt")?;
                self.text_needed(text)?
            }
            InputKind::Tokens(ids) => {
                if ids.is_empty() {
                    return Err(Error::InvalidArgument("token input is empty".into()));
                }
                let vocab = self.llm.facts.vocab_size();
                if input.checked && vocab.is_none() {
                    return Err(Error::VocabSizeUnknown);
                }
                for (index, &id) in ids.iter().enumerate() {
                    let out = id < 0 || vocab.is_some_and(|v| id as usize >= v);
                    if out {
                        return Err(Error::TokenOutOfRange {
                            id,
                            index,
                            vocab_size: vocab.unwrap_or(0),
                        });
                    }
                }
                let mut ids = ids.clone();
                raw.input_type = sys::RKLLM_INPUT_TOKEN;
                raw.input.token_input = sys::RKLLMTokenInput {
                    input_ids: ids.as_mut_ptr(),
                    n_tokens: ids.len(),
                };
                let n = ids.len();
                self.tokens.push(ids); // the Vec's buffer does not move with the outer Vec
                Needed {
                    tokens: n,
                    exact: true,
                }
            }
            InputKind::Embeddings { data, n_tokens } => {
                self.check_rows("the embedding input", data, *n_tokens, input.checked)?;
                let mut data = data.clone();
                raw.input_type = sys::RKLLM_INPUT_EMBED;
                raw.input.embed_input = sys::RKLLMEmbedInput {
                    embed: data.as_mut_ptr(),
                    n_tokens: *n_tokens,
                };
                self.floats.push(data);
                Needed {
                    tokens: *n_tokens,
                    exact: true,
                }
            }
            InputKind::Multimodal { prompt, images } => {
                self.multimodal(&mut raw, prompt, images, input.checked)?
            }
        };
        Ok((raw, needed))
    }

    fn multimodal(
        &mut self,
        raw: &mut sys::RKLLMInput,
        prompt: &str,
        images: &Images,
        checked: bool,
    ) -> Result<Needed> {
        let placeholders = prompt.matches(IMAGE_PLACEHOLDER).count();
        if placeholders != images.n_images {
            return Err(Error::InvalidArgument(format!(
                "the multimodal prompt has {placeholders} `{IMAGE_PLACEHOLDER}` placeholders for \
                 {} images: put one where each image goes",
                images.n_images
            )));
        }
        let rows = images
            .n_images
            .checked_mul(images.tokens_per_image)
            .ok_or_else(|| Error::InvalidArgument("image token count overflows".into()))?;
        if rows > 0 {
            self.check_rows("the image embeddings", &images.data, rows, checked)?;
        }
        let mut text = self.text_needed(&prompt.replace(IMAGE_PLACEHOLDER, ""))?;
        text.tokens += rows;
        let prompt_ptr = self.keep_str(prompt, "prompt")? as *mut std::ffi::c_char;
        let mut data = images.data.clone();
        let embed = if data.is_empty() {
            null_mut()
        } else {
            data.as_mut_ptr()
        };
        self.floats.push(data);
        raw.input_type = sys::RKLLM_INPUT_MULTIMODAL;
        #[cfg(not(rkllm_abi_1_2))]
        {
            let (start, end, content) = match images.tags.as_ref().or(self.llm.image_tags.as_ref())
            {
                Some((s, e, c)) => (
                    self.keep_str(s, "image start tag")?,
                    self.keep_str(e, "image end tag")?,
                    self.keep_str(c, "image content tag")?,
                ),
                None => (std::ptr::null(), std::ptr::null(), std::ptr::null()),
            };
            // SAFETY: plain data; all-zero (NULL video) is valid.
            let mut mm: sys::RKLLMMultiModalInput = unsafe { std::mem::zeroed() };
            mm.prompt = prompt_ptr;
            mm.image = sys::RKLLMImageInput {
                image_embed: embed,
                n_image_tokens: images.tokens_per_image,
                n_image: images.n_images,
                image_start: start,
                image_end: end,
                image_content: content,
                image_width: images.size.0,
                image_height: images.size.1,
            };
            raw.input.multimodal_input = mm;
        }
        #[cfg(rkllm_abi_1_2)]
        {
            if images.tags.is_some() {
                return Err(Error::NotInAbi {
                    what: "per-input image tags (1.2 takes them at init: LlmBuilder::image_tags)",
                    abi: crate::Abi::COMPILED,
                });
            }
            raw.input.multimodal_input = sys::RKLLMMultiModalInput {
                prompt: prompt_ptr,
                image_embed: embed,
                n_image_tokens: images.tokens_per_image,
                n_image: images.n_images,
                image_width: images.size.0,
                image_height: images.size.1,
            };
        }
        Ok(text)
    }
}

impl Prepared {
    /// Refuses a run whose inputs, with the history kept in the KV cache, cannot fit.
    /// The caller holds the gate.
    pub(crate) fn check_fits(&self, llm: &Llm, opts: &RunOptions) -> Result<()> {
        let cached = if opts.keep_history {
            llm.kv_sizes_gated()?
        } else {
            vec![0; llm.n_batch]
        };
        for (i, need) in self.needed.iter().enumerate() {
            let cached = cached.get(i).copied().unwrap_or(0);
            if cached + need.tokens >= llm.max_context_len.max(0) as usize {
                return Err(Error::PromptTooLong {
                    tokens: need.tokens,
                    cached,
                    max_context_len: llm.max_context_len,
                    exact: need.exact,
                });
            }
        }
        Ok(())
    }
}

/// Validates `inputs` (one, or n_batch) and `opts` against the model and builds the run's
/// C structures.
pub(crate) fn prepare(llm: &Llm, inputs: &[Input], opts: &RunOptions) -> Result<Prepared> {
    let mut b = Builder {
        llm,
        strings: Vec::new(),
        tokens: Vec::new(),
        floats: Vec::new(),
    };
    let mut raws = Vec::with_capacity(inputs.len());
    let mut needed = Vec::with_capacity(inputs.len());
    for i in inputs {
        let (raw, n) = b.input(i)?;
        raws.push(raw);
        needed.push(n);
    }
    #[cfg(rkllm_abi_1_2)]
    {
        if opts.sampling.is_some() {
            return Err(Error::NotInAbi {
                what: "per-run sampling",
                abi: crate::Abi::COMPILED,
            });
        }
        if opts.max_new_tokens.is_some() {
            return Err(Error::NotInAbi {
                what: "per-run max_new_tokens",
                abi: crate::Abi::COMPILED,
            });
        }
    }
    let lora_name = opts
        .lora
        .as_deref()
        .map(|n| b.keep_str(n, "LoRA name"))
        .transpose()?;
    let cache_path = match &opts.save_prompt_cache {
        Some(p) => {
            let c = path_cstring(p, "prompt cache path")?;
            let ptr = c.as_ptr();
            b.strings.push(c);
            Some(ptr)
        }
        None => None,
    };
    // From here on nothing fails: the raw allocations are owned by `Prepared` at once.
    let mut prepared = Prepared {
        _strings: std::mem::take(&mut b.strings),
        _tokens: std::mem::take(&mut b.tokens),
        _floats: std::mem::take(&mut b.floats),
        n: raws.len(),
        lora: null_mut(),
        cache: null_mut(),
        #[cfg(not(rkllm_abi_1_2))]
        sampling: null_mut(),
        input: Box::into_raw(raws.into_boxed_slice()) as *mut sys::RKLLMInput,
        infer: null_mut(),
        needed,
    };
    if let Some(name) = lora_name {
        prepared.lora = boxed(sys::RKLLMLoraParam {
            lora_adapter_name: name,
        });
    }
    if let Some(path) = cache_path {
        prepared.cache = boxed(sys::RKLLMPromptCacheParam {
            save_prompt_cache: 1,
            prompt_cache_path: path,
        });
    }
    #[cfg(not(rkllm_abi_1_2))]
    if let Some(s) = &opts.sampling {
        let mut base = llm.init_sampling;
        s.apply_to_sampling(&mut base);
        prepared.sampling = boxed(base);
    }
    prepared.infer = boxed(sys::RKLLMInferParam {
        mode: opts.mode.raw(),
        lora_params: prepared.lora,
        prompt_cache_params: prepared.cache,
        #[cfg(not(rkllm_abi_1_2))]
        sampling_params: prepared.sampling,
        keep_history: opts.keep_history as c_int,
        #[cfg(not(rkllm_abi_1_2))]
        max_new_tokens: opts.max_new_tokens.unwrap_or(0),
    });
    Ok(prepared)
}
