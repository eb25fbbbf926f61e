//! A llama-bench-compatible benchmark runner over the safe `llama-cpp` API.
//!
//! Same tests, same columns, same JSON field names as llama.cpp's `llama-bench`, so the two
//! can be compared side by side (`scripts/bench-side-by-side.sh`):
//!
//! ```text
//! cargo run --release --bin edge-bench -- -p 512 -n 128 -r 5
//! cargo run --release --bin edge-bench -- -t 1,2 -ctk f16,q8_0 -ctv f16,q8_0 -fa 0,1 -d 0,1024 -o json
//! cargo run --release --bin edge-bench -- --cores 4-7 -t 4      # on RK3588: pinned to the A76 cores
//! cargo run --release --bin edge-bench -- --bandwidth           # memory read bandwidth + roofline
//! ```
//!
//! pp tests evaluate random tokens in n_batch chunks; tg tests evaluate one random token
//! at a time (no sampling), exactly like llama-bench. Each test gets a warmup run, then
//! `-r` timed repetitions on a cleared cache (after an untimed prefill of `-d` tokens).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use edge_infer_examples::bench::{self, BenchRecord, Test};
use edge_infer_llama::{Context, ContextParams, FlashAttention, KvType, Model, Token};

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Output {
    Md,
    Json,
    Jsonl,
}

#[derive(Parser)]
#[command(about = "llama-bench-compatible benchmark over the edge-infer edge-infer-llama crate")]
struct Args {
    /// GGUF model (default: the default test model).
    #[arg(short = 'm', long)]
    model: Option<PathBuf>,
    /// Prompt sizes (pp tests), comma-separated; 0 for none.
    #[arg(
        short = 'p',
        long = "n-prompt",
        value_delimiter = ',',
        default_value = "512"
    )]
    n_prompt: Vec<usize>,
    /// Generation sizes (tg tests), comma-separated; 0 for none.
    #[arg(
        short = 'n',
        long = "n-gen",
        value_delimiter = ',',
        default_value = "128"
    )]
    n_gen: Vec<usize>,
    /// Combined prompt+generation tests, as pp,tg pairs (e.g. `512,128`).
    #[arg(long = "pg", value_delimiter = ',')]
    pg: Vec<usize>,
    /// Context depths (cached tokens before each test).
    #[arg(
        short = 'd',
        long = "n-depth",
        value_delimiter = ',',
        default_value = "0"
    )]
    depth: Vec<usize>,
    /// Thread counts (default: the big cores).
    #[arg(short = 't', long = "threads", value_delimiter = ',')]
    threads: Vec<i32>,
    /// K cache types.
    #[arg(
        long = "ctk",
        alias = "cache-type-k",
        value_delimiter = ',',
        default_value = "f16"
    )]
    type_k: Vec<KvType>,
    /// V cache types.
    #[arg(
        long = "ctv",
        alias = "cache-type-v",
        value_delimiter = ',',
        default_value = "f16"
    )]
    type_v: Vec<KvType>,
    /// Flash attention (0, 1 or auto), comma-separated.
    #[arg(
        long = "fa",
        alias = "flash-attn",
        value_delimiter = ',',
        default_value = "auto"
    )]
    fa: Vec<FlashAttention>,
    /// Context sizes; 0 = just enough for the test (llama-bench's choice).
    #[arg(
        short = 'c',
        long = "n-ctx",
        value_delimiter = ',',
        default_value = "0"
    )]
    n_ctx: Vec<u32>,
    /// Logical batch size.
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    n_batch: u32,
    /// Physical batch size.
    #[arg(long = "ubatch-size", alias = "ub", default_value_t = 512)]
    n_ubatch: u32,
    /// Repetitions per test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    reps: usize,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "md")]
    output: Output,
    /// Pin the process to these CPUs (e.g. `4-7` or `4,5,6,7`).
    #[arg(long)]
    cores: Option<String>,
    /// Skip the warmup run.
    #[arg(long)]
    no_warmup: bool,
    /// Measure memory read bandwidth and print the decode roofline instead.
    #[arg(long)]
    bandwidth: bool,
}

impl bench::BatchSizes for Args {
    fn n_batch(&self) -> u32 {
        self.n_batch
    }
    fn n_ubatch(&self) -> u32 {
        self.n_ubatch
    }
}

/// llama-bench's multi-letter short flags (`-ctk q8_0`, `-fa 1`, `-ub 512`), which clap
/// would read as `-c tk`; spelled long, they mean the same here.
fn llama_bench_flag(arg: String) -> String {
    match arg.as_str() {
        "-ctk" => "--ctk".into(),
        "-ctv" => "--ctv".into(),
        "-fa" => "--fa".into(),
        "-ub" => "--ubatch-size".into(),
        "-pg" => "--pg".into(),
        _ => arg,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse_from(std::env::args().map(llama_bench_flag));
    if let Some(spec) = &args.cores {
        let cpus = bench::parse_cpu_list(spec)?;
        bench::pin_to(&cpus)?;
        eprintln!("pinned to CPUs {cpus:?}");
    }
    let path = edge_infer_examples::model_path(args.model.clone())?;
    let model = Model::load(&path, &Default::default())?;
    let threads = if args.threads.is_empty() {
        vec![edge_infer_llama::default_threads() as i32]
    } else {
        args.threads.clone()
    };

    if args.bandwidth {
        return roofline(&model, threads[0] as usize, &args);
    }

    let mut tests: Vec<Test> = Vec::new();
    tests.extend(args.n_prompt.iter().filter(|&&p| p > 0).map(|&p| Test {
        n_prompt: p,
        n_gen: 0,
    }));
    tests.extend(args.n_gen.iter().filter(|&&g| g > 0).map(|&g| Test {
        n_prompt: 0,
        n_gen: g,
    }));
    for pair in args.pg.chunks(2) {
        if let [p, g] = pair {
            tests.push(Test {
                n_prompt: *p,
                n_gen: *g,
            });
        }
    }

    let info = bench::ModelInfo::of(&model);
    let mut records = Vec::new();
    let mut printer = bench::MarkdownPrinter::new(args.output == Output::Md);
    for &t in &threads {
        for &k in &args.type_k {
            for &v in &args.type_v {
                for &fa in &args.fa {
                    for &c in &args.n_ctx {
                        for &d in &args.depth {
                            for test in &tests {
                                let rec = run_one(&model, &info, &args, t, k, v, fa, c, d, *test)?;
                                match args.output {
                                    Output::Md => printer.row(&rec),
                                    Output::Jsonl => println!("{}", serde_json::to_string(&rec)?),
                                    Output::Json => {}
                                }
                                records.push(rec);
                            }
                        }
                    }
                }
            }
        }
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    model: &Model,
    info: &bench::ModelInfo,
    args: &Args,
    threads: i32,
    type_k: KvType,
    type_v: KvType,
    fa: FlashAttention,
    n_ctx: u32,
    depth: usize,
    test: Test,
) -> anyhow::Result<BenchRecord> {
    let needed = (test.n_prompt + test.n_gen + depth) as u32;
    let params = ContextParams::default()
        .n_ctx(if n_ctx == 0 { needed.max(1) } else { n_ctx })
        .n_batch(args.n_batch)
        .n_ubatch(args.n_ubatch)
        .n_threads(threads)
        .type_k(type_k)
        .type_v(type_v)
        .flash_attention(fa);
    let mut ctx = Context::new(model, &params)?;
    let mut rng = bench::Rng::new(42);
    let bos = model.token_bos();
    let n_vocab = model.n_vocab();
    let prompt = |n: usize, rng: &mut bench::Rng, first: bool| -> Vec<Token> {
        (0..n)
            .map(|i| match (i, first, bos) {
                (0, true, Some(b)) => b,
                _ => Token(rng.below(n_vocab as u32) as i32),
            })
            .collect()
    };

    if !args.no_warmup {
        if test.n_prompt > 0 {
            let p = prompt(test.n_prompt, &mut rng, true);
            ctx.eval(&p)?;
        }
        if test.n_gen > 0 {
            ctx.clear();
            ctx.eval(&prompt(1, &mut rng, true))?;
        }
    }

    let mut samples_ns = Vec::with_capacity(args.reps);
    for _ in 0..args.reps {
        ctx.clear();
        if depth > 0 {
            let d = prompt(depth, &mut rng, true);
            ctx.eval(&d)?;
        }
        let p = prompt(test.n_prompt, &mut rng, depth == 0);
        let gen: Vec<Token> = prompt(test.n_gen, &mut rng, depth == 0 && test.n_prompt == 0);
        let t0 = Instant::now();
        if test.n_prompt > 0 {
            ctx.eval(&p)?;
        }
        for tok in &gen {
            ctx.eval(std::slice::from_ref(tok))?;
        }
        samples_ns.push(t0.elapsed().as_nanos() as u64);
    }
    let mem = ctx.memory_report();
    Ok(BenchRecord::new(
        info,
        threads,
        type_k,
        type_v,
        fa,
        params.context_tokens(),
        args,
        test,
        depth,
        samples_ns,
        mem,
    ))
}

fn roofline(model: &Model, threads: usize, args: &Args) -> anyhow::Result<()> {
    let bw = bench::read_bandwidth(threads, 512 << 20, 5);
    eprintln!(
        "memory read bandwidth: {:.2} GB/s ({threads} threads)",
        bw / 1e9
    );
    let info = bench::ModelInfo::of(model);
    let rec = run_one(
        model,
        &info,
        args,
        threads as i32,
        KvType::F16,
        KvType::F16,
        FlashAttention::Auto,
        0,
        0,
        Test {
            n_prompt: 0,
            n_gen: 128,
        },
    )?;
    // Each decoded token reads every weight once (plus a KV cache that is tiny at depth 0).
    let bytes_per_token = model.size() as f64;
    let fraction = rec.avg_ts * bytes_per_token / bw;
    println!(
        "{{\"bandwidth_gbps\": {:.3}, \"tg128_ts\": {:.2}, \"bytes_per_token\": {}, \"roofline_fraction\": {:.3}}}",
        bw / 1e9,
        rec.avg_ts,
        model.size(),
        fraction
    );
    Ok(())
}
