//! Checks that llama.cpp was compiled for exactly what a Cortex-A76 (RK3588) has.
//!
//! ```text
//! cargo build --release --target aarch64-unknown-linux-gnu --example isa_check
//! qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu target/aarch64-unknown-linux-gnu/release/examples/isa_check
//! ```
//! Exits 1 if a feature the A76 lacks is enabled (i8mm, SVE, SME, ...) or one the profile
//! needs (NEON, ARM_FMA, DOTPROD, and FP16_VA when built with `+fp16`) is missing.

use edge_infer_examples::check_a76_features;

fn main() {
    let info = edge_infer_llama::system_info();
    println!("profile: {}", edge_infer_llama::build_profile());
    println!("system info: {}", info.trim());
    if !cfg!(target_arch = "aarch64") {
        println!("not an aarch64 build: nothing to check");
        return;
    }
    let features = edge_infer_llama::cpu_features();
    // What the build asked for: FP16_VA exactly when -march had +fp16.
    let mut required = vec!["NEON", "ARM_FMA", "DOTPROD"];
    if edge_infer_llama_sys::ARM_ARCH.contains("+fp16") {
        required.push("FP16_VA");
    }
    println!("-march: {}", edge_infer_llama_sys::ARM_ARCH);
    let problems = check_a76_features(&features, &required);
    if problems.is_empty() {
        println!(
            "ok: the build matches the Cortex-A76 ({})",
            required.join(", ")
        );
    } else {
        for p in &problems {
            eprintln!("isa_check: {p}");
        }
        std::process::exit(1);
    }
}
