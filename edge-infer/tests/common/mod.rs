//! Helpers: registries over the real default model and over the RKLLM test double.
#![allow(dead_code)]
use std::path::Path;

use edge_infer::{Event, Generator, Registry, Request, Stats, StopReason};
use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};

/// The RKLLM test double's runtime library (a fake librkllmrt: no NPU involved).
pub fn double_runtime() -> &'static Path {
    library_path(
        if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_2 {
            Abi::V1_2
        } else {
            Abi::V1_3
        },
    )
}

/// Fetches the default model into the cache (once per process): edge-infer itself only
/// looks for it there when a registry says `file = "default"`.
pub fn fetch_default_model() {
    xtask::default_model().expect("fetch the default model");
}

/// A small llama model entry over the default model (quick to create).
pub fn llama_entry(name: &str) -> String {
    fetch_default_model();
    format!(
        "[models.{name}]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 1024\nthreads = 2\n"
    )
}

/// An RKLLM model entry on the test double.
pub fn double_entry(name: &str, model: &Path) -> String {
    format!(
        "[models.{name}]\nbackend = \"rkllm\"\nfile = {:?}\nruntime = {:?}\ncontext = 1024\n",
        model.display().to_string(),
        double_runtime().display().to_string()
    )
}

/// A registry with a llama model `cpu` and a test-double model `npu` replying `reply`.
pub fn both(tag: &str, fake: FakeModel) -> (TempDir, Registry) {
    let dir = TempDir::new(tag).unwrap();
    let model = fake.write(dir.path().join("fake.rkllm")).unwrap();
    let toml = format!(
        "[profiles]\ncpu = [\"cpu\"]\nnpu = [\"npu\"]\n\n{}\n{}",
        llama_entry("cpu"),
        double_entry("npu", &model)
    );
    (dir, Registry::from_toml_str(&toml).unwrap())
}

/// Collects a stream, checking it is well formed: events, then exactly one `Done`, last.
pub fn collect(g: &mut dyn Generator, req: &Request) -> (String, String, Stats) {
    let (mut text, mut reasoning, mut done) = (String::new(), String::new(), None);
    for item in g.stream(req).expect("request accepted") {
        let event = item.expect("no error event");
        assert!(done.is_none(), "an event after Done: {event:?}");
        match event {
            Event::Text(t) => {
                assert!(!t.is_empty(), "empty text event");
                text.push_str(&t);
            }
            Event::Reasoning(r) => {
                assert!(!r.is_empty(), "empty reasoning event");
                reasoning.push_str(&r);
            }
            Event::Done(s) => done = Some(s),
            other => panic!("no tools were asked for, yet {other:?}"),
        }
    }
    let stats = done.expect("the stream ends with Done");
    (text, reasoning, stats)
}

/// Checks the stats every backend must fill in.
pub fn check_stats(stats: &Stats, max_tokens: usize) {
    assert!(stats.prompt_tokens > 0, "{stats:?}");
    assert!(stats.generated_tokens > 0, "{stats:?}");
    assert!(stats.generated_tokens <= max_tokens, "{stats:?}");
    assert!(
        stats.time_to_first_token > std::time::Duration::ZERO,
        "{stats:?}"
    );
    assert!(stats.prefill_tokens_per_second() > 0.0, "{stats:?}");
    assert!(
        matches!(
            stats.stop_reason,
            StopReason::EndOfGeneration | StopReason::MaxTokens
        ),
        "{stats:?}"
    );
    assert!(stats.peak_memory_bytes.is_some_and(|m| m > 0), "{stats:?}");
}
