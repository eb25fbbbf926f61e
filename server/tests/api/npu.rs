//! NPU models served the same way, through the RKLLM test double (a fake librkllmrt: no NPU
//! involved): routing from an NPU profile, streaming, tool calls, cancel on disconnect.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, FinishReason,
};
use edge_infer::Registry;
use edge_infer_server::ServerConfig;
use futures_util::StreamExt;
use rkllm_test_double::{FakeModel, TempDir};
use serde_json::{json, Value};

use crate::common::{counter, double_entry, http, llama_entry, template, Shared, TestServer};

const REPLY: &str = "The answer is 42.";

/// Profile `edge`: the test double `npu` first, the default model `cpu` as its backup.
/// `slow`: the test double streaming a token every 20 ms.
fn server() -> TestServer {
    static S: OnceLock<(Shared, TempDir)> = OnceLock::new();
    S.get_or_init(|| {
        crate::common::default_model();
        let dir = TempDir::new("server-npu").unwrap();
        let fast = FakeModel::default()
            .reply(REPLY)
            .write(dir.path().join("fast.rkllm"))
            .unwrap();
        let slow = FakeModel::default()
            .token_delay_ms(20)
            .write(dir.path().join("slow.rkllm"))
            .unwrap();
        let qwen = format!(
            "chat_template = {:?}\n",
            template("Qwen-Qwen2.5-7B-Instruct").display().to_string()
        );
        let toml = format!(
            "[profiles]\nedge = [\"npu\", \"cpu\"]\n\n{}{}{}",
            double_entry("npu", &fast, &qwen),
            double_entry("slow", &slow, ""),
            llama_entry("cpu", 1024),
        );
        (
            Shared::start(
                Registry::from_toml_str(&toml).unwrap(),
                ServerConfig::default(),
            ),
            dir,
        )
    })
    .0
    .client()
}

fn user(text: &str) -> async_openai::types::chat::ChatCompletionRequestMessage {
    ChatCompletionRequestUserMessageArgs::default()
        .content(text)
        .build()
        .unwrap()
        .into()
}

#[tokio::test]
async fn an_npu_profile_routes_to_the_test_double_and_streams() {
    let s = server();
    let req = CreateChatCompletionRequestArgs::default()
        .model("edge")
        .max_completion_tokens(64u32)
        .messages([user("What is the answer?")])
        .build()
        .unwrap();
    let res = s.openai().chat().create(req.clone()).await.unwrap();
    assert_eq!(res.model, "npu", "the profile's first model serves");
    assert_eq!(res.choices[0].message.content.as_deref(), Some(REPLY));
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop));

    let mut streamed = req;
    streamed.stream = Some(true);
    let mut stream = s.openai().chat().create_stream(streamed).await.unwrap();
    let (mut text, mut chunks) = (String::new(), 0);
    while let Some(c) = stream.next().await {
        let c: CreateChatCompletionStreamResponse = c.unwrap();
        assert_eq!(c.model, "npu");
        if let Some(t) = c.choices.first().and_then(|c| c.delta.content.as_ref()) {
            text.push_str(t);
            chunks += 1;
        }
    }
    assert_eq!(text, REPLY);
    assert!(chunks >= 5, "one piece per token: {chunks}");
    let (_, models) = s.get("/v1/models").await;
    let npu = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "npu")
        .unwrap();
    assert_eq!(
        (&npu["backend"], &npu["state"]),
        (&json!("rkllm"), &json!("loaded")),
        "{npu}"
    );
}

#[tokio::test]
async fn tool_calls_on_the_npu() {
    let s = server();
    let tools = json!([{"type": "function", "function": {"name": "get_time", "description": "The current time",
        "parameters": {"type": "object", "properties": {}}}}]);
    let body = json!({"model": "edge", "max_tokens": 200, "tools": tools,
        "messages": [{"role": "user", "content": "#TOOL# what time is it?"}]});
    let res: CreateChatCompletionResponse =
        s.openai().chat().create_byot(body.clone()).await.unwrap();
    assert_eq!(res.model, "npu");
    let choice = &res.choices[0];
    assert_eq!(
        choice.finish_reason,
        Some(FinishReason::ToolCalls),
        "{res:?}"
    );
    let calls = choice.message.tool_calls.as_ref().unwrap();
    let async_openai::types::chat::ChatCompletionMessageToolCalls::Function(call) = &calls[0]
    else {
        panic!("{calls:?}")
    };
    assert_eq!(call.function.name, "get_time");
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        json!({})
    );
    assert!(
        !choice
            .message
            .content
            .as_deref()
            .unwrap_or("")
            .contains("<tool_call>"),
        "{res:?}"
    );

    // Streamed: tool_calls deltas.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let mut stream = s
        .openai()
        .chat()
        .create_stream_byot::<_, CreateChatCompletionStreamResponse>(streamed)
        .await
        .unwrap();
    let (mut name, mut finish) = (String::new(), None);
    while let Some(c) = stream.next().await {
        let c = c.unwrap();
        let Some(ch) = c.choices.first() else {
            continue;
        };
        for tc in ch.delta.tool_calls.iter().flatten() {
            name.push_str(
                tc.function
                    .as_ref()
                    .and_then(|f| f.name.as_deref())
                    .unwrap_or(""),
            );
        }
        finish = ch.finish_reason.or(finish);
    }
    assert_eq!(
        (name.as_str(), finish),
        ("get_time", Some(FinishReason::ToolCalls))
    );

    // The result goes back; the test double says it received it.
    let round = json!({"model": "npu", "max_tokens": 200, "tools": body["tools"], "messages": [
        body["messages"][0],
        {"role": "assistant", "content": null, "tool_calls": [{"id": call.id, "type": "function",
            "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "12:00"}]});
    let (st, res) = s.post("/v1/chat/completions", &round).await;
    assert_eq!(st, 200, "{res}");
    assert!(
        res["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("12:00"),
        "{res}"
    );
}

#[tokio::test]
async fn a_disconnect_cancels_the_npu_generation() {
    let s = server();
    let ask = |prompt: &str, stream: bool| json!({"model": "slow", "max_tokens": 900, "stream": stream, "messages": [{"role": "user", "content": prompt}]});
    // Loaded first; then a 20000-token run (#LONG#) is dropped after a few chunks.
    assert_eq!(s.post("/v1/chat/completions", &json!({"model": "slow", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})).await.0, 200);
    let before = s.metrics().await;
    let res = http()
        .post(s.url("/v1/chat/completions"))
        .json(&ask("#LONG#", true))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    while buf.matches("\"content\":").count() < 3 {
        buf.push_str(std::str::from_utf8(&stream.next().await.unwrap().unwrap()).unwrap());
    }
    drop(stream);
    let dropped = Instant::now();
    let (st, body) = s
        .post("/v1/chat/completions", &json!({"model": "slow", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(st, 200, "{body}");
    // 900 tokens at 20 ms would take 18 s; the runtime goes on ~1.3 s after an abort.
    let freed = dropped.elapsed();
    assert!(freed < Duration::from_secs(8), "freed after {freed:?}");
    let after = s.metrics().await;
    let m = [("model", "slow")];
    assert_eq!(
        counter(&after, "edge_infer_cancelled_total", &m)
            - counter(&before, "edge_infer_cancelled_total", &m),
        1.0,
        "{after}"
    );
}
