//! Reassembles streamed bytes into text: a character split across callbacks (the runtime's
//! WAITING state) is held until it completes; bytes that can never form UTF-8 are reported
//! separately instead of being replaced (no lossy conversion).

#[derive(Debug, Default)]
pub(crate) struct Utf8Assembler {
    pending: Vec<u8>,
}

impl Utf8Assembler {
    /// Appends `bytes`; returns the newly completed text and any invalid bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> (String, Vec<u8>) {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        let mut invalid = Vec::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // SAFETY-free: `good` was just validated by from_utf8.
                    text.push_str(std::str::from_utf8(good).expect("validated prefix"));
                    match e.error_len() {
                        Some(n) => {
                            invalid.extend_from_slice(&bad[..n]);
                            rest = &bad[n..];
                        }
                        None => {
                            rest = bad; // incomplete character: wait for more bytes
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        (text, invalid)
    }

    /// Ends the stream: any held incomplete character is invalid.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_split_characters() {
        let mut a = Utf8Assembler::default();
        let crab = "🦀".as_bytes();
        assert_eq!(a.push(&crab[..1]), (String::new(), vec![]));
        assert_eq!(a.push(&crab[1..3]), (String::new(), vec![]));
        assert_eq!(a.push(&[crab[3], b'!']), ("🦀!".to_owned(), vec![]));
        assert!(a.finish().is_empty());
    }

    #[test]
    fn reports_invalid_bytes_without_replacing() {
        let mut a = Utf8Assembler::default();
        assert_eq!(a.push(b"a\xFFb"), ("ab".to_owned(), vec![0xFF]));
        assert_eq!(a.push(&"é".as_bytes()[..1]), (String::new(), vec![]));
        assert_eq!(a.finish(), "é".as_bytes()[..1].to_vec());
    }
}
