//! bindgen's settings for llama.h and the shim, in one place: the build script uses them
//! with feature `buildtime-bindgen`, and a test of this crate generates bindings with them
//! for x86-64 and aarch64 and compares the result with the committed `src/bindings_docs.rs`.

use std::path::Path;

/// The Rust version the bindings are written for: this crate's `rust-version`. Without it,
/// bindgen targets whichever rustc runs the build, and the output would vary with it.
pub const RUST_TARGET: (u64, u64) = (85, 0);

/// A builder over `wrapper.h` of the crate at `manifest`, for the llama.cpp tree `src`,
/// generating for `target` (a Rust target triple) on `host`.
pub fn builder(manifest: &Path, src: &Path, target: &str, host: &str) -> bindgen::Builder {
    let mut b = bindgen::Builder::default()
        .header(manifest.join("wrapper.h").display().to_string())
        .clang_arg(format!("-I{}", src.join("include").display()))
        .clang_arg(format!("-I{}", src.join("ggml/include").display()))
        .clang_arg(format!("-I{}", manifest.join("shim").display()))
        .rust_target(
            bindgen::RustTarget::stable(RUST_TARGET.0, RUST_TARGET.1)
                .expect("a known Rust version"),
        )
        .rust_edition(bindgen::RustEdition::Edition2021)
        .allowlist_function("llama_.*")
        .allowlist_function("edge_llama_.*")
        .allowlist_function("edge_chat_.*")
        .allowlist_function("ggml_cpu_has_.*")
        .allowlist_function(
            "ggml_type_name|ggml_type_size|ggml_blck_size|ggml_row_size|ggml_is_quantized",
        )
        .allowlist_function("ggml_time_us|ggml_backend_load_all")
        // Building a model from metadata (llama_model_init_from_user), e.g. for tests.
        .allowlist_function("gguf_init_empty|gguf_free|gguf_set_val_.*|gguf_set_arr_.*")
        .allowlist_function("ggml_nelements|ggml_nbytes|ggml_backend_tensor_set")
        .allowlist_type("llama_.*|ggml_type|ggml_log_level|gguf_type")
        .allowlist_var("LLAMA_.*")
        .constified_enum("llama_vocab_type")
        .prepend_enum_name(false)
        .derive_default(true)
        .generate_comments(false)
        .layout_tests(true);
    if target.starts_with("aarch64") && host != target {
        // Debian's cross toolchain keeps the aarch64 headers here.
        let sysroot = Path::new("/usr/aarch64-linux-gnu");
        if sysroot.is_dir() {
            b = b.clang_arg(format!("--sysroot={}", sysroot.display()));
        }
    }
    b
}
