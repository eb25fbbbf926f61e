//! The additive APIs for servers: a memory estimate before loading (llama.cpp's own
//! accounting from a dry run, or the RKLLM file size), resolved runtime settings, and raw
//! completions.
mod common;

use common::double_entry;
use edge_infer::{EstimateSource, Registry, Request, Sampling};
use edge_infer_llama::{ContextParams, KvType, Model, ModelParams};
use rkllm_test_double::{FakeModel, TempDir};

fn registry() -> Registry {
    Registry::from_toml_str(
        "[models.q8]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 1024\nthreads = 2\n\
         cache_type_k = \"q8_0\"\nflash_attention = \"on\"\n\n\
         [models.big]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 8192\nthreads = 2\n\n\
         [models.gone]\nbackend = \"llama\"\nfile = \"/nonexistent/m.gguf\"\n",
    )
    .unwrap()
}

#[test]
fn the_estimate_is_what_llama_cpp_allocates_for_the_loaded_model() {
    let reg = registry();
    let est = reg.estimate_memory("q8").unwrap();
    assert_eq!(est.source, EstimateSource::LlamaAccounting);
    // Read, not mapped: a mapped model accounts the whole mapped file range besides the
    // repacked weights (+5% on this model).
    let model = Model::load(
        xtask::default_model().unwrap(),
        &ModelParams::default().mmap(false),
    )
    .unwrap();
    let ctx = edge_infer_llama::Context::new(
        &model,
        &ContextParams::default()
            .n_ctx(1024)
            .n_threads(2)
            .type_k(KvType::Q8_0)
            .flash_attention(edge_infer_llama::FlashAttention::On)
            .swa_full(true),
    )
    .unwrap();
    let real = ctx.memory_report();
    assert_eq!(est.kv_bytes, real.kv_bytes, "{est} vs {real:?}");
    assert_eq!(est.weights_bytes, real.model_bytes, "{est} vs {real:?}");
    assert_eq!(est.compute_bytes, real.compute_bytes, "{est} vs {real:?}");
    assert!(est.total_bytes() > 100 << 20, "{est}");
    // A larger context needs more KV: the estimate follows the registry's settings.
    let big = reg.estimate_memory("big").unwrap();
    assert!(big.kv_bytes > 4 * est.kv_bytes, "{big} vs {est}");
}

#[test]
fn estimate_errors_name_the_model_and_the_file() {
    let reg = registry();
    let e = reg.estimate_memory("gone").unwrap_err().to_string();
    assert!(
        e.contains("gone") && e.contains("/nonexistent/m.gguf"),
        "{e}"
    );
    let e = reg.estimate_memory("nope").unwrap_err().to_string();
    assert!(e.contains("unknown model `nope`"), "{e}");
}

#[test]
fn an_rkllm_estimate_is_the_file_size() {
    let dir = TempDir::new("mem-npu").unwrap();
    let model = FakeModel::default()
        .reply("hi")
        .write(dir.path().join("m.rkllm"))
        .unwrap();
    let reg = Registry::from_toml_str(&double_entry("npu", &model)).unwrap();
    let est = reg.estimate_memory("npu").unwrap();
    assert_eq!(est.source, EstimateSource::RkllmFileSize);
    assert_eq!(est.weights_bytes, std::fs::metadata(&model).unwrap().len());
    let s = reg.runtime_settings("npu").unwrap();
    assert_eq!((s.n_ctx, s.cpu_mask, s.threads), (1024, Some(0xF0), None));
}

#[test]
fn runtime_settings_resolve_the_defaults() {
    let reg = registry();
    let s = reg.runtime_settings("q8").unwrap();
    assert_eq!(s.n_ctx, 1024);
    assert_eq!(s.threads, Some(2));
    assert_eq!(s.cache_type_k.as_deref(), Some("q8_0"));
    assert_eq!(s.cache_type_v.as_deref(), Some("f16"));
    assert_eq!(s.flash_attention.as_deref(), Some("on"));
    assert_eq!(s.swa_full, Some(true));
    assert!(s.to_string().contains("K q8_0 / V f16"), "{s}");
}

#[test]
fn a_raw_prompt_is_continued_without_a_template() {
    let reg = registry();
    let mut g = reg.open_model("q8").unwrap();
    let done = g
        .generate(
            &Request::raw("The capital of France is")
                .sampling(Sampling::greedy())
                .max_tokens(8),
        )
        .unwrap();
    assert!(!done.text.is_empty());
    // BOS + the prompt's own tokens only: no template around it.
    assert!(done.stats.prompt_tokens <= 8, "{:?}", done.stats);
    let e = g
        .generate(&Request::raw("x").tools(vec![edge_infer::Tool::new(
            "f",
            "",
            serde_json::json!({}),
        )]))
        .unwrap_err();
    assert!(e.to_string().contains("raw prompt"), "{e}");
    assert!(g.generate(&Request::raw("")).is_err());
}
