//! Separating a model's reasoning from its answer while streaming.
//!
//! Reasoning models wrap their thinking in markers: `<think>…</think>` (Qwen3,
//! DeepSeek-R1 and many others), Gemma's thought channel `<|channel>thought…<channel|>`,
//! and the harmony format's `<|channel|>analysis<|message|>…<|end|>`. Markers arrive
//! split across tokens, so the splitter holds back any text that may be the start of a
//! marker until it can tell (with the scanner every backend's text goes through).

use edge_infer_base::text::{Scan, Scanner};

/// What to do with reasoning text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningMode {
    /// Drop it; the answer never contains it (default).
    #[default]
    Drop,
    /// Keep it in the answer text, markers included, as the model wrote it.
    Inline,
    /// Emit it as separate reasoning events.
    Separate,
}

/// An opening and a closing marker of a reasoning block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    /// Opens a reasoning block.
    pub open: String,
    /// Closes it.
    pub close: String,
}

impl Markers {
    /// A marker pair.
    pub fn new(open: impl Into<String>, close: impl Into<String>) -> Self {
        Markers {
            open: open.into(),
            close: close.into(),
        }
    }

    /// The marker pairs of common chat templates.
    pub fn common() -> Vec<Markers> {
        vec![
            Markers::new("<think>", "</think>"),
            Markers::new("<|channel>thought", "<channel|>"),
            Markers::new("<|channel|>analysis<|message|>", "<|end|>"),
        ]
    }
}

/// A piece of classified output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Answer text.
    Text(&'a str),
    /// Reasoning text (only in [`ReasoningMode::Separate`]).
    Reasoning(&'a str),
}

/// Streaming splitter of answer and reasoning text.
///
/// ```
/// use edge_infer::reasoning::{Piece, ReasoningMode, ReasoningSplitter};
/// let mut s = ReasoningSplitter::new(ReasoningMode::Separate);
/// let mut text = String::new();
/// let mut thought = String::new();
/// for chunk in ["<thi", "nk>hmm</th", "ink>Hello"] {
///     s.push(chunk, |p| match p {
///         Piece::Text(t) => text.push_str(t),
///         Piece::Reasoning(r) => thought.push_str(r),
///     });
/// }
/// s.finish(|p| if let Piece::Text(t) = p { text.push_str(t) });
/// assert_eq!((text.as_str(), thought.as_str()), ("Hello", "hmm"));
/// ```
#[derive(Debug)]
pub struct ReasoningSplitter {
    mode: ReasoningMode,
    /// Needle `2i` opens block `i` of the marker list and `2i + 1` closes it: outside a
    /// block every opener is active, inside one only its closer.
    scanner: Scanner,
    /// Index into the marker list of the open block, if inside one.
    inside: Option<usize>,
}

impl ReasoningSplitter {
    /// A splitter for the common markers.
    pub fn new(mode: ReasoningMode) -> Self {
        Self::with_markers(mode, Markers::common())
    }

    /// A splitter for the given markers.
    pub fn with_markers(mode: ReasoningMode, markers: Vec<Markers>) -> Self {
        let needles = markers.into_iter().flat_map(|m| [m.open, m.close]);
        let mut s = ReasoningSplitter {
            mode,
            scanner: Scanner::new(needles),
            inside: None,
        };
        s.activate();
        s
    }

    /// Starts inside a reasoning block (the prompt already opened it, as some templates
    /// do when thinking is forced on). `marker` indexes the marker list.
    pub fn start_inside(&mut self, marker: usize) {
        let blocks = self.scanner.needles().len() / 2;
        self.inside = Some(marker.min(blocks.saturating_sub(1)));
        self.activate();
    }

    /// Whether the stream is currently inside a reasoning block.
    pub fn in_reasoning(&self) -> bool {
        self.inside.is_some()
    }

    /// Feeds text; `out` receives what can be classified now.
    pub fn push(&mut self, text: &str, mut out: impl FnMut(Piece<'_>)) {
        if self.mode == ReasoningMode::Inline {
            if !text.is_empty() {
                out(Piece::Text(text));
            }
            return;
        }
        self.scanner.push(text);
        self.drain(&mut out);
    }

    /// Ends the stream: held-back text is released (an unterminated reasoning block
    /// stays reasoning).
    pub fn finish(&mut self, mut out: impl FnMut(Piece<'_>)) {
        self.scanner.finish();
        self.drain(&mut out);
    }

    fn drain(&mut self, out: &mut impl FnMut(Piece<'_>)) {
        while let Some(found) = self.scanner.next() {
            match found {
                Scan::Text(t) => match (self.inside, self.mode) {
                    (None, _) => out(Piece::Text(t)),
                    (Some(_), ReasoningMode::Separate) => out(Piece::Reasoning(t)),
                    (Some(_), _) => {}
                },
                Scan::Needle(k) => {
                    self.inside = (k % 2 == 0).then_some(k / 2);
                    self.activate();
                }
            }
        }
    }

    fn activate(&mut self) {
        for k in 0..self.scanner.needles().len() {
            let on = match self.inside {
                None => k % 2 == 0,
                Some(i) => k == 2 * i + 1,
            };
            self.scanner.set_active(k, on);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: ReasoningMode, chunks: &[&str]) -> (String, String) {
        let mut s = ReasoningSplitter::new(mode);
        let (mut t, mut r) = (String::new(), String::new());
        let mut sink = |p: Piece<'_>| match p {
            Piece::Text(x) => t.push_str(x),
            Piece::Reasoning(x) => r.push_str(x),
        };
        for c in chunks {
            s.push(c, &mut sink);
        }
        s.finish(&mut sink);
        (t, r)
    }

    /// Every way of splitting the text into two chunks gives the same result.
    fn all_splits(mode: ReasoningMode, text: &str, want: (&str, &str)) {
        for (i, _) in text.char_indices() {
            let got = run(mode, &[&text[..i], &text[i..]]);
            assert_eq!((got.0.as_str(), got.1.as_str()), want, "split at {i}");
        }
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = chars.iter().map(|s| s.as_str()).collect();
        let got = run(mode, &refs);
        assert_eq!((got.0.as_str(), got.1.as_str()), want, "char by char");
    }

    #[test]
    fn think_tags_split_anywhere() {
        all_splits(
            ReasoningMode::Separate,
            "<think>step 1</think>Answer",
            ("Answer", "step 1"),
        );
        all_splits(
            ReasoningMode::Drop,
            "<think>step 1</think>Answer",
            ("Answer", ""),
        );
        all_splits(
            ReasoningMode::Inline,
            "<think>x</think>A",
            ("<think>x</think>A", ""),
        );
    }

    #[test]
    fn gemma_thought_channel() {
        all_splits(
            ReasoningMode::Separate,
            "<|channel>thought\nplan<channel|>Hi!",
            ("Hi!", "\nplan"),
        );
    }

    #[test]
    fn harmony_analysis_channel() {
        all_splits(
            ReasoningMode::Separate,
            "<|channel|>analysis<|message|>think<|end|>done",
            ("done", "think"),
        );
    }

    #[test]
    fn lookalikes_are_text() {
        all_splits(
            ReasoningMode::Separate,
            "a < b and <thin ice>",
            ("a < b and <thin ice>", ""),
        );
    }

    #[test]
    fn unterminated_reasoning_stays_reasoning() {
        assert_eq!(
            run(ReasoningMode::Separate, &["<think>never ends"]),
            ("".into(), "never ends".into())
        );
    }

    #[test]
    fn prefilled_open_marker() {
        let mut s = ReasoningSplitter::new(ReasoningMode::Separate);
        s.start_inside(0);
        let mut got = Vec::new();
        s.push("why</think>because", |p| got.push(format!("{p:?}")));
        assert_eq!(got, ["Reasoning(\"why\")", "Text(\"because\")"]);
    }

    #[test]
    fn several_blocks_and_utf8() {
        all_splits(
            ReasoningMode::Separate,
            "é<think>α</think>β<think>γ</think>δ",
            ("éβδ", "αγ"),
        );
    }
}
