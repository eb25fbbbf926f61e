//! Process-global llama.cpp state: backend init and log routing.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Once;

use edge_infer_llama_sys as sys;

static INIT: Once = Once::new();

thread_local! {
    // The errors llama.cpp logged on this thread since the last clear, so that a NULL return can be
    // turned into an error that says why.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    // The line being logged on this thread: llama.cpp writes some lines in pieces, the later
    // ones at GGML_LOG_LEVEL_CONT ("same record, continued"), e.g. a message and then its
    // cause, or a row of progress dots. They are joined before they become one record.
    static LINE: RefCell<Line> = const {
        RefCell::new(Line { level: None, last: log::Level::Debug, text: String::new() })
    };
}

struct Line {
    /// The level of the line's first piece; `None` when no line is open.
    level: Option<log::Level>,
    /// The level of the last piece that had one, for continuations of a finished line.
    last: log::Level,
    text: String,
}

/// Initialises llama.cpp once per process and routes its log to the `log` crate
/// (target `llama.cpp`). Every entry point of this crate calls it; calling it again is free.
pub(crate) fn init() {
    INIT.call_once(|| {
        // SAFETY: both calls are made exactly once, before any other llama.cpp call
        // of this crate (Once orders them), which is what llama.cpp requires of them.
        unsafe {
            sys::llama_log_set(Some(log_callback), std::ptr::null_mut());
            sys::llama_backend_init();
        }
    });
}

pub(crate) fn take_last_error() -> Option<String> {
    flush_line();
    LAST_ERROR.with(|e| {
        let s = std::mem::take(&mut *e.borrow_mut());
        (!s.is_empty()).then_some(s)
    })
}

pub(crate) fn clear_last_error() {
    flush_line();
    LAST_ERROR.with(|e| e.borrow_mut().clear());
}

unsafe extern "C" fn log_callback(level: sys::ggml_log_level, text: *const c_char, _: *mut c_void) {
    // A panic must not unwind into llama.cpp; a lost log line is the lesser evil.
    let _ = std::panic::catch_unwind(|| {
        if text.is_null() {
            return;
        }
        // SAFETY: llama.cpp passes a NUL-terminated string valid for this call.
        let piece = unsafe { CStr::from_ptr(text) }.to_string_lossy();
        log_piece(level, &piece);
    });
}

/// Adds one piece of llama.cpp's log to the current line; a line goes out when it ends
/// with a newline, or when the next line starts.
fn log_piece(level: sys::ggml_log_level, piece: &str) {
    let level = match level {
        sys::GGML_LOG_LEVEL_CONT => None,
        sys::GGML_LOG_LEVEL_ERROR => Some(log::Level::Error),
        sys::GGML_LOG_LEVEL_WARN => Some(log::Level::Warn),
        sys::GGML_LOG_LEVEL_INFO => Some(log::Level::Info),
        _ => Some(log::Level::Debug),
    };
    if level.is_some() {
        flush_line();
    }
    let complete = LINE.with(|l| {
        let mut l = l.borrow_mut();
        // A continuation with no open line continues an already finished one: it becomes
        // a line of its own at that line's level.
        if let Some(level) = level {
            l.last = level;
        }
        l.level = level.or(l.level).or(Some(l.last));
        l.text.push_str(piece);
        l.text.ends_with('\n')
    });
    if complete {
        flush_line();
    }
}

/// Sends the open line, if any, as one record.
fn flush_line() {
    let Some((level, text)) = LINE.with(|l| {
        let mut l = l.borrow_mut();
        let level = l.level.take()?;
        Some((level, std::mem::take(&mut l.text)))
    }) else {
        return;
    };
    let msg = text.trim_end();
    if msg.is_empty() {
        return;
    }
    if level == log::Level::Error {
        // Keep every error since the last clear: llama.cpp logs the cause first and a
        // generic "failed to load model" after it. Drop the `function: ` prefixes.
        let bare = msg
            .split_once(": ")
            .filter(|(f, _)| !f.contains(' '))
            .map_or(msg, |(_, m)| m);
        LAST_ERROR.with(|e| {
            let mut e = e.borrow_mut();
            if e.len() < 4096 {
                if !e.is_empty() {
                    e.push_str("; ");
                }
                e.push_str(bare);
            }
        });
    }
    // llama.cpp is chatty at INFO; keep its INFO at debug so apps stay quiet unless asked.
    let level = if level == log::Level::Info {
        log::Level::Debug
    } else {
        level
    };
    log::log!(target: "llama.cpp", level, "{msg}");
}

/// llama.cpp's own report of the CPU features it was compiled for, e.g.
/// `CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | DOTPROD = 1 | ...`.
pub fn system_info() -> String {
    // llama_print_system_info rewrites a static buffer: call it once, under a OnceLock.
    static INFO: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INFO.get_or_init(|| {
        init();
        // SAFETY: returns a pointer to a static buffer owned by llama.cpp; the OnceLock
        // makes this the only call, so nothing rewrites it while we copy.
        let p = unsafe { sys::llama_print_system_info() };
        // SAFETY: non-NULL, NUL-terminated.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    })
    .clone()
}

/// The CPU features in [`system_info`] as `(name, value)` pairs, e.g.
/// `("DOTPROD", "1")`, in llama.cpp's order.
///
/// ```
/// let features = edge_infer_llama::cpu_features();
/// assert!(features.iter().any(|(name, _)| name == "OPENMP" || name == "REPACK"));
/// ```
pub fn cpu_features() -> Vec<(String, String)> {
    let info = system_info();
    info.split('|')
        .filter_map(|part| {
            // The first entry of each backend carries its name: "CPU : SSE3 = 1".
            let part = part.rsplit(" : ").next().unwrap_or(part);
            let (k, v) = part.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The llama.cpp build profile (`native`, `rk3588` or `generic`) this crate was built with.
pub fn build_profile() -> &'static str {
    sys::BUILD_PROFILE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continued_pieces_join_their_line() {
        clear_last_error();
        log_piece(
            sys::GGML_LOG_LEVEL_ERROR,
            "llama_model_load: error loading model: ",
        );
        log_piece(sys::GGML_LOG_LEVEL_CONT, "tensor 'x' is corrupted");
        log_piece(sys::GGML_LOG_LEVEL_CONT, "\n");
        log_piece(
            sys::GGML_LOG_LEVEL_ERROR,
            "llama_model_load_from_file_impl: failed\n",
        );
        assert_eq!(
            take_last_error().as_deref(),
            Some("error loading model: tensor 'x' is corrupted; failed")
        );
        // An unfinished line is not lost: asking for the errors closes it.
        log_piece(sys::GGML_LOG_LEVEL_ERROR, "f: no newline");
        assert_eq!(take_last_error().as_deref(), Some("no newline"));
    }
}
