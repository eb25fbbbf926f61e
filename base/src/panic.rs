//! The text of a caught panic.
//!
//! Callbacks called from C catch panics (unwinding into C is undefined behaviour) and
//! turn them into an error that carries the panic's message.

use std::any::Any;

/// The message of a panic payload as `catch_unwind` returns it: the `&str` or `String`
/// given to `panic!`, or a placeholder for other payloads.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("bad {}", 42)).unwrap_err();
/// assert_eq!(edge_infer_base::panic::message(&*caught), "bad 42");
/// ```
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
