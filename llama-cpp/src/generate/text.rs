//! Token bytes to emittable text: UTF-8 reassembly and stop-string holding.

use crate::generate::StopReason;

/// Turns token bytes into emittable text: whole UTF-8 characters only, and never a
/// stop string or a prefix of one that may still complete. Reuses its buffers.
#[derive(Debug, Default)]
pub(crate) struct TextAssembler {
    stops: Vec<String>,
    /// Bytes of an incomplete trailing character.
    pub(crate) bytes: Vec<u8>,
    /// Decoded text held back because it may begin a stop string.
    pending: String,
    /// Text ready to hand out.
    pub(crate) emit: String,
}

impl TextAssembler {
    pub(crate) fn new(stops: Vec<String>) -> Self {
        TextAssembler {
            stops,
            bytes: Vec::with_capacity(64),
            pending: String::with_capacity(256),
            emit: String::with_capacity(256),
        }
    }

    /// Processes the bytes appended to `self.bytes`, appending to `emit`. Returns the
    /// stop reason if a stop string completed (text from it on is dropped).
    pub(crate) fn advance(&mut self) -> Option<StopReason> {
        self.take_complete_chars();
        self.scan_stops()
    }

    /// Moves whole characters from `bytes` to `pending`; an incomplete trailing
    /// character stays, bytes that can never be UTF-8 become U+FFFD.
    fn take_complete_chars(&mut self) {
        loop {
            match std::str::from_utf8(&self.bytes) {
                Ok(s) => {
                    self.pending.push_str(s);
                    self.bytes.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY: from_utf8 vouched for the first `valid` bytes.
                    self.pending
                        .push_str(unsafe { std::str::from_utf8_unchecked(&self.bytes[..valid]) });
                    match e.error_len() {
                        None => {
                            self.bytes.drain(..valid);
                            return;
                        }
                        Some(bad) => {
                            self.pending.push(char::REPLACEMENT_CHARACTER);
                            self.bytes.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    fn scan_stops(&mut self) -> Option<StopReason> {
        let hit = self
            .stops
            .iter()
            .filter_map(|stop| self.pending.find(stop.as_str()).map(|i| (i, stop)))
            .min_by_key(|&(i, _)| i);
        if let Some((cut, stop)) = hit {
            let reason = StopReason::StopString(stop.clone());
            self.emit.push_str(&self.pending[..cut]);
            self.pending.clear();
            self.bytes.clear();
            return Some(reason);
        }
        let mut hold = 0;
        for stop in &self.stops {
            for (k, _) in stop.char_indices().skip(1) {
                if k > hold && self.pending.ends_with(&stop[..k]) {
                    hold = k;
                }
            }
        }
        let keep_from = self.pending.len() - hold;
        self.emit.push_str(&self.pending[..keep_from]);
        self.pending.drain(..keep_from);
        None
    }

    /// At the end: held-back text is real output; an unfinished character becomes U+FFFD.
    pub(crate) fn flush(&mut self) {
        self.emit.push_str(&self.pending);
        self.pending.clear();
        if !self.bytes.is_empty() {
            self.emit.push(char::REPLACEMENT_CHARACTER);
            self.bytes.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stops: &[&str], chunks: &[&[u8]]) -> (Vec<String>, Option<StopReason>) {
        let mut t = TextAssembler::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        for c in chunks {
            t.emit.clear();
            t.bytes.extend_from_slice(c);
            let stop = t.advance();
            out.push(t.emit.clone());
            if stop.is_some() {
                return (out, stop);
            }
        }
        t.emit.clear();
        t.flush();
        out.push(t.emit.clone());
        (out, None)
    }

    #[test]
    fn holds_a_character_split_across_tokens() {
        // "é" = C3 A9, "€" = E2 82 AC, "🦀" = F0 9F A6 80
        let (out, _) = feed(
            &[],
            &[
                b"caf\xC3",
                b"\xA9 ",
                b"\xE2",
                b"\x82",
                b"\xAC\xF0\x9F",
                b"\xA6\x80!",
            ],
        );
        assert_eq!(out, ["caf", "é ", "", "", "€", "🦀!", ""]);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (out, _) = feed(&[], &[b"a\xFFb", b"\xC3"]);
        assert_eq!(out, ["a\u{FFFD}b", "", "\u{FFFD}"]);
    }

    #[test]
    fn stop_string_split_across_tokens_is_never_emitted() {
        let (out, stop) = feed(&["</s>"], &[b"hello <", b"/", b"s> tail"]);
        assert_eq!(out.concat(), "hello ");
        assert_eq!(stop, Some(StopReason::StopString("</s>".into())));
    }

    #[test]
    fn held_back_prefix_is_released_when_it_does_not_complete() {
        let (out, stop) = feed(&["STOP"], &[b"a ST", b"OR", b"Y"]);
        assert_eq!(out, ["a ", "STOR", "Y", ""]);
        assert_eq!(stop, None);
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (out, stop) = feed(&["b", "xyz"], &[b"axyzb"]);
        assert_eq!(out, ["a"]);
        assert_eq!(stop, Some(StopReason::StopString("xyz".into())));
    }

    #[test]
    fn multibyte_stop_string() {
        let (out, stop) = feed(&["€"], &[b"5 \xE2\x82", b"\xAC more"]);
        assert_eq!(out.concat(), "5 ");
        assert!(stop.is_some());
    }
}
