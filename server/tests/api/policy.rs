//! The serving policies, each on its own server: the memory ceilings (the server's and a
//! model's) refusing a model with both numbers while its profile falls to the next model,
//! failover under load (a full queue, an expected wait over the latency budget) to the
//! profile's next loaded model, the per-request timeout, the idle unload, `--eager`, and
//! CORS. The slow and fast models are the RKLLM test double (a fake librkllmrt: no NPU),
//! whose token delay makes "busy" deterministic; the memory test also estimates the
//! default model with llama.cpp's own accounting.

use std::time::{Duration, Instant};

use edge_infer::Registry;
use edge_infer_server::ServerConfig;
use futures_util::StreamExt;
use rkllm_test_double::{FakeModel, TempDir};
use serde_json::{json, Value};

use crate::common::{counter, double_entry, http, llama_entry, TestServer};

/// A reply long enough that a run at 40 ms a token stays busy for seconds.
const LONG: &str = "one two three four five six seven eight nine ten eleven twelve thirteen \
                    fourteen fifteen sixteen seventeen eighteen nineteen twenty";

/// Test-double models: `slow` streams a token every 40 ms and stops within a token of an
/// abort; `fast` streams without delay.
fn doubles(dir: &TempDir, slow: &str, fast: &str) -> String {
    let s = FakeModel::default()
        .reply(LONG)
        .token_delay_ms(40)
        .abort_delay_ms(0)
        .write(dir.path().join(format!("{slow}.rkllm")))
        .unwrap();
    let f = FakeModel::default()
        .reply("fast reply")
        .write(dir.path().join(format!("{fast}.rkllm")))
        .unwrap();
    format!(
        "{}{}",
        double_entry(slow, &s, ""),
        double_entry(fast, &f, "")
    )
}

fn ask(model: &str, max_tokens: u32) -> Value {
    json!({"model": model, "max_tokens": max_tokens, "temperature": 0,
           "messages": [{"role": "user", "content": "Hello"}]})
}

/// Starts a streaming request and returns once its first chunk arrived (so the model is
/// busy with it); the response is returned to keep the request alive.
async fn busy(s: &TestServer, model: &str, max_tokens: u32) -> reqwest::Response {
    let mut body = ask(model, max_tokens);
    body["stream"] = json!(true);
    let res = http()
        .post(s.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res
}

async fn first_chunk(res: reqwest::Response) -> impl Sized {
    let mut stream = res.bytes_stream();
    stream.next().await.expect("a first chunk").unwrap();
    stream
}

async fn state(s: &TestServer, model: &str) -> String {
    let (_, models) = s.get("/v1/models").await;
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == model)
        .unwrap_or_else(|| panic!("{model} in {models}"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Polls `/v1/models` until `model` is in `want`, for at most `within`.
async fn wait_state(s: &TestServer, model: &str, want: &str, within: Duration) {
    let t0 = Instant::now();
    loop {
        let now = state(s, model).await;
        if now == want {
            return;
        }
        assert!(
            t0.elapsed() < within,
            "`{model}` still {now} after {within:?} (wanted {want})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn mib_in(message: &str, before: &str) -> f64 {
    let at = message
        .find(before)
        .unwrap_or_else(|| panic!("`{before}` in {message}"));
    let rest = &message[at + before.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_memory_ceiling_refuses_a_model_with_both_numbers_and_the_profile_falls_back() {
    crate::common::default_model();
    let dir = TempDir::new("server-memory").unwrap();
    let toml = format!(
        "[profiles]\nmem = [\"membig\", \"memfast\"]\n\n{}{}",
        llama_entry("membig", 1024),
        doubles(&dir, "memslow", "memfast"),
    );
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().memory_limit(64 << 20),
    )
    .await;

    // The model alone: 503 with its estimate (weights alone are 241 MiB) and the ceiling.
    let (st, body) = s.post("/v1/chat/completions", &ask("membig", 2)).await;
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_memory", "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    let need = mib_in(msg, "needs an estimated");
    assert!(need > 241.0 && need < 2048.0, "{msg}");
    assert!(msg.contains("64.0 MiB memory ceiling"), "{msg}");
    assert!(msg.contains("KV"), "the estimate's parts: {msg}");
    assert_eq!(state(&s, "membig").await, "failed");

    // The profile: served by its next model, which fits, and says so.
    let (st, body) = s.post("/v1/chat/completions", &ask("mem", 4)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["model"], "memfast");
    let m = s.metrics().await;
    assert_eq!(
        counter(
            &m,
            "edge_infer_fallbacks_total",
            &[("profile", "mem"), ("from", "membig"), ("to", "memfast")]
        ),
        1.0,
        "{m}"
    );
    s.stop().await;

    // A model's own limit, under a server without one.
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().model_memory_limit("membig", 16 << 20),
    )
    .await;
    let (st, body) = s.post("/v1/chat/completions", &ask("membig", 2)).await;
    assert_eq!(st, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(mib_in(msg, "needs an estimated") > 241.0, "{msg}");
    assert!(msg.contains("its memory limit is 16.0 MiB"), "{msg}");
    s.stop().await;
}

#[tokio::test]
async fn a_full_queue_fails_over_to_the_next_loaded_model() {
    let dir = TempDir::new("server-queue-failover").unwrap();
    let toml = format!(
        "[profiles]\nqf = [\"qslow\", \"qfast\"]\n\n{}",
        doubles(&dir, "qslow", "qfast")
    );
    // No room to wait: a busy model's queue is full.
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().queue_size(0),
    )
    .await;
    let running = first_chunk(busy(&s, "qslow", 140).await).await;

    // The backup is not loaded: the request is refused, not sent to a model that loads.
    let (st, body) = s.post("/v1/chat/completions", &ask("qf", 2)).await;
    assert_eq!(st, 429, "{body}");
    assert_eq!(state(&s, "qfast").await, "unloaded");

    let (st, _) = s.post("/v1/chat/completions", &ask("qfast", 2)).await;
    assert_eq!(st, 200);
    let (st, body) = s.post("/v1/chat/completions", &ask("qf", 2)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["model"], "qfast", "the response names the backup");
    let m = s.metrics().await;
    assert_eq!(
        counter(
            &m,
            "edge_infer_fallbacks_total",
            &[("profile", "qf"), ("to", "qfast"), ("reason", "queue_full")]
        ),
        1.0,
        "{m}"
    );
    drop(running);
    s.stop().await;
}

#[tokio::test]
async fn an_expected_wait_over_the_latency_budget_fails_over() {
    let dir = TempDir::new("server-budget").unwrap();
    let toml = format!(
        "[profiles]\nlb = [\"lslow\", \"lfast\"]\nnb = [\"lslow\", \"lfast\"]\n\n{}",
        doubles(&dir, "lslow", "lfast")
    );
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().latency_budget("lb", Duration::from_millis(100)),
    )
    .await;
    // A served request gives `lslow` a service time (~10 tokens x 40 ms); `lfast` loads.
    let (st, _) = s.post("/v1/chat/completions", &ask("lslow", 10)).await;
    assert_eq!(st, 200);
    let (st, _) = s.post("/v1/chat/completions", &ask("lfast", 2)).await;
    assert_eq!(st, 200);

    let running = first_chunk(busy(&s, "lslow", 40).await).await;
    // The profile's budget (100 ms) is below the expected wait (one run of ~400 ms).
    let (st, body) = s.post("/v1/chat/completions", &ask("lb", 2)).await;
    assert_eq!((st, &body["model"]), (200, &json!("lfast")), "{body}");
    // A request's own budget, on a profile without one.
    let mut tight = ask("nb", 2);
    tight["latency_budget_ms"] = json!(50);
    let (st, body) = s.post("/v1/chat/completions", &tight).await;
    assert_eq!((st, &body["model"]), (200, &json!("lfast")), "{body}");
    // Without a budget the request waits for the primary.
    let (st, body) = s.post("/v1/chat/completions", &ask("nb", 2)).await;
    assert_eq!((st, &body["model"]), (200, &json!("lslow")), "{body}");
    let m = s.metrics().await;
    assert_eq!(
        counter(
            &m,
            "edge_infer_fallbacks_total",
            &[
                ("from", "lslow"),
                ("to", "lfast"),
                ("reason", "latency_budget")
            ]
        ),
        2.0,
        "{m}"
    );
    drop(running);
    s.stop().await;
}

#[tokio::test]
async fn the_request_timeout_cancels_the_generation() {
    let dir = TempDir::new("server-timeout").unwrap();
    let toml = doubles(&dir, "tslow", "tfast");
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().request_timeout(Duration::from_millis(800)),
    )
    .await;
    let (st, _) = s.post("/v1/chat/completions", &ask("tslow", 1)).await; // loads it
    assert_eq!(st, 200);

    // 80 tokens at 40 ms would take 3.2 s.
    let t0 = Instant::now();
    let (st, body) = s.post("/v1/chat/completions", &ask("tslow", 80)).await;
    assert_eq!(st, 504, "{body}");
    assert_eq!(body["error"]["type"], "timeout_error", "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("0.8s"),
        "{body}"
    );
    // Cancelled, not left running: the next short request is served at once.
    let (st, body) = s.post("/v1/chat/completions", &ask("tslow", 2)).await;
    assert_eq!(st, 200, "{body}");
    assert!(
        t0.elapsed() < Duration::from_millis(2800),
        "the timed-out run went on: {:?}",
        t0.elapsed()
    );

    // Streaming: the chunks sent so far, then an error event in OpenAI's shape.
    let mut req = ask("tslow", 80);
    req["stream"] = json!(true);
    let res = http()
        .post(s.url("/v1/chat/completions"))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let data = crate::common::sse_data(res).await;
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "timeout", "{data:?}");
    assert!(data.len() > 2, "some text came first: {data:?}");
    let m = s.metrics().await;
    assert_eq!(
        counter(
            &m,
            "edge_infer_cancelled_total",
            &[("model", "tslow"), ("reason", "timeout")]
        ),
        2.0,
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_idle_model_unloads_and_loads_again_on_demand() {
    let dir = TempDir::new("server-idle").unwrap();
    let toml = doubles(&dir, "islow", "ifast");
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().idle_unload(Duration::from_millis(300)),
    )
    .await;
    let (st, _) = s.post("/v1/chat/completions", &ask("ifast", 2)).await;
    assert_eq!(st, 200);
    assert_eq!(state(&s, "ifast").await, "loaded");
    wait_state(&s, "ifast", "unloaded", Duration::from_secs(20)).await;
    let m = s.metrics().await;
    assert_eq!(
        counter(&m, "edge_infer_model_loaded", &[("model", "ifast")]),
        0.0,
        "{m}"
    );

    let (st, body) = s.post("/v1/chat/completions", &ask("ifast", 2)).await;
    assert_eq!((st, &body["model"]), (200, &json!("ifast")), "{body}");
    let m = s.metrics().await;
    assert_eq!(
        counter(
            &m,
            "edge_infer_model_loads_total",
            &[("model", "ifast"), ("result", "ok")]
        ),
        2.0,
        "{m}"
    );
    assert_eq!(state(&s, "islow").await, "unloaded", "never asked for");
    s.stop().await;
}

#[tokio::test]
async fn eager_loads_every_profile_model_at_start() {
    let dir = TempDir::new("server-eager").unwrap();
    let toml = format!(
        "[profiles]\neg = [\"efast\"]\n\n{}",
        doubles(&dir, "eslow", "efast")
    );
    let s = TestServer::start(
        Registry::from_toml_str(&toml).unwrap(),
        ServerConfig::default().eager(true),
    )
    .await;
    wait_state(&s, "efast", "loaded", Duration::from_secs(20)).await;
    assert_eq!(state(&s, "eslow").await, "unloaded", "in no profile");
    let (_, models) = s.get("/v1/models").await;
    let eg = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "eg")
        .unwrap();
    assert_eq!(eg["serving"], "efast", "{eg}");
    s.stop().await;
}

#[tokio::test]
async fn cors_is_off_unless_configured() {
    let dir = TempDir::new("server-cors").unwrap();
    let registry = || Registry::from_toml_str(&doubles(&dir, "cslow", "cfast")).unwrap();
    let preflight = |s: &TestServer, origin: &str| {
        http()
            .request(reqwest::Method::OPTIONS, s.url("/v1/models"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let s = TestServer::start(registry(), ServerConfig::default()).await;
    let res = preflight(&s, "http://board.local").await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        res.headers()
    );
    let res = http()
        .get(s.url("/v1/models"))
        .header("Origin", "http://board.local")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    s.stop().await;

    let s = TestServer::start(
        registry(),
        ServerConfig::default().cors_origin("http://board.local"),
    )
    .await;
    let res = preflight(&s, "http://board.local").await.unwrap();
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("http://board.local"),
        "{:?}",
        res.headers()
    );
    let res = preflight(&s, "http://elsewhere.example").await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "another origin: {:?}",
        res.headers()
    );
    s.stop().await;
}
