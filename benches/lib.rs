//! Shared setup for the criterion benches (see `benches/*.rs` and docs/BENCHMARKS.md).

use std::sync::OnceLock;

use edge_infer_llama::{Model, Token};

/// The default model, loaded once.
pub fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let path = xtask::default_model().expect("fetch the default model");
        Model::load(path, &Default::default()).expect("load the default model")
    })
}

/// Deterministic pseudo-random tokens, BOS first (as llama-bench does).
pub fn random_tokens(model: &Model, n: usize, seed: u64) -> Vec<Token> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let n_vocab = model.n_vocab() as u64;
    (0..n)
        .map(|i| {
            if i == 0 {
                if let Some(b) = model.token_bos() {
                    return b;
                }
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Token(((x >> 32) % n_vocab) as i32)
        })
        .collect()
}

/// Threads for the benches: `EDGE_INFER_BENCH_THREADS`, else the big cores.
pub fn threads() -> i32 {
    std::env::var("EDGE_INFER_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(edge_infer_llama::default_threads() as i32)
}
