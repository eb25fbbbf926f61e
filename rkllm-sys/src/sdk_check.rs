//! Compile-time comparison of our declarations with bindgen's output for the SDK header in
//! `RKLLM_INCLUDE_DIR`. A failure names the type; the usual cause is an SDK of the other ABI
//! generation than the one selected (feature `abi-1-2` for a 1.2.x SDK, none for 1.3.x).
use crate::sdk;
use std::mem::{align_of, offset_of, size_of};

macro_rules! same_size {
    ($($t:ident),* $(,)?) => {$(
        const _: () = assert!(
            size_of::<crate::$t>() == size_of::<sdk::$t>() && align_of::<crate::$t>() == align_of::<sdk::$t>(),
            concat!("RKLLM_INCLUDE_DIR/rkllm.h: ", stringify!($t),
                " has a different size/alignment than edge-infer-rkllm-sys's declarations (wrong ABI feature?)")
        );
    )*};
}
macro_rules! same_offset {
    ($($t:ident . $f:ident),* $(,)?) => {$(
        const _: () = assert!(
            offset_of!(crate::$t, $f) == offset_of!(sdk::$t, $f),
            concat!("RKLLM_INCLUDE_DIR/rkllm.h: offset of ", stringify!($t), ".", stringify!($f),
                " differs from edge-infer-rkllm-sys's declarations (wrong ABI feature?)")
        );
    )*};
}

same_size!(
    RKLLMExtendParam,
    RKLLMParam,
    RKLLMLoraAdapter,
    RKLLMEmbedInput,
    RKLLMTokenInput,
    RKLLMMultiModalInput,
    RKLLMInput,
    RKLLMLoraParam,
    RKLLMPromptCacheParam,
    RKLLMCrossAttnParam,
    RKLLMInferParam,
    RKLLMResultLastHiddenLayer,
    RKLLMResultLogits,
    RKLLMPerfStat,
    RKLLMResult,
);
same_offset!(
    RKLLMExtendParam.enabled_cpus_mask,
    RKLLMExtendParam.n_batch,
    RKLLMExtendParam.use_cross_attn,
    RKLLMExtendParam.reserved,
    RKLLMParam.max_context_len,
    RKLLMParam.n_keep,
    RKLLMParam.top_p,
    RKLLMParam.mirostat_eta,
    RKLLMParam.skip_special_token,
    RKLLMParam.is_async,
    RKLLMParam.extend_param,
    RKLLMInput.role,
    RKLLMInput.enable_thinking,
    RKLLMInput.input_type,
    RKLLMInferParam.lora_params,
    RKLLMInferParam.prompt_cache_params,
    RKLLMInferParam.keep_history,
    RKLLMResult.token_id,
    RKLLMResult.last_hidden_layer,
    RKLLMResult.logits,
    RKLLMResult.perf,
    RKLLMLoraAdapter.scale,
    RKLLMPromptCacheParam.prompt_cache_path,
    RKLLMCrossAttnParam.num_tokens,
);
// The anonymous union: bindgen names the field `__bindgen_anon_1`.
const _: () = assert!(
    offset_of!(crate::RKLLMInput, input) == offset_of!(sdk::RKLLMInput, __bindgen_anon_1),
    "RKLLM_INCLUDE_DIR/rkllm.h: offset of the RKLLMInput union differs"
);
#[cfg(not(feature = "abi-1-2"))]
same_size!(RKLLMSamplingParam, RKLLMCallback);
#[cfg(not(feature = "abi-1-2"))]
same_offset!(
    RKLLMParam.ignore_eos_token,
    RKLLMInferParam.sampling_params,
    RKLLMInferParam.max_new_tokens
);
