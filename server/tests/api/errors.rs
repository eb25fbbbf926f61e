//! Every bad input of the issue gives its status and an OpenAI-shaped body,
//! `{"error": {"message", "type", "param", "code"}}`, whose message names the problem.

use std::sync::OnceLock;

use edge_infer::Registry;
use edge_infer_server::ServerConfig;
use rkllm_test_double::{FakeModel, TempDir};
use serde_json::{json, Value};

use crate::common::{double_entry, http, llama_entry, Shared, TestServer};

/// `small`: the default model with a 256-token context; `npu`: the test double.
fn server() -> TestServer {
    static S: OnceLock<(Shared, TempDir)> = OnceLock::new();
    S.get_or_init(|| {
        crate::common::default_model();
        let dir = TempDir::new("server-errors").unwrap();
        let fake = FakeModel::default()
            .write(dir.path().join("fake.rkllm"))
            .unwrap();
        let toml = format!(
            "[profiles]\ndefault = [\"small\"]\n\n{}{}",
            llama_entry("small", 256),
            double_entry("npu", &fake, ""),
        );
        let config = ServerConfig::default()
            .max_tokens_cap(128)
            .body_limit(64 << 10);
        (
            Shared::start(Registry::from_toml_str(&toml).unwrap(), config),
            dir,
        )
    })
    .0
    .client()
}

/// Checks the OpenAI error shape and returns the error object.
fn shape(status: u16, want: u16, body: &Value) -> &Value {
    assert_eq!(status, want, "{body}");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| m.len() > 10),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    let obj = e.as_object().unwrap();
    assert!(
        obj.contains_key("param") && obj.contains_key("code"),
        "{body}"
    );
    e
}

async fn raw(s: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let res = http()
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test]
async fn malformed_json() {
    let s = server();
    let (st, body) = raw(
        &s,
        "/v1/chat/completions",
        r#"{"model": "small", "messages": ["#,
    )
    .await;
    let e = shape(st, 400, &body);
    assert_eq!(e["code"], "invalid_json");
    assert!(
        e["message"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    let (st, body) = raw(&s, "/v1/completions", "not json at all").await;
    assert_eq!(shape(st, 400, &body)["code"], "invalid_json");
}

#[tokio::test]
async fn wrong_field_types_name_the_field() {
    let s = server();
    let cases = [
        (
            json!({"model": "small", "messages": user("hi"), "temperature": "hot"}),
            "temperature",
        ),
        (json!({"model": "small", "messages": "hi"}), "messages"),
        (
            json!({"model": "small", "messages": [{"role": "user", "content": 3}]}),
            "messages[0]",
        ),
        (
            json!({"model": "small", "messages": user("hi"), "max_tokens": "many"}),
            "max_tokens",
        ),
        (
            json!({"model": "small", "messages": user("hi"), "stream": "yes"}),
            "stream",
        ),
    ];
    for (req, field) in cases {
        let (st, body) = s.post("/v1/chat/completions", &req).await;
        let e = shape(st, 400, &body);
        assert!(
            e["param"].as_str().is_some_and(|p| p.starts_with(field)),
            "{req} -> {body}"
        );
    }
    // A missing required field is a schema error too.
    let (st, body) = s
        .post("/v1/chat/completions", &json!({"model": "small"}))
        .await;
    assert!(
        shape(st, 400, &body)["message"]
            .as_str()
            .unwrap()
            .contains("messages"),
        "{body}"
    );
    // Out-of-range values name theirs.
    for (k, v) in [
        ("temperature", json!(7)),
        ("top_p", json!(2)),
        ("n", json!(3)),
    ] {
        let mut req = json!({"model": "small", "messages": user("hi")});
        req[k] = v;
        let (st, body) = s.post("/v1/chat/completions", &req).await;
        assert_eq!(shape(st, 400, &body)["param"], k, "{body}");
    }
}

#[tokio::test]
async fn unknown_model_or_profile() {
    let s = server();
    let (st, body) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-17", "messages": user("hi")}),
        )
        .await;
    let e = shape(st, 404, &body);
    assert_eq!(
        (&e["code"], &e["param"]),
        (&json!("model_not_found"), &json!("model"))
    );
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("gpt-17") && m.contains("small") && m.contains("default"),
        "names what exists: {m}"
    );
    // A path-like model name reaches no file: it is just an unknown name.
    let (st, body) = s
        .post(
            "/v1/completions",
            &json!({"model": "../../etc/passwd", "prompt": "x"}),
        )
        .await;
    shape(st, 404, &body);
}

#[tokio::test]
async fn empty_messages() {
    let s = server();
    let (st, body) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": "small", "messages": []}),
        )
        .await;
    assert_eq!(shape(st, 400, &body)["param"], "messages");
}

#[tokio::test]
async fn a_prompt_over_the_context_says_both_numbers() {
    let s = server();
    let long = "word ".repeat(600);
    for stream in [false, true] {
        let (st, body) = s
            .post(
                "/v1/chat/completions",
                &json!({"model": "small", "max_tokens": 16, "stream": stream, "messages": user(&long)}),
            )
            .await;
        let e = shape(st, 400, &body);
        assert_eq!(e["code"], "context_length_exceeded", "{body}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("256"), "the context size: {m}");
        let needed = m
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok())
            .any(|n| n > 256);
        assert!(needed, "the tokens needed: {m}");
    }
}

#[tokio::test]
async fn max_tokens_at_most_zero_or_over_the_cap() {
    let s = server();
    for (field, n) in [
        ("max_tokens", 0),
        ("max_tokens", -5),
        ("max_completion_tokens", 0),
        ("max_tokens", 129),
    ] {
        let mut req = json!({"model": "small", "messages": user("hi")});
        req[field] = json!(n);
        let (st, body) = s.post("/v1/chat/completions", &req).await;
        let e = shape(st, 400, &body);
        assert_eq!(e["param"], field, "{body}");
        assert!(
            e["message"].as_str().unwrap().contains(&n.to_string()),
            "{body}"
        );
        if n > 0 {
            assert!(
                e["message"].as_str().unwrap().contains("128"),
                "the cap: {body}"
            );
        }
    }
    let (st, body) = s
        .post(
            "/v1/completions",
            &json!({"model": "small", "prompt": "x", "max_tokens": 0}),
        )
        .await;
    assert_eq!(shape(st, 400, &body)["param"], "max_tokens");
}

#[tokio::test]
async fn a_body_over_the_limit() {
    let s = server();
    let big = format!(
        r#"{{"model": "small", "messages": [{{"role": "user", "content": "{}"}}]}}"#,
        "x".repeat(70 << 10)
    );
    let (st, body) = raw(&s, "/v1/chat/completions", big).await;
    let e = shape(st, 413, &body);
    assert_eq!(e["code"], "body_too_large");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&(64 << 10).to_string()),
        "{body}"
    );
}

#[tokio::test]
async fn features_the_npu_lacks() {
    let s = server();
    let schema =
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}});
    let (st, body) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": "npu", "messages": user("hi"), "response_format": schema}),
        )
        .await;
    let e = shape(st, 400, &body);
    assert_eq!(e["code"], "unsupported_feature");
    assert!(e["message"].as_str().unwrap().contains("grammar"), "{body}");
    let (st, body) = s
        .post("/v1/completions", &json!({"model": "npu", "prompt": "hi"}))
        .await;
    assert_eq!(
        shape(st, 400, &body)["code"],
        "unsupported_feature",
        "a raw prompt: {body}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let s = server();
    let (st, body) = s.get("/v1/embeddings").await;
    shape(st, 404, &body);
    let (st, body) = s.get("/v1/chat/completions").await;
    shape(st, 405, &body);
    // No request path reaches the filesystem: only the embedded assets are served.
    for p in [
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/etc/passwd",
    ] {
        let res = http().get(s.url(p)).send().await.unwrap();
        let st = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("[package]") && !text.contains("root:"),
            "{p}: {st} {text}"
        );
    }
}
