//! The 1.3 embedding callback: the runtime asks for the embeddings of token ids (models
//! whose embedding table lives outside the `.rkllm`).
use std::ffi::{c_int, c_void};

/// `fn(tokens, out) -> ok`: write `tokens.len() × hidden size` floats into `out`.
pub(crate) type EmbedFn = Box<dyn Fn(&[i32], &mut [f32]) -> bool + Send + Sync>;

/// `LLMGetEmbedCallback`: `userdata` is the `EmbedFn` owned by the `Llm`'s keep-alive,
/// alive until after `rkllm_destroy` (or leaked).
pub(crate) unsafe extern "C" fn embed_trampoline(
    userdata: *mut c_void,
    tokens: *mut i32,
    n_tokens: u64,
    embed: *mut c_void,
    len_bytes: u64,
) -> c_int {
    let (Ok(n), Ok(len)) = (usize::try_from(n_tokens), usize::try_from(len_bytes)) else {
        return -1;
    };
    if userdata.is_null()
        || tokens.is_null()
        || embed.is_null()
        || len % 4 != 0
        || (embed as usize) % std::mem::align_of::<f32>() != 0
        || (tokens as usize) % std::mem::align_of::<i32>() != 0
    {
        return -1;
    }
    let call = || {
        // SAFETY: userdata is the EmbedFn registered at init and kept alive by the Llm.
        let f = unsafe { &*(userdata as *const EmbedFn) };
        // SAFETY: the runtime passes `n_tokens` ids and `len_bytes` writable bytes, valid for
        // the call; alignment was checked above.
        let (ids, out) = unsafe {
            (
                std::slice::from_raw_parts(tokens, n),
                std::slice::from_raw_parts_mut(embed as *mut f32, len / 4),
            )
        };
        if f(ids, out) {
            0
        } else {
            -1
        }
    };
    // Never unwind into C.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or(-1)
}
