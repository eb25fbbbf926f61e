//! Shows how profiles resolve to models, with fallback: each model tried in order, why
//! it was skipped (no NPU runtime or device, missing file, load failure), which one
//! serves, and a short generation on it.
//!
//! ```text
//! cargo run --example route                          # built-in registry, every profile
//! cargo run --example route -- --config examples/edge-infer.toml --profile fast
//! ```
//! On a machine without an RKLLM runtime, the built-in `fast` profile shows the NPU model
//! skipped with the reason and the CPU model serving instead.

use std::path::PathBuf;

use clap::Parser;
use edge_infer::{Generator, Registry, Request, Sampling};

#[derive(Parser)]
#[command(about = "Show profile resolution and fallback")]
struct Args {
    /// Registry file (default: the built-in registry).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Profile to resolve (repeatable; default: every profile).
    #[arg(long)]
    profile: Vec<String>,
    /// Prompt for a short generation on the model that serves each profile.
    #[arg(long, default_value = "The capital of France is")]
    prompt: String,
    /// Tokens to generate (0: open only).
    #[arg(short = 'n', long, default_value_t = 12)]
    max_tokens: usize,
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    let (registry, source) = match &args.config {
        Some(p) => (Registry::load(p)?, p.display().to_string()),
        None => (Registry::builtin(), "built-in registry".to_string()),
    };
    edge_infer_examples::fetch_default_model_for(&registry)?;
    println!("registry: {source}");
    match edge_infer_llama::big_cores() {
        Some(c) => println!("CPU topology: big cores {c:?} (from cpu_capacity); llama.cpp models are pinned there unless `cores` says otherwise"),
        None => println!("CPU topology: no cpu_capacity in sysfs; llama.cpp models are not pinned unless `cores` is set"),
    }
    let profiles: Vec<String> = if args.profile.is_empty() {
        registry.profiles().iter().map(|p| p.to_string()).collect()
    } else {
        args.profile.clone()
    };
    let mut failed = false;
    for profile in &profiles {
        println!();
        match registry.profile(profile) {
            Ok(models) => println!("profile `{profile}`: {}", models.join(" → ")),
            Err(e) => {
                println!("profile `{profile}`: error: {e}");
                failed = true;
                continue;
            }
        }
        let routed = registry.open_profile_with(profile, |s| {
            println!("  ✗ {s}");
        });
        let mut routed = match routed {
            Ok(r) => r,
            Err(e) => {
                println!("  error: {e}");
                failed = true;
                continue;
            }
        };
        let info = routed.generator.info().clone();
        println!("  ✓ `{}` ({}) serves `{profile}`", info.name, info.backend);
        println!("    {}", info.description);
        println!("    file: {}", info.path.display());
        if args.max_tokens > 0 {
            let req = Request::user(args.prompt.clone())
                .sampling(Sampling::greedy())
                .max_tokens(args.max_tokens);
            let done = routed.generator.generate(&req)?;
            println!("    {:?} → {:?}", args.prompt, done.text);
            println!("    {}", done.stats);
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
