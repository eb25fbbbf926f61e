//! Finding needles (stop strings, markers) in streamed text.

/// What [`Scanner::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan<'a> {
    /// Text that is not, and can no longer become, part of an active needle.
    Text(&'a str),
    /// The needle with this index (into the list given to [`Scanner::new`]) completed;
    /// its text is consumed, and the text before it came out first.
    Needle(usize),
}

/// Finds needles in text that arrives in pieces, holding back any tail that may be the
/// start of one, so that a needle split across pieces is still found and never leaks
/// out as text.
///
/// Matching is leftmost-first: of the needles that occur, the one that starts first
/// wins, and of those starting at the same place the shortest (it completes first, so
/// the scanner never waits to see whether a longer one follows). The result depends only
/// on the text, not on how it was split into pieces. An empty needle never matches.
/// Needles can be switched on and off between results ([`Scanner::set_active`]), e.g. to
/// look only for the closing marker inside a block.
///
/// The held text is copied once into a buffer that is reused: after warm-up, scanning
/// allocates nothing.
///
/// ```
/// use edge_infer_base::text::{Scan, Scanner};
/// let mut s = Scanner::new(["</s>", "\n\n"]);
/// let mut text = String::new();
/// let mut stop = None;
/// 'feed: for piece in ["Hello <", "/", "s> never seen"] {
///     s.push(piece);
///     while let Some(found) = s.next() {
///         match found {
///             Scan::Text(t) => text.push_str(t),
///             Scan::Needle(i) => {
///                 stop = Some(i);
///                 break 'feed;
///             }
///         }
///     }
/// }
/// assert_eq!((text.as_str(), stop), ("Hello ", Some(0)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    needles: Vec<String>,
    active: Vec<bool>,
    /// Text pushed and not yet handed out, from `start` on.
    buf: String,
    start: usize,
    /// No more text will come: nothing needs holding back.
    finished: bool,
    /// Everything left is held back: `next` has nothing until the next change.
    idle: bool,
}

impl Scanner {
    /// A scanner for `needles`, all active.
    pub fn new<I, S>(needles: I) -> Scanner
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let needles: Vec<String> = needles.into_iter().map(Into::into).collect();
        Scanner {
            active: vec![true; needles.len()],
            needles,
            buf: String::with_capacity(64),
            start: 0,
            finished: false,
            idle: false,
        }
    }

    /// The needles, in the order given.
    pub fn needles(&self) -> &[String] {
        &self.needles
    }

    /// Turns needle `i` on or off for what follows (text already handed out stays out).
    /// Indices past the list are ignored.
    pub fn set_active(&mut self, i: usize, on: bool) {
        if let Some(a) = self.active.get_mut(i) {
            *a = on;
            self.idle = false;
        }
    }

    /// Whether needle `i` is active.
    pub fn is_active(&self, i: usize) -> bool {
        self.active.get(i).copied().unwrap_or(false)
    }

    /// Appends text. Take the results with [`Scanner::next`] until it returns `None`.
    pub fn push(&mut self, text: &str) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.push_str(text);
        self.idle = false;
    }

    /// Marks the end of the text: nothing is held back any more, so [`Scanner::next`]
    /// hands out the rest (and any needle in it). [`Scanner::reset`] starts over.
    pub fn finish(&mut self) {
        self.finished = true;
        self.idle = false;
    }

    /// Forgets all text and the end mark; needles and their activity stay.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.finished = false;
        self.idle = false;
    }

    /// The text held back because it may start an active needle.
    pub fn held(&self) -> &str {
        &self.buf[self.start..]
    }

    /// The next result: text that is safe to hand out, or a completed needle. `None`
    /// when everything left is held back (or nothing is left).
    #[allow(clippy::should_implement_trait)] // results borrow the scanner: not an Iterator
    pub fn next(&mut self) -> Option<Scan<'_>> {
        let rest = &self.buf[self.start..];
        if rest.is_empty() || self.idle {
            return None;
        }
        // Text from `hold_from` on may be the start of a needle that is still arriving.
        let hold_from = if self.finished {
            rest.len()
        } else {
            rest.len() - self.partial_suffix(rest)
        };
        let from = self.start;
        match self.earliest(rest) {
            // A complete needle that no earlier, still incomplete one can overtake.
            Some((pos, i, len)) if pos <= hold_from => {
                if pos > 0 {
                    self.start += pos;
                    return Some(Scan::Text(&self.buf[from..from + pos]));
                }
                self.start += len;
                Some(Scan::Needle(i))
            }
            // No needle can complete before the held tail: hand out what precedes it, and
            // know that nothing more comes out until the text or the needles change.
            _ => {
                self.idle = true;
                self.start += hold_from;
                (hold_from > 0).then(|| Scan::Text(&self.buf[from..from + hold_from]))
            }
        }
    }

    fn active_needles(&self) -> impl Iterator<Item = (usize, &str)> {
        self.needles
            .iter()
            .zip(&self.active)
            .enumerate()
            .filter(|(_, (n, on))| **on && !n.is_empty())
            .map(|(i, (n, _))| (i, n.as_str()))
    }

    /// The leftmost, then shortest, complete active needle: (position, index, length).
    fn earliest(&self, rest: &str) -> Option<(usize, usize, usize)> {
        self.active_needles()
            .filter_map(|(i, n)| rest.find(n).map(|pos| (pos, n.len(), i)))
            .min()
            .map(|(pos, len, i)| (pos, i, len))
    }

    /// The length of the longest tail of `rest` that is a proper prefix of an active
    /// needle (a needle that may still complete).
    fn partial_suffix(&self, rest: &str) -> usize {
        self.active_needles()
            .filter_map(|(_, n)| {
                (1..n.len().min(rest.len() + 1))
                    .rev()
                    .find(|&k| n.is_char_boundary(k) && rest.ends_with(&n[..k]))
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the pieces, then finishes; returns the text and the needles in order.
    fn scan(needles: &[&str], pieces: &[&str]) -> Vec<String> {
        let mut s = Scanner::new(needles.iter().copied());
        let mut out = Vec::new();
        let drain = |s: &mut Scanner, out: &mut Vec<String>| {
            while let Some(r) = s.next() {
                match r {
                    Scan::Text(t) => match out.last_mut() {
                        Some(last) if !last.starts_with('#') => last.push_str(t),
                        _ => out.push(t.to_string()),
                    },
                    Scan::Needle(i) => out.push(format!("#{i}")),
                }
            }
        };
        for p in pieces {
            s.push(p);
            drain(&mut s, &mut out);
        }
        s.finish();
        drain(&mut s, &mut out);
        out
    }

    #[test]
    fn a_needle_split_across_pieces_is_found_and_not_emitted() {
        assert_eq!(
            scan(&["</s>"], &["hello <", "/", "s> tail"]),
            ["hello ", "#0", " tail"]
        );
    }

    #[test]
    fn a_held_prefix_is_released_when_it_does_not_complete() {
        let mut s = Scanner::new(["STOP"]);
        s.push("a ST");
        assert_eq!(s.next(), Some(Scan::Text("a ")));
        assert_eq!(s.next(), None);
        assert_eq!(s.held(), "ST");
        s.push("OR");
        assert_eq!(s.next(), Some(Scan::Text("STOR")));
        s.push("Y");
        assert_eq!(s.next(), Some(Scan::Text("Y")));
        assert_eq!(s.next(), None);
    }

    #[test]
    fn leftmost_then_shortest() {
        assert_eq!(scan(&["b", "xyz"], &["axyzb"]), ["a", "#1", "#0"]);
        // "abcd" may still complete at 0 when "c" completes at 2: wait for it.
        assert_eq!(scan(&["abcd", "c"], &["abc", "d!"]), ["#0", "!"]);
        assert_eq!(scan(&["abcd", "c"], &["abc", "x"]), ["ab", "#1", "x"]);
        // Same start: the shorter one completes first and wins.
        assert_eq!(
            scan(&["\n\n", "\n"], &["a\n", "\nb"]),
            ["a", "#1", "#1", "b"]
        );
    }

    #[test]
    fn the_end_releases_held_text_and_finds_needles_in_it() {
        assert_eq!(scan(&["abcd", "c"], &["xabc"]), ["xab", "#1"]);
        assert_eq!(scan(&["STOP"], &["ST"]), ["ST"]);
    }

    #[test]
    fn multibyte_needles_and_text() {
        assert_eq!(
            scan(&["€"], &["5 \u{20AC}", " more"]),
            ["5 ", "#0", " more"]
        );
        assert_eq!(scan(&["ab€"], &["é", "ab", "€x"]), ["é", "#0", "x"]);
    }

    #[test]
    fn inactive_and_empty_needles_never_match() {
        let mut s = Scanner::new(["<think>", "</think>", ""]);
        s.set_active(1, false);
        s.push("a</think><think>b");
        assert_eq!(s.next(), Some(Scan::Text("a</think>")));
        assert_eq!(s.next(), Some(Scan::Needle(0)));
        s.set_active(0, false);
        s.set_active(1, true);
        s.push("c</thi");
        assert_eq!(s.next(), Some(Scan::Text("bc")));
        assert_eq!(s.next(), None);
        s.push("nk>d");
        assert_eq!(s.next(), Some(Scan::Needle(1)));
        assert_eq!(s.next(), Some(Scan::Text("d")));
        assert!(s.is_active(2) && !s.is_active(0));
    }
}
