//! The one result callback registered at init, the header every run's userdata starts
//! with (it names the run's own handler), and what a single result holds.
use crate::chunk::Floats;
use edge_infer_rkllm_sys as sys;
use std::any::Any;
use std::ffi::{c_int, c_void, CStr};

/// A run's handler: called with the run's userdata (the context the header starts).
///
/// # Safety
/// `ctx` must be the context whose header holds this handler, alive for the call.
pub(crate) type OnResult =
    unsafe fn(ctx: *const c_void, result: *mut sys::RKLLMResult, state: c_int) -> c_int;

/// First field of every userdata we hand the runtime.
#[repr(C)]
pub(crate) struct CtxHeader {
    pub(crate) on_result: OnResult,
}

/// `LLMResultCallback`, registered at init for every run.
pub(crate) unsafe extern "C" fn result_trampoline(
    result: *mut sys::RKLLMResult,
    userdata: *mut c_void,
    state: sys::LLMCallState,
) -> c_int {
    if userdata.is_null() {
        return sys::RKLLM_CALLBACK_CONTINUE;
    }
    let call = std::panic::AssertUnwindSafe(|| {
        // SAFETY: every non-NULL userdata we pass to the runtime starts with a CtxHeader
        // (repr(C) first field) and is alive until its run has returned.
        let on_result = unsafe { (*(userdata as *const CtxHeader)).on_result };
        // SAFETY: the header belongs to this context and names its handler.
        unsafe { on_result(userdata, result, state) }
    });
    // Never unwind into C: an internal panic pauses the run.
    std::panic::catch_unwind(call).unwrap_or(sys::RKLLM_CALLBACK_PAUSE)
}

/// The text of a panic, for [`Error::CallbackPanicked`](crate::Error::CallbackPanicked).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// The runtime's WAITING protocol: a character's bytes split over calls. Whether a WAITING
/// call carries the first bytes (and NORMAL the rest), repeats them in the next call, or
/// carries nothing (NORMAL then has the whole character) is not documented; all three are
/// read right. The byte a character starts with can never continue one, so a call that
/// starts with the bytes held so far repeats them.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    held: Vec<u8>,
}

impl Waiting {
    /// Bytes for the UTF-8 assembler from one call (empty while a character is split).
    pub(crate) fn take<'a>(&mut self, state: c_int, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        use std::borrow::Cow;
        let repeats = !self.held.is_empty() && bytes.starts_with(&self.held);
        if state == sys::RKLLM_RUN_WAITING {
            if repeats {
                self.held.clear();
            }
            self.held.extend_from_slice(bytes);
            return Cow::Borrowed(&[]);
        }
        if self.held.is_empty() || repeats {
            self.held.clear();
            return Cow::Borrowed(bytes);
        }
        let mut all = std::mem::take(&mut self.held);
        all.extend_from_slice(bytes);
        Cow::Owned(all)
    }

    /// Bytes still held at the end of a run.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Borrowed views of one RKLLMResult.
pub(crate) struct ResultView<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) logits: Option<Floats<'a>>,
    pub(crate) hidden: Option<Floats<'a>>,
}

impl<'a> ResultView<'a> {
    /// # Safety
    /// `r`'s pointers must be valid for `'a` (the duration of the callback).
    pub(crate) unsafe fn new(r: &'a sys::RKLLMResult) -> Self {
        let bytes = if r.text.is_null() {
            &[][..]
        } else {
            // SAFETY: non-NULL text is NUL-terminated and valid during the callback.
            unsafe { CStr::from_ptr(r.text) }.to_bytes()
        };
        let floats = |p: *const f32, w: c_int, n: c_int| {
            let (w, n) = (usize::try_from(w).ok()?, usize::try_from(n).ok()?);
            // A product that overflows (possible on 32-bit) is no buffer at all.
            let len = w
                .checked_mul(n)
                .filter(|&l| l > 0 && l <= isize::MAX as usize / 4)?;
            if p.is_null() {
                return None;
            }
            // SAFETY: the runtime documents `w * n` floats at `p`, valid during the callback.
            Floats::new(unsafe { std::slice::from_raw_parts(p, len) }, w, n)
        };
        ResultView {
            bytes,
            logits: floats(r.logits.logits, r.logits.vocab_size, r.logits.num_tokens),
            hidden: floats(
                r.last_hidden_layer.hidden_states,
                r.last_hidden_layer.embd_size,
                r.last_hidden_layer.num_tokens,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const W: c_int = sys::RKLLM_RUN_WAITING;
    const N: c_int = sys::RKLLM_RUN_NORMAL;

    fn feed(calls: &[(c_int, &[u8])]) -> Vec<u8> {
        let mut w = Waiting::default();
        let mut out = Vec::new();
        for (s, b) in calls {
            out.extend_from_slice(&w.take(*s, b));
        }
        out.extend(w.finish());
        out
    }

    #[test]
    fn every_waiting_variant_gives_the_same_bytes() {
        let crab = "🦀".as_bytes();
        let want = [b"a".as_slice(), crab, b"b"].concat();
        // split: first bytes in WAITING, the rest in NORMAL
        assert_eq!(
            feed(&[
                (N, b"a"),
                (W, &crab[..1]),
                (W, &crab[1..3]),
                (N, &crab[3..]),
                (N, b"b")
            ]),
            want
        );
        // cumulative: each call repeats the bytes so far
        assert_eq!(
            feed(&[
                (N, b"a"),
                (W, &crab[..1]),
                (W, &crab[..3]),
                (N, crab),
                (N, b"b")
            ]),
            want
        );
        // empty: WAITING carries nothing, NORMAL the whole character
        assert_eq!(
            feed(&[(N, b"a"), (W, b""), (W, b""), (N, crab), (N, b"b")]),
            want
        );
        // a run cut inside a character keeps its first bytes for trailing_invalid
        assert_eq!(
            feed(&[(N, b"a"), (W, &crab[..1])]),
            [b"a".as_slice(), &crab[..1]].concat()
        );
    }
}
