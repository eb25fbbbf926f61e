//! The native build: llama.cpp through cmake, our C++ shim through cc, and the link lines.

use std::path::{Path, PathBuf};

use crate::profile::{Kind, Profile};

fn on_off(b: bool) -> &'static str {
    if b {
        "ON"
    } else {
        "OFF"
    }
}

pub fn build_llama(src: &Path, p: &Profile) -> PathBuf {
    let mut cfg = cmake::Config::new(src);
    // Debug llama.cpp makes a test suite crawl; its own Release flags are what users run.
    cfg.profile("Release")
        .define("BUILD_SHARED_LIBS", "OFF")
        .define("CMAKE_INSTALL_LIBDIR", "lib")
        .define("LLAMA_BUILD_COMMON", "OFF")
        .define("LLAMA_BUILD_TESTS", "OFF")
        .define("LLAMA_BUILD_TOOLS", "OFF")
        .define("LLAMA_BUILD_EXAMPLES", "OFF")
        .define("LLAMA_BUILD_SERVER", "OFF")
        .define("LLAMA_BUILD_APP", "OFF")
        .define("LLAMA_OPENSSL", "OFF")
        .define("LLAMA_ALL_WARNINGS", "OFF")
        .define("GGML_ALL_WARNINGS", "OFF")
        .define("GGML_CCACHE", "OFF")
        .define("GGML_BACKEND_DL", "OFF")
        .define("GGML_OPENMP", on_off(p.openmp))
        .define("CMAKE_POSITION_INDEPENDENT_CODE", "ON");
    match p.kind {
        Kind::Native => {
            cfg.define("GGML_NATIVE", "ON");
            for flag in x86_isa_flags(p) {
                cfg.cflag(flag).cxxflag(flag);
            }
        }
        Kind::Rk3588 | Kind::Generic => {
            cfg.define("GGML_NATIVE", "OFF")
                .define("GGML_LLAMAFILE", on_off(p.kind == Kind::Generic))
                .define("GGML_CPU_KLEIDIAI", "OFF");
        }
    }
    if let Some(arch) = &p.arm_arch {
        cfg.define("GGML_CPU_ARM_ARCH", arch);
    }
    if p.cross {
        let processor = p.target.split('-').next().unwrap();
        cfg.define("CMAKE_SYSTEM_NAME", "Linux")
            .define("CMAKE_SYSTEM_PROCESSOR", processor)
            .define("CMAKE_CROSSCOMPILING", "ON");
        let cc = cc::Build::new().get_compiler();
        let cxx = cc::Build::new().cpp(true).get_compiler();
        cfg.define("CMAKE_C_COMPILER", cc.path())
            .define("CMAKE_CXX_COMPILER", cxx.path());
    }
    cfg.build()
}

/// Extra ISA flags for a native x86-64 build. `-march=native` turns AMX on wherever the host
/// has it, and ggml's AMX matmul then crashes on the first decode on such hosts (SIGSEGV at
/// `ldtilecfg`, llama.cpp issue 20824; `patches/0002-amx-tile-config.patch` fixes the
/// cause we found). AMX helps only large-batch prefill on server Xeons, far from the RK3588
/// this project targets, so it stays out unless asked for. GCC and clang give explicit
/// `-mno-*` flags precedence over `-march` whatever their order.
fn x86_isa_flags(p: &Profile) -> Vec<&'static str> {
    if p.amx || !p.target.starts_with("x86_64") {
        return Vec::new();
    }
    let probe = cc::Build::new();
    [
        "-mno-amx-tile",
        "-mno-amx-int8",
        "-mno-amx-bf16",
        "-mno-amx-fp16",
        "-mno-amx-complex",
    ]
    .into_iter()
    .filter(|f| probe.is_flag_supported(f).unwrap_or(false))
    .collect()
}

pub fn build_shim(src: &Path) {
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("shim/edge_shim.cpp")
        .include(src.join("include"))
        .include(src.join("ggml/include"))
        .include(src.join("src"))
        .warnings(false)
        .compile("edge_llama_shim");
}

pub fn link(dst: &Path, p: &Profile) {
    println!(
        "cargo:rustc-link-search=native={}",
        dst.join("lib").display()
    );
    for lib in ["llama", "ggml", "ggml-cpu", "ggml-base"] {
        println!("cargo:rustc-link-lib=static={lib}");
    }
    if p.target.contains("apple") {
        println!("cargo:rustc-link-lib=c++");
    } else {
        println!("cargo:rustc-link-lib=stdc++");
    }
    if p.openmp {
        for lib in openmp_libs(&dst.join("build/CMakeCache.txt")) {
            println!("cargo:rustc-link-lib={lib}");
        }
    }
}

/// The OpenMP runtime cmake found for ggml (`gomp` with GCC, `omp` with clang's libomp),
/// from its cache; none when it found none (ggml then warns and uses its own thread pool).
/// Without a readable cache, `gomp`, as before this was detected.
fn openmp_libs(cache: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(cache) else {
        return vec!["gomp".to_string()];
    };
    let names = text
        .lines()
        .find_map(|l| l.strip_prefix("OpenMP_CXX_LIB_NAMES:STRING="))
        .unwrap_or("");
    let libs: Vec<String> = names
        .split(';')
        .map(str::trim)
        // The Rust standard library links pthread already.
        .filter(|n| !n.is_empty() && *n != "pthread")
        .map(String::from)
        .collect();
    if libs.is_empty() {
        println!(
            "cargo:warning=cmake found no OpenMP runtime: llama.cpp uses its own thread pool \
             (install libgomp or libomp, or set LLAMA_CPP_OPENMP=0 to silence this)"
        );
    }
    libs
}
