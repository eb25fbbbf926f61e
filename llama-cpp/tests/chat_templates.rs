//! Every chat template of the pinned llama.cpp tree (`models/templates/`, read from the build
//! cache at test time), rendered for a fixed set of conversations, two ways:
//! * through the typed API (`ChatRequest` of `ChatMessage`s and `Tool`s), and
//! * as the OpenAI-shaped JSON that llama-server's chat endpoint hands llama.cpp's chat layer
//!   (written out by hand below, not serialised from the typed values).
//!
//! Both must give the same bytes: the typed API loses nothing on its way to llama.cpp. The
//! renderings must also carry what the conversation says (the system prompt, the tools and
//! the tool result, thinking on vs off) wherever the template's capabilities say it can.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use edge_infer_llama::{ChatMessage, ChatRequest, ChatTemplate, Tool, ToolCall};
use serde_json::{json, Value};

const NOW: u64 = 1_764_633_600; // 2025-12-02: strftime_now must not make renders differ

fn tools_typed() -> Vec<Tool> {
    vec![Tool::new(
        "web_search",
        "Search the web",
        json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
    )]
}

fn tools_json() -> Value {
    json!([{"type": "function", "function": {
        "name": "web_search", "description": "Search the web",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}])
}

struct Conversation {
    name: &'static str,
    typed: ChatRequest,
    json: Value,
}

fn conversations() -> Vec<Conversation> {
    let q = "What is the capital of France?";
    let sys = "You are a terse geography assistant.";
    let call = ToolCall::new("Rz4Kp9mQ2", "web_search", json!({"query": "rust news"}));
    let base = |thinking: bool| {
        json!({
            "tool_choice": "auto", "parallel_tool_calls": false, "json_schema": null, "grammar": "",
            "add_generation_prompt": true, "enable_thinking": thinking, "reasoning_format": "auto",
            "chat_template_kwargs": {}, "now": NOW,
        })
    };
    let with = |mut b: Value, messages: Value, tools: Value| {
        b["messages"] = messages;
        b["tools"] = tools;
        b
    };
    let t = UNIX_EPOCH + Duration::from_secs(NOW);
    let req = |m: Vec<ChatMessage>| ChatRequest::new(m).now(t).parallel_tool_calls(false);
    vec![
        Conversation {
            name: "plain",
            typed: req(vec![ChatMessage::user(q)]),
            json: with(
                base(true),
                json!([{"role": "user", "content": q}]),
                json!([]),
            ),
        },
        Conversation {
            name: "system",
            typed: req(vec![ChatMessage::system(sys), ChatMessage::user(q)]),
            json: with(
                base(true),
                json!([{"role": "system", "content": sys}, {"role": "user", "content": q}]),
                json!([]),
            ),
        },
        Conversation {
            name: "multi-turn",
            typed: req(vec![
                ChatMessage::system(sys),
                ChatMessage::user(q),
                ChatMessage::assistant("Paris."),
                ChatMessage::user("And of Italy?"),
            ]),
            json: with(
                base(true),
                json!([{"role": "system", "content": sys}, {"role": "user", "content": q},
                       {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"}]),
                json!([]),
            ),
        },
        Conversation {
            name: "tools",
            typed: req(vec![
                ChatMessage::system(sys),
                ChatMessage::user("Any rust news?"),
                ChatMessage::assistant("").with_tool_calls(vec![call]),
                ChatMessage::tool("Rz4Kp9mQ2", "Rust 1.95 released").with_name("web_search"),
            ])
            .tools(tools_typed()),
            json: with(
                base(true),
                json!([{"role": "system", "content": sys}, {"role": "user", "content": "Any rust news?"},
                       {"role": "assistant", "content": "", "tool_calls": [{"id": "Rz4Kp9mQ2", "type": "function",
                         "function": {"name": "web_search", "arguments": "{\"query\":\"rust news\"}"}}]},
                       {"role": "tool", "tool_call_id": "Rz4Kp9mQ2", "name": "web_search", "content": "Rust 1.95 released"}]),
                tools_json(),
            ),
        },
        Conversation {
            name: "thinking on",
            typed: req(vec![ChatMessage::user(q)]).thinking(true),
            json: with(
                base(true),
                json!([{"role": "user", "content": q}]),
                json!([]),
            ),
        },
        Conversation {
            name: "thinking off",
            typed: req(vec![ChatMessage::user(q)]).thinking(false),
            json: with(
                base(false),
                json!([{"role": "user", "content": q}]),
                json!([]),
            ),
        },
    ]
}

fn templates() -> Vec<(String, String)> {
    let dir = common::pinned_tree().join("models/templates");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build edge-infer-llama-sys once to fill the cache)",
                dir.display()
            )
        })
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "jinja").then(|| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
        })
        .collect();
    out.sort();
    out
}

fn outcome(r: edge_infer_llama::Result<edge_infer_llama::ChatPrompt>) -> Result<String, String> {
    r.map(|p| p.prompt).map_err(|e| e.to_string())
}

#[test]
fn every_template_renders_the_same_through_the_typed_api_and_openai_json() {
    let templates = templates();
    assert!(
        templates.len() >= 70,
        "expected the pinned tree's 70 templates, found {}",
        templates.len()
    );
    let mut identical = 0;
    let mut differences = Vec::new();
    let mut failures = Vec::new();
    for (name, src) in &templates {
        let t = match ChatTemplate::from_source(src, "<s>", "</s>") {
            Ok(t) => t,
            Err(e) => {
                differences.push(format!("{name}: does not parse: {e}"));
                continue;
            }
        };
        let mut same = true;
        for c in conversations() {
            let (a, b) = (outcome(t.render(&c.typed)), outcome(t.render_json(&c.json)));
            if a != b {
                same = false;
                differences.push(format!("{name} / {}: typed {a:?}\n    json {b:?}", c.name));
            }
            if let Err(e) = &a {
                failures.push(format!("{name} / {}: {e}", c.name));
            }
        }
        identical += usize::from(same);
    }
    println!(
        "{identical}/{} templates render identically for all {} conversations",
        templates.len(),
        conversations().len()
    );
    for f in &failures {
        println!("  template error (both paths alike): {f}");
    }
    assert!(
        differences.is_empty(),
        "differences:\n{}",
        differences.join("\n")
    );
}

#[test]
fn renderings_carry_what_the_conversation_says() {
    let mut checked = [0usize; 3];
    for (name, src) in templates() {
        let t = ChatTemplate::from_source(&src, "<s>", "</s>").unwrap();
        let caps = t.info().clone();
        let conv = conversations();
        let render = |i: usize| t.render(&conv[i].typed).map(|p| p.prompt);
        let plain =
            render(0).unwrap_or_else(|e| panic!("{name}: a plain user turn must render: {e}"));
        assert!(
            plain.contains("What is the capital of France?"),
            "{name}: {plain:?}"
        );
        if caps.caps.get("supports_system_role") == Some(&true) {
            let p = render(1).unwrap();
            assert!(
                p.contains("terse geography assistant"),
                "{name}: system prompt missing: {p:?}"
            );
            checked[0] += 1;
        }
        if caps.supports_tools() && caps.caps.get("supports_tool_calls") == Some(&true) {
            let p = render(3).unwrap_or_else(|e| panic!("{name}: tool conversation: {e}"));
            assert!(p.contains("web_search"), "{name}: tool missing: {p:?}");
            assert!(
                p.contains("Rust 1.95 released"),
                "{name}: tool result missing: {p:?}"
            );
            checked[1] += 1;
        }
        // Templates that read the `enable_thinking` variable must honour it. (Apriel always
        // thinks and never reads it; Nemotron Nano v2 keeps a namespace field of that name,
        // set by `/think` and `/no_think` in the messages.)
        if src.contains("enable_thinking") && !src.contains("namespace(enable_thinking") {
            let (on, off) = (render(4).unwrap(), render(5).unwrap());
            assert_ne!(on, off, "{name}: thinking on and off render the same");
            checked[2] += 1;
        }
    }
    println!(
        "checked: system prompt in {}, tools and tool results in {}, thinking on/off in {} templates",
        checked[0], checked[1], checked[2]
    );
    assert!(
        checked.iter().all(|&n| n >= 10),
        "too few templates checked: {checked:?}"
    );
}
