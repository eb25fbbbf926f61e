//! Serving behaviour with the default model: `/health` while a model loads and after,
//! the API key on and off, a full queue answered 429 with `Retry-After`, and a client
//! that disconnects cancelling its generation.

use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use edge_infer::Registry;
use edge_infer_server::ServerConfig;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::common::{counter, http, llama_entry, TestServer};

fn registry(names: &[&str]) -> Registry {
    crate::common::default_model();
    let models: String = names.iter().map(|n| llama_entry(n, 1024)).collect();
    Registry::from_toml_str(&format!(
        "[profiles]\ndefault = [\"{}\"]\n\n{models}",
        names[0]
    ))
    .unwrap()
}

fn ask(model: &str, max_tokens: u32, stream: bool) -> Value {
    json!({"model": model, "max_tokens": max_tokens, "stream": stream, "temperature": 0,
           "messages": [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]})
}

#[tokio::test]
async fn health_is_503_while_loading_then_ok() {
    let s = TestServer::start(registry(&["h"]), ServerConfig::default()).await;
    let (st, body) = s.get("/health").await;
    assert_eq!(
        (st, &body),
        (200, &json!({"status": "ok"})),
        "nothing loading at start"
    );
    let first = {
        let s = s.url("/v1/chat/completions");
        tokio::spawn(async move {
            http()
                .post(s)
                .json(&ask("h", 2, false))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The model loads on the first request: poll until /health has said so.
    let t0 = Instant::now();
    let mut seen = None;
    while t0.elapsed() < Duration::from_secs(120) && !first.is_finished() {
        let (st, body) = s.get("/health").await;
        if st == 503 {
            seen = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        seen,
        Some(json!({"status": "loading model"})),
        "/health never said it was loading"
    );
    let (_, models) = s.get("/v1/models").await;
    let h = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "h")
        .unwrap()
        .clone();
    assert!(
        ["loading", "loaded"].contains(&h["state"].as_str().unwrap()),
        "{h}"
    );
    assert_eq!(first.await.unwrap(), 200);
    let (st, body) = s.get("/health").await;
    assert_eq!((st, body), (200, json!({"status": "ok"})));
    s.stop().await;
}

#[tokio::test]
async fn the_api_key_when_set() {
    let s = TestServer::start(
        registry(&["k"]),
        ServerConfig::default().api_key("s3cret-key"),
    )
    .await;
    let post = |auth: Option<&'static str>| {
        let url = s.url("/v1/chat/completions");
        async move {
            let mut r = http().post(url).json(&ask("k", 2, false));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            let res = r.send().await.unwrap();
            let www = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            (
                res.status().as_u16(),
                www,
                res.json::<Value>().await.unwrap(),
            )
        }
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-ke"),
        Some("Basic s3cret-key"),
        Some("s3cret-key"),
    ] {
        let (st, www, body) = post(auth).await;
        assert_eq!(st, 401, "{auth:?}: {body}");
        assert_eq!(www.as_deref(), Some("Bearer"));
        assert_eq!(body["error"]["type"], "authentication_error", "{body}");
        assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    }
    let (st, _, body) = post(Some("Bearer s3cret-key")).await;
    assert_eq!(st, 200, "{body}");
    // The OpenAI client sends its key as a bearer token.
    let client = async_openai::Client::with_config(
        async_openai::config::OpenAIConfig::new()
            .with_api_base(s.url("/v1"))
            .with_api_key("s3cret-key"),
    );
    assert!(client
        .models()
        .list()
        .await
        .unwrap()
        .data
        .iter()
        .any(|m| m.id == "k"));
    assert!(
        s.openai().models().list().await.is_err(),
        "a wrong key is refused"
    );
    let res = http().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401, "metrics are behind the key too");
    // Health and the page stay open (a load balancer probes them).
    assert_eq!(s.get("/health").await.0, 200);
    assert_eq!(http().get(s.url("/")).send().await.unwrap().status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn without_a_key_any_authorization_is_ignored() {
    let s = TestServer::start(registry(&["nokey"]), ServerConfig::default()).await;
    let res = http()
        .get(s.url("/v1/models"))
        .header("authorization", "Bearer whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http().get(s.url("/v1/models")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // CORS is off unless configured: no allow-origin header for a foreign origin.
    let res = http()
        .get(s.url("/v1/models"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}

/// Reads SSE chunks of a streaming response until `n` tokens of content have arrived,
/// then drops the connection.
async fn read_chunks(res: reqwest::Response, n: usize) -> usize {
    let mut stream = res.bytes_stream();
    let (mut buf, mut got) = (String::new(), 0);
    while got < n {
        let bytes = stream
            .next()
            .await
            .expect("the stream ended early")
            .unwrap();
        buf.push_str(std::str::from_utf8(&bytes).unwrap());
        // Non-empty content pieces (the first chunk carries the role and "").
        got = buf.matches("\"content\":\"").count() - buf.matches("\"content\":\"\"").count();
    }
    got
}

#[tokio::test]
async fn a_full_queue_is_429_with_retry_after() {
    // Queue size 0: one request runs, none waits.
    let s = TestServer::start(registry(&["q"]), ServerConfig::default().queue_size(0)).await;
    let long = http()
        .post(s.url("/v1/chat/completions"))
        .json(&ask("q", 400, true))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 200);
    let mut stream = long.bytes_stream();
    stream.next().await.unwrap().unwrap(); // it is running
    let res = http()
        .post(s.url("/v1/chat/completions"))
        .json(&ask("q", 2, false))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= 1);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "queue_full", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("`q`"),
        "{body}"
    );
    // The OpenAI client sees the same as an API error.
    let req = CreateChatCompletionRequestArgs::default()
        .model("q")
        .max_completion_tokens(2u32)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("hi")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap();
    match s.openai().chat().create(req).await {
        Err(async_openai::error::OpenAIError::ApiError(e)) => {
            assert_eq!(e.api_error.code.as_deref(), Some("queue_full"))
        }
        other => panic!("{other:?}"),
    }
    let m = s.metrics().await;
    assert!(
        counter(
            &m,
            "edge_infer_requests_total",
            &[("model", "q"), ("status", "429")]
        ) >= 2.0,
        "{m}"
    );
    drop(stream);
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_generation() {
    let s = TestServer::start(registry(&["c"]), ServerConfig::default()).await;
    // Load first, so that the timing below is the generation's alone.
    assert_eq!(
        s.post("/v1/chat/completions", &ask("c", 1, false)).await.0,
        200
    );
    let before = s.metrics().await;
    let m = [("model", "c")];
    let res = http()
        .post(s.url("/v1/chat/completions"))
        .json(&ask("c", 800, true))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let read = read_chunks(res, 3).await;
    let dropped = Instant::now();
    // The model is free again long before 800 tokens could be generated: the next request
    // is served, and the cancelled one generated about what was read.
    let (st, body) = s.post("/v1/chat/completions", &ask("c", 1, false)).await;
    assert_eq!(st, 200, "{body}");
    let freed = dropped.elapsed();
    let after = s.metrics().await;
    let cancelled = counter(&after, "edge_infer_cancelled_total", &m)
        - counter(&before, "edge_infer_cancelled_total", &m);
    assert_eq!(cancelled, 1.0, "{after}");
    let generated = counter(&after, "edge_infer_generated_tokens_total", &m)
        - counter(&before, "edge_infer_generated_tokens_total", &m)
        - 1.0;
    assert!(
        generated >= read as f64 && generated <= read as f64 + 4.0,
        "the cancelled generation made {generated} tokens after {read} were read (of 800); freed after {freed:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_a_running_request_finish() {
    // A grace period longer than any slow machine needs for 24 tokens (after it, running
    // requests are cancelled).
    let config = ServerConfig::default().shutdown_grace(Duration::from_secs(300));
    let s = TestServer::start(registry(&["g"]), config).await;
    let res = http()
        .post(s.url("/v1/chat/completions"))
        .json(&ask("g", 24, true))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut stream = res.bytes_stream();
        let mut buf = String::new();
        let mut tx = Some(started_tx);
        while let Some(b) = stream.next().await {
            buf.push_str(std::str::from_utf8(&b.unwrap()).unwrap());
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        }
        buf
    });
    started.await.unwrap();
    let addr = s.addr;
    s.stop().await; // returns once the running request is done and the model is freed
    let text = reader.await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        text.contains("\"finish_reason\":\"length\""),
        "it ran to its max_tokens: {text}"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
