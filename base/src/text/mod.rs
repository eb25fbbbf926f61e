//! Streamed text, the same for every backend: bytes to whole UTF-8 characters, then a
//! scan for stop strings and markers that holds back whatever may be the start of one.
//!
//! Three kinds of producer feed it: llama.cpp's per-token bytes, RKLLM's per-callback
//! bytes (a character may be split over callbacks the runtime marks as waiting), and
//! edge-infer's text pieces (stop strings, reasoning markers, tool-call openers).
//! [`TextStream`] takes bytes or text; [`Utf8Decoder`] and [`Scanner`] are its two halves
//! for producers that need only one.
//!
//! # Invalid bytes
//!
//! One policy everywhere: **every maximal invalid byte sequence becomes one U+FFFD**, the
//! substitution [`String::from_utf8_lossy`] makes (Unicode's "U+FFFD substitution of
//! maximal subparts"), and a character left unfinished at the end of the stream becomes
//! one U+FFFD too. The text a user sees is therefore the same on every backend and for
//! every way the bytes were split, and nothing the model produced disappears silently.
//! [`Utf8Decoder::replaced`] counts the substitutions for callers that want to log or
//! report them.
//!
//! # Allocation
//!
//! Decoding borrows its input; the scanner copies text once into a buffer it reuses, so
//! a stream allocates only while that buffer grows to the longest held-back tail.

mod scan;
mod utf8;

pub use scan::{Scan, Scanner};
pub use utf8::Utf8Decoder;

/// Bytes or text in, text and needles out: a [`Utf8Decoder`] feeding a [`Scanner`].
///
/// ```
/// use edge_infer_base::text::{Scan, TextStream};
/// let mut stream = TextStream::new(["<end>"]);
/// let mut text = String::new();
/// // "é" split across two pieces, and the stop string across three.
/// for piece in [&b"caf\xC3"[..], b"\xA9 <e", b"nd", b"> after"] {
///     stream.push_bytes(piece);
///     while let Some(found) = stream.next() {
///         match found {
///             Scan::Text(t) => text.push_str(t),
///             Scan::Needle(_) => break,
///         }
///     }
/// }
/// assert_eq!(text, "café ");
/// ```
#[derive(Debug, Clone, Default)]
pub struct TextStream {
    utf8: Utf8Decoder,
    scanner: Scanner,
}

impl TextStream {
    /// A stream that looks for `needles` (all active).
    pub fn new<I, S>(needles: I) -> TextStream
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TextStream {
            utf8: Utf8Decoder::new(),
            scanner: Scanner::new(needles),
        }
    }

    /// Appends bytes; a character they leave unfinished waits for the next bytes.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let TextStream { utf8, scanner } = self;
        utf8.push(bytes, |s| scanner.push(s));
    }

    /// Appends text (after any held bytes, which then become U+FFFD: text cannot finish
    /// a character that bytes began).
    pub fn push_str(&mut self, text: &str) {
        let TextStream { utf8, scanner } = self;
        utf8.finish(|s| scanner.push(s));
        scanner.push(text);
    }

    /// The next result; see [`Scanner::next`].
    #[allow(clippy::should_implement_trait)] // results borrow the stream: not an Iterator
    pub fn next(&mut self) -> Option<Scan<'_>> {
        self.scanner.next()
    }

    /// Marks the end of the stream: an unfinished character becomes U+FFFD, and nothing
    /// is held back any more ([`TextStream::next`] hands out the rest).
    pub fn finish(&mut self) {
        let TextStream { utf8, scanner } = self;
        utf8.finish(|s| scanner.push(s));
        scanner.finish();
    }

    /// Forgets everything pushed, to start a new stream with the same needles.
    pub fn reset(&mut self) {
        self.utf8 = Utf8Decoder::new();
        self.scanner.reset();
    }

    /// The needles, in the order given.
    pub fn needles(&self) -> &[String] {
        self.scanner.needles()
    }

    /// The scanner, e.g. to switch needles on and off.
    pub fn scanner(&mut self) -> &mut Scanner {
        &mut self.scanner
    }

    /// How many invalid byte sequences became U+FFFD so far.
    pub fn replaced(&self) -> u64 {
        self.utf8.replaced()
    }
}
