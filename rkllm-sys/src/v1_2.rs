//! Declarations specific to the 1.2.x ABI (RKLLM 1.2.1-1.2.3).
pub use super::common::*;
use core::ffi::c_char;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMParam {
    pub model_path: *const c_char,
    pub max_context_len: i32,
    pub max_new_tokens: i32,
    pub top_k: i32,
    pub n_keep: i32,
    pub top_p: f32,
    pub temperature: f32,
    pub repeat_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub mirostat: i32,
    pub mirostat_tau: f32,
    pub mirostat_eta: f32,
    pub skip_special_token: c_bool,
    pub is_async: c_bool,
    pub img_start: *const c_char,
    pub img_end: *const c_char,
    pub img_content: *const c_char,
    pub extend_param: RKLLMExtendParam,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMMultiModalInput {
    pub prompt: *mut c_char,
    pub image_embed: *mut f32,
    pub n_image_tokens: usize,
    pub n_image: usize,
    pub image_width: usize,
    pub image_height: usize,
}

/// The anonymous union inside `RKLLMInput`, selected by `input_type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union RKLLMInputUnion {
    pub prompt_input: *const c_char,
    pub embed_input: RKLLMEmbedInput,
    pub token_input: RKLLMTokenInput,
    pub multimodal_input: RKLLMMultiModalInput,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct RKLLMInput {
    pub role: *const c_char,
    pub enable_thinking: c_bool,
    pub input_type: RKLLMInputType,
    pub input: RKLLMInputUnion,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMInferParam {
    pub mode: RKLLMInferMode,
    pub lora_params: *mut RKLLMLoraParam,
    pub prompt_cache_params: *mut RKLLMPromptCacheParam,
    pub keep_history: core::ffi::c_int,
}

/// Third argument of `rkllm_init` in 1.2.x: the result callback itself.
pub type InitCallbackArg = LLMResultCallback;
