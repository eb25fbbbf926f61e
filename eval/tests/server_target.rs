//! The suite over the HTTP target against edge-infer's own server (`edge-infer-server`,
//! in process on a free port), serving the default model: the same tests and validators
//! that score llama-server or Ollama, end to end over real HTTP.

use std::time::Duration;

use edge_eval::{
    ranking, run_suite, CodeCheck, HttpOptions, HttpTarget, Opener, Outcome, Settings, Verdict,
    SUITE,
};
use edge_infer::Registry;
use edge_infer_server::{Server, ServerConfig};

/// Starts the server on its own runtime thread; returns its base URL (`http://host:port/v1`).
fn serve(registry: Registry) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let config = ServerConfig::default().addr("127.0.0.1:0".parse().unwrap());
            let server = Server::bind(registry, config).await.unwrap();
            tx.send(server.local_addr()).unwrap();
            server.run(std::future::pending::<()>()).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    format!("http://{addr}/v1")
}

/// The default model, one thread (the suite shares a 2-core machine with other tests). Its
/// GGUF has no chat template, so the registry names a real one from the pinned llama.cpp
/// tree: the server then renders the tool tests' tools instead of refusing them.
fn registry() -> Registry {
    let model = xtask::default_model().expect("fetch the default model");
    let template = xtask::pinned_llama_tree().join("models/templates/Qwen-Qwen3-0.6B.jinja");
    Registry::from_toml_str(&format!(
        "[profiles]\ndefault = [\"gemma\"]\n\n[models.gemma]\nbackend = \"llama\"\n\
         file = {:?}\ncontext = 2048\nthreads = 1\nchat_template = {:?}\n",
        model.display().to_string(),
        template.display().to_string()
    ))
    .unwrap()
}

#[test]
fn the_suite_runs_against_edge_infer_server() {
    let url = serve(registry());
    let tests: Vec<_> = SUITE.iter().collect();
    let settings = Settings {
        timeout: Duration::from_secs(90),
        max_tokens: Some(16),
        ..Settings::default()
    };
    let u = url.clone();
    let openers = vec![Opener::new("edge-infer-server", move || {
        HttpTarget::new(
            &u,
            "default",
            HttpOptions {
                backend_label: Some("edge-infer-server (HTTP)".into()),
                server_pid: Some(std::process::id()),
                ..HttpOptions::default()
            },
        )
    })];
    let run = run_suite(openers, &tests, &settings, &CodeCheck::Pattern, false);
    let m = &run.models[0];
    assert_eq!(m.tests.len(), 14);
    for t in &m.tests {
        match &t.outcome {
            Outcome::Completed if t.dimension == edge_eval::Dimension::ToolCall => {
                // A base model writes prose, not a structured call: it must not pass.
                assert!(!t.verdict.passed(), "{}: {:?}", t.test, t.verdict);
            }
            Outcome::Completed => {
                let n = t.generated_tokens.unwrap_or(0);
                assert!((1..=16).contains(&n), "{}: {n} tokens", t.test);
                assert!(t.ttft_seconds.unwrap() > 0.0, "{}", t.test);
            }
            Outcome::TimedOut => assert_eq!(t.verdict, Verdict::Timeout),
            Outcome::Failed(e) => panic!("{}: {e}", t.test),
        }
    }
    assert!(m.warmup_seconds.unwrap() > 0.0);
    assert_eq!(ranking(&run.models).len(), 1);
}
