//! edge-infer-rkllm-sys build script: decides how librkllmrt is reached and, when the user points
//! `RKLLM_INCLUDE_DIR` at an SDK, generates bindings from their `rkllm.h` for a layout check.
//!
//! Link modes (see README.md):
//! * feature `runtime-load`: never link; `Library::load`/`Library::system` dlopen at run time.
//! * default: link `-lrkllmrt` if `librkllmrt.so` is in `RKLLM_LIB_DIR` (an error if that is
//!   set and the file is missing) or, for native builds, in a standard system library dir.
//!   If it is found nowhere, print a cargo warning and fall back to run-time loading, so that
//!   `cargo build/test --workspace` works on machines without the NPU runtime.
use std::env;
use std::path::{Path, PathBuf};

#[path = "build/sdk_header.rs"]
mod sdk_header;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(rkllm_linked)");
    println!("cargo:rustc-check-cfg=cfg(rkllm_sdk_header)");
    println!("cargo:rerun-if-env-changed=RKLLM_LIB_DIR");
    println!("cargo:rerun-if-env-changed=RKLLM_INCLUDE_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/sdk_header.rs");
    // `links` metadata: dependents' build scripts see DEP_EDGE_INFER_RKLLMRT_ABI and follow
    // the declarations this crate was really built with (features unify across a tree).
    let abi = if env::var_os("CARGO_FEATURE_ABI_1_2").is_some() {
        "1.2"
    } else {
        "1.3"
    };
    println!("cargo:abi={abi}");

    if env::var_os("CARGO_FEATURE_RUNTIME_LOAD").is_none() {
        match find_runtime() {
            Some(dir) => {
                println!("cargo:rustc-link-search=native={}", dir.display());
                println!("cargo:rustc-link-lib=dylib=rkllmrt");
                println!("cargo:rustc-cfg=rkllm_linked");
                println!("cargo:lib_dir={}", dir.display());
            }
            None => println!(
                "cargo:warning=librkllmrt.so not found (set RKLLM_LIB_DIR to link it); \
                 edge-infer-rkllm-sys will load it at run time instead"
            ),
        }
    }

    if let Some(inc) = env::var_os("RKLLM_INCLUDE_DIR") {
        generate_sdk_bindings(Path::new(&inc));
    }
}

fn find_runtime() -> Option<PathBuf> {
    if let Some(dir) = env::var_os("RKLLM_LIB_DIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("librkllmrt.so").is_file(),
            "RKLLM_LIB_DIR={} does not contain librkllmrt.so (copy it there from the RKLLM SDK's \
             rkllm-runtime/Linux/librkllm_api/aarch64 directory, or unset RKLLM_LIB_DIR)",
            dir.display()
        );
        return Some(dir);
    }
    let target = env::var("TARGET").unwrap_or_default();
    if env::var("HOST").unwrap_or_default() != target {
        return None; // the host's /usr/lib says nothing about the target's
    }
    let multiarch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64-linux-gnu",
        Ok("x86_64") => "x86_64-linux-gnu",
        Ok("arm") => "arm-linux-gnueabihf",
        _ => "",
    };
    ["/usr/lib", "/usr/local/lib", "/usr/lib64", "/lib"]
        .iter()
        .map(PathBuf::from)
        .chain((!multiarch.is_empty()).then(|| Path::new("/usr/lib").join(multiarch)))
        .find(|d| d.join("librkllmrt.so").is_file())
}

fn generate_sdk_bindings(inc: &Path) {
    let header = inc.join("rkllm.h");
    assert!(
        header.is_file(),
        "RKLLM_INCLUDE_DIR={} has no rkllm.h (point it at the SDK's rkllm-runtime/Linux/librkllm_api/include)",
        inc.display()
    );
    println!("cargo:rerun-if-changed={}", header.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("sdk");
    let shim = out.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    // Rockchip's header includes <cstdint> (C++) yet is C; this shim makes it parse as C.
    std::fs::write(
        shim.join("cstdint"),
        "#include <stdint.h>\n#include <stddef.h>\n#include <stdbool.h>\n",
    )
    .unwrap();
    let wrapper = out.join("wrapper.h");
    std::fs::write(
        &wrapper,
        "#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n#include \"rkllm.h\"\n",
    )
    .unwrap();
    let bindings = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_arg(format!("-I{}", shim.display()))
        .clang_arg(format!("-I{}", inc.display()))
        .clang_arg("-xc")
        .allowlist_type("RKLLM.*|LLM.*")
        .allowlist_function("rkllm_.*")
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on {}: {e}", header.display()));
    let mut text = bindings.to_string();
    text.push_str(&sdk_header::sdk_aliases(&text));
    std::fs::write(out.join("sdk_bindings.rs"), text).unwrap();
    println!("cargo:rustc-cfg=rkllm_sdk_header");
}
