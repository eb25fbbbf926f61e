//! Declarations identical in the 1.2.x and 1.3.x ABIs.
use core::ffi::{c_char, c_int, c_void};

/// Opaque runtime handle.
pub type LLMHandle = *mut c_void;

/// `LLMCallState` (a C enum: kept as an integer so an unexpected value is not UB).
pub type LLMCallState = c_int;
/// One token's text (complete UTF-8).
pub const RKLLM_RUN_NORMAL: LLMCallState = 0;
/// Incomplete UTF-8: the bytes continue in the next call.
pub const RKLLM_RUN_WAITING: LLMCallState = 1;
/// Last call of a run; `perf` is valid.
pub const RKLLM_RUN_FINISH: LLMCallState = 2;
/// The run failed; last call.
pub const RKLLM_RUN_ERROR: LLMCallState = 3;

/// `RKLLMInputType`.
pub type RKLLMInputType = c_int;
pub const RKLLM_INPUT_PROMPT: RKLLMInputType = 0;
pub const RKLLM_INPUT_TOKEN: RKLLMInputType = 1;
pub const RKLLM_INPUT_EMBED: RKLLMInputType = 2;
pub const RKLLM_INPUT_MULTIMODAL: RKLLMInputType = 3;

/// `RKLLMInferMode`.
pub type RKLLMInferMode = c_int;
pub const RKLLM_INFER_GENERATE: RKLLMInferMode = 0;
pub const RKLLM_INFER_GET_LAST_HIDDEN_LAYER: RKLLMInferMode = 1;
pub const RKLLM_INFER_GET_LOGITS: RKLLMInferMode = 2;

/// Result-callback return value: continue.
pub const RKLLM_CALLBACK_CONTINUE: c_int = 0;
/// Result-callback return value: pause (the KV cache is kept; a later run resumes).
pub const RKLLM_CALLBACK_PAUSE: c_int = 1;

/// A C `bool` field. Kept as a byte, never a Rust `bool`: a runtime that writes any other
/// value than 0 or 1 (or a wrong-ABI layout that puts another field there) must not be UB.
pub type c_bool = u8;

/// `CPU0`..`CPU7` of the SDK header: bits of `RKLLMExtendParam::enabled_cpus_mask`.
/// RK3588's fast Cortex-A76 cores are 4-7 (`CPU4 | CPU5 | CPU6 | CPU7` = 0xF0).
pub const CPU0: u32 = 1 << 0;
pub const CPU1: u32 = 1 << 1;
pub const CPU2: u32 = 1 << 2;
pub const CPU3: u32 = 1 << 3;
pub const CPU4: u32 = 1 << 4;
pub const CPU5: u32 = 1 << 5;
pub const CPU6: u32 = 1 << 6;
pub const CPU7: u32 = 1 << 7;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMExtendParam {
    pub base_domain_id: i32,
    pub embed_flash: i8,
    pub enabled_cpus_num: i8,
    pub enabled_cpus_mask: u32,
    pub n_batch: u8,
    pub use_cross_attn: i8,
    pub reserved: [u8; 104],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMLoraAdapter {
    pub lora_adapter_path: *const c_char,
    pub lora_adapter_name: *const c_char,
    pub scale: f32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMEmbedInput {
    pub embed: *mut f32,
    pub n_tokens: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMTokenInput {
    pub input_ids: *mut i32,
    pub n_tokens: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMLoraParam {
    pub lora_adapter_name: *const c_char,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMPromptCacheParam {
    pub save_prompt_cache: c_int,
    pub prompt_cache_path: *const c_char,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMCrossAttnParam {
    pub encoder_k_cache: *mut f32,
    pub encoder_v_cache: *mut f32,
    pub encoder_mask: *mut f32,
    pub encoder_pos: *mut i32,
    pub num_tokens: c_int,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMResultLastHiddenLayer {
    pub hidden_states: *const f32,
    pub embd_size: c_int,
    pub num_tokens: c_int,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMResultLogits {
    pub logits: *const f32,
    pub vocab_size: c_int,
    pub num_tokens: c_int,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RKLLMPerfStat {
    pub prefill_time_ms: f32,
    pub prefill_tokens: c_int,
    pub generate_time_ms: f32,
    pub generate_tokens: c_int,
    pub memory_usage_mb: f32,
}

/// One callback's result. Every pointer belongs to the runtime and is valid only during the
/// callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMResult {
    pub text: *const c_char,
    pub token_id: i32,
    pub last_hidden_layer: RKLLMResultLastHiddenLayer,
    pub logits: RKLLMResultLogits,
    pub perf: RKLLMPerfStat,
}

/// `int (*)(RKLLMResult*, void* userdata, LLMCallState)`.
pub type LLMResultCallback = Option<
    unsafe extern "C" fn(
        result: *mut RKLLMResult,
        userdata: *mut c_void,
        state: LLMCallState,
    ) -> c_int,
>;
