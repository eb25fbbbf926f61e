//! Tool calls and reasoning parsed from fixed model outputs, for the formats our users' models
//! write, whole and while streaming (split at every character boundary, and in random pieces).
//!
//! The templates are llama.cpp's own (`models/templates/` of the pinned tree in the build
//! cache, read at test time); the outputs and expectations are ours. The parser is
//! llama.cpp's (the one llama-server runs), so the check is that our wrapper hands it the
//! template's format and brings back exactly what it found, also in streaming deltas.

mod common;

use edge_infer_llama::{
    ChatDelta, ChatMessage, ChatRequest, ChatStream, ChatTemplate, Tool, ToolCallProblem,
};
use serde_json::{json, Value};

fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "web_search",
            "Search the web",
            json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        ),
        Tool::new(
            "calculator",
            "Evaluate an arithmetic expression",
            json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
        ),
    ]
}

fn template(name: &str) -> ChatTemplate {
    let path = common::pinned_tree().join(format!("models/templates/{name}.jinja"));
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ChatTemplate::from_source(&src, "<s>", "</s>").unwrap()
}

struct Case {
    template: &'static str,
    output: &'static str,
    content: &'static str,
    reasoning: &'static str,
    calls: Vec<(&'static str, Value)>,
}

fn case(template: &'static str, output: &'static str) -> Case {
    Case {
        template,
        output,
        content: "",
        reasoning: "",
        calls: Vec::new(),
    }
}

impl Case {
    fn content(mut self, c: &'static str) -> Self {
        self.content = c;
        self
    }
    fn reasoning(mut self, r: &'static str) -> Self {
        self.reasoning = r;
        self
    }
    fn call(mut self, name: &'static str, args: Value) -> Self {
        self.calls.push((name, args));
        self
    }
}

fn cases() -> Vec<Case> {
    let search = || json!({"query": "rust news"});
    let calc = || json!({"expression": "6*7"});
    vec![
        // Hermes / Qwen2.5 / Qwen3: <tool_call>{json}</tool_call>
        case("Qwen-Qwen2.5-7B-Instruct", "The capital of France is Paris.").content("The capital of France is Paris."),
        case(
            "Qwen-Qwen2.5-7B-Instruct",
            "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"rust news\"}}\n</tool_call>",
        )
        .call("web_search", search()),
        case(
            "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
            "<tool_call>\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"6*7\"}}\n</tool_call>",
        )
        .call("calculator", calc()),
        case(
            "Qwen-Qwen3-0.6B",
            "<think>\nThe user wants news.\n</think>\n\n<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"rust news\"}}\n</tool_call>",
        )
        .reasoning("The user wants news.\n")
        .call("web_search", search()),
        case("Qwen-Qwen3-0.6B", "<think>\nEasy.\n</think>\n\nIt is 42.").reasoning("Easy.\n").content("It is 42."),
        // Qwen3.5 / Qwen3-Coder: XML-style <function=…><parameter=…>
        case(
            "Qwen3.5-4B",
            "Search first.\n</think>\n\n<tool_call>\n<function=web_search>\n<parameter=query>\nrust news\n</parameter>\n</function>\n</tool_call>",
        )
        .reasoning("Search first.\n")
        .call("web_search", search()),
        case(
            "Qwen3-Coder",
            "<tool_call>\n<function=calculator>\n<parameter=expression>\n6*7\n</parameter>\n</function>\n</tool_call>",
        )
        .call("calculator", calc()),
        // LFM2 / LFM2.5: Pythonic calls between special markers
        case("LFM2.5-Instruct", "<|tool_call_start|>[web_search(query=\"rust news\")]<|tool_call_end|>")
            .call("web_search", search()),
        case("LFM2.5-Instruct", "Paris is the capital.").content("Paris is the capital."),
        // Gemma 4: thought channel and <|tool_call>
        case(
            "google-gemma-4-31B-it",
            "<|channel>thought\nLook it up.<channel|><|tool_call>call:web_search{query:<|\"|>rust news<|\"|>}<tool_call|>",
        )
        .reasoning("Look it up.")
        .call("web_search", search()),
        case("google-gemma-4-31B-it", "<|channel>thought\nHmm.<channel|>Paris.").reasoning("Hmm.").content("Paris."),
        // Llama 3.x: a bare JSON object with "parameters"
        case("meta-llama-Llama-3.1-8B-Instruct", "{\"name\": \"web_search\", \"parameters\": {\"query\": \"rust news\"}}")
            .call("web_search", search()),
        case("meta-llama-Llama-3.2-3B-Instruct", "{\"name\": \"calculator\", \"parameters\": {\"expression\": \"6*7\"}}")
            .call("calculator", calc()),
        // Mistral: [TOOL_CALLS] with an id
        case(
            "mistralai-Mistral-Nemo-Instruct-2407",
            "[TOOL_CALLS][{\"name\": \"web_search\", \"arguments\": {\"query\": \"rust news\"}, \"id\": \"a1b2c3d4e\"}]",
        )
        .call("web_search", search()),
        // GPT-OSS harmony: analysis channel, then a commentary call
        case(
            "openai-gpt-oss-120b",
            "<|channel|>analysis<|message|>Use the tool.<|end|><|start|>assistant<|channel|>commentary to=functions.web_search <|constrain|>json<|message|>{\"query\": \"rust news\"}",
        )
        .reasoning("Use the tool.")
        .call("web_search", search()),
        case(
            "openai-gpt-oss-120b",
            "<|channel|>analysis<|message|>Simple.<|end|><|start|>assistant<|channel|>final<|message|>Paris.",
        )
        .reasoning("Simple.")
        .content("Paris."),
    ]
}

fn render(c: &Case) -> edge_infer_llama::ChatPrompt {
    template(c.template)
        .render(
            &ChatRequest::new(vec![ChatMessage::user("Find rust news, or compute 6*7.")])
                .tools(tools()),
        )
        .unwrap()
}

/// Feeds `pieces` to a stream; returns what the deltas add up to and the outcome.
fn stream(
    prompt: &edge_infer_llama::ChatPrompt,
    pieces: &[&str],
) -> (
    String,
    String,
    Vec<(String, String)>,
    edge_infer_llama::ChatOutcome,
) {
    let mut s = ChatStream::new(prompt).unwrap();
    let mut deltas = Vec::new();
    for p in pieces {
        s.push(p, &mut deltas).unwrap();
    }
    let outcome = s.finish(&mut deltas).unwrap();
    let (mut content, mut reasoning) = (String::new(), String::new());
    let mut calls: Vec<(String, String)> = Vec::new();
    for d in deltas {
        match d {
            ChatDelta::Content(t) => content.push_str(&t),
            ChatDelta::Reasoning(r) => reasoning.push_str(&r),
            ChatDelta::ToolCall {
                index,
                name,
                arguments,
                ..
            } => {
                if calls.len() <= index {
                    calls.resize(index + 1, Default::default());
                }
                if let Some(n) = name {
                    calls[index].0 = n;
                }
                calls[index].1.push_str(&arguments);
            }
        }
    }
    (content, reasoning, calls, outcome)
}

fn check(c: &Case, outcome: &edge_infer_llama::ChatOutcome, how: &str) {
    let tag = format!("{} ({how}) on {:?}", c.template, c.output);
    assert!(outcome.problems.is_empty(), "{tag}: {:?}", outcome.problems);
    assert_eq!(outcome.content, c.content, "{tag}: content");
    assert_eq!(outcome.reasoning, c.reasoning, "{tag}: reasoning");
    let got: Vec<(&str, &Value)> = outcome
        .tool_calls
        .iter()
        .map(|t| (t.name.as_str(), &t.arguments))
        .collect();
    let want: Vec<(&str, &Value)> = c.calls.iter().map(|(n, a)| (*n, a)).collect();
    assert_eq!(got, want, "{tag}: tool calls");
    for t in &outcome.tool_calls {
        // The format's own id, or a generated one of the shape Mistral's templates demand.
        assert!(
            t.id == "a1b2c3d4e"
                || (t.id.len() == 9 && t.id.chars().all(|c| c.is_ascii_alphanumeric())),
            "{tag}: call id {:?}",
            t.id
        );
    }
}

#[test]
fn every_format_parses_whole() {
    for c in cases() {
        let prompt = render(&c);
        let (_, _, _, outcome) = stream(&prompt, &[c.output]);
        check(&c, &outcome, "whole");
    }
}

#[test]
fn every_format_parses_at_every_character_boundary() {
    for c in cases() {
        let prompt = render(&c);
        // One character per piece: every prefix of the output is parsed as a partial reply.
        let pieces: Vec<String> = c.output.chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (content, reasoning, calls, outcome) = stream(&prompt, &pieces);
        check(&c, &outcome, "char by char");
        let tag = format!("{} on {:?}", c.template, c.output);
        assert_eq!(
            content, outcome.content,
            "{tag}: content deltas add up to the final content"
        );
        assert_eq!(
            reasoning, outcome.reasoning,
            "{tag}: reasoning deltas add up"
        );
        assert_eq!(
            calls.len(),
            outcome.tool_calls.len(),
            "{tag}: one streamed call per final call"
        );
        for ((name, args), call) in calls.iter().zip(&outcome.tool_calls) {
            assert_eq!(name, &call.name, "{tag}: streamed name");
            let streamed: Value = serde_json::from_str(args)
                .unwrap_or_else(|e| panic!("{tag}: streamed arguments {args:?}: {e}"));
            assert_eq!(&streamed, &call.arguments, "{tag}: streamed arguments");
        }
    }
}

#[test]
fn random_splits_give_the_same_outcome() {
    // A small deterministic generator: the same splits on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for c in cases() {
        let prompt = render(&c);
        let chars: Vec<char> = c.output.chars().collect();
        for _ in 0..5 {
            let mut pieces = Vec::new();
            let mut i = 0;
            while i < chars.len() {
                let n = 1 + next(8);
                pieces.push(
                    chars[i..(i + n).min(chars.len())]
                        .iter()
                        .collect::<String>(),
                );
                i += n;
            }
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            let (content, _, _, outcome) = stream(&prompt, &refs);
            check(&c, &outcome, "random pieces");
            assert_eq!(content, outcome.content);
        }
    }
}

#[test]
fn botched_calls_come_back_as_text_with_a_problem() {
    let c = case("Qwen-Qwen2.5-7B-Instruct", "");
    let prompt = render(&c);
    // Broken JSON: the format does not match, so all of it is answer text.
    let broken =
        "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \n</tool_call>";
    let (content, _, _, outcome) = stream(&prompt, &[broken]);
    assert!(outcome.tool_calls.is_empty());
    assert!(
        matches!(outcome.problems.as_slice(), [ToolCallProblem::Malformed(_)]),
        "{:?}",
        outcome.problems
    );
    assert_eq!(outcome.content, broken);
    assert_eq!(content, broken, "the text was streamed too");

    // A tool the model was not given. llama.cpp's parser for this format is built from the
    // tools, so the name does not match the format at all.
    let unknown =
        "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {\"path\": \"/\"}}\n</tool_call>";
    let (content, _, _, outcome) = stream(&prompt, &[unknown]);
    assert!(outcome.tool_calls.is_empty());
    assert!(
        matches!(
            outcome.problems.as_slice(),
            [ToolCallProblem::UnknownTool(_) | ToolCallProblem::Malformed(_)]
        ),
        "{:?}",
        outcome.problems
    );
    assert!(
        outcome.content.contains("rm_rf") && content.contains("rm_rf"),
        "{content:?}"
    );
}

#[test]
fn tool_choice_none_parses_no_calls() {
    let prompt = template("Qwen-Qwen2.5-7B-Instruct")
        .render(
            &ChatRequest::new(vec![ChatMessage::user("hi")])
                .tools(tools())
                .tool_choice(edge_infer_llama::ToolChoice::None),
        )
        .unwrap();
    assert!(!prompt.parses_tool_calls());
    let call =
        "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>";
    let (_, _, _, outcome) = stream(&prompt, &[call]);
    assert!(outcome.tool_calls.is_empty(), "{outcome:?}");
}
