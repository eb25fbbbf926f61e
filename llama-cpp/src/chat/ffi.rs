//! The JSON boundary with `shim/edge_chat.cpp`: C strings in, malloc'ed C strings out.

use std::ffi::{c_char, CStr, CString};

use edge_infer_llama_sys as sys;

use crate::error::{cstring, Result};

/// Takes a string the shim allocated, frees it, and returns its contents.
pub(crate) fn take(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the shim returns NUL-terminated strings from malloc, owned by the caller; we
    // copy it before handing it back to edge_chat_string_free exactly once.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: as above; `p` is not used after this.
    unsafe { sys::edge_chat_string_free(p) };
    Some(s)
}

/// Calls a shim function that reports failure through `char** err`, returning either its
/// result or the C++ exception's message.
pub(crate) fn call<T>(
    f: impl FnOnce(*mut *mut c_char) -> T,
    failed: impl Fn(&T) -> bool,
) -> std::result::Result<T, String> {
    crate::backend::init();
    let mut err: *mut c_char = std::ptr::null_mut();
    let out = f(&mut err);
    let message = take(err);
    if failed(&out) {
        Err(message.unwrap_or_else(|| "unknown error in llama.cpp's chat layer".into()))
    } else {
        Ok(out)
    }
}

/// Calls a shim function returning a malloc'ed string (NULL on failure).
pub(crate) fn call_string(
    f: impl FnOnce(*mut *mut c_char) -> *mut c_char,
) -> std::result::Result<String, String> {
    let p = call(f, |p| p.is_null())?;
    Ok(take(p).unwrap_or_default())
}

pub(crate) fn json_cstring(what: &'static str, v: &serde_json::Value) -> Result<CString> {
    cstring(what, &v.to_string())
}
