//! Helpers: servers over registries of the real default model and of the RKLLM test
//! double (a fake librkllmrt: no NPU), in this process or as the real binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_infer::Registry;
use edge_infer_server::{Server, ServerConfig};
use rkllm_test_double::{library_path, Abi};
use serde_json::Value;

/// A server running in this process on a free port; shut down when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(registry: Registry, config: ServerConfig) -> TestServer {
        let config = config.addr(SocketAddr::from(([127, 0, 0, 1], 0)));
        let server = Server::bind(registry, config).await.expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An OpenAI client of this server (the independent client crate).
    pub fn openai(&self) -> async_openai::Client<async_openai::config::OpenAIConfig> {
        async_openai::Client::with_config(
            async_openai::config::OpenAIConfig::new()
                .with_api_base(self.url("/v1"))
                .with_api_key("unused"),
        )
    }

    /// Stops it and waits until it has freed its models.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server run");
        }
    }

    /// A POST with a JSON body: status and parsed body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = http()
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = http().get(self.url(path)).send().await.expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        http()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

/// The sum of a Prometheus counter's samples whose labels contain every `label="value"`.
pub fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A template of the pinned llama.cpp tree (read at test time, never copied).
pub fn template(name: &str) -> PathBuf {
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
    let path = xtask::cache_dir()
        .join("llama.cpp")
        .join(format!("{}-{}", get("version"), &get("sha256")[..12]))
        .join(format!("models/templates/{name}.jinja"));
    assert!(
        path.is_file(),
        "{} (build edge-infer-llama-sys once to fill the cache)",
        path.display()
    );
    path
}

/// A llama model entry over the default model. One thread: the tests run side by side on
/// a shared 2-core machine, where two threads per model spin against each other (ggml's
/// barriers) and decode about 10x slower.
pub fn llama_entry(name: &str, context: u32) -> String {
    format!(
        "[models.{name}]\nbackend = \"llama\"\nfile = \"default\"\ncontext = {context}\nthreads = 1\n\n"
    )
}

/// The RKLLM test double's runtime library for the ABI edge-infer was built for.
pub fn double_runtime() -> &'static Path {
    library_path(
        if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_2 {
            Abi::V1_2
        } else {
            Abi::V1_3
        },
    )
}

/// An RKLLM model entry on the test double.
pub fn double_entry(name: &str, model: &Path, extra: &str) -> String {
    format!(
        "[models.{name}]\nbackend = \"rkllm\"\nfile = {:?}\nruntime = {:?}\ncontext = 1024\n{extra}\n",
        model.display().to_string(),
        double_runtime().display().to_string()
    )
}

pub fn default_model() -> PathBuf {
    xtask::default_model().expect("the default model")
}

/// Reads an SSE body into its `data:` payloads (stops at `[DONE]`, which is included).
pub async fn sse_data(res: reqwest::Response) -> Vec<String> {
    let text = res.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|b| b.strip_prefix("data: ").map(str::to_string))
        .collect()
}

/// A server that lives as long as the test process, on its own runtime thread (so that
/// every `#[tokio::test]` of a file shares one set of loaded models).
pub struct Shared {
    pub addr: SocketAddr,
}

impl Shared {
    pub fn start(registry: Registry, config: ServerConfig) -> Shared {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let server =
                    Server::bind(registry, config.addr(SocketAddr::from(([127, 0, 0, 1], 0))))
                        .await
                        .unwrap();
                tx.send(server.local_addr()).unwrap();
                server.run(std::future::pending()).await.unwrap();
            });
        });
        Shared {
            addr: rx.recv().unwrap(),
        }
    }

    /// A handle to talk to it (the `TestServer` API, without ownership).
    pub fn client(&self) -> TestServer {
        TestServer {
            addr: self.addr,
            stop: None,
            task: None,
        }
    }
}
