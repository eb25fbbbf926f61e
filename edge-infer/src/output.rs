//! The output path shared by every backend: raw text pieces → stop strings → the chat
//! format's parser (content, reasoning, tool calls) or the reasoning-marker splitter →
//! events. Both backends feed it the same way, so stop strings, reasoning and tool calls
//! behave identically on CPU and NPU.

use edge_infer_base::text::{Scan, Scanner};
use edge_infer_llama::{ChatDelta, ChatStream};

use crate::event::Event;
use crate::reasoning::{Markers, Piece, ReasoningMode, ReasoningSplitter};
use crate::stream::EventSender;
use crate::tools::{ToolCall, Warning};

/// Finds stop strings in streamed text, holding back any tail that may start one: the
/// scanner every backend's text goes through (edge-infer-base's), with the stop strings as
/// its needles.
#[derive(Debug, Default)]
pub(crate) struct StopScanner {
    scanner: Scanner,
}

impl StopScanner {
    pub(crate) fn new(stops: Vec<String>) -> Self {
        StopScanner {
            scanner: Scanner::new(stops.into_iter().filter(|s| !s.is_empty())),
        }
    }

    /// More stop strings, before any text is pushed.
    pub(crate) fn add(&mut self, stops: &[String]) {
        let known = self.scanner.needles();
        let new: Vec<&String> = stops
            .iter()
            .filter(|s| !s.is_empty() && !known.contains(s))
            .collect();
        if !new.is_empty() {
            debug_assert!(
                self.scanner.held().is_empty(),
                "stop strings added mid-stream"
            );
            let all: Vec<String> = known.iter().chain(new).cloned().collect();
            self.scanner = Scanner::new(all);
        }
    }

    /// Feeds text; calls `out` with what is safe to emit. Returns the stop string that
    /// completed, if any (text from it on is dropped).
    pub(crate) fn push(&mut self, text: &str, out: impl FnMut(&str)) -> Option<String> {
        self.scanner.push(text);
        self.drain(out)
    }

    /// Held-back text at the end is real output.
    pub(crate) fn finish(&mut self, out: impl FnMut(&str)) {
        self.scanner.finish();
        self.drain(out);
    }

    fn drain(&mut self, mut out: impl FnMut(&str)) -> Option<String> {
        while let Some(found) = self.scanner.next() {
            match found {
                Scan::Text(t) => out(t),
                Scan::Needle(i) => return Some(self.scanner.needles()[i].clone()),
            }
        }
        None
    }
}

/// How a reply is read: by the chat format's parser (which knows the template's tool calls
/// and, where `reasons`, its thinking), or by the marker splitter alone.
pub(crate) struct Parse {
    pub(crate) stream: ChatStream,
    /// The parser separates the reasoning itself (the template has thinking tags).
    pub(crate) reasons: bool,
}

/// Where classified text goes: events, the answer kept for the history.
struct Sink {
    splitter: ReasoningSplitter,
    mode: ReasoningMode,
    tx: EventSender,
    answer: String,
    disconnected: bool,
}

impl Sink {
    fn send(&mut self, event: Event) {
        if !self.tx.send(Ok(event)) {
            self.disconnected = true;
        }
    }

    /// Answer text that may still hold reasoning markers.
    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let Sink {
            splitter,
            tx,
            answer,
            disconnected,
            ..
        } = self;
        splitter.push(text, |p| piece(tx, answer, disconnected, p));
    }

    /// Answer text the parser has already cleared of reasoning.
    fn answer(&mut self, text: String) {
        if !text.is_empty() {
            self.answer.push_str(&text);
            self.send(Event::Text(text));
        }
    }

    fn reasoning(&mut self, text: String) {
        if self.mode == ReasoningMode::Separate && !text.is_empty() {
            self.send(Event::Reasoning(text));
        }
    }

    fn finish_splitter(&mut self) {
        let Sink {
            splitter,
            tx,
            answer,
            disconnected,
            ..
        } = self;
        splitter.finish(|p| piece(tx, answer, disconnected, p));
    }
}

fn piece(tx: &EventSender, answer: &mut String, disconnected: &mut bool, p: Piece<'_>) {
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

/// Raw model text in, events out.
pub(crate) struct Output {
    stops: StopScanner,
    parse: Option<Parse>,
    deltas: Vec<ChatDelta>,
    sink: Sink,
    /// The tool calls the reply made (checked), for the history.
    pub(crate) tool_calls: Vec<ToolCall>,
    /// The stop string that ended the output.
    pub(crate) stopped_by: Option<String>,
}

impl Output {
    pub(crate) fn new(
        stops: Vec<String>,
        mode: ReasoningMode,
        markers: Vec<Markers>,
        parse: Option<Parse>,
        tx: EventSender,
    ) -> Self {
        Output {
            stops: StopScanner::new(stops),
            parse,
            deltas: Vec::new(),
            sink: Sink {
                splitter: ReasoningSplitter::with_markers(mode, markers),
                mode,
                tx,
                answer: String::new(),
                disconnected: false,
            },
            tool_calls: Vec::new(),
            stopped_by: None,
        }
    }

    /// More stop strings (the chat format's own).
    pub(crate) fn add_stops(&mut self, stops: &[String]) {
        self.stops.add(stops);
    }

    /// Reads the reply with the chat format's parser (before any text is pushed).
    pub(crate) fn set_parse(&mut self, parse: Parse) {
        self.parse = Some(parse);
    }

    /// The answer so far (what a chat history keeps).
    pub(crate) fn answer(&self) -> &str {
        &self.sink.answer
    }

    /// The consumer dropped the stream.
    pub(crate) fn disconnected(&self) -> bool {
        self.sink.disconnected
    }

    /// Feeds a piece of raw model text. Returns `false` when generation should stop (a
    /// stop string completed or nobody is listening).
    pub(crate) fn push(&mut self, raw: &str) -> bool {
        if self.stopped_by.is_some() {
            return false;
        }
        let Output {
            stops,
            parse,
            deltas,
            sink,
            ..
        } = self;
        let hit = stops.push(raw, |t| route(parse, deltas, sink, t));
        if hit.is_some() {
            self.stopped_by = hit;
            self.end_text();
            return false;
        }
        // A reply that may make one call only is over once a second call begins.
        !self.sink.disconnected && !self.parse.as_ref().is_some_and(|p| p.stream.is_complete())
    }

    /// Ends the text: held-back text goes out, then the final parse (tool calls, warnings).
    pub(crate) fn finish(&mut self) {
        if self.stopped_by.is_none() {
            let Output {
                stops,
                parse,
                deltas,
                sink,
                ..
            } = self;
            stops.finish(|t| route(parse, deltas, sink, t));
            self.end_text();
        }
    }

    fn end_text(&mut self) {
        if let Some(p) = self.parse.take() {
            self.deltas.clear();
            match p.stream.finish(&mut self.deltas) {
                Ok(outcome) => {
                    deliver(&mut self.deltas, &mut self.sink, p.reasons);
                    for problem in outcome.problems {
                        self.sink.send(Event::Warning(Warning::RejectedToolCall(
                            problem.to_string(),
                        )));
                    }
                    for call in outcome.tool_calls {
                        let call = ToolCall::from(call);
                        self.tool_calls.push(call.clone());
                        self.sink.send(Event::ToolCall(call));
                    }
                }
                Err(e) => self
                    .sink
                    .send(Event::Warning(Warning::RejectedToolCall(e.to_string()))),
            }
        }
        self.sink.finish_splitter();
    }

    /// Sends the final event (or error).
    pub(crate) fn end(&self, item: crate::Result<Event>) {
        self.sink.tx.send(item);
    }
}

fn route(parse: &mut Option<Parse>, deltas: &mut Vec<ChatDelta>, sink: &mut Sink, text: &str) {
    match parse {
        Some(p) => {
            deltas.clear();
            if let Err(e) = p.stream.push(text, deltas) {
                // A parse that contradicts the last one: stop streaming deltas; the final
                // parse at the end still decides.
                sink.send(Event::Warning(Warning::RejectedToolCall(e.to_string())));
            }
            deliver(deltas, sink, p.reasons);
        }
        None => sink.text(text),
    }
}

fn deliver(deltas: &mut Vec<ChatDelta>, sink: &mut Sink, parser_reasons: bool) {
    for d in deltas.drain(..) {
        match d {
            ChatDelta::Content(t) if parser_reasons => sink.answer(t),
            ChatDelta::Content(t) => sink.text(&t),
            ChatDelta::Reasoning(r) => sink.reasoning(r),
            ChatDelta::ToolCall {
                index,
                id,
                name,
                arguments,
            } => sink.send(Event::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            }),
        }
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
        assert_eq!(scan(&[""], &["x"]), ("x".into(), None));
    }

    #[test]
    fn added_stops_join_the_scan() {
        let mut s = StopScanner::new(vec!["</s>".into()]);
        s.add(&["<|im_end|>".into(), "</s>".into(), String::new()]);
        let mut out = String::new();
        assert_eq!(s.push("ok<|im_", |t| out.push_str(t)), None);
        assert_eq!(
            s.push("end|>x", |t| out.push_str(t)),
            Some("<|im_end|>".into())
        );
        assert_eq!(out, "ok");
    }
}
