//! Load bench (a benchmark, not a test): N concurrent clients x M streaming chat requests
//! with a shared ~1,000-token system prompt and a different question each, against one or
//! more OpenAI-compatible servers, interleaved round by round (the order alternates).
//!
//! Per server and workload it reports p50/p95 time to first token (as the client sees it,
//! queueing included), p50 decode rate (tokens after the first over the time they took)
//! and total throughput (generated tokens over the workload's wall time). Two workloads
//! per round: `seq` (one client: every request after the first reuses the cached system
//! prompt, so its TTFT is the repeated-prefix TTFT) and `conc` (N clients).
//!
//! ```text
//! cargo bench -p edge-infer-server --bench load -- \
//!     --target ours=http://127.0.0.1:8080 --target llama-server=http://127.0.0.1:8081 \
//!     --clients 4 --requests 4 --max-tokens 32 --rounds 3
//! ```
//! `scripts/bench-server.sh` builds llama-server from the same pinned tree, starts both
//! servers with the same model and flags and runs this.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

struct Args {
    targets: Vec<(String, String)>,
    clients: usize,
    requests: usize,
    max_tokens: u32,
    rounds: usize,
    model: String,
}

fn args() -> Args {
    let mut a = Args {
        targets: Vec::new(),
        clients: 4,
        requests: 4,
        max_tokens: 32,
        rounds: 3,
        model: "default".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--target" => {
                let t = v();
                let (n, u) = t.split_once('=').expect("--target NAME=URL");
                a.targets.push((n.into(), u.trim_end_matches('/').into()));
            }
            "--clients" => a.clients = v().parse().unwrap(),
            "--requests" => a.requests = v().parse().unwrap(),
            "--max-tokens" => a.max_tokens = v().parse().unwrap(),
            "--rounds" => a.rounds = v().parse().unwrap(),
            "--model" => a.model = v(),
            "--bench" => {} // what `cargo bench` passes
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// About 1,000 tokens of a made-up board manual: the same for every request.
fn system_prompt() -> String {
    let topics = [
        "power sequencing",
        "the boot ROM",
        "eMMC partitions",
        "the NPU driver",
        "thermal throttling",
        "the PCIe lanes",
        "USB-C power delivery",
        "the GPIO header",
        "the debug UART",
        "DDR training",
        "the MIPI camera ports",
        "HDMI output",
        "the RTC battery",
        "fan control",
        "OTA updates",
    ];
    let mut s = String::from(
        "You are the support assistant for the Quarry-8 single-board computer. Answer from the \
         manual below, briefly, and say which section you used.\n\n",
    );
    for (i, t) in topics.iter().enumerate() {
        s += &format!(
            "Section {}: {t}. The Quarry-8 handles {t} in firmware first and then in the kernel. \
             When {t} misbehaves, check the board revision printed near the SoC, update the \
             firmware with the vendor tool, and read the kernel log for lines that mention it. \
             Never change voltages by hand; the defaults are validated for every revision. \
             If the problem persists, collect the log and the revision and open a ticket.\n",
            i + 1
        );
    }
    s
}

#[derive(Default, Clone, Copy)]
struct Sample {
    ttft: f64,
    decode_tps: Option<f64>,
    tokens: u64,
}

async fn one(
    http: &reqwest::Client,
    url: &str,
    model: &str,
    system: &str,
    question: &str,
    max_tokens: u32,
) -> Sample {
    let body = json!({
        "model": model, "stream": true, "max_tokens": max_tokens, "temperature": 0,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
    });
    let t0 = Instant::now();
    let res = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let mut stream = res.bytes_stream();
    let (mut buf, mut first, mut last, mut pieces, mut usage) =
        (String::new(), None, t0, 0u64, None);
    while let Some(b) = stream.next().await {
        buf.push_str(std::str::from_utf8(&b.expect("body")).expect("UTF-8"));
        while let Some(cut) = buf.find("\n\n") {
            let block: String = buf.drain(..cut + 2).collect();
            let Some(data) = block.trim().strip_prefix("data: ") else {
                continue;
            };
            if data == "[DONE]" {
                continue;
            }
            let v: Value = serde_json::from_str(data).expect("a JSON chunk");
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                usage = u["completion_tokens"].as_u64();
            }
            let text = v["choices"][0]["delta"]["content"].as_str().unwrap_or("");
            if !text.is_empty() {
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
                pieces += 1;
            }
        }
    }
    let first = first.unwrap_or(last);
    let tokens = usage.unwrap_or(pieces);
    let span = last.duration_since(first).as_secs_f64();
    Sample {
        ttft: first.duration_since(t0).as_secs_f64(),
        decode_tps: (tokens > 1 && span > 0.0).then(|| (tokens - 1) as f64 / span),
        tokens,
    }
}

/// `clients` tasks, each sending `requests` requests one after another.
async fn workload(url: &str, a: &Args, clients: usize, round: usize) -> (Vec<Sample>, f64) {
    let system = system_prompt();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (url, model, system, requests, max) = (
                url.to_string(),
                a.model.clone(),
                system.clone(),
                a.requests,
                a.max_tokens,
            );
            tokio::spawn(async move {
                // A fresh connection per request: llama-server closes idle keep-alive
                // connections, which a pooled client would race with.
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(600))
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                let mut out = Vec::new();
                for r in 0..requests {
                    let q = format!(
                        "Round {round}, client {c}, question {r}: how do I fix problem number {}?",
                        c * 100 + r
                    );
                    out.push(one(&http, &url, &model, &system, &q, max).await);
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, t0.elapsed().as_secs_f64())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Tally {
    ttft: Vec<f64>,
    decode: Vec<f64>,
    throughput: Vec<f64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    if a.targets.is_empty() {
        eprintln!("load bench: no --target NAME=URL given; see scripts/bench-server.sh");
        return;
    }
    println!(
        "load bench: {} rounds; seq = 1 client x {} requests, conc = {} clients x {} requests; max_tokens {}; system prompt {} chars",
        a.rounds, a.requests, a.clients, a.requests, a.max_tokens, system_prompt().len()
    );
    // Warm-up: loads the models and fills the prompt caches.
    for (name, url) in &a.targets {
        let http = reqwest::Client::new();
        let s = one(&http, url, &a.model, &system_prompt(), "Warm-up.", 4).await;
        println!(
            "warm-up {name}: TTFT {:.0} ms (the whole system prompt)",
            s.ttft * 1e3
        );
    }
    let mut tallies: Vec<[Tally; 2]> = a.targets.iter().map(|_| Default::default()).collect();
    for round in 0..a.rounds {
        let mut order: Vec<usize> = (0..a.targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &i in &order {
            let (name, url) = &a.targets[i];
            for (w, clients) in [1, a.clients].into_iter().enumerate() {
                let (samples, wall) = workload(url, &a, clients, round).await;
                let tokens: u64 = samples.iter().map(|s| s.tokens).sum();
                let mut ttft: Vec<f64> = samples.iter().map(|s| s.ttft).collect();
                let mut dec: Vec<f64> = samples.iter().filter_map(|s| s.decode_tps).collect();
                let t = &mut tallies[i][w];
                t.ttft.extend(&ttft);
                t.decode.extend(&dec);
                t.throughput.push(tokens as f64 / wall);
                println!(
                    "round {} {:<13} {}: TTFT p50 {:7.1} ms p95 {:7.1} ms, decode p50 {:6.1} t/s, throughput {:6.1} t/s ({} requests, {:.1} s)",
                    round + 1, name, ["seq ", "conc"][w],
                    pct(&mut ttft, 0.5) * 1e3, pct(&mut ttft, 0.95) * 1e3, pct(&mut dec, 0.5), tokens as f64 / wall,
                    samples.len(), wall
                );
            }
        }
    }
    println!("\nsummary over all rounds (throughput: mean and min..max of the rounds)");
    println!("| server | workload | TTFT p50 ms | TTFT p95 ms | decode p50 t/s | throughput t/s |");
    println!("|---|---|---|---|---|---|");
    for (i, (name, _)) in a.targets.iter().enumerate() {
        for (w, label) in ["seq (1 client)", "conc"].iter().enumerate() {
            let t = &mut tallies[i][w];
            let label = if w == 1 {
                format!("conc ({} clients)", a.clients)
            } else {
                label.to_string()
            };
            let thr = &t.throughput;
            let mean = thr.iter().sum::<f64>() / thr.len() as f64;
            let (lo, hi) = thr
                .iter()
                .fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
            println!(
                "| {name} | {label} | {:.1} | {:.1} | {:.1} | {:.1} ({:.1}..{:.1}) |",
                pct(&mut t.ttft, 0.5) * 1e3,
                pct(&mut t.ttft, 0.95) * 1e3,
                pct(&mut t.decode, 0.5),
                mean,
                lo,
                hi
            );
        }
    }
}
