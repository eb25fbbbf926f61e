//! Builds the edge-infer RKLLM TEST DOUBLE (a fake `librkllmrt.so`) twice, once per ABI
//! generation, into `$OUT_DIR/abi-1.2/` and `$OUT_DIR/abi-1.3/`. The `cc` crate picks the
//! compiler for `$TARGET`, so a cross build (e.g. aarch64-unknown-linux-gnu) produces a
//! double for that target.
use std::{env, path::PathBuf, process::Command};

/// (ABI minor, runtime version it reports, carries the test-double marker) for each build.
/// The "anonymous" builds lack the marker and pass for an unknown vendor rebuild.
const VARIANTS: &[(u32, &str, bool)] = &[
    (2, "1.2.3", true),
    (3, "1.3.0", true),
    (2, "1.2.3", false),
    (3, "1.3.0", false),
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src = PathBuf::from("csrc/rkllm_test_double.c");
    println!("cargo:rerun-if-changed=csrc/rkllm_test_double.c");
    println!("cargo:rerun-if-changed=csrc/td_abi.h");
    println!("cargo:rerun-if-changed=build.rs");

    // cc only gives us a configured compiler: we need a shared object, which
    // `cc::Build::compile` (static archives) does not make.
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    for &(minor, version, marker) in VARIANTS {
        let dir = out.join(format!("{}-1.{minor}", if marker { "abi" } else { "anon" }));
        std::fs::create_dir_all(&dir).expect("create test-double dir");
        let lib = dir.join("librkllmrt.so");
        let mut cmd: Command = compiler.to_command();
        cmd.args([
            "-shared",
            "-fPIC",
            "-O1",
            "-Wall",
            "-Wextra",
            "-fvisibility=hidden",
            "-pthread",
        ])
        .arg(format!("-DTD_ABI_MINOR={minor}"))
        .arg(format!("-DTD_VERSION=\"{version}\""))
        .args(marker.then(|| format!("-DTD_MARKER=\"{minor}\"")))
        // The real runtime's soname, so `RKLLM_LIB_DIR=<this dir>` can link against it;
        // -Bsymbolic keeps the double's internal calls inside the double. No `-z nodelete`:
        // keeping the runtime mapped is edge-infer-rkllm-sys's job (RTLD_NODELETE), and a
        // test proves it does.
        .args(["-Wl,-soname,librkllmrt.so", "-Wl,-Bsymbolic"])
        .arg(&src)
        .arg("-o")
        .arg(&lib);
        let status = cmd.status().unwrap_or_else(|e| {
            panic!("running the C compiler for the RKLLM test double ({cmd:?}): {e}")
        });
        assert!(
            status.success(),
            "building the RKLLM test double failed: {cmd:?}"
        );
        println!(
            "cargo:rustc-env=RKLLM_TEST_DOUBLE_{}1_{minor}={}",
            if marker { "" } else { "ANON_" },
            lib.display()
        );
    }
}
