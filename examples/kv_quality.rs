//! KV cache quality and memory harness: uniform, K/V-split and per-layer (hybrid) cache
//! types against an f16 cache, on one long natural-language text.
//!
//! ```text
//! cargo run --release --example kv_quality -- --json target/kv_quality.json
//! ```
//!
//! The text is cut into chunks of `--ctx` tokens that are evaluated from an empty cache,
//! exactly like `llama-perplexity` (the first token of every chunk becomes BOS; the second
//! half of every chunk is scored), so the numbers can be cross-checked against
//! `llama-perplexity --kl-divergence` (`scripts/kv-perplexity-crosscheck.sh`). Every
//! chunk is evaluated once per configuration in this one process; per scored token it
//! computes the KL divergence of the configuration's f32 logits from the f16 cache's, the
//! top-1 agreement and the negative log-likelihood of the real next token.
//!
//! Memory: llama.cpp's measured KV buffer size per configuration at `--depth`, against
//! the layer-shape formula (sliding-window layers hold fewer cells); decode speed: tokens
//! per second for `--decode` tokens after `--depth` tokens of context.
//!
//! Default text: the Debian FAQ, `/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz` from
//! Debian's `debian-faq` package (version 11.1 here; `apt-get install debian-faq`), about
//! 40 000 tokens of English prose, of which the first `--chunks` × `--ctx` are used.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::Parser;
use edge_infer_examples::{load_model, model_path};
use edge_infer_llama::{Context, ContextParams, KvLayers, KvType, LayerKv, Model, Token};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "KL divergence, perplexity, KV bytes and decode speed per KV cache layout")]
struct Args {
    /// GGUF model file (default: the default test model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The natural-language text to evaluate.
    #[arg(long, default_value = "/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")]
    text: PathBuf,
    /// Chunk size in tokens (llama-perplexity's -c).
    #[arg(short = 'c', long = "ctx", default_value_t = 1024)]
    ctx: u32,
    /// Evaluate this many chunks (0: every full chunk of the text).
    #[arg(long, default_value_t = 8)]
    chunks: usize,
    /// Refuse to evaluate fewer tokens than this.
    #[arg(long, default_value_t = 8192)]
    min_tokens: usize,
    /// Threads.
    #[arg(short = 't', long, default_value_t = 2)]
    threads: i32,
    /// Split points for the hybrid layouts (layers before the split in --early).
    #[arg(long, value_delimiter = ',', default_value = "3,6,9,12,15")]
    splits: Vec<u32>,
    /// Layers per block of the sensitivity scan (0 = no scan).
    #[arg(long, default_value_t = 3)]
    block: u32,
    /// Type of the early layers of a hybrid layout (and of the scan's other layers).
    #[arg(long, default_value = "q8_0")]
    early: KvType,
    /// Type of the late layers of a hybrid layout (and of the scan's block).
    #[arg(long, default_value = "q4_0")]
    late: KvType,
    /// Context depth for the memory and decode measurements.
    #[arg(long, default_value_t = 4096)]
    depth: u32,
    /// Tokens decoded (one at a time) after --depth for the decode speed; 0 = skip.
    #[arg(long, default_value_t = 64)]
    decode: usize,
    /// Measure decode speed for the scan configurations too (slow).
    #[arg(long)]
    decode_scan: bool,
    /// Only measure memory and decode speed (no KL divergence pass).
    #[arg(long)]
    skip_quality: bool,
    /// Write the results as JSON here (for scripts/plot_kv_quality.py).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone)]
struct Config {
    name: String,
    kind: &'static str,
    params: ContextParams,
    /// The K and V types of a uniform or K/V-split configuration.
    uniform: (KvType, KvType),
}

#[derive(Serialize, Default, Clone)]
struct Row {
    name: String,
    kind: String,
    layout: String,
    kv_bytes: u64,
    kv_bytes_formula: u64,
    bytes_per_token_full: f64,
    bytes_per_token_marginal: f64,
    bytes_per_token_marginal_formula: f64,
    kld_mean: f64,
    kld_err: f64,
    kld_p99: f64,
    kld_max: f64,
    top1: f64,
    ppl: f64,
    ppl_err: f64,
    decode_tps: Option<f64>,
    eval_tps: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    text: String,
    text_tokens: usize,
    ctx: u32,
    chunks: usize,
    scored_tokens: usize,
    depth: u32,
    threads: i32,
    system: String,
    rows: Vec<Row>,
}

/// Per-configuration accumulators over the scored tokens.
#[derive(Default)]
struct Acc {
    kld: Vec<f64>,
    nll: Vec<f64>,
    same_top1: usize,
    eval_s: f64,
    eval_tokens: usize,
}

fn mean_err(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
}

fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((s.len() as f64 - 1.0) * q).round() as usize;
    s[i]
}

fn argmax(l: &[f32]) -> usize {
    l.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |x| x.0)
}

fn log_sum_exp(l: &[f32]) -> f64 {
    let m = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let s: f64 = l.iter().map(|&x| ((x - m) as f64).exp()).sum();
    m as f64 + s.ln()
}

/// The baseline's distribution at one position: probabilities, Σ p·log p and top-1.
struct Base {
    p: Vec<f32>,
    neg_entropy: f64,
    top1: usize,
}

impl Base {
    fn new(l: &[f32]) -> Base {
        let lse = log_sum_exp(l);
        let mut neg_entropy = 0.0;
        let p = l
            .iter()
            .map(|&x| {
                let lp = x as f64 - lse;
                let p = lp.exp();
                neg_entropy += p * lp;
                p as f32
            })
            .collect();
        Base {
            p,
            neg_entropy,
            top1: argmax(l),
        }
    }
    /// KL(base || q) for logits `l` of q: Σ p log p − Σ p l + lse(l).
    fn kld(&self, l: &[f32]) -> f64 {
        let dot: f64 = self
            .p
            .iter()
            .zip(l)
            .map(|(&p, &x)| p as f64 * x as f64)
            .sum();
        (self.neg_entropy - dot + log_sum_exp(l)).max(0.0)
    }
}

fn configs(args: &Args, n_layer: u32) -> Vec<Config> {
    let base = ContextParams::default()
        .n_ctx(args.ctx)
        .n_batch(args.ctx)
        .n_ubatch(512.min(args.ctx))
        .n_threads(args.threads);
    let uni = |name: &str, kind, k: KvType, v: KvType| Config {
        name: name.into(),
        kind,
        params: base.clone().type_k(k).type_v(v),
        uniform: (k, v),
    };
    let mut out = vec![
        uni("f16", "uniform", KvType::F16, KvType::F16),
        uni("q8_0", "uniform", KvType::Q8_0, KvType::Q8_0),
        uni("q4_0", "uniform", KvType::Q4_0, KvType::Q4_0),
        uni("K q8_0 / V q4_0", "kv-split", KvType::Q8_0, KvType::Q4_0),
    ];
    let none = (KvType::F16, KvType::F16);
    for &s in &args.splits {
        out.push(Config {
            name: format!(
                "hybrid {s}: {}×{s} + {}×{}",
                args.early,
                args.late,
                n_layer - s
            ),
            kind: "hybrid",
            params: base.clone().kv_hybrid(s, args.early, args.late),
            uniform: none,
        });
    }
    if args.block > 0 {
        let mut start = 0;
        while start < n_layer {
            let end = (start + args.block).min(n_layer);
            out.push(Config {
                name: format!(
                    "scan: layers {start}..{end} {}, rest {}",
                    args.late, args.early
                ),
                kind: "scan",
                params: base.clone().kv_layers(KvLayers::block(
                    n_layer,
                    start..end,
                    args.late,
                    args.early,
                )),
                uniform: none,
            });
            start = end;
        }
    }
    out
}

/// The text, decompressed with gzip(1) if the file name ends in `.gz`.
fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(path)
            .output()
            .with_context(|| format!("run gzip -dc {}", path.display()))?;
        if !out.status.success() {
            bail!(
                "gzip -dc {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.stdout
    } else {
        std::fs::read(path).with_context(|| format!("read the text {}", path.display()))?
    };
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The per-layer types a configuration gives every layer.
fn layer_types(p: &ContextParams, n_layer: u32, uniform: (KvType, KvType)) -> Vec<LayerKv> {
    match p.kv_layout().resolve(n_layer) {
        Ok(Some(t)) => t,
        _ => vec![LayerKv::new(uniform.0, uniform.1); n_layer as usize],
    }
}

/// Memory of one configuration: measured at `depth` and at `2 * depth` (for the marginal
/// cost of a token), and the layer-shape formula.
fn memory(model: &Model, c: &Config, depth: u32, row: &mut Row) -> anyhow::Result<()> {
    let (hk, hv) = model.head_dims();
    let kvh = model.n_head_kv();
    let at = |n: u32| -> anyhow::Result<(u64, u64, Vec<edge_infer_llama::LayerCache>)> {
        let ctx = Context::new(model, &c.params.clone().n_ctx(n))?;
        let layers = ctx.kv_layer_caches();
        let formula = layers.iter().map(|l| l.bytes(kvh * hk, kvh * hv)).sum();
        Ok((ctx.memory_report().kv_bytes, formula, layers))
    };
    let (m1, f1, layers) = at(depth)?;
    let (m2, f2, _) = at(2 * depth)?;
    row.kv_bytes = m1;
    row.kv_bytes_formula = f1;
    row.bytes_per_token_marginal = (m2 - m1) as f64 / depth as f64;
    row.bytes_per_token_marginal_formula = (f2 - f1) as f64 / depth as f64;
    // What a token costs if every layer keeps the whole context (no sliding window).
    row.bytes_per_token_full = layers
        .iter()
        .map(|l| {
            let one = edge_infer_llama::LayerCache { cells: 1, ..*l };
            one.bytes(kvh * hk, kvh * hv) as f64
        })
        .sum();
    Ok(())
}

/// Decode speed: `n` single-token evaluations after `depth` tokens of context, timed in
/// windows of 8 tokens; the fastest window counts, which keeps other processes on a shared
/// machine out of the number as far as possible.
fn decode_speed(
    model: &Model,
    c: &Config,
    depth: u32,
    n: usize,
    text: &[Token],
) -> anyhow::Result<f64> {
    let p = c
        .params
        .clone()
        .n_ctx(depth + n as u32 + 8)
        .n_batch(512)
        .n_ubatch(512);
    let mut ctx = Context::new(model, &p)?;
    let mut fill: Vec<Token> = text.iter().copied().cycle().take(depth as usize).collect();
    fill[0] = model.token_bos().unwrap_or(fill[0]);
    ctx.eval(&fill)?;
    let mut t = Token(argmax(ctx.logits()) as i32);
    let mut best = 0.0f64;
    for _ in 0..n.div_ceil(8) {
        let start = Instant::now();
        for _ in 0..8 {
            ctx.eval(&[t])?;
            t = Token(argmax(ctx.logits()) as i32);
        }
        best = best.max(8.0 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn main() -> anyhow::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let path = model_path(args.model.clone())?;
    let model = load_model(&path)?;
    let n_layer = model.n_layer();
    let text = read_text(&args.text)?;
    let tokens = model.tokenize(&text, true, false)?;
    let n_ctx = args.ctx as usize;
    let mut n_chunk = tokens.len() / n_ctx;
    if args.chunks > 0 {
        n_chunk = n_chunk.min(args.chunks);
    }
    if n_chunk * n_ctx < args.min_tokens {
        bail!(
            "{} gives {n_chunk} chunks of {n_ctx} tokens ({} tokens in all), fewer than \
             --min-tokens {}",
            args.text.display(),
            tokens.len(),
            args.min_tokens
        );
    }
    let first = n_ctx / 2;
    let bos = model.token_bos();
    let cfgs = configs(&args, n_layer);
    eprintln!(
        "{}: {} tokens, {n_chunk} chunks of {n_ctx}, {} scored per chunk, {} configurations",
        args.text.display(),
        tokens.len(),
        n_ctx - 1 - first,
        cfgs.len()
    );

    let mut accs: Vec<Acc> = cfgs.iter().map(|_| Acc::default()).collect();
    let quality_chunks = if args.skip_quality { 0 } else { n_chunk };
    for ch in 0..quality_chunks {
        let mut chunk = tokens[ch * n_ctx..(ch + 1) * n_ctx].to_vec();
        if let Some(b) = bos {
            chunk[0] = b;
        }
        // The f16 cache's distributions at the scored positions: logits at position i
        // predict token i + 1, for i in first..n_ctx - 1.
        let mut base: Vec<Base> = Vec::with_capacity(n_ctx - 1 - first);
        for (ci, c) in cfgs.iter().enumerate() {
            let mut ctx = Context::new(&model, &c.params)?;
            let mut logits: Vec<Vec<f32>> = Vec::with_capacity(n_ctx - 1 - first);
            let t0 = Instant::now();
            ctx.eval_with_logits(&chunk, first, |i, l| {
                if i >= first && i + 1 < n_ctx {
                    logits.push(l.to_vec());
                }
            })?;
            let acc = &mut accs[ci];
            acc.eval_s += t0.elapsed().as_secs_f64();
            acc.eval_tokens += n_ctx;
            drop(ctx);
            if ci == 0 {
                base = logits.iter().map(|l| Base::new(l)).collect();
            }
            for (j, l) in logits.iter().enumerate() {
                let b = &base[j];
                let next = chunk[first + j + 1].0 as usize;
                acc.kld.push(if ci == 0 { 0.0 } else { b.kld(l) });
                acc.nll.push(log_sum_exp(l) - l[next] as f64);
                acc.same_top1 += (argmax(l) == b.top1) as usize;
            }
            let (k, _) = mean_err(&acc.kld);
            eprintln!(
                "chunk {}/{n_chunk} {:<40} KLD {k:.5}  PPL {:.3}",
                ch + 1,
                c.name,
                mean_err(&acc.nll).0.exp()
            );
        }
    }

    let mut rows = Vec::new();
    for (c, acc) in cfgs.iter().zip(&accs) {
        let (kld_mean, kld_err) = mean_err(&acc.kld);
        let (nll, nll_err) = mean_err(&acc.nll);
        let lt = layer_types(&c.params, n_layer, c.uniform);
        let mut row = Row {
            name: c.name.clone(),
            kind: c.kind.into(),
            layout: KvLayers::Table(lt).to_string(),
            kld_mean,
            kld_err,
            kld_p99: percentile(&acc.kld, 0.99),
            kld_max: acc.kld.iter().copied().fold(0.0, f64::max),
            top1: acc.same_top1 as f64 / acc.kld.len() as f64,
            ppl: nll.exp(),
            ppl_err: nll.exp() * nll_err,
            eval_tps: acc.eval_tokens as f64 / acc.eval_s,
            ..Default::default()
        };
        memory(&model, c, args.depth, &mut row)?;
        if args.decode > 0 && (c.kind != "scan" || args.decode_scan) {
            row.decode_tps = Some(decode_speed(&model, c, args.depth, args.decode, &tokens)?);
        }
        eprintln!(
            "{:<40} KV {:.2} MiB (formula {:.2}) decode {}",
            c.name,
            row.kv_bytes as f64 / 1048576.0,
            row.kv_bytes_formula as f64 / 1048576.0,
            row.decode_tps.map_or("-".into(), |t| format!("{t:.1} t/s"))
        );
        rows.push(row);
    }

    print_tables(&rows, args.depth, n_chunk * (n_ctx - 1 - first));
    if let Some(out) = &args.json {
        let report = Report {
            model: model.description(),
            text: args.text.display().to_string(),
            text_tokens: tokens.len(),
            ctx: args.ctx,
            chunks: n_chunk,
            scored_tokens: n_chunk * (n_ctx - 1 - first),
            depth: args.depth,
            threads: args.threads,
            system: edge_infer_llama::system_info(),
            rows,
        };
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("write {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn print_tables(rows: &[Row], depth: u32, scored: usize) {
    println!("\nQuality ({scored} scored tokens; KL divergence from the f16 cache, nats)\n");
    println!("| configuration | mean KLD | KLD p99 | top-1 agree | PPL |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.5} ± {:.5} | {:.4} | {:.2} % | {:.3} ± {:.3} |",
            r.name,
            r.kld_mean,
            r.kld_err,
            r.kld_p99,
            100.0 * r.top1,
            r.ppl,
            r.ppl_err
        );
    }
    println!("\nMemory and speed (KV at n_ctx {depth}; decode after {depth} tokens)\n");
    println!("| configuration | KV MiB measured | KV MiB formula | bytes/token (all layers) | bytes/token marginal measured / formula | decode t/s | eval t/s |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.3} | {:.3} | {:.0} | {:.0} / {:.0} | {} | {:.0} |",
            r.name,
            r.kv_bytes as f64 / 1048576.0,
            r.kv_bytes_formula as f64 / 1048576.0,
            r.bytes_per_token_full,
            r.bytes_per_token_marginal,
            r.bytes_per_token_marginal_formula,
            r.decode_tps.map_or("-".into(), |t| format!("{t:.1}")),
            r.eval_tps
        );
    }
}
