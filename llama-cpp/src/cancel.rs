//! Stopping a generation or evaluation from another thread.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Stops a generation from another thread. Cheap to clone; `Send + Sync`.
///
/// A cancel takes effect at the next token boundary, or inside a long prompt
/// evaluation at the next graph node, through llama.cpp's abort callback.
#[derive(Debug, Clone)]
pub struct CancelHandle(pub(crate) Arc<AtomicBool>);

impl CancelHandle {
    /// Requests that the generation in progress stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether a cancel is pending.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// llama.cpp's abort callback: polled between graph nodes during a decode.
pub(crate) unsafe extern "C" fn abort_callback(data: *mut c_void) -> bool {
    // SAFETY: data is the AtomicBool inside the Context's Arc, which outlives the
    // llama_context (dropped after llama_free). Loading an atomic cannot panic.
    unsafe { &*(data as *const AtomicBool) }.load(Ordering::Acquire)
}
