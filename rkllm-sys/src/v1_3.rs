//! Declarations specific to the 1.3.x ABI.
pub use super::common::*;
use core::ffi::{c_char, c_int, c_void};

/// Result-callback return value (1.3 only): release the current output buffer early.
pub const RKLLM_CALLBACK_RELEASE_OUTPUT: c_int = 2;

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
    pub ignore_eos_token: c_bool,
    pub is_async: c_bool,
    pub extend_param: RKLLMExtendParam,
}

/// `RKLLMMultiModalInput.image` (an unnamed struct in C).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMImageInput {
    pub image_embed: *mut f32,
    pub n_image_tokens: usize,
    pub n_image: usize,
    pub image_start: *const c_char,
    pub image_end: *const c_char,
    pub image_content: *const c_char,
    pub image_width: usize,
    pub image_height: usize,
}

/// `RKLLMMultiModalInput.video` (an unnamed struct in C).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMVideoInput {
    pub video_embed: *mut f32,
    pub n_frame_tokens: usize,
    pub n_frame_per_video: usize,
    pub n_video: usize,
    pub video_start: *const c_char,
    pub video_end: *const c_char,
    pub video_content: *const c_char,
    pub frame_width: usize,
    pub frame_height: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMMultiModalInput {
    pub prompt: *mut c_char,
    pub image: RKLLMImageInput,
    pub video: RKLLMVideoInput,
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
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RKLLMSamplingParam {
    pub top_k: i32,
    pub top_p: f32,
    pub temperature: f32,
    pub repeat_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub mirostat: i32,
    pub mirostat_tau: f32,
    pub mirostat_eta: f32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMInferParam {
    pub mode: RKLLMInferMode,
    pub lora_params: *mut RKLLMLoraParam,
    pub prompt_cache_params: *mut RKLLMPromptCacheParam,
    /// NULL: use the init-time sampling parameters.
    pub sampling_params: *mut RKLLMSamplingParam,
    pub keep_history: c_int,
    /// `<= 0`: use the init-time value.
    pub max_new_tokens: i32,
}

/// `int (*)(void* ud, const char* text, int32_t text_len, int32_t* tokens, int32_t n_tokens_max)`:
/// returns the token count, negative on error.
pub type LLMTokenizerCallback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        text: *const c_char,
        text_len: i32,
        tokens: *mut i32,
        n_tokens_max: i32,
    ) -> c_int,
>;

/// `int (*)(void* ud, int32_t* tokens, uint64_t n, void* embed, uint64_t len_bytes)`.
pub type LLMGetEmbedCallback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        tokens: *mut i32,
        n_tokens: u64,
        embed: *mut c_void,
        len_bytes: u64,
    ) -> c_int,
>;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RKLLMCallback {
    pub result_callback: LLMResultCallback,
    pub result_userdata: *mut c_void,
    pub tokenizer_callback: LLMTokenizerCallback,
    pub tokenizer_userdata: *mut c_void,
    pub embed_callback: LLMGetEmbedCallback,
    pub embed_userdata: *mut c_void,
}

/// Third argument of `rkllm_init` in 1.3.x: the callback table.
pub type InitCallbackArg = *mut RKLLMCallback;
