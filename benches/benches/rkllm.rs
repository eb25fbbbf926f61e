//! The rkllm binding's per-callback cost, against edge-infer's RKLLM test double (a fake
//! librkllmrt that streams a canned reply with no delay; it is not Rockchip's runtime).
//!
//! Criterion reports elements/s where an element is one result callback, so
//! 1 / throughput is the binding's cost per streamed token (the double's own work per
//! callback is a few hundred ns of C). On a board, an NPU token takes tens of ms.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edge_infer_rkllm::{Control, Input, Llm, RunOptions, Runtime};
use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};

fn abi() -> Abi {
    if cfg!(feature = "abi-1-2") {
        Abi::V1_2
    } else {
        Abi::V1_3
    }
}

fn per_callback(c: &mut Criterion) {
    let dir = TempDir::new("bench").unwrap();
    let reply = "The quick brown fox jumps over the lazy dog. ".repeat(8);
    let model = FakeModel::default()
        .reply(reply.trim_end())
        .write(dir.path().join("bench.rkllm"))
        .unwrap();
    let llm = Llm::builder(&model)
        .runtime(Runtime::load(library_path(abi())).unwrap())
        .max_context_len(4096)
        .build()
        .unwrap();
    let input = Input::prompt("hello");
    let opts = RunOptions::new();
    let mut n = 0u64;
    llm.run(&input, &opts, |_| {
        n += 1;
        Control::Continue
    })
    .unwrap();

    let mut g = c.benchmark_group("rkllm_callback");
    g.throughput(Throughput::Elements(n));
    g.bench_function("blocking_run", |b| {
        b.iter(|| {
            llm.run(&input, &opts, |chunk| {
                black_box(chunk.text());
                Control::Continue
            })
            .unwrap()
        })
    });
    g.bench_function("async_run", |b| {
        b.iter(|| {
            let run = llm.run_async(&input, &opts).unwrap();
            black_box(run.wait().unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, per_callback);
criterion_main!(benches);
