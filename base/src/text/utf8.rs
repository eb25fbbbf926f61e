//! Streamed bytes to whole UTF-8 characters.

/// Reassembles UTF-8 text from bytes that arrive in pieces: a character split across
/// pieces is held (at most 3 bytes) until it completes, and bytes that can never be UTF-8
/// become U+FFFD as [`String::from_utf8_lossy`] replaces them (see the
/// [invalid-byte policy](super#invalid-bytes)). Allocation-free: the text handed to `out`
/// borrows the input, or a held character's 4-byte buffer.
///
/// ```
/// use edge_infer_base::text::Utf8Decoder;
/// let mut d = Utf8Decoder::new();
/// let mut text = String::new();
/// for piece in [&b"caf\xC3"[..], b"\xA9 \xF0\x9F", b"\xA6\x80!"] {
///     d.push(piece, |s| text.push_str(s));
/// }
/// d.finish(|s| text.push_str(s));
/// assert_eq!(text, "café 🦀!");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Decoder {
    /// The start of a character whose remaining bytes have not arrived.
    held: [u8; 4],
    held_len: u8,
    replaced: u64,
}

impl Utf8Decoder {
    /// A decoder at the start of a stream.
    pub const fn new() -> Self {
        Utf8Decoder {
            held: [0; 4],
            held_len: 0,
            replaced: 0,
        }
    }

    /// Decodes the next piece of the stream, calling `out` with each run of text it
    /// completes (possibly none).
    pub fn push(&mut self, bytes: &[u8], mut out: impl FnMut(&str)) {
        let mut rest = bytes;
        if self.held_len > 0 {
            rest = self.complete_held(rest, &mut out);
            if self.held_len > 0 {
                return; // still incomplete: `rest` was used up
            }
        }
        for chunk in rest.utf8_chunks() {
            if !chunk.valid().is_empty() {
                out(chunk.valid());
            }
            let bad = chunk.invalid();
            if bad.is_empty() {
                continue;
            }
            let at_end = bad.as_ptr_range().end == rest.as_ptr_range().end;
            if at_end && is_incomplete(bad) {
                self.held[..bad.len()].copy_from_slice(bad);
                self.held_len = bad.len() as u8;
            } else {
                self.replace(&mut out);
            }
        }
    }

    /// Ends the stream: a held, unfinished character becomes one U+FFFD. The decoder can
    /// then start a new stream.
    pub fn finish(&mut self, mut out: impl FnMut(&str)) {
        if self.held_len > 0 {
            self.held_len = 0;
            self.replace(&mut out);
        }
    }

    /// Whether the start of a character is held, waiting for its other bytes.
    pub fn is_holding(&self) -> bool {
        self.held_len > 0
    }

    /// The held start of a character (empty when none), e.g. for a producer that pauses
    /// a stream and resumes it elsewhere.
    pub fn held(&self) -> &[u8] {
        &self.held[..self.held_len as usize]
    }

    /// How many invalid sequences became U+FFFD since the decoder was made.
    pub fn replaced(&self) -> u64 {
        self.replaced
    }

    fn replace(&mut self, out: &mut impl FnMut(&str)) {
        self.replaced += 1;
        out(char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]));
    }

    /// Joins the held bytes with the first bytes of `rest` and decides the unit they
    /// start: a whole character, an invalid sequence, or still incomplete (then all of
    /// `rest` is held). Returns what remains of `rest` after that unit.
    fn complete_held<'a>(&mut self, rest: &'a [u8], out: &mut impl FnMut(&str)) -> &'a [u8] {
        let held = self.held_len as usize;
        // A character is at most 4 bytes, so 4 more bytes always decide it.
        let take = rest.len().min(4);
        let mut joined = [0u8; 8];
        joined[..held].copy_from_slice(&self.held[..held]);
        joined[held..held + take].copy_from_slice(&rest[..take]);
        let joined = &joined[..held + take];
        let (valid, error_len) = match std::str::from_utf8(joined) {
            Ok(s) => (s, None),
            Err(e) => {
                // from_utf8 vouched for the first valid_up_to bytes: this cannot fail.
                let s = std::str::from_utf8(&joined[..e.valid_up_to()]).unwrap_or_default();
                (s, e.error_len())
            }
        };
        // The held bytes are a valid start of a character, so the unit they begin covers
        // all of them and at least one byte of `rest`, whichever way it is decided.
        if let Some(c) = valid.chars().next() {
            let n = c.len_utf8();
            self.held_len = 0;
            out(&valid[..n]);
            return &rest[n - held..];
        }
        match error_len {
            Some(n) => {
                self.held_len = 0;
                self.replace(out);
                &rest[n - held..]
            }
            None => {
                // Still incomplete: every byte of `rest` is now held (fewer than 4 in all).
                self.held[..joined.len()].copy_from_slice(joined);
                self.held_len = joined.len() as u8;
                &[]
            }
        }
    }
}

/// Whether `bytes`, which std found invalid, are in fact the valid start of a character
/// whose other bytes are missing.
fn is_incomplete(bytes: &[u8]) -> bool {
    matches!(std::str::from_utf8(bytes), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> (Vec<String>, u64) {
        let mut d = Utf8Decoder::new();
        let mut out = Vec::new();
        for p in pieces {
            let mut s = String::new();
            d.push(p, |t| s.push_str(t));
            out.push(s);
        }
        let mut s = String::new();
        d.finish(|t| s.push_str(t));
        out.push(s);
        (out, d.replaced())
    }

    #[test]
    fn holds_a_character_split_across_pieces() {
        // "é" = C3 A9, "€" = E2 82 AC, "🦀" = F0 9F A6 80
        let (out, bad) = decode(&[
            b"caf\xC3",
            b"\xA9 ",
            b"\xE2",
            b"\x82",
            b"\xAC\xF0\x9F",
            b"\xA6\x80!",
        ]);
        assert_eq!(out, ["caf", "é ", "", "", "€", "🦀!", ""]);
        assert_eq!(bad, 0);
    }

    #[test]
    fn invalid_bytes_become_one_replacement_each_as_from_utf8_lossy() {
        let (out, bad) = decode(&[b"a\xFFb", b"\xC3"]);
        assert_eq!(out, ["a\u{FFFD}b", "", "\u{FFFD}"]);
        assert_eq!(bad, 2);
        // A truncated 3-byte sequence followed by ASCII is one invalid sequence.
        let (out, _) = decode(&[b"\xE2\x82", b"A"]);
        assert_eq!(out.concat(), String::from_utf8_lossy(b"\xE2\x82A"));
        let (out, _) = decode(&[b"\xE2", b"\x82A\xF0\x9F\xA6"]);
        assert_eq!(
            out.concat(),
            String::from_utf8_lossy(b"\xE2\x82A\xF0\x9F\xA6")
        );
    }

    #[test]
    fn a_held_start_broken_by_the_next_piece() {
        // F0 then 41: F0 alone is the invalid sequence; 41 is text.
        let (out, bad) = decode(&[b"\xF0", b"A\xC3", b"\xA9"]);
        assert_eq!(out, ["", "\u{FFFD}A", "é", ""]);
        assert_eq!(bad, 1);
        let mut d = Utf8Decoder::new();
        d.push(b"x\xF0\x9F", |_| {});
        assert_eq!((d.is_holding(), d.held()), (true, &b"\xF0\x9F"[..]));
    }
}
