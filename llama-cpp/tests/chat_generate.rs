//! The chat layer end to end on the default model (a 270M *base* model: it never calls a tool
//! on its own, so calls are forced by the tool-call grammar), and its bad input.

mod common;

use std::ops::ControlFlow;

use common::{model, params};
use edge_infer_llama::{
    json_schema_to_grammar, ChatMessage, ChatOutcome, ChatPrompt, ChatRequest, ChatSampler,
    ChatStream, ChatTemplate, Context, Error, GenerateOptions, Prompt, Sampling, Tool, ToolCall,
    ToolChoice,
};
use serde_json::{json, Value};

fn template_source(name: &str) -> String {
    let path = common::pinned_tree().join(format!("models/templates/{name}.jinja"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A template of the pinned tree, rendered for the default model (its BOS/EOS).
fn template(name: &str) -> ChatTemplate {
    ChatTemplate::from_source_for(model(), &template_source(name)).unwrap()
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "web_search",
            "Search the web",
            // A bounded query keeps the forced call short on a model that rambles.
            json!({"type": "object", "properties": {"query": {"type": "string", "maxLength": 24}},
                   "required": ["query"]}),
        ),
        Tool::new(
            "calculator",
            "Evaluate an arithmetic expression",
            json!({"type": "object", "properties": {"expression": {"type": "string", "maxLength": 16}},
                   "required": ["expression"]}),
        ),
    ]
}

/// Generates the reply to `prompt`, parsing it while it streams.
fn run(
    prompt: &ChatPrompt,
    sampling: &Sampling,
    budget: Option<u32>,
    max_tokens: usize,
) -> (String, ChatOutcome) {
    let m = model();
    let mut ctx = Context::new(m, &params().n_ctx(2048)).unwrap();
    let mut sampler = ChatSampler::new(m, prompt, sampling, budget).unwrap();
    let opts = GenerateOptions::default()
        .max_tokens(max_tokens)
        .render_tokens(sampler.preserved_tokens().to_vec());
    let tokens = m.tokenize(&prompt.prompt, true, true).unwrap();
    let mut stream = ChatStream::new(prompt).unwrap();
    let (mut text, mut deltas) = (String::new(), Vec::new());
    ctx.generate_with(Prompt::Tokens(&tokens), &mut sampler, opts, |t| {
        text.push_str(t);
        stream.push(t, &mut deltas).unwrap();
        if stream.is_complete() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    let outcome = stream.finish(&mut deltas).unwrap();
    (text, outcome)
}

fn ask() -> Vec<ChatMessage> {
    vec![ChatMessage::user("Find the latest Rust release news.")]
}

/// A forced call: the reply continues an assistant message that opens a tool call, and the
/// (non-lazy) tool-call grammar, prefilled past the opener, allows nothing but the call.
fn forced_call() -> ChatRequest {
    let mut m = ask();
    m.push(ChatMessage::assistant("<tool_call>\n"));
    ChatRequest::new(m)
        .tools(tools())
        .tool_choice(ToolChoice::Function("web_search".into()))
        .continue_final_message(true)
}

#[test]
fn a_forced_tool_call_comes_back_structured() {
    let prompt = template("Qwen-Qwen3-0.6B").render(&forced_call()).unwrap();
    let grammar = prompt
        .grammar
        .as_ref()
        .expect("a named tool choice brings a grammar");
    assert!(
        !grammar.lazy,
        "a required call is constrained from the first token"
    );
    assert!(
        prompt.generation_prompt.ends_with("<tool_call>\n"),
        "{:?}",
        prompt.generation_prompt
    );
    let (text, outcome) = run(&prompt, &Sampling::greedy(), None, 96);
    assert!(
        outcome.problems.is_empty(),
        "{text:?}: {:?}",
        outcome.problems
    );
    let [call] = outcome.tool_calls.as_slice() else {
        panic!(
            "expected one call in {text:?}, got {:?}",
            outcome.tool_calls
        )
    };
    assert_eq!(call.name, "web_search");
    let query = call.arguments["query"].as_str().expect("a string query");
    assert!(
        query.chars().count() <= 24,
        "the schema's maxLength holds: {query:?}"
    );
    assert!(
        text.contains("</tool_call>"),
        "the reply is in the template's own format: {text:?}"
    );
}

#[test]
fn auto_tool_choice_is_lazy_and_lets_the_model_answer_in_prose() {
    let prompt = template("Qwen-Qwen3-0.6B")
        .render(&ChatRequest::new(ask()).tools(tools()))
        .unwrap();
    let grammar = prompt.grammar.as_ref().expect("tools bring a grammar");
    assert!(grammar.lazy, "auto: armed only by the tool-call opener");
    assert!(!grammar.triggers.is_empty());
    let (text, outcome) = run(&prompt, &Sampling::default().seed(7), None, 24);
    // Whatever the base model writes, it is either prose or a well-formed call.
    assert!(
        outcome.problems.is_empty() || !outcome.content.is_empty(),
        "{text:?}"
    );
}

#[test]
fn tool_results_round_trip_through_the_template() {
    let t = template("Qwen-Qwen3-0.6B");
    let first = t.render(&forced_call()).unwrap();
    let (_, outcome) = run(&first, &Sampling::greedy(), None, 96);
    let call: ToolCall = outcome.tool_calls[0].clone();
    let mut history = ask();
    history
        .push(ChatMessage::assistant(outcome.content.clone()).with_tool_calls(vec![call.clone()]));
    history.push(ChatMessage::tool(
        call.id.clone(),
        "Rust 1.95 was released today.",
    ));
    let second = t
        .render(
            &ChatRequest::new(history)
                .tools(tools())
                .tool_choice(ToolChoice::None),
        )
        .unwrap();
    assert!(
        second
            .prompt
            .contains("<tool_response>\nRust 1.95 was released today.\n</tool_response>"),
        "the result is rendered the template's way: {:?}",
        second.prompt
    );
    assert!(second
        .prompt
        .contains(&call.arguments["query"].as_str().unwrap().to_string()));
    let (text, outcome) = run(&second, &Sampling::greedy(), None, 24);
    assert!(
        outcome.tool_calls.is_empty(),
        "tool_choice none: no call in {text:?}"
    );
}

#[test]
fn a_json_schema_reply_is_valid_json_every_time() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}
        },
        "required": ["name", "age", "hobbies"],
        "additionalProperties": false
    });
    // The default GGUF carries no template; Gemma 2's has Gemma 3's turn format.
    assert!(!ChatTemplate::from_model(model()).unwrap().info().explicit);
    let t = template("google-gemma-2-2b-it");
    let prompt = t
        .render(
            &ChatRequest::new(vec![ChatMessage::user(
                "Describe a person as raw JSON, no markdown.",
            )])
            .json_schema(schema),
        )
        .unwrap();
    for seed in 1..=5 {
        let (text, outcome) = run(
            &prompt,
            &Sampling::default().temperature(0.9).seed(seed),
            None,
            160,
        );
        let v: Value = serde_json::from_str(&outcome.content)
            .unwrap_or_else(|e| panic!("seed {seed}: not JSON ({e}): {text:?}"));
        assert!(
            outcome.content.trim_start().starts_with('{'),
            "raw JSON, no markdown: {text:?}"
        );
        assert!(
            v["name"].is_string() && v["age"].is_u64() && v["hobbies"].is_array(),
            "seed {seed}: {v}"
        );
        assert!(v["age"].as_u64().unwrap() <= 150);
        assert!(v.as_object().unwrap().len() == 3, "no extra keys: {v}");
    }
}

#[test]
fn a_reasoning_budget_ends_the_thinking() {
    // Qwen3.5's generation prompt opens the thinking (`<think>\n`), so the budget counts from
    // the first generated token.
    let t = template("Qwen3.5-4B");
    let prompt = t
        .render(&ChatRequest::new(vec![ChatMessage::user(
            "Why is the sky blue?",
        )]))
        .unwrap();
    let tags = prompt.thinking.as_ref().expect("Qwen3.5 has thinking tags");
    assert_eq!(tags.start, "<think>");
    let m = model();
    let count = |s: &str| m.tokenize(s, false, false).unwrap().len();

    let (_, free) = run(&prompt, &Sampling::greedy(), None, 48);
    let (text, limited) = run(&prompt, &Sampling::greedy(), Some(6), 48);
    assert!(
        count(&free.reasoning) > 6,
        "without a budget the base model thinks on: {:?}",
        free.reasoning
    );
    assert!(
        count(&limited.reasoning) <= 6,
        "budget 6: {:?} in {text:?}",
        limited.reasoning
    );
    assert!(
        text.contains("</think>"),
        "the end tag was forced: {text:?}"
    );
    let (text, none) = run(&prompt, &Sampling::greedy(), Some(0), 24);
    assert!(
        none.reasoning.trim().is_empty(),
        "budget 0: {:?} in {text:?}",
        none.reasoning
    );
}

#[test]
fn bad_chat_input_is_a_typed_error() {
    let m = model();
    // A template that does not parse.
    let e = ChatTemplate::from_source("{% for m in messages %}{{ m.content }", "", "").unwrap_err();
    assert!(matches!(e, Error::TemplateParse(_)), "{e}");
    // A template that always raises fails when llama.cpp probes it.
    let e = ChatTemplate::from_source(
        "{{ raise_exception('this template renders nothing') }}",
        "",
        "",
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::TemplateParse(m) if m.contains("renders nothing")),
        "{e}"
    );
    // A template that raises for this conversation (Gemma 2's roles must alternate).
    let gemma2 = template("google-gemma-2-2b-it");
    let mut two_users = ask();
    two_users.push(ChatMessage::user("again"));
    let e = gemma2.render(&ChatRequest::new(two_users)).unwrap_err();
    assert!(
        matches!(&e, Error::TemplateRender(m) if m.contains("alternate")),
        "{e}"
    );
    // Tools that are not an array of function objects.
    let e = Tool::parse_openai(r#"{"type": "function", "function": {"name": "x"}}"#).unwrap_err();
    assert!(matches!(e, Error::InvalidTools(_)), "{e}");
    let e = Tool::parse_openai(r#"[{"type": "function", "function": {"parameters": {}}}]"#)
        .unwrap_err();
    assert!(e.to_string().contains("no \"name\""), "{e}");
    // A schema the grammar converter cannot handle.
    let e = json_schema_to_grammar(&json!({"$ref": "#/definitions/missing"})).unwrap_err();
    assert!(matches!(e, Error::Schema(_)), "{e}");
    let t = template("Qwen-Qwen3-0.6B");
    let e = t.render(
        &ChatRequest::new(ask())
            .json_schema(json!({"type": "object", "properties": {"a": {"$ref": "#/nope"}}})),
    );
    assert!(e.is_err(), "a bad schema in a request fails to render");
    // tool_choice naming an unknown tool.
    let e = t
        .render(
            &ChatRequest::new(ask())
                .tools(tools())
                .tool_choice(ToolChoice::Function("rm_rf".into())),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::UnknownTool { name, .. } if name == "rm_rf"),
        "{e}"
    );
    // A tool result whose id matches no call.
    let mut history = ask();
    history.push(ChatMessage::tool("nope12345", "result"));
    let e = t
        .render(&ChatRequest::new(history).tools(tools()))
        .unwrap_err();
    assert!(
        matches!(&e, Error::UnknownToolCallId { id, .. } if id == "nope12345"),
        "{e}"
    );
    // A reasoning budget on a template without reasoning (Gemma 2's).
    let prompt = gemma2.render(&ChatRequest::new(ask())).unwrap();
    assert!(prompt.thinking.is_none());
    let e = ChatSampler::new(m, &prompt, &Sampling::greedy(), Some(0)).unwrap_err();
    assert!(matches!(e, Error::ReasoningUnsupported { .. }), "{e}");
    // A grammar with tools.
    let e = t
        .render(
            &ChatRequest::new(ask())
                .tools(tools())
                .grammar("root ::= \"x\""),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "grammar",
                ..
            }
        ),
        "{e}"
    );
}
