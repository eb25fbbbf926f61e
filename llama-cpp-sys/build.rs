//! Builds the pinned llama.cpp (ggml + llama, static) and generates its bindings.
//!
//! Source resolution, in order:
//! 1. `LLAMA_CPP_DIR`: a user's own llama.cpp checkout, used as is.
//! 2. The cache (`EDGE_INFER_CACHE_DIR`, else `$XDG_CACHE_HOME/edge-infer`, else
//!    `~/.cache/edge-infer`): a tree extracted earlier from the pinned sdist.
//! 3. `LLAMA_CPP_SDIST`: a local copy of the pinned sdist, checked and extracted.
//! 4. `python3 -m pip download` of the pinned sdist by package name, checked and extracted.
//!
//! Patches in `patches/` (if any) are applied to a copy of the tree in OUT_DIR,
//! never to the cache, so one cache serves patched and unpatched builds alike.

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

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

struct Pin {
    package: String,
    version: String,
    sdist: String,
    sha256: String,
    subdir: String,
    commit: String,
}

fn main() {
    for v in ENV_VARS {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());

    if env::var_os("DOCS_RS").is_some() {
        fs::copy(
            manifest.join("src/bindings_docs.rs"),
            out.join("bindings.rs"),
        )
        .expect("copy pregenerated bindings for docs.rs");
        return;
    }

    // The pin and our patches travel inside this crate, so that its package builds alone.
    let pin_path = manifest.join("llama-cpp.pin");
    println!("cargo:rerun-if-changed={}", pin_path.display());
    let pin = read_pin(&pin_path);

    println!("cargo:rustc-check-cfg=cfg(edge_infer_custom_llama)");
    let src = match env::var_os("LLAMA_CPP_DIR") {
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
                "CMakeLists.txt",
            ] {
                println!("cargo:rerun-if-changed={}", dir.join(sub).display());
            }
            dir
        }
        None => pinned_tree(&pin),
    };

    let src = apply_patches(&src, &manifest.join("patches"), &out);
    let profile = Profile::select();
    let dst = build_llama(&src, &profile);
    build_shim(&src);
    build_chat_layer(&src, &out, &pin);
    link(&dst, &profile);
    bindgen(&src, &out);

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
    println!("cargo:profile={}", profile.name());
    println!("cargo:include={}", src.join("include").display());
    println!("cargo:src={}", src.display());
}

fn fail(msg: &str) -> ! {
    eprintln!("\nllama-cpp-sys: {msg}\n");
    panic!("llama-cpp-sys: {msg}");
}

fn read_pin(path: &Path) -> Pin {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| fail(&format!("cannot read the pin {}: {e}", path.display())));
    let get = |key: &str| {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| fail(&format!("{} has no `{key}`", path.display())))
    };
    Pin {
        package: get("package"),
        version: get("version"),
        sdist: get("sdist"),
        sha256: get("sha256"),
        subdir: get("subdir"),
        commit: get("commit"),
    }
}

fn cache_root() -> PathBuf {
    if let Some(d) = env::var_os("EDGE_INFER_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("edge-infer");
    }
    match env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/edge-infer"),
        None => fail("cannot find a cache directory: set EDGE_INFER_CACHE_DIR"),
    }
}

/// The extracted pinned tree in the cache, fetching and verifying it on first use.
fn pinned_tree(pin: &Pin) -> PathBuf {
    let root = cache_root().join("llama.cpp");
    let tree = root.join(format!("{}-{}", pin.version, &pin.sha256[..12]));
    let stamp = tree.join(".edge-infer-verified");
    if stamp.is_file() {
        return tree;
    }
    fs::create_dir_all(&root)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", root.display())));

    let sdist = match env::var_os("LLAMA_CPP_SDIST") {
        Some(p) => PathBuf::from(p),
        None => pip_download(pin, &root),
    };
    let digest = sha256_file(&sdist);
    if digest != pin.sha256 {
        fail(&format!(
            "{} has sha256 {digest}, but the pin in llama-cpp.pin is {}; \
             delete it and build again",
            sdist.display(),
            pin.sha256
        ));
    }

    // Extract next to the final place, then rename, so that concurrent builds and
    // interrupted extractions never leave a half tree that looks complete.
    let tmp = root.join(format!(".extract-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap();
    let file = fs::File::open(&sdist).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let prefix = Path::new(&pin.subdir);
    for entry in archive.entries().expect("read sdist") {
        let mut entry = entry.expect("read sdist entry");
        let path = entry.path().expect("sdist path").into_owned();
        if let Ok(rel) = path.strip_prefix(prefix) {
            if rel.as_os_str().is_empty() {
                continue;
            }
            let dest = tmp.join(rel);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            entry.unpack(&dest).expect("unpack sdist entry");
        }
    }
    if !tmp.join("include/llama.h").is_file() {
        fail(&format!(
            "the sdist {} has no {}/include/llama.h",
            sdist.display(),
            pin.subdir
        ));
    }
    fs::write(
        tmp.join(".edge-infer-verified"),
        format!(
            "{} {} sha256={} commit={}\n",
            pin.package, pin.version, pin.sha256, pin.commit
        ),
    )
    .unwrap();
    if fs::rename(&tmp, &tree).is_err() {
        // Another build won the race; its tree is as good as ours.
        let _ = fs::remove_dir_all(&tmp);
        if !stamp.is_file() {
            fail(&format!(
                "cannot move the extracted tree into {}",
                tree.display()
            ));
        }
    }
    tree
}

fn pip_download(pin: &Pin, root: &Path) -> PathBuf {
    let dl = root.join("sdist");
    let file = dl.join(&pin.sdist);
    if file.is_file() && sha256_file(&file) == pin.sha256 {
        return file;
    }
    let spec = format!("{}=={}", pin.package, pin.version);
    let python = env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let what_to_do = format!(
        "cannot obtain the pinned llama.cpp sources ({spec} sdist, sha256 {sha}, llama.cpp commit {commit}) \
         and none are cached in {root}. Do one of:\n  \
         1. give this machine `{python} -m pip` with access to the PyPI registry and build again;\n  \
         2. on a machine that has it, run `pip download --no-deps --no-binary {package} {spec}` and build \
         here with LLAMA_CPP_SDIST=/path/to/{sdist};\n  \
         3. build with LLAMA_CPP_DIR=/path/to/llama.cpp (your own checkout, ideally at commit {commit}).",
        sha = pin.sha256,
        commit = pin.commit,
        root = root.display(),
        sdist = pin.sdist,
        package = pin.package,
    );
    let status = Command::new(&python)
        // `--no-binary` names only this package: `:all:` would also build pip's build
        // dependencies (cmake among them) from source just to read the sdist's metadata.
        .args(["-m", "pip", "download", "--no-deps", "--no-binary"])
        .arg(&pin.package)
        .args(["--disable-pip-version-check", "-q", "-d"])
        .arg(&dl)
        .arg(&spec)
        .status();
    match status {
        Ok(s) if s.success() && file.is_file() => file,
        Ok(s) => fail(&format!("pip download failed ({s}).\n{what_to_do}")),
        Err(e) => fail(&format!(
            "cannot run `{python} -m pip` ({e}).\n{what_to_do}"
        )),
    }
}

fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path)
        .unwrap_or_else(|e| fail(&format!("cannot open {}: {e}", path.display())));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Applies `patches/*.patch` (sorted) to a copy of `src` in OUT_DIR. Without
/// patches the tree is used in place. A patch that does not apply fails the build.
fn apply_patches(src: &Path, patches: &Path, out: &Path) -> PathBuf {
    println!("cargo:rerun-if-changed={}", patches.display());
    let mut list: Vec<PathBuf> = fs::read_dir(patches)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "patch"))
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        return src.to_path_buf();
    }
    list.sort();
    let dst = out.join("llama.cpp-patched");
    let stamp = dst.join(".edge-infer-patched");
    let want: String = list
        .iter()
        .map(|p| format!("{} {}\n", p.display(), sha256_file(p)))
        .collect::<String>()
        + &format!("src {}\n", src.display());
    if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return dst;
    }
    let _ = fs::remove_dir_all(&dst);
    copy_tree(src, &dst);
    for p in &list {
        let ok = Command::new("patch")
            .args(["-p1", "--forward", "--batch", "--silent", "-d"])
            .arg(&dst)
            .arg("-i")
            .arg(p)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            fail(&format!(
                "the patch {} does not apply to the llama.cpp tree at {}",
                p.display(),
                src.display()
            ));
        }
    }
    fs::write(&stamp, want).unwrap();
    dst
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (s, d) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&s, &d);
        } else {
            fs::copy(&s, &d).unwrap();
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Native,
    Rk3588,
    Generic,
}

struct Profile {
    kind: Kind,
    arm_arch: Option<String>,
    openmp: bool,
    /// Let a native x86-64 build use AMX when the host has it (opt-in, see `x86_isa_flags`).
    amx: bool,
    target: String,
    cross: bool,
}

impl Profile {
    fn select() -> Profile {
        let target = env::var("TARGET").unwrap();
        let host = env::var("HOST").unwrap();
        let cross = target != host;
        let rk3588_feature = env::var_os("CARGO_FEATURE_RK3588").is_some()
            || env::var_os("CARGO_FEATURE_RK3588_FP16").is_some();
        let kind = match env::var("LLAMA_CPP_PROFILE").ok().as_deref() {
            Some("native") => Kind::Native,
            Some("rk3588") => Kind::Rk3588,
            Some("generic") => Kind::Generic,
            Some(other) => fail(&format!(
                "LLAMA_CPP_PROFILE={other} is not a profile; use native, rk3588 or generic"
            )),
            // The feature only means something for aarch64 targets: `--all-features` on an
            // x86-64 workstation should still build (natively) rather than fail.
            None if rk3588_feature && target.starts_with("aarch64") => Kind::Rk3588,
            None if rk3588_feature => {
                println!(
                    "cargo:warning=feature rk3588 ignored: it is for aarch64 targets, not {target}"
                );
                if cross {
                    Kind::Generic
                } else {
                    Kind::Native
                }
            }
            None if cross && target.starts_with("aarch64") => Kind::Rk3588,
            None if cross => Kind::Generic,
            None => Kind::Native,
        };
        if kind == Kind::Native && cross {
            fail("the native profile optimises for the build host and cannot cross-compile; use rk3588 or generic");
        }
        if kind == Kind::Rk3588 && !target.starts_with("aarch64") {
            fail(&format!(
                "the rk3588 profile is for aarch64 targets, not {target}; \
                 build with --target aarch64-unknown-linux-gnu"
            ));
        }
        // Cortex-A76 is armv8.2-a with dotprod and fp16. The extensions must be part of
        // -march itself: ggml turns GGML_CPU_ARM_ARCH into -march=..., which overrides any
        // -mcpu=cortex-a76+dotprod given in CFLAGS and silently drops dotprod.
        // fp16 vector arithmetic is opt-in (feature rk3588-fp16): with it, ggml accumulates
        // f16 dot products in fp16, and measured greedy output drifted further from the
        // reference with an f16 KV cache and flash attention off (README, numerics).
        let arm_arch = match env::var("LLAMA_CPP_ARM_ARCH") {
            Ok(a) if !a.is_empty() => Some(a),
            _ if kind == Kind::Rk3588 && env::var_os("CARGO_FEATURE_RK3588_FP16").is_some() => {
                Some("armv8.2-a+dotprod+fp16".to_string())
            }
            _ => (kind == Kind::Rk3588).then(|| "armv8.2-a+dotprod".to_string()),
        };
        let openmp = !matches!(
            env::var("LLAMA_CPP_OPENMP").ok().as_deref(),
            Some("0" | "off" | "OFF")
        );
        let amx = match env::var("LLAMA_CPP_AMX").ok().as_deref() {
            Some("1" | "on" | "ON" | "true") => true,
            Some("0" | "off" | "OFF" | "false") => false,
            Some(other) => fail(&format!("LLAMA_CPP_AMX={other}: use 1 or 0")),
            None => env::var_os("CARGO_FEATURE_AMX").is_some(),
        };
        if amx && !(kind == Kind::Native && target.starts_with("x86_64")) {
            println!(
                "cargo:warning=AMX ignored: it applies to the native profile on x86-64 hosts only"
            );
        }
        Profile {
            kind,
            arm_arch,
            openmp,
            amx,
            target,
            cross,
        }
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Native => "native",
            Kind::Rk3588 => "rk3588",
            Kind::Generic => "generic",
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "ON"
    } else {
        "OFF"
    }
}

fn build_llama(src: &Path, p: &Profile) -> PathBuf {
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
fn build_chat_layer(src: &Path, out: &Path, pin: &Pin) {
    let common = src.join("common");
    let mut files = Vec::new();
    for sub in ["", "jinja", "parsers"] {
        let dir = common.join(sub);
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", dir.display())));
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
        .unwrap_or_else(|e| fail(&format!("cannot read common/build-info.cpp.in: {e}")));
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
    println!("cargo:rerun-if-changed={}", common.display());
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

fn build_shim(src: &Path) {
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

fn link(dst: &Path, p: &Profile) {
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
        println!("cargo:rustc-link-lib=gomp");
    }
}

fn bindgen(src: &Path, out: &Path) {
    let mut b = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg(format!("-I{}", src.join("include").display()))
        .clang_arg(format!("-I{}", src.join("ggml/include").display()))
        .clang_arg("-Ishim")
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
        .layout_tests(true)
        .parse_callbacks(Box::new(
            bindgen::CargoCallbacks::new().rerun_on_header_files(false),
        ));
    if let Ok(target) = env::var("TARGET") {
        if target.starts_with("aarch64") && env::var("HOST").ok().as_deref() != Some(&target) {
            // Debian's cross toolchain keeps the aarch64 headers here.
            let sysroot = Path::new("/usr/aarch64-linux-gnu");
            if sysroot.is_dir() {
                b = b.clang_arg(format!("--sysroot={}", sysroot.display()));
            }
        }
    }
    b.generate()
        .unwrap_or_else(|e| fail(&format!("bindgen over llama.h failed: {e}")))
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings");
}
