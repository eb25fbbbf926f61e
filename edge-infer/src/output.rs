//! The output path shared by every backend: raw text pieces → stop strings → reasoning
//! split → events. Both backends feed it the same way, so stop strings and reasoning
//! behave identically on CPU and NPU.

use crate::generator::{Event, EventSender};
use crate::reasoning::{Markers, Piece, ReasoningMode, ReasoningSplitter};

/// Finds stop strings in streamed text, holding back any tail that may start one.
#[derive(Debug, Default)]
pub(crate) struct StopScanner {
    stops: Vec<String>,
    pending: String,
}

impl StopScanner {
    pub(crate) fn new(stops: Vec<String>) -> Self {
        StopScanner {
            stops,
            pending: String::new(),
        }
    }

    /// Feeds text; calls `out` with what is safe to emit. Returns the stop string that
    /// completed, if any (text from it on is dropped).
    pub(crate) fn push(&mut self, text: &str, mut out: impl FnMut(&str)) -> Option<String> {
        if self.stops.is_empty() {
            out(text);
            return None;
        }
        self.pending.push_str(text);
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()).map(|i| (i, s)))
            .min_by_key(|&(i, _)| i);
        if let Some((cut, stop)) = hit {
            out(&self.pending[..cut]);
            self.pending.clear();
            return Some(stop.clone());
        }
        let hold = self
            .stops
            .iter()
            .flat_map(|s| s.char_indices().skip(1).map(move |(k, _)| &s[..k]))
            .filter(|prefix| self.pending.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let keep_from = self.pending.len() - hold;
        out(&self.pending[..keep_from]);
        self.pending.drain(..keep_from);
        None
    }

    /// Held-back text at the end is real output.
    pub(crate) fn finish(&mut self, mut out: impl FnMut(&str)) {
        out(&std::mem::take(&mut self.pending));
    }
}

/// Raw model text in, events out.
pub(crate) struct Output {
    stops: StopScanner,
    splitter: ReasoningSplitter,
    tx: EventSender,
    /// The answer so far (what a chat history keeps).
    pub(crate) answer: String,
    /// The consumer dropped the stream.
    pub(crate) disconnected: bool,
    /// The stop string that ended the output.
    pub(crate) stopped_by: Option<String>,
}

impl Output {
    pub(crate) fn new(
        stops: Vec<String>,
        mode: ReasoningMode,
        markers: Vec<Markers>,
        tx: EventSender,
    ) -> Self {
        Output {
            stops: StopScanner::new(stops),
            splitter: ReasoningSplitter::with_markers(mode, markers),
            tx,
            answer: String::new(),
            disconnected: false,
            stopped_by: None,
        }
    }

    /// Feeds a piece of raw model text. Returns `false` when generation should stop (a
    /// stop string completed or nobody is listening).
    pub(crate) fn push(&mut self, raw: &str) -> bool {
        if self.stopped_by.is_some() {
            return false;
        }
        let Output {
            stops,
            splitter,
            tx,
            answer,
            disconnected,
            ..
        } = self;
        let hit = stops.push(raw, |t| {
            split_and_send(splitter, tx, answer, disconnected, t)
        });
        if hit.is_some() {
            self.stopped_by = hit;
            self.flush_splitter();
            return false;
        }
        !self.disconnected
    }

    /// Ends the text: held-back text goes out.
    pub(crate) fn finish(&mut self) {
        if self.stopped_by.is_none() {
            let Output {
                stops,
                splitter,
                tx,
                answer,
                disconnected,
                ..
            } = self;
            stops.finish(|t| split_and_send(splitter, tx, answer, disconnected, t));
            self.flush_splitter();
        }
    }

    fn flush_splitter(&mut self) {
        let Output {
            splitter,
            tx,
            answer,
            disconnected,
            ..
        } = self;
        splitter.finish(|p| send_piece(tx, answer, disconnected, p));
    }

    /// Sends the final event (or error).
    pub(crate) fn end(&self, item: crate::Result<Event>) {
        self.tx.send(item);
    }
}

fn split_and_send(
    splitter: &mut ReasoningSplitter,
    tx: &EventSender,
    answer: &mut String,
    disconnected: &mut bool,
    text: &str,
) {
    if text.is_empty() {
        return;
    }
    splitter.push(text, |p| send_piece(tx, answer, disconnected, p));
}

fn send_piece(tx: &EventSender, answer: &mut String, disconnected: &mut bool, p: Piece<'_>) {
    let event = match p {
        Piece::Text(t) => {
            answer.push_str(t);
            Event::Text(t.to_string())
        }
        Piece::Reasoning(r) => Event::Reasoning(r.to_string()),
    };
    if !tx.send(Ok(event)) {
        *disconnected = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(stops: &[&str], chunks: &[&str]) -> (String, Option<String>) {
        let mut s = StopScanner::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for c in chunks {
            if let Some(hit) = s.push(c, |t| out.push_str(t)) {
                return (out, Some(hit));
            }
        }
        s.finish(|t| out.push_str(t));
        (out, None)
    }

    #[test]
    fn stop_split_across_pieces() {
        assert_eq!(
            scan(&["</s>"], &["hi <", "/", "s> more"]),
            ("hi ".into(), Some("</s>".into()))
        );
        assert_eq!(
            scan(&["STOP"], &["a ST", "OR", "Y"]),
            ("a STORY".into(), None)
        );
        assert_eq!(
            scan(&["b", "xyz"], &["axyzb"]),
            ("a".into(), Some("xyz".into()))
        );
        assert_eq!(scan(&[], &["x", "y"]), ("xy".into(), None));
    }
}
