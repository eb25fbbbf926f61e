//! Streams a reply from a `.rkllm` model on the NPU.
//!
//! On an RK3588 board:
//!     cargo run -p edge-infer-rkllm --example npu_stream -- --model /models/qwen.rkllm --prompt "Hello"
//!
//! On a dev machine without an NPU, run against edge-infer's TEST DOUBLE (a fake
//! librkllmrt built by the `rkllm-test-double` crate; it streams a canned reply):
//!     cargo run -p edge-infer-rkllm --example npu_stream -- --test-double
//! (or set RKLLM_TEST_DOUBLE=1; `--runtime PATH` picks any librkllmrt file explicitly).
use edge_infer_rkllm::{Control, Input, Llm, RunOptions, Runtime};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

const USAGE: &str =
    "usage: npu_stream [--model PATH] [--prompt TEXT] [--runtime PATH | --test-double] \
                     [--max-context N] [--max-new N] [--tokenizer tokenizer.json]";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), Box<dyn std::error::Error>> {
    let mut model: Option<PathBuf> = None;
    let mut prompt = String::from("Tell me about the RK3588 in one sentence.");
    let mut runtime_path: Option<PathBuf> = None;
    let mut test_double = std::env::var("RKLLM_TEST_DOUBLE").is_ok_and(|v| v == "1");
    let mut max_context = 4096;
    let mut max_new = 256;
    let mut tokenizer: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--model" => model = Some(val()?.into()),
            "--prompt" => prompt = val()?,
            "--runtime" => runtime_path = Some(val()?.into()),
            "--test-double" => test_double = true,
            "--max-context" => max_context = val()?.parse()?,
            "--max-new" => max_new = val()?.parse()?,
            "--tokenizer" => tokenizer = Some(val()?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }

    let abi = if cfg!(feature = "abi-1-2") {
        rkllm_test_double::Abi::V1_2
    } else {
        rkllm_test_double::Abi::V1_3
    };
    let _tmp; // keeps a generated fake model alive
    let runtime = if test_double {
        let path = runtime_path
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
    } else if let Some(p) = runtime_path {
        Runtime::load(p)?
    } else {
        Runtime::system()?
    };
    let model =
        model.ok_or_else(|| format!("--model is required (or pass --test-double)\n{USAGE}"))?;
    match runtime.embedded_version() {
        Some(v) => println!(
            "runtime: {} ({})",
            runtime
                .path()
                .map_or("?".into(), |p| p.display().to_string()),
            v.text
        ),
        None => println!("runtime: {:?} (version not checked)", runtime.path()),
    }
    if runtime.is_test_double() {
        println!("note: this runtime identifies itself as the TEST DOUBLE; output is canned, not a model's");
    }

    let mut b = Llm::builder(&model)
        .runtime(runtime)
        .max_context_len(max_context)
        .max_new_tokens(max_new);
    if let Some(t) = tokenizer {
        b = b.tokenizer(t);
    }
    let t0 = Instant::now();
    let llm = b.build()?;
    println!("model {} loaded in {:.2?}", model.display(), t0.elapsed());
    println!("> {prompt}");

    // Ctrl-C-free demo: an AbortHandle could stop this from another thread.
    let mut out = std::io::stdout().lock();
    let summary = llm.run(&Input::prompt(prompt), &RunOptions::new(), |chunk| {
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
