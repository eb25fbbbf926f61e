//! criterion benches of the edge-infer-llama crate on the default model.
//!
//! * `prefill/pp128`, `prefill/pp512`: prompt evaluation, tokens/s.
//! * `decode/tg32`, `decode/tg128`: one token at a time, as llama-bench's tg test.
//! * `ttft`: prompt of 32 tokens to the first streamed text.
//! * `generate32/{bare,callback,iterator}`: 32 greedy tokens through a bare sys-level
//!   decode+sample loop and through the crate's two streaming forms.
//! * `stream_overhead/{bare,callback,iterator}`: the per-token text path alone (no model
//!   evaluation) over 256 tokens: what streaming adds per token, in ns.
//! * `tokenize`: tokenizer throughput in bytes/s.
//!
//! `EDGE_INFER_BENCH_THREADS` sets the thread count (default: the big cores).

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edge_infer_benches::{model, random_tokens, threads};
use edge_infer_llama::raw::AsRaw;
use edge_infer_llama::{
    Context, ContextParams, Detokenizer, Event, GenerateOptions, Sampling, Token,
};
use edge_infer_llama_sys as sys;

fn ctx_params(n_ctx: u32) -> ContextParams {
    ContextParams::default()
        .n_ctx(n_ctx)
        .n_batch(512)
        .n_ubatch(512)
        .n_threads(threads())
}

fn prefill(c: &mut Criterion) {
    let m = model();
    let mut g = c.benchmark_group("prefill");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for n in [128usize, 512] {
        let mut ctx = Context::new(m, &ctx_params(1024)).unwrap();
        let toks = random_tokens(m, n, 1);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::from_parameter(format!("pp{n}")), |b| {
            b.iter(|| {
                ctx.clear();
                ctx.eval(&toks).unwrap();
            })
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let m = model();
    let mut g = c.benchmark_group("decode");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for n in [32usize, 128] {
        let mut ctx = Context::new(m, &ctx_params(512)).unwrap();
        let toks = random_tokens(m, n, 2);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::from_parameter(format!("tg{n}")), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    ctx.clear();
                    let t0 = Instant::now();
                    for t in &toks {
                        ctx.eval(std::slice::from_ref(t)).unwrap();
                    }
                    total += t0.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn ttft(c: &mut Criterion) {
    let m = model();
    let mut ctx = Context::new(m, &ctx_params(512)).unwrap();
    let prompt = random_tokens(m, 32, 3);
    let mut s = Sampling::greedy().build(m).unwrap();
    let mut g = c.benchmark_group("ttft");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("pp32", |b| {
        b.iter(|| {
            ctx.clear();
            let st = ctx
                .generate_with(
                    &prompt,
                    &mut s,
                    GenerateOptions::default().max_tokens(8),
                    |_| ControlFlow::Break(()),
                )
                .unwrap();
            black_box(st.time_to_first_token)
        })
    });
    g.finish();
}

/// The floor: llama_decode + llama_sampler_sample on raw pointers, nothing else.
fn bare_generate(ctx: &mut Context<'_>, prompt: &[Token], n: usize) {
    ctx.clear();
    // SAFETY: raw pointers of live objects; the chain is freed below; token buffers
    // outlive each decode call.
    unsafe {
        let chain = sys::llama_sampler_chain_init(sys::llama_sampler_chain_default_params());
        sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_greedy());
        let raw = ctx.as_raw();
        let mut p: Vec<i32> = prompt.iter().map(|t| t.0).collect();
        assert_eq!(
            sys::llama_decode(
                raw,
                sys::llama_batch_get_one(p.as_mut_ptr(), p.len() as i32)
            ),
            0
        );
        let mut tok = 0i32;
        for _ in 0..n {
            tok = sys::llama_sampler_sample(chain, raw, -1);
            assert_eq!(
                sys::llama_decode(raw, sys::llama_batch_get_one(&mut tok, 1)),
                0
            );
        }
        black_box(tok);
        sys::llama_sampler_free(chain);
    }
    ctx.clear();
}

fn generate(c: &mut Criterion) {
    let m = model();
    let mut ctx = Context::new(m, &ctx_params(512)).unwrap();
    let prompt = m.tokenize("The capital of France is", true, true).unwrap();
    let n = 32;
    let opts = || GenerateOptions::default().max_tokens(n + 1);
    let mut g = c.benchmark_group("generate32");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("bare", |b| b.iter(|| bare_generate(&mut ctx, &prompt, n)));
    g.bench_function("callback", |b| {
        let mut s = Sampling::greedy().build(m).unwrap();
        b.iter(|| {
            ctx.clear();
            let st = ctx.generate_with(&prompt, &mut s, opts(), |t| {
                black_box(t);
                ControlFlow::Continue(())
            });
            black_box(st.unwrap());
        })
    });
    g.bench_function("iterator", |b| {
        let mut s = Sampling::greedy().build(m).unwrap();
        b.iter(|| {
            ctx.clear();
            for ev in ctx.generate(&prompt, &mut s, opts()).unwrap() {
                if let Event::Text(t) = ev.unwrap() {
                    black_box(t);
                }
            }
        })
    });
    g.finish();
}

fn stream_overhead(c: &mut Criterion) {
    let m = model();
    // Real output tokens (a greedy continuation), not random ones.
    let mut ctx = Context::new(m, &ctx_params(512)).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let prompt = m
        .tokenize(
            "Once upon a time, in a small village by the sea,",
            true,
            true,
        )
        .unwrap();
    ctx.generate_with(
        &prompt,
        &mut s,
        GenerateOptions::default().max_tokens(257),
        |_| ControlFlow::Continue(()),
    )
    .unwrap();
    let tokens: Vec<Token> = ctx.tokens()[prompt.len()..].to_vec();
    let mut g = c.benchmark_group("stream_overhead");
    g.throughput(Throughput::Elements(tokens.len() as u64));
    g.bench_function("bare", |b| {
        let mut buf = Vec::with_capacity(64);
        b.iter(|| {
            for &t in &tokens {
                buf.clear();
                m.token_to_bytes(t, false, &mut buf).unwrap();
                black_box(&buf);
            }
        })
    });
    let opts = GenerateOptions::default().stop("\n\n\n").stop("</s>");
    // The text half of generation (token -> bytes -> characters -> stop strings), as
    // Context::generate runs it.
    let detokenize = |out: &mut String, each: &mut dyn FnMut(&str)| {
        let mut d = Detokenizer::new(m, &opts);
        for &t in &tokens {
            out.clear();
            let stop = d.push(t, out).unwrap().is_some();
            if !out.is_empty() {
                each(out);
            }
            if stop {
                break;
            }
        }
    };
    g.bench_function("callback", |b| {
        let mut out = String::with_capacity(256);
        b.iter(|| {
            detokenize(&mut out, &mut |t| {
                black_box(t);
            })
        })
    });
    g.bench_function("iterator", |b| {
        // The iterator form hands out an owned String per piece.
        let mut out = String::with_capacity(256);
        b.iter(|| detokenize(&mut out, &mut |t| drop(black_box(t.to_string()))))
    });
    g.finish();
}

fn tokenize(c: &mut Criterion) {
    let m = model();
    let text =
        "The quick brown fox jumps over the lazy dog. Grüße aus Köln! 東京は日本の首都です。 "
            .repeat(100);
    let mut g = c.benchmark_group("tokenize");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("mixed_text", |b| {
        b.iter(|| black_box(m.tokenize(&text, false, false).unwrap()))
    });
    g.finish();
}

criterion_group!(
    benches,
    prefill,
    decode,
    ttft,
    generate,
    stream_overhead,
    tokenize
);
criterion_main!(benches);
