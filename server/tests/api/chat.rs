//! Chat over real HTTP with the default model, driven by an independent OpenAI
//! client crate (`async-openai`): chat (streaming and not), a forced tool call and its
//! result, a JSON-schema reply, text completions, `/v1/models`, prefix reuse reported as
//! cached tokens, and `/metrics` counters moving.
//!
//! The default model is a 270M *base* model: its replies are continuations, so the tests
//! check shapes and counts, not wording. The tool call is forced the way edge-infer's own
//! tests force it: Qwen3's template from the pinned llama.cpp tree, `tool_choice` naming
//! the tool, and the reply prefill `<tool_call>\n` (this server's `prefill` extension).

use std::sync::OnceLock;

use crate::common::{counter, llama_entry, template, Shared, TestServer};
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    ChatCompletionStreamOptions, CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse, FinishReason, ResponseFormat, ResponseFormatJsonSchema,
};
use async_openai::types::completions::CreateCompletionRequestArgs;
use edge_infer::Registry;
use edge_infer_server::ServerConfig;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn server() -> TestServer {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        crate::common::default_model();
        let toml = format!(
            "[profiles]\ndefault = [\"plain\"]\n\n{}{}{}chat_template = {:?}\n\n{}",
            llama_entry("plain", 1024),
            llama_entry("prefix", 2048),
            llama_entry("tools", 2048),
            template("Qwen-Qwen3-0.6B").display().to_string(),
            llama_entry("metered", 1024),
        );
        Shared::start(
            Registry::from_toml_str(&toml).unwrap(),
            ServerConfig::default(),
        )
    })
    .client()
}

#[tokio::test]
async fn chat_without_streaming() {
    let s = server();
    let req = CreateChatCompletionRequestArgs::default()
        .model("default")
        .max_completion_tokens(8u32)
        .temperature(0.0)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("The capital of France is")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap();
    let res = s.openai().chat().create(req).await.unwrap();
    assert_eq!(res.model, "plain", "the profile's model says who served");
    assert_eq!(res.object, "chat.completion");
    let choice = &res.choices[0];
    assert!(
        choice
            .message
            .content
            .as_deref()
            .is_some_and(|c| !c.is_empty()),
        "{res:?}"
    );
    assert!(matches!(
        choice.finish_reason,
        Some(FinishReason::Length | FinishReason::Stop)
    ));
    let usage = res.usage.unwrap();
    assert!(
        usage.completion_tokens >= 1 && usage.completion_tokens <= 8,
        "{usage:?}"
    );
    assert!(usage.prompt_tokens > 3, "{usage:?}");
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}

#[tokio::test]
async fn chat_streaming_with_usage() {
    let s = server();
    let req = CreateChatCompletionRequestArgs::default()
        .model("plain")
        .max_completion_tokens(8u32)
        .stream(true)
        .stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        })
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("Once upon a time")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap();
    let mut stream = s.openai().chat().create_stream(req).await.unwrap();
    let (mut text, mut chunks, mut finish, mut usage) = (String::new(), 0, None, None);
    while let Some(chunk) = stream.next().await {
        let chunk: CreateChatCompletionStreamResponse = chunk.unwrap();
        assert_eq!(chunk.model, "plain");
        if let Some(u) = chunk.usage {
            assert!(chunk.choices.is_empty(), "the usage chunk has no choices");
            usage = Some(u);
            continue;
        }
        let c = &chunk.choices[0];
        if let Some(t) = &c.delta.content {
            text.push_str(t);
            chunks += 1;
        }
        if c.finish_reason.is_some() {
            finish = c.finish_reason;
        }
    }
    assert!(chunks >= 2 && !text.is_empty(), "{chunks} chunks: {text:?}");
    assert_eq!(finish, Some(FinishReason::Length), "{text:?}");
    assert_eq!(usage.unwrap().completion_tokens, 8);
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "web_search", "description": "Search the web",
         "parameters": {"type": "object", "properties": {"query": {"type": "string", "maxLength": 24}}, "required": ["query"]}}},
        {"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic",
         "parameters": {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 16}}, "required": ["expression"]}}}
    ])
}

#[tokio::test]
async fn a_forced_tool_call_and_its_result_round_trip() {
    let s = server();
    let ask = json!({"role": "user", "content": "Find the latest Rust release news."});
    let forced = json!({
        "model": "tools", "messages": [ask], "tools": tools(), "temperature": 0, "max_tokens": 96,
        "tool_choice": {"type": "function", "function": {"name": "web_search"}},
        "prefill": "<tool_call>\n",
    });
    let res: CreateChatCompletionResponse =
        s.openai().chat().create_byot(forced.clone()).await.unwrap();
    let choice = &res.choices[0];
    assert_eq!(
        choice.finish_reason,
        Some(FinishReason::ToolCalls),
        "{res:?}"
    );
    let calls = choice.message.tool_calls.as_ref().expect("tool calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (id, name, args) = match &calls[0] {
        async_openai::types::chat::ChatCompletionMessageToolCalls::Function(f) => (
            f.id.clone(),
            f.function.name.clone(),
            f.function.arguments.clone(),
        ),
        other => panic!("not a function call: {other:?}"),
    };
    assert_eq!(name, "web_search");
    let parsed: Value = serde_json::from_str(&args).unwrap();
    assert!(parsed["query"].is_string(), "{parsed}");

    // The same call streamed: tool_calls deltas, the arguments' pieces adding up to JSON.
    let mut streamed = forced.clone();
    streamed["stream"] = json!(true);
    let mut stream = s
        .openai()
        .chat()
        .create_stream_byot::<_, CreateChatCompletionStreamResponse>(streamed)
        .await
        .unwrap();
    let (mut sname, mut sargs, mut finish) = (String::new(), String::new(), None);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        let Some(c) = chunk.choices.first() else {
            continue;
        };
        for tc in c.delta.tool_calls.iter().flatten() {
            assert_eq!(tc.index, 0);
            if let Some(f) = &tc.function {
                sname.push_str(f.name.as_deref().unwrap_or(""));
                sargs.push_str(f.arguments.as_deref().unwrap_or(""));
            }
        }
        finish = c.finish_reason.or(finish);
    }
    assert_eq!(sname, "web_search");
    assert_eq!(
        serde_json::from_str::<Value>(&sargs).unwrap(),
        parsed,
        "same call, greedy"
    );
    assert_eq!(finish, Some(FinishReason::ToolCalls));

    // The result goes back through the template; the reply calls nothing and reuses the
    // cached prefix of the first turn.
    let round = json!({
        "model": "tools", "temperature": 0, "max_tokens": 12, "tools": tools(), "tool_choice": "none",
        "messages": [ask,
            {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": args}}]},
            {"role": "tool", "tool_call_id": id, "content": "Rust 1.95 was released."}],
    });
    let res: Value = s.openai().chat().create_byot(round).await.unwrap();
    let msg = &res["choices"][0]["message"];
    assert!(msg["tool_calls"].is_null(), "{res}");
    assert!(
        msg["content"].as_str().is_some_and(|c| !c.is_empty()),
        "{res}"
    );
    let cached = res["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        cached > 20,
        "the tool round reuses the cached conversation: {res}"
    );
}

#[tokio::test]
async fn a_json_schema_reply_is_valid_json() {
    let s = server();
    let schema = json!({"type": "object", "properties": {"city": {"type": "string", "maxLength": 16},
        "population": {"type": "integer", "minimum": 0}}, "required": ["city", "population"], "additionalProperties": false});
    let req = CreateChatCompletionRequestArgs::default()
        .model("plain")
        .max_completion_tokens(64u32)
        .seed(3)
        .response_format(ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                name: "city".into(),
                description: None,
                schema,
                strict: Some(true),
            },
        })
        .messages([
            ChatCompletionRequestSystemMessageArgs::default()
                .content("Reply with raw JSON, no markdown.")
                .build()
                .unwrap()
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content("Name a city.")
                .build()
                .unwrap()
                .into(),
        ])
        .build()
        .unwrap();
    let res = s.openai().chat().create(req).await.unwrap();
    let text = res.choices[0].message.content.clone().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert!(v["city"].is_string() && v["population"].is_u64(), "{v}");
}

#[tokio::test]
async fn text_completions_streaming_and_not() {
    let s = server();
    let req = CreateCompletionRequestArgs::default()
        .model("plain")
        .prompt("The capital of France is")
        .max_tokens(6u32)
        .temperature(0.0)
        .build()
        .unwrap();
    let res = s.openai().completions().create(req).await.unwrap();
    assert_eq!(res.object, "text_completion");
    assert!(!res.choices[0].text.is_empty(), "{res:?}");
    let usage = res.usage.unwrap();
    assert!(
        usage.prompt_tokens <= 8,
        "a raw prompt, no template: {usage:?}"
    );

    let req = CreateCompletionRequestArgs::default()
        .model("plain")
        .prompt("The capital of France is")
        .max_tokens(6u32)
        .temperature(0.0)
        .stream(true)
        .build()
        .unwrap();
    let mut stream = s.openai().completions().create_stream(req).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&chunk.unwrap().choices[0].text);
    }
    assert_eq!(text, res.choices[0].text, "greedy: the same continuation");
}

#[tokio::test]
async fn models_lists_profiles_and_models_with_backend_and_state() {
    let s = server();
    let list = s.openai().models().list().await.unwrap();
    let ids: Vec<&str> = list.data.iter().map(|m| m.id.as_str()).collect();
    for id in ["default", "plain", "prefix", "tools"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    let (status, raw) = s.get("/v1/models").await;
    assert_eq!(status, 200);
    let plain = raw["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "plain")
        .unwrap();
    assert_eq!(plain["kind"], "model");
    assert_eq!(plain["backend"], "llama");
    assert!(["loaded", "loading", "unloaded"].contains(&plain["state"].as_str().unwrap()));
    let profile = raw["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "default")
        .unwrap();
    assert_eq!(
        (profile["kind"].as_str(), &profile["models"]),
        (Some("profile"), &json!(["plain"]))
    );
}

#[tokio::test]
async fn a_repeated_system_prompt_is_served_from_the_cache() {
    let s = server();
    let system = "You are a helpful assistant for engineers working on embedded boards. \
                  Answer briefly, cite the datasheet section, and never guess register values.";
    let ask = |q: &str| {
        json!({"model": "prefix", "max_tokens": 4, "temperature": 0,
               "messages": [{"role": "system", "content": system}, {"role": "user", "content": q}]})
    };
    let (st, first) = s
        .post("/v1/chat/completions", &ask("What is a UART?"))
        .await;
    assert_eq!(st, 200, "{first}");
    let (st, second) = s.post("/v1/chat/completions", &ask("What is SPI?")).await;
    assert_eq!(st, 200, "{second}");
    let cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    let total = second["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(cached >= 30 && cached < total, "{second}");
    assert_eq!(second["timings"]["cache_n"].as_u64(), Some(cached));
    assert_eq!(
        second["timings"]["prompt_n"].as_u64(),
        Some(total - cached),
        "only the new tokens are evaluated"
    );
}

#[tokio::test]
async fn metrics_counters_move() {
    let s = server();
    let before = s.metrics().await;
    let (st, body) = s
        .post("/v1/chat/completions", &json!({"model": "metered", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}))
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": "metered", "messages": []}),
        )
        .await;
    assert_eq!(st, 400);
    let after = s.metrics().await;
    let c = |t: &str, name: &str, l: &[(&str, &str)]| counter(t, name, l);
    let ok = [("model", "metered"), ("status", "200")];
    assert_eq!(
        c(&after, "edge_infer_requests_total", &ok),
        c(&before, "edge_infer_requests_total", &ok) + 1.0,
        "{after}"
    );
    let bad = [("status", "400")];
    assert!(
        c(&after, "edge_infer_requests_total", &bad)
            >= c(&before, "edge_infer_requests_total", &bad) + 1.0
    );
    let m = [("model", "metered")];
    assert_eq!(
        c(&after, "edge_infer_generated_tokens_total", &m),
        c(&before, "edge_infer_generated_tokens_total", &m) + 3.0
    );
    assert!(
        c(&after, "edge_infer_prompt_tokens_total", &m)
            > c(&before, "edge_infer_prompt_tokens_total", &m)
    );
    assert_eq!(
        c(&after, "edge_infer_ttft_seconds_count", &m),
        c(&before, "edge_infer_ttft_seconds_count", &m) + 1.0
    );
    assert!(
        c(&after, "edge_infer_kv_bytes", &m) > 1e6,
        "KV bytes of the loaded model: {after}"
    );
    assert!(
        after.contains("edge_infer_queue_depth{model=\"metered\"}"),
        "{after}"
    );
    assert!(
        after.contains("edge_infer_decode_tokens_per_second_bucket"),
        "{after}"
    );
}
