//! Registry values llama.cpp cannot run are typed errors, not process aborts.

use edge_infer::{Message, Registry, Request, Sampling};

/// `threads = 100000` used to load the model and then abort the process in the first
/// decode ("Rust cannot catch foreign exceptions"); a value past i32 turned negative.
#[test]
fn absurd_thread_counts_are_refused_when_the_model_opens() {
    xtask::default_model().expect("fetch the default model");
    for threads in ["100000", "4000000000"] {
        let toml = format!(
            "[models.cpu]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 512\n\
             threads = {threads}\n"
        );
        let reg = Registry::from_toml_str(&toml).unwrap();
        match reg.open_model("cpu") {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("n_threads") && msg.contains("outside 1..=512"),
                    "threads = {threads}: {msg}"
                );
            }
            Ok(mut g) => {
                // Opening used to succeed; the first request then decided the outcome.
                let req = Request::new(vec![Message::user("Hi")])
                    .sampling(Sampling::greedy())
                    .max_tokens(2);
                let outcome: Vec<_> = g
                    .stream(&req)
                    .map(|s| s.collect::<Vec<_>>())
                    .into_iter()
                    .collect();
                panic!("threads = {threads} was accepted: {outcome:?}");
            }
        }
    }
}

/// A per-layer K/V type without cache kernels used to pass `Registry::load` and abort in
/// ggml when the context was created; it is refused when the registry is read.
#[test]
fn per_layer_cache_types_are_checked_when_the_registry_loads() {
    for (layers, named) in [
        ("hybrid:6:q8_0:i32", "`i32` (the late layers 6..)"),
        ("table:iq2_xxs", "`iq2_xxs` (layer 0)"),
    ] {
        let toml = format!(
            "[models.cpu]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 512\n\
             cache_layers = \"{layers}\"\n"
        );
        let e = Registry::from_toml_str(&toml)
            .err()
            .unwrap_or_else(|| panic!("cache_layers = {layers:?} was accepted"));
        assert!(e.to_string().contains(named), "{layers}: {e}");
    }
}
