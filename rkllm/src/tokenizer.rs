//! Prompt token counting from the model's `tokenizer.json` (the `tokenizers` crate), and the
//! 1.3 tokenizer callback built on it.
use crate::error::{Error, Result};
use std::path::Path;

/// A Hugging Face tokenizer loaded from `tokenizer.json`.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .finish()
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        tokenizers::Tokenizer::from_file(path)
            .map(|inner| Tokenizer { inner })
            .map_err(|e| Error::Tokenizer(format!("cannot load {path:?}: {e}")))
    }

    /// Wraps an existing tokenizer.
    pub fn from_tokenizers(inner: tokenizers::Tokenizer) -> Tokenizer {
        Tokenizer { inner }
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<i32>> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().iter().map(|&id| id as i32).collect())
    }

    /// The vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Number of tokens of `text`, special tokens included.
    pub fn count(&self, text: &str) -> Result<usize> {
        self.encode(text, true).map(|t| t.len())
    }
}

/// `LLMTokenizerCallback` (1.3): `userdata` is the `Tokenizer` owned by the `Llm`, alive
/// until after `rkllm_destroy`.
#[cfg(not(rkllm_abi_1_2))]
pub(crate) unsafe extern "C" fn tokenizer_callback(
    userdata: *mut std::ffi::c_void,
    text: *const std::ffi::c_char,
    text_len: i32,
    tokens: *mut i32,
    n_tokens_max: i32,
) -> std::ffi::c_int {
    if userdata.is_null() || text.is_null() || tokens.is_null() || text_len < 0 || n_tokens_max < 0
    {
        return -1;
    }
    let run = || -> i32 {
        // SAFETY: userdata is `&Tokenizer` registered at init and kept alive by the Llm.
        let tok = unsafe { &*(userdata as *const Tokenizer) };
        // SAFETY: the runtime passes `text_len` readable bytes at `text`.
        let bytes = unsafe { std::slice::from_raw_parts(text as *const u8, text_len as usize) };
        let Ok(s) = std::str::from_utf8(bytes) else {
            return -1;
        };
        let Ok(ids) = tok.encode(s, false) else {
            return -1;
        };
        if ids.len() > n_tokens_max as usize {
            log::error!(
                "tokenizer callback: {} tokens exceed the runtime's buffer of {n_tokens_max}",
                ids.len()
            );
            return -1;
        }
        // SAFETY: the runtime provides room for `n_tokens_max` tokens; ids.len() fits.
        unsafe { std::ptr::copy_nonoverlapping(ids.as_ptr(), tokens, ids.len()) };
        ids.len() as i32
    };
    // Never unwind into C.
    std::panic::catch_unwind(run).unwrap_or(-1)
}
