//! The one result callback registered at init, the header every run's userdata starts
//! with (it names the run's own handler), and what a single result holds.
use crate::chunk::Floats;
use edge_infer_base::text::Utf8Decoder;
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

/// One run's text on its way from the runtime's calls to whole characters: WAITING calls
/// folded ([`Waiting`]), then edge-infer-base's UTF-8 decoder, so the NPU path follows the
/// invalid-byte policy of every backend (one U+FFFD per invalid sequence, and one for a
/// character the run cut off). The text buffer is reused from call to call.
#[derive(Debug, Default)]
pub(crate) struct RunText {
    waiting: Waiting,
    utf8: Utf8Decoder,
    buf: String,
}

impl RunText {
    /// The characters that this call completes (possibly none).
    pub(crate) fn take(&mut self, state: c_int, bytes: &[u8]) -> &str {
        let RunText { waiting, utf8, buf } = self;
        buf.clear();
        utf8.push(&waiting.take(state, bytes), |s| buf.push_str(s));
        buf
    }

    /// Ends the run's text: U+FFFD for a character left unfinished, else nothing.
    pub(crate) fn finish(&mut self) -> String {
        let RunText { waiting, utf8, .. } = self;
        let mut tail = String::new();
        utf8.push(&waiting.finish(), |s| tail.push_str(s));
        utf8.finish(|s| tail.push_str(s));
        tail
    }
}

/// The runtime's WAITING protocol: a character's bytes split over calls. Whether a WAITING
/// call carries the first bytes (and NORMAL the rest), repeats them in the next call, or
/// carries nothing (NORMAL then has the whole character) is not documented; all three are
/// read right. The byte a character starts with can never continue one, so a call that
/// starts with the bytes held so far repeats them.
#[derive(Debug, Default)]
struct Waiting {
    held: Vec<u8>,
}

impl Waiting {
    /// Bytes for the UTF-8 assembler from one call (empty while a character is split).
    fn take<'a>(&mut self, state: c_int, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        use std::borrow::Cow;
        // A repeat starts where the held bytes start; a held run that begins with a
        // continuation byte (invalid there) could be matched by a continuation: not a repeat.
        let repeats =
            self.held.first().is_some_and(|&b| b & 0xC0 != 0x80) && bytes.starts_with(&self.held);
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
    fn finish(&mut self) -> Vec<u8> {
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
        // a run cut inside a character keeps its first bytes (RunText makes them U+FFFD)
        assert_eq!(
            feed(&[(N, b"a"), (W, &crab[..1])]),
            [b"a".as_slice(), &crab[..1]].concat()
        );
    }

    #[test]
    fn run_text_follows_the_shared_invalid_byte_policy() {
        let crab = "🦀".as_bytes();
        let mut t = RunText::default();
        assert_eq!(t.take(N, b"a\xFFb"), "a\u{FFFD}b");
        assert_eq!(t.take(W, &crab[..2]), "");
        assert_eq!(t.take(N, &crab[2..]), "🦀");
        assert_eq!(t.take(N, b"\xC3"), "");
        assert_eq!(t.finish(), "\u{FFFD}");
        // A run cut inside a WAITING character.
        assert_eq!(t.take(W, &crab[..1]), "");
        assert_eq!(t.finish(), "\u{FFFD}");
        assert_eq!(t.finish(), "");
    }

    // The oracle the CPU path's text is held to as well (edge-infer-base's
    // tests/text_splits.rs): whatever the split, the text is from_utf8_lossy of the stream.
    fn stream() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let atom = prop_oneof![
            "[a-z <>]{1,3}".prop_map(String::into_bytes),
            Just("é".as_bytes().to_vec()),
            Just("🦀".as_bytes().to_vec()),
            Just(vec![0xFF]),
            Just(vec![0xC3]),
            Just(vec![0xF0, 0x9F, 0xA6]),
            Just(vec![0x80]),
        ];
        proptest::collection::vec(atom, 0..30).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Calls as the runtime makes them: a call that ends inside a character the stream
        /// completes is WAITING (carrying its bytes, the `split` variant), the others
        /// NORMAL. (After a truncated sequence, a call that starts with the same bytes reads
        /// as a repeat: see [`Waiting`].)
        #[test]
        fn any_split_into_calls_gives_the_lossy_text(
            bytes in stream(),
            cuts in proptest::collection::btree_set(0usize..200, 0..20),
        ) {
            let mut inside = std::collections::HashSet::new();
            let mut at = 0;
            for chunk in bytes.utf8_chunks() {
                for (i, ch) in chunk.valid().char_indices() {
                    inside.extend((1..ch.len_utf8()).map(|k| at + i + k));
                }
                at += chunk.valid().len() + chunk.invalid().len();
            }
            let mut t = RunText::default();
            let mut text = String::new();
            let mut from = 0;
            for c in cuts.into_iter().filter(|&c| c < bytes.len()).chain([bytes.len()]) {
                let state = if inside.contains(&c) { W } else { N };
                text.push_str(t.take(state, &bytes[from..c]));
                from = c;
            }
            text.push_str(&t.finish());
            proptest::prop_assert_eq!(text, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
}
