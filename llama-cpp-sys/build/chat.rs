//! llama.cpp's chat layer from `common/`, compiled with cc (see the crate README for why
//! not through llama.cpp's CMake).

use std::env;
use std::fs;
use std::path::Path;

use crate::fetch::Pin;

/// The files of llama.cpp's `common` that its chat layer does not need: argument parsing,
/// downloads (and with them cpp-httplib), presets, the console, debug dumps, subprocesses.
/// Leaving them out saves about 40% of common's compile time; a future pin that makes the
/// chat layer need one of them fails at link time, naming the symbol.
const COMMON_UNUSED: &[&str] = &[
    "arg.cpp",
    "console.cpp",
    "debug.cpp",
    "download.cpp",
    "hf-cache.cpp",
    "imatrix-loader.cpp",
    "llguidance.cpp",
    "preset.cpp",
    "subproc.cpp",
];

/// llama.cpp's chat layer (Jinja engine, chat templates, tool-call parsers, JSON-schema
/// grammars, llama-server's sampler) from `common/`, plus `shim/edge_chat.cpp`, its C face.
/// Built with cc rather than llama.cpp's CMake, which would build all of `common`. Always
/// optimised: template rendering and parsing at -O0 would slow every debug test run.
pub fn build_chat_layer(src: &Path, out: &Path, pin: &Pin) {
    let common = src.join("common");
    let mut files = Vec::new();
    for sub in ["", "jinja", "parsers"] {
        let dir = common.join(sub);
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| crate::fail(&format!("cannot read {}: {e}", dir.display())));
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.extension().is_some_and(|x| x == "cpp")
                && !COMMON_UNUSED.contains(&name.as_str())
            {
                files.push(path);
            }
        }
    }
    files.sort();
    // What common's CMake makes from build-info.cpp.in.
    let template = fs::read_to_string(common.join("build-info.cpp.in"))
        .unwrap_or_else(|e| crate::fail(&format!("cannot read common/build-info.cpp.in: {e}")));
    let build_info = out.join("build-info.cpp");
    let target = env::var("TARGET").unwrap();
    fs::write(
        &build_info,
        template
            .replace("@LLAMA_BUILD_NUMBER@", "0")
            .replace("@LLAMA_BUILD_COMMIT@", &pin.commit)
            .replace("@BUILD_COMPILER@", "edge-infer-llama-sys (cc)")
            .replace("@BUILD_TARGET@", &target),
    )
    .unwrap();
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .files(&files)
        .file(&build_info)
        .file("shim/edge_chat.cpp")
        .include(&common)
        .include(src.join("include"))
        .include(src.join("ggml/include"))
        .include(src.join("vendor"))
        .opt_level(2)
        .debug(false)
        .warnings(false)
        .compile("edge_llama_chat");
}
