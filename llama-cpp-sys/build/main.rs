//! Builds the pinned llama.cpp (ggml + llama, static) and provides its bindings.
//!
//! Steps, one module each: `fetch` (the sources), `patch` (our patches), `profile` (what
//! to build for), `native` (cmake, the shim, link lines), `chat` (llama.cpp's chat layer
//! from `common/`), `bindings` (committed, or
//! bindgen with feature `buildtime-bindgen`, configured in `bindgen_config`).
//!
//! Source resolution, in order:
//! 1. `LLAMA_CPP_DIR`: a user's own llama.cpp checkout, used as is.
//! 2. The cache (`EDGE_INFER_CACHE_DIR`, else `$XDG_CACHE_HOME/edge-infer`, else
//!    `~/.cache/edge-infer`): a tree extracted earlier from the pinned sdist.
//! 3. `LLAMA_CPP_SDIST`: a local copy of the pinned sdist, checked and extracted.
//! 4. `python3 -m pip download` of the pinned sdist by package name, checked and extracted.
//!
//! Patches in `patches/` (if any) are applied to a copy of the tree in OUT_DIR,
//! never to the cache, so one cache serves patched and unpatched builds alike. Under
//! `DOCS_RS` nothing is fetched or compiled: the committed bindings are documented.

#[cfg(feature = "buildtime-bindgen")]
mod bindgen_config;
mod bindings;
mod chat;
mod fetch;
mod native;
mod patch;
mod profile;

use std::env;
use std::path::PathBuf;

const ENV_VARS: &[&str] = &[
    "LLAMA_CPP_DIR",
    "LLAMA_CPP_SDIST",
    "LLAMA_CPP_PROFILE",
    "LLAMA_CPP_ARM_ARCH",
    "LLAMA_CPP_OPENMP",
    "LLAMA_CPP_AMX",
    "EDGE_INFER_CACHE_DIR",
    "XDG_CACHE_HOME",
    "DOCS_RS",
    "PYTHON",
];

fn main() {
    for v in ENV_VARS {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rustc-check-cfg=cfg(edge_infer_custom_llama)");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());

    // docs.rs has no network, no cmake and no libclang: document the committed bindings.
    if env::var_os("DOCS_RS").is_some() {
        bindings::copy_committed(&manifest, &out);
        println!("cargo:rustc-env=LLAMA_CPP_PROFILE=docs");
        println!("cargo:rustc-env=LLAMA_CPP_ARM_ARCH=");
        println!("cargo:rustc-env=LLAMA_CPP_AMX=0");
        println!("cargo:rustc-env=LLAMA_CPP_PIN=");
        println!("cargo:rustc-env=LLAMA_CPP_SRC_DIR=");
        return;
    }

    // The pin and our patches travel inside this crate, so that its package builds alone.
    let pin_path = manifest.join("llama-cpp.pin");
    println!("cargo:rerun-if-changed={}", pin_path.display());
    let pin = fetch::read_pin(&pin_path);

    let (src, source) = match env::var_os("LLAMA_CPP_DIR") {
        Some(dir) => {
            println!("cargo:rustc-cfg=edge_infer_custom_llama");
            let dir = PathBuf::from(dir);
            if !dir.join("include/llama.h").is_file() {
                fail(&format!(
                    "LLAMA_CPP_DIR={} is not a llama.cpp checkout (no include/llama.h there)",
                    dir.display()
                ));
            }
            for sub in [
                "include",
                "src",
                "ggml/src",
                "ggml/include",
                "common",
                "CMakeLists.txt",
            ] {
                println!("cargo:rerun-if-changed={}", dir.join(sub).display());
            }
            (dir, bindings::Source::Custom)
        }
        None => (fetch::pinned_tree(&pin), bindings::Source::Pinned),
    };

    bindings::check(source);

    let src = patch::apply_patches(&src, &manifest.join("patches"), &out);
    let profile = profile::Profile::select();
    let dst = native::build_llama(&src, &profile);
    native::build_shim(&src);
    chat::build_chat_layer(&src, &out, &pin);
    native::link(&dst, &profile);
    bindings::write(&manifest, &src, &out);

    println!("cargo:rustc-env=LLAMA_CPP_PROFILE={}", profile.name());
    println!(
        "cargo:rustc-env=LLAMA_CPP_ARM_ARCH={}",
        profile.arm_arch.as_deref().unwrap_or("")
    );
    println!("cargo:rustc-env=LLAMA_CPP_AMX={}", u8::from(profile.amx));
    println!(
        "cargo:rustc-env=LLAMA_CPP_PIN={} {}",
        pin.package, pin.version
    );
    println!("cargo:rustc-env=LLAMA_CPP_SRC_DIR={}", src.display());
    println!("cargo:profile={}", profile.name());
    println!("cargo:include={}", src.join("include").display());
    println!("cargo:src={}", src.display());
}

pub fn fail(msg: &str) -> ! {
    eprintln!("\nllama-cpp-sys: {msg}\n");
    panic!("llama-cpp-sys: {msg}");
}
