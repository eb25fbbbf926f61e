//! Streams a reply token by token, then prints a stats line.
//!
//! ```text
//! cargo run --release --example stream -- --prompt "Why is the sky blue?" -n 64
//! ```
//! Without `--model` it uses the default model (gemma-3-270m Q4_K_M), fetching it once.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Parser;
use edge_infer_examples::{load_model, mib, model_path};
use edge_infer_llama::{
    ChatMessage, Context, ContextParams, FlashAttention, GenerateOptions, KvType, Sampling,
};

#[derive(Parser)]
#[command(about = "Stream a reply from a GGUF model with llama.cpp")]
struct Args {
    /// GGUF model file (default: the default test model, fetched on first use).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The user message.
    #[arg(long, default_value = "Write a haiku about a small computer board.")]
    prompt: String,
    /// Use the prompt as is, without the model's chat template.
    #[arg(long)]
    raw: bool,
    /// Tokens to generate at most.
    #[arg(short = 'n', long = "n-predict", default_value_t = 128)]
    n_predict: usize,
    /// Context size.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 4096)]
    ctx_size: u32,
    /// Threads (default: the big cores, or all cores).
    #[arg(short = 't', long)]
    threads: Option<i32>,
    /// K cache type (f16, q8_0, q4_0, ...).
    #[arg(long = "ctk", default_value = "f16")]
    cache_type_k: KvType,
    /// V cache type (quantized types need flash attention).
    #[arg(long = "ctv", default_value = "f16")]
    cache_type_v: KvType,
    /// Flash attention: auto, on or off.
    #[arg(long = "fa", default_value = "auto")]
    flash_attn: FlashAttention,
    /// Temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    temp: f32,
    /// Top-k (0 = off).
    #[arg(long = "top-k", default_value_t = 40)]
    top_k: i32,
    /// Top-p (1 = off).
    #[arg(long = "top-p", default_value_t = 0.95)]
    top_p: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 42)]
    seed: u32,
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    let path = model_path(args.model)?;
    let model = load_model(&path)?;
    eprintln!(
        "model: {} ({}, {} layers, {} params, {}); llama.cpp profile {}",
        path.display(),
        model.description(),
        model.n_layer(),
        model.n_params(),
        mib(model.file_size()),
        edge_infer_llama::build_profile()
    );

    let mut params = ContextParams::default()
        .n_ctx(args.ctx_size)
        .flash_attention(args.flash_attn)
        .type_k(args.cache_type_k)
        .type_v(args.cache_type_v);
    if let Some(t) = args.threads {
        params = params.n_threads(t);
    }
    let mut ctx = Context::new(&model, &params)?;
    let prompt = if args.raw || !model.has_chat_template() {
        args.prompt.clone()
    } else {
        model.apply_chat_template(&[ChatMessage::user(&args.prompt)], true)?
    };
    let mut sampler = Sampling::default()
        .temperature(args.temp)
        .top_k(args.top_k)
        .top_p(args.top_p)
        .seed(args.seed)
        .build(&model)?;

    let mut out = std::io::stdout().lock();
    let stats = ctx.generate_with(
        &prompt,
        &mut sampler,
        GenerateOptions::default().max_tokens(args.n_predict),
        |text| {
            // A closed pipe ends the stream instead of panicking.
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        },
    )?;
    let mem = ctx.memory_report();
    writeln!(out)?;
    eprintln!(
        "stats: prompt {} tok, generated {} tok, TTFT {:.1} ms, prefill {:.1} t/s, decode {:.1} t/s, KV {} (K {}, V {}), compute {}, stop: {:?}",
        stats.prompt_tokens,
        stats.generated_tokens,
        stats.time_to_first_token.as_secs_f64() * 1e3,
        stats.prefill_tokens_per_second(),
        stats.decode_tokens_per_second(),
        mib(mem.kv_bytes),
        mem.type_k,
        mem.type_v,
        mib(mem.compute_bytes),
        stats.stop_reason
    );
    Ok(())
}
