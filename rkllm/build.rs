//! Follows the ABI generation edge-infer-rkllm-sys was really built with. Cargo unifies
//! features across a dependency tree, so `edge-infer-rkllm-sys/abi-1-2` may be on while this
//! crate's own `abi-1-2` is off; its `links` metadata (DEP_EDGE_INFER_RKLLMRT_ABI) is the
//! truth, and `cfg(rkllm_abi_1_2)` follows it.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(rkllm_abi_1_2)");
    println!("cargo:rerun-if-env-changed=DEP_EDGE_INFER_RKLLMRT_ABI");
    match std::env::var("DEP_EDGE_INFER_RKLLMRT_ABI").as_deref() {
        Ok("1.2") => println!("cargo:rustc-cfg=rkllm_abi_1_2"),
        Ok("1.3") => {}
        other => panic!(
            "edge-infer-rkllm-sys did not report its ABI (DEP_EDGE_INFER_RKLLMRT_ABI = {other:?}); \
             the two crates must come from the same release"
        ),
    }
}
