//! `file = "default"` without the model in the cache: a typed error that says what to do.
//! Alone in its own test binary, because it changes the process environment.

use edge_infer::{Error, ModelError, Registry};

#[test]
fn default_model_resolution_without_xtask() {
    let empty = std::env::temp_dir().join(format!("edge-infer-empty-cache-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::env::set_var("EDGE_INFER_CACHE_DIR", &empty);
    std::env::remove_var("EDGE_INFER_MODEL");
    let reg = Registry::from_toml_str(
        "[profiles]\np = [\"m\"]\n\n[models.m]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 256\n",
    )
    .unwrap();

    let Err(err) = reg.open_model("m") else {
        panic!("a model opened from an empty cache");
    };
    let Error::Model { cause, .. } = &err else {
        panic!("not a model error: {err}");
    };
    assert!(matches!(**cause, ModelError::DefaultModel(_)), "{err}");
    let msg = err.to_string();
    for hint in [
        "EDGE_INFER_MODEL",
        "cargo xtask fetch-model",
        "gemma-3-270m-q4_k_m.gguf",
    ] {
        assert!(msg.contains(hint), "`{hint}` missing from: {msg}");
    }
    assert!(
        msg.contains(&empty.join("models").display().to_string()),
        "{msg}"
    );

    std::env::set_var("EDGE_INFER_MODEL", empty.join("nope.gguf"));
    let Err(err) = reg.open_model("m") else {
        panic!("EDGE_INFER_MODEL names no file, yet a model opened");
    };
    assert!(err.to_string().contains("EDGE_INFER_MODEL="), "{err}");

    // A real model named by EDGE_INFER_MODEL opens without the cache.
    std::env::remove_var("EDGE_INFER_MODEL");
    std::env::remove_var("EDGE_INFER_CACHE_DIR");
    let model = xtask::default_model().unwrap();
    std::env::set_var("EDGE_INFER_CACHE_DIR", &empty);
    std::env::set_var("EDGE_INFER_MODEL", &model);
    let generator = reg.open_model("m").unwrap();
    assert_eq!(generator.info().path, model);
    std::fs::remove_dir_all(&empty).unwrap();
}
