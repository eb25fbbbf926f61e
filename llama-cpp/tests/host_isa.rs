//! What llama.cpp was compiled to use, against what this host has.
//!
//! Machines of one kind differ (AVX-512 only, AMX too, no AVX-512 at all), so a green run
//! on one proves nothing for the next: these checks state what the build uses, and fail
//! with a readable message where a crash or SIGILL would otherwise be the first symptom.

/// x86 features in llama.cpp's system info, with the `/proc/cpuinfo` flag each needs.
#[cfg(target_arch = "x86_64")]
const X86_FLAGS: &[(&str, &str)] = &[
    ("SSE3", "pni"),
    ("SSSE3", "ssse3"),
    ("AVX", "avx"),
    ("AVX_VNNI", "avx_vnni"),
    ("AVX2", "avx2"),
    ("F16C", "f16c"),
    ("FMA", "fma"),
    ("BMI2", "bmi2"),
    ("AVX512", "avx512f"),
    ("AVX512_VBMI", "avx512vbmi"),
    ("AVX512_VNNI", "avx512_vnni"),
    ("AVX512_BF16", "avx512_bf16"),
    ("AMX_INT8", "amx_int8"),
];

#[cfg(target_arch = "x86_64")]
fn host_flags() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("read /proc/cpuinfo");
    let line = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .expect("a flags line in /proc/cpuinfo");
    line.split_once(':')
        .map(|(_, f)| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

#[cfg(target_arch = "x86_64")]
fn enabled() -> Vec<String> {
    edge_infer_llama::cpu_features()
        .into_iter()
        .filter(|(_, v)| v == "1")
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn system_info_names_the_build() {
    let info = edge_infer_llama::system_info();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!("host: {model}");
    println!(
        "profile: {}, AMX allowed: {}",
        edge_infer_llama::build_profile(),
        edge_infer_llama_sys::AMX_ALLOWED
    );
    println!("system info: {}", info.trim());
    assert!(info.contains("CPU :"), "no CPU backend in {info:?}");
}

/// Every instruction-set extension the build uses is one this host has: a build that
/// uses more would die with SIGILL in the first matmul instead of failing here.
#[cfg(target_arch = "x86_64")]
#[test]
fn every_compiled_x86_feature_is_on_this_host() {
    let host = host_flags();
    let missing: Vec<_> = X86_FLAGS
        .iter()
        .filter(|(feature, flag)| {
            enabled().iter().any(|e| e == feature) && !host.iter().any(|h| h == flag)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "llama.cpp was compiled for {missing:?}, which this CPU lacks"
    );
}

/// AMX is in a native build only when asked for (feature `amx` / `LLAMA_CPP_AMX=1`), and a
/// generic build assumes x86-64-v3 (AVX2, FMA, F16C, BMI2) and nothing from AVX-512 on.
#[cfg(target_arch = "x86_64")]
#[test]
fn amx_only_when_opted_in_and_generic_is_x86_64_v3() {
    let on = enabled();
    let has = |f: &str| on.iter().any(|e| e == f);
    match edge_infer_llama::build_profile() {
        "native" => {
            let host_amx = host_flags().iter().any(|f| f == "amx_int8");
            assert_eq!(
                has("AMX_INT8"),
                edge_infer_llama_sys::AMX_ALLOWED && host_amx,
                "AMX_INT8 in the build: allowed {}, host has it {host_amx}",
                edge_infer_llama_sys::AMX_ALLOWED
            );
        }
        "generic" => {
            for f in ["AVX", "AVX2", "FMA", "F16C", "BMI2"] {
                assert!(has(f), "the generic profile should use {f}");
            }
            for f in [
                "AVX512",
                "AVX512_VBMI",
                "AVX512_VNNI",
                "AVX512_BF16",
                "AMX_INT8",
            ] {
                assert!(!has(f), "the generic profile must not use {f}");
            }
        }
        other => panic!("unexpected profile {other} on x86-64"),
    }
}
