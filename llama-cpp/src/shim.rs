//! Calls through the exception-catching shim (`llama-cpp-sys/shim/edge_shim.h`).
//!
//! Every llama.cpp entry point that can throw a C++ exception is called through an
//! `edge_llama_*` wrapper that catches it and returns -1 with the message in a buffer;
//! [`guarded`] turns that into an [`Error`] the caller chooses.

use std::ffi::{c_char, c_int, CStr};

use crate::error::{Error, Result};

/// Room for the message of a caught exception (longer ones are truncated by the shim).
const MESSAGE_LEN: usize = 256;

/// Calls a shim wrapper, handing it a message buffer. Returns the wrapper's own status
/// (0, or another non-negative code the wrapper documents) unless it reports a caught
/// exception (-1), which `error` turns into this crate's error. The call's result comes
/// back through the out-pointers the closure passes.
pub(crate) fn guarded(
    f: impl FnOnce(*mut c_char, usize) -> c_int,
    error: impl FnOnce(String) -> Error,
) -> Result<c_int> {
    let mut message = [0 as c_char; MESSAGE_LEN];
    let rc = f(message.as_mut_ptr(), message.len());
    if rc == -1 {
        // SAFETY: the buffer starts zeroed and the shim NUL-terminates what it writes
        // within the length it was given, so a NUL lies inside it.
        let text = unsafe { CStr::from_ptr(message.as_ptr()) };
        return Err(error(text.to_string_lossy().into_owned()));
    }
    Ok(rc)
}

/// The error for an exception in an entry point that has no more specific one.
pub(crate) fn exception(call: &'static str) -> impl FnOnce(String) -> Error {
    move |message| Error::Exception { call, message }
}
