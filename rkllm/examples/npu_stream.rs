//! Streams a reply from a `.rkllm` model on the NPU.
//!
//! On an RK3588 board:
//!     cargo run -p edge-infer-rkllm --example npu_stream -- --model /models/qwen.rkllm --prompt "Hello"
//!
//! On a dev machine without an NPU, run against edge-infer's TEST DOUBLE (a fake
//! librkllmrt built by the `rkllm-test-double` crate; it streams a canned reply):
//!     cargo run -p edge-infer-rkllm --example npu_stream -- --test-double
//! (or set RKLLM_TEST_DOUBLE=1; `--runtime PATH` picks any librkllmrt file explicitly, and
//! `--abi 1.3` states the ABI of a runtime file edge-infer does not know).
use clap::Parser;
use edge_infer_rkllm::{Abi, Control, Input, Llm, RunOptions, Runtime};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Stream a reply from an RKLLM model (or edge-infer's test double)")]
struct Args {
    /// The .rkllm model (a fake one is written with --test-double).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The prompt.
    #[arg(long, default_value = "Tell me about the RK3588 in one sentence.")]
    prompt: String,
    /// The librkllmrt.so to load (default: the system's).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// The ABI of a runtime file whose git blob id edge-infer does not know (1.2 or 1.3).
    #[arg(long)]
    abi: Option<Abi>,
    /// Use edge-infer's test double (a fake runtime, no NPU); also RKLLM_TEST_DOUBLE=1.
    #[arg(long)]
    test_double: bool,
    /// Context window.
    #[arg(long, default_value_t = 4096)]
    max_context: i32,
    /// Generation limit.
    #[arg(long, default_value_t = 256)]
    max_new: i32,
    /// The model's tokenizer.json (exact prompt-length checks).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

fn main() {
    if let Err(e) = real_main(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut model = args.model;
    let _tmp; // keeps a generated fake model alive
    let test_double =
        args.test_double || std::env::var("RKLLM_TEST_DOUBLE").is_ok_and(|v| v == "1");
    let runtime = if test_double {
        let abi = if Abi::COMPILED == Abi::V1_2 {
            rkllm_test_double::Abi::V1_2
        } else {
            rkllm_test_double::Abi::V1_3
        };
        let path = args
            .runtime
            .clone()
            .unwrap_or_else(|| rkllm_test_double::library_path(abi).to_path_buf());
        println!(
            "*** Using edge-infer's RKLLM TEST DOUBLE ({}) — a fake runtime, no NPU involved ***",
            path.display()
        );
        if model.is_none() {
            let dir = rkllm_test_double::TempDir::new("npu-stream")?;
            model = Some(
                rkllm_test_double::FakeModel::default()
                    .token_delay_ms(30)
                    .write(dir.path().join("fake.rkllm"))?,
            );
            _tmp = dir;
        }
        Runtime::load(path)?
    } else {
        match (args.runtime, args.abi) {
            (Some(p), Some(abi)) => Runtime::load_stated(p, abi)?,
            (Some(p), None) => Runtime::load(p)?,
            (None, Some(abi)) => Runtime::system_stated(abi)?,
            (None, None) => Runtime::system()?,
        }
    };
    let model = model.ok_or("--model is required (or pass --test-double)")?;
    println!(
        "runtime: {} ({:?}, ABI {} by {:?}, git blob id {})",
        runtime
            .path()
            .map_or("?".into(), |p| p.display().to_string()),
        runtime.identity(),
        Abi::COMPILED,
        runtime.abi_source(),
        runtime.blob_id().unwrap_or("?")
    );
    if runtime.is_test_double() {
        println!("note: this runtime identifies itself as the TEST DOUBLE; output is canned, not a model's");
    }

    let mut b = Llm::builder(&model)
        .runtime(runtime)
        .max_context_len(args.max_context)
        .max_new_tokens(args.max_new);
    if let Some(t) = args.tokenizer {
        b = b.tokenizer(t);
    }
    let t0 = Instant::now();
    let llm = b.build()?;
    println!("model {} loaded in {:.2?}", model.display(), t0.elapsed());
    if let Some(v) = &llm.init_log().runtime_version {
        println!(
            "the runtime says: version {v}, driver {}, model limit {}",
            llm.init_log()
                .driver_version
                .as_ref()
                .map_or("?".into(), |d| d.to_string()),
            llm.init_log()
                .max_context_limit
                .map_or("?".into(), |n| n.to_string())
        );
    }
    println!("> {}", args.prompt);

    let mut out = std::io::stdout().lock();
    let summary = llm.run(&Input::prompt(args.prompt), &RunOptions::new(), |chunk| {
        let _ = out.write_all(chunk.text().as_bytes());
        let _ = out.flush();
        Control::Continue
    })?;
    println!();
    if let Some(p) = summary.perf {
        println!(
            "prefill: {} tokens in {:.1} ms | generate: {} tokens in {:.1} ms ({:.1} tok/s) | peak memory {:.1} MB",
            p.prefill_tokens,
            p.prefill_time_ms,
            p.generate_tokens,
            p.generate_time_ms,
            if p.generate_time_ms > 0.0 { p.generate_tokens as f32 * 1000.0 / p.generate_time_ms } else { 0.0 },
            p.memory_usage_mb
        );
    }
    Ok(())
}
