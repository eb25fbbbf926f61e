//! Model-native chat through the `Generator` and `ChatSession` on both backends: tool calls
//! as structured events, the tool-result round trip, JSON-constrained replies, thinking
//! control, and the typed errors of bad chat input.
//!
//! The CPU model is the default model (a 270M *base* model without a chat template of its
//! own), given a real template from the pinned llama.cpp tree through the registry's
//! `chat_template`; a tool call is forced with a reply prefill (the opener) and the tool-call
//! grammar. The NPU model is the RKLLM test double, which answers a `#TOOL#` prompt with a
//! Hermes-style call to the first tool it was given.

mod common;

use std::ops::ControlFlow;
use std::path::PathBuf;

use common::{double_entry, double_runtime};
use edge_infer::{
    ChatSession, Error, Event, Message, Registry, Request, ResponseFormat, Sampling, StopReason,
    Tool, ToolChoice, Warning,
};
use rkllm_test_double::{FakeModel, TempDir};
use serde_json::{json, Value};

fn template(name: &str) -> PathBuf {
    let pin = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../llama-cpp-sys/llama-cpp.pin"
    ))
    .unwrap();
    let get = |key: &str| {
        pin.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
            .unwrap()
    };
    let tree = xtask::cache_dir().join("llama.cpp").join(format!(
        "{}-{}",
        get("version"),
        &get("sha256")[..12]
    ));
    let path = tree.join(format!("models/templates/{name}.jinja"));
    assert!(
        path.is_file(),
        "{} (build edge-infer-llama-sys once to fill the cache)",
        path.display()
    );
    path
}

/// `cpu`: the default model with Qwen3's template; `npu`: the test double with Qwen2.5's
/// (both write Hermes-style `<tool_call>` blocks); `plain`: the default model as it is.
fn registry(tag: &str) -> (TempDir, Registry) {
    xtask::default_model().expect("the default model");
    let dir = TempDir::new(tag).unwrap();
    let fake = FakeModel::default()
        .reply("The answer is 42.")
        .write(dir.path().join("fake.rkllm"))
        .unwrap();
    let toml = format!(
        "[models.cpu]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 2048\nthreads = 2\nchat_template = {:?}\n\n\
         [models.plain]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 1024\nthreads = 2\n\n\
         {}chat_template = {:?}\n",
        template("Qwen-Qwen3-0.6B").display().to_string(),
        double_entry("npu", &fake),
        template("Qwen-Qwen2.5-7B-Instruct").display().to_string(),
    );
    let _ = double_runtime();
    (dir, Registry::from_toml_str(&toml).unwrap())
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "web_search",
            "Search the web",
            json!({"type": "object", "properties": {"query": {"type": "string", "maxLength": 24}}, "required": ["query"]}),
        ),
        Tool::new(
            "calculator",
            "Evaluate an arithmetic expression",
            json!({"type": "object", "properties": {"expression": {"type": "string", "maxLength": 16}}, "required": ["expression"]}),
        ),
    ]
}

/// Every event of a turn (the callback never sees `Done`: its stats are returned), checking
/// the order: a call's deltas come before the checked calls.
type Send<'a> = &'a mut dyn FnMut(&Event) -> ControlFlow<()>;
fn events(
    chat: &mut ChatSession,
    send: impl FnOnce(&mut ChatSession, Send<'_>) -> edge_infer::Result<edge_infer::Stats>,
) -> (Vec<Event>, edge_infer::Stats) {
    let mut all = Vec::new();
    let stats = send(chat, &mut |e| {
        all.push(e.clone());
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(!all.iter().any(|e| matches!(e, Event::Done(_))));
    for (i, e) in all.iter().enumerate() {
        if let Event::ToolCallDelta { index, .. } = e {
            let call = all
                .iter()
                .position(|e| matches!(e, Event::ToolCall(_)))
                .expect("a delta is followed by its call");
            assert!(i < call, "delta {index} after the calls: {all:?}");
        }
    }
    (all, stats)
}

fn calls(events: &[Event]) -> Vec<edge_infer::ToolCall> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::ToolCall(c) = e {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn a_tool_call_and_its_result_round_trip_through_chat_session_on_the_cpu() {
    let (_dir, reg) = registry("chat-cpu");
    let g = reg.open_model("cpu").unwrap();
    let forced = Request::default()
        .sampling(Sampling::greedy())
        .max_tokens(96)
        .tools(tools())
        .tool_choice(ToolChoice::Function("web_search".into()))
        .prefill("<tool_call>\n");
    let mut chat = ChatSession::new(g).settings(forced);
    let (first, _) = events(&mut chat, |c, f| {
        c.send_with("Find the latest Rust release news.", f)
    });
    let got = calls(&first);
    assert_eq!(got.len(), 1, "{first:?}");
    assert_eq!(got[0].name, "web_search");
    assert!(
        got[0].arguments["query"].is_string(),
        "{:?}",
        got[0].arguments
    );
    assert!(first
        .iter()
        .any(|e| matches!(e, Event::ToolCallDelta { name: Some(n), .. } if n == "web_search")));
    let recorded = &chat.history()[1];
    assert_eq!(
        recorded.tool_calls, got,
        "the session keeps the call in the history"
    );

    // The result goes back through the template; the next reply must not call again.
    chat.set_settings(
        Request::default()
            .sampling(Sampling::greedy())
            .max_tokens(16)
            .tools(tools())
            .tool_choice(ToolChoice::None),
    );
    let id = got[0].id.clone();
    let (second, stats) = events(&mut chat, |c, f| {
        c.send_tool_results_with(vec![Message::tool_result(id, "Rust 1.95 was released.")], f)
    });
    assert!(calls(&second).is_empty(), "{second:?}");
    assert!(
        stats.cached_tokens > 0,
        "the second turn reuses the first turn's cache: {stats}"
    );
    assert_eq!(
        chat.history().len(),
        4,
        "user, assistant call, tool result, assistant"
    );
}

#[test]
fn a_json_schema_reply_is_valid_json_on_the_cpu() {
    let (_dir, reg) = registry("chat-json");
    // The default model as it is (no template): the schema still constrains the reply.
    let mut g = reg.open_model("plain").unwrap();
    let schema = json!({"type": "object", "properties": {"city": {"type": "string", "maxLength": 16},
                        "population": {"type": "integer", "minimum": 0, "maximum": 99999999}}, "required": ["city", "population"],
                        "additionalProperties": false});
    for seed in 1..=3 {
        let req = Request::user("Name a city as raw JSON.")
            .sampling(Sampling::default().seed(seed))
            .max_tokens(64)
            .response_format(ResponseFormat::JsonSchema(schema.clone()));
        let done = g.generate(&req).unwrap();
        let v: Value = serde_json::from_str(&done.text)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}: {:?}", done.text));
        assert!(v["city"].is_string() && v["population"].is_u64(), "{v}");
    }
    // A free-form object may outlast any token budget (a base model nests on and on, and
    // where it stops differs between hosts' kernels): an object when the model ended it,
    // else a cut-off prefix of one, never text that is not JSON.
    let done = g
        .generate(
            &Request::user("Anything as JSON.")
                .max_tokens(48)
                .response_format(ResponseFormat::JsonObject),
        )
        .unwrap();
    let parsed = serde_json::from_str::<Value>(&done.text);
    match done.stats.stop_reason {
        StopReason::MaxTokens => {
            assert!(done.text.trim_start().starts_with('{'), "{:?}", done.text);
            match parsed {
                Ok(v) => assert!(v.is_object(), "{v}"),
                Err(e) => assert!(e.is_eof(), "not a prefix of JSON: {e}: {:?}", done.text),
            }
        }
        other => assert!(
            parsed.map(|v| v.is_object()).unwrap_or(false),
            "{other:?}: {:?}",
            done.text
        ),
    }
}

#[test]
fn tool_calls_on_the_npu_come_through_the_same_parser() {
    let (_dir, reg) = registry("chat-npu");
    let g = reg.open_model("npu").unwrap();
    let time = Tool::new(
        "get_time",
        "The current time",
        json!({"type": "object", "properties": {}}),
    );
    let mut chat =
        ChatSession::new(g).settings(Request::default().max_tokens(200).tools(vec![time]));
    let (first, _) = events(&mut chat, |c, f| c.send_with("#TOOL# what time is it?", f));
    let got = calls(&first);
    assert_eq!(got.len(), 1, "{first:?}");
    assert_eq!(
        (got[0].name.as_str(), &got[0].arguments),
        ("get_time", &json!({}))
    );
    let text: String = first
        .iter()
        .filter_map(|e| {
            if let Event::Text(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert!(
        !text.contains("<tool_call>"),
        "the call is not left in the text: {text:?}"
    );
    let id = got[0].id.clone();
    let (second, _) = events(&mut chat, |c, f| {
        c.send_tool_results_with(vec![Message::tool_result(id, "12:00")], f)
    });
    let text: String = second
        .iter()
        .filter_map(|e| {
            if let Event::Text(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert!(
        text.contains("12:00"),
        "the test double saw the tool result: {text:?}"
    );
}

#[test]
fn a_botched_call_is_text_plus_a_warning() {
    let (_dir, reg) = registry("chat-botched");
    let mut g = reg.open_model("npu").unwrap();
    // The test double calls its first tool with `{}`; a schema that requires an argument does
    // not make the parser fail, so break the format instead: no tools means no parser for
    // calls, and a reply with tool tags is plain text.
    let done = g
        .generate(
            &Request::user("#TOOL# hi")
                .tools(vec![Tool::new("f", "", json!({"type": "object"}))])
                .tool_choice(ToolChoice::None),
        )
        .unwrap();
    assert!(done.tool_calls.is_empty());
    let _ = done;
    // A malformed call from the CPU model: a prefill that opens a call the format cannot close.
    let mut g = reg.open_model("cpu").unwrap();
    let done = g
        .generate(
            &Request::user("hi")
                .sampling(Sampling::greedy())
                .max_tokens(4)
                .tools(tools())
                .prefill("<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"x"),
        )
        .unwrap();
    assert!(done.tool_calls.is_empty(), "{done:?}");
    assert!(
        matches!(done.warnings.as_slice(), [Warning::RejectedToolCall(_)]),
        "{done:?}"
    );
}

#[test]
fn thinking_control_and_bad_chat_input_are_typed() {
    let (_dir, reg) = registry("chat-bad");
    let mut cpu = reg.open_model("cpu").unwrap();
    // Tools that are not an array of function objects.
    assert!(matches!(
        Request::user("x").tools_json(r#"{"name": "f"}"#),
        Err(Error::InvalidTools(_))
    ));
    // tool_choice naming an unknown tool.
    let e = cpu
        .generate(
            &Request::user("x")
                .tools(tools())
                .tool_choice(ToolChoice::Function("rm_rf".into())),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidRequest(m) if m.contains("rm_rf")),
        "{e}"
    );
    // A tool result whose id matches no call.
    let e = cpu
        .generate(
            &Request::new(vec![
                Message::user("x"),
                Message::tool_result("nope12345", "r"),
            ])
            .tools(tools()),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidRequest(m) if m.contains("nope12345")),
        "{e}"
    );
    // A reasoning budget on a model whose template has no reasoning.
    let mut plain = reg.open_model("plain").unwrap();
    let e = plain
        .generate(&Request::user("x").reasoning_budget(16))
        .unwrap_err();
    assert!(e.to_string().contains("reasoning budget"), "{e}");
    // Thinking off on Qwen3: the template closes an empty thinking block, nothing reasoned.
    let done = cpu
        .generate(
            &Request::user("Why?")
                .sampling(Sampling::greedy())
                .max_tokens(8)
                .thinking(false)
                .reasoning(edge_infer::ReasoningMode::Separate),
        )
        .unwrap();
    assert!(done.reasoning.trim().is_empty(), "{:?}", done.reasoning);
    // The NPU refuses what RKLLM cannot do, by name.
    let mut npu = reg.open_model("npu").unwrap();
    for (req, what) in [
        (
            Request::user("x").response_format(ResponseFormat::JsonObject),
            "JSON response format",
        ),
        (Request::user("x").reasoning_budget(64), "reasoning budget"),
        (Request::user("x").prefill("Sure"), "prefill"),
    ] {
        let e = npu.generate(&req).unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    assert!(
        npu.generate(&Request::user("x").reasoning_budget(0).max_tokens(4))
            .is_ok(),
        "budget 0 = thinking off"
    );
}

#[test]
fn a_long_conversation_folds_into_a_summary_and_reuses_the_cache_afterwards() {
    let (_dir, reg) = registry("chat-fold");
    for model in ["plain", "npu"] {
        let g = reg.open_model(model).unwrap();
        let n_ctx = g.info().n_ctx;
        let settings = Request::default()
            .sampling(Sampling::greedy())
            .max_tokens(16)
            .context_policy(edge_infer::ContextPolicy::Fold {
                keep_recent: 1,
                summary_tokens: 32,
            });
        let mut chat = ChatSession::new(g)
            .system("You are a note taker.")
            .settings(settings);
        // Each turn is about a fifth of the context: the fifth or sixth cannot fit. (The NPU
        // model has no tokenizer and counts bytes, an upper bound; the CPU counts tokens, about
        // a fifth of the bytes here.)
        let sentence = "The meeting covered budgets, hiring and the roadmap in detail. ";
        let per_turn = if model == "npu" { n_ctx / 5 } else { n_ctx };
        let filler = sentence.repeat(per_turn / sentence.len());
        let mut folded_at = None;
        for turn in 0..8 {
            let done = chat
                .send(&format!("Note {turn}: {filler}"))
                .unwrap_or_else(|e| panic!("{model} turn {turn}: {e}"));
            if done.stats.folded_messages > 0 {
                folded_at = Some((turn, done.stats.folded_messages));
                break;
            }
        }
        let (turn, folded) = folded_at.unwrap_or_else(|| panic!("{model}: never folded"));
        assert!(turn >= 2, "{model}: folded too early, at turn {turn}");
        assert!(
            folded >= 2 && folded % 2 == 0,
            "{model}: whole turns fold: {folded}"
        );
        assert!(
            chat.summary().is_some_and(|s| !s.is_empty()),
            "{model}: a summary was written"
        );
        assert_eq!(
            chat.history().len(),
            4,
            "{model}: the kept turn and this one stay verbatim"
        );
        // The next turn fits again and reuses what the fold's turn left in the cache.
        let next = chat.send("Short question.").unwrap();
        assert_eq!(
            next.stats.folded_messages, 0,
            "{model}: one fold leaves room"
        );
        assert!(
            next.stats.cached_tokens > 0,
            "{model}: the turn after the fold reuses the cache: {}",
            next.stats
        );
    }
}
