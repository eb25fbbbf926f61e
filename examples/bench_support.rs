//! Pieces of the `bench` runner that tests and scripts reuse: records with llama-bench's
//! field names, the markdown table, CPU pinning, peak RSS and a bandwidth probe.

use std::fmt::Write as _;
use std::time::Instant;

use edge_infer_llama::{FlashAttention, KvType, MemoryReport, Model};
use serde::{Deserialize, Serialize};

/// One llama-bench test: `pp{n_prompt}`, `tg{n_gen}` or `pp{n_prompt}+tg{n_gen}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Test {
    /// Prompt tokens evaluated in batches.
    pub n_prompt: usize,
    /// Tokens generated one at a time.
    pub n_gen: usize,
}

/// What llama-bench prints about the model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// `llama_model_desc`, e.g. `gemma3 270M Q4_K - Medium`.
    pub model_type: String,
    /// File name of the model.
    pub filename: String,
    /// Bytes of tensor data.
    pub size: u64,
    /// Parameter count.
    pub n_params: u64,
}

impl ModelInfo {
    /// Reads it from a loaded model.
    pub fn of(m: &Model) -> Self {
        ModelInfo {
            model_type: m.description(),
            filename: m.path().display().to_string(),
            size: m.size(),
            n_params: m.n_params(),
        }
    }
}

/// One result row. Field names follow llama-bench's JSON output; the last group is ours.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchRecord {
    pub build_commit: String,
    pub cpu_info: String,
    pub backends: String,
    pub model_filename: String,
    pub model_type: String,
    pub model_size: u64,
    pub model_n_params: u64,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_threads: i32,
    pub type_k: String,
    pub type_v: String,
    /// As llama-bench writes it: -1 auto, 0 off, 1 on.
    pub flash_attn: i32,
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
    pub test_time: String,
    pub avg_ns: u64,
    pub stddev_ns: u64,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ns: Vec<u64>,
    pub samples_ts: Vec<f64>,
    // edge-infer additions
    pub n_ctx: u32,
    pub build_profile: String,
    pub peak_rss_bytes: u64,
    pub model_bytes: u64,
    pub kv_bytes: u64,
    pub compute_bytes: u64,
}

impl BenchRecord {
    /// Builds a record from raw samples.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        info: &ModelInfo,
        threads: i32,
        type_k: KvType,
        type_v: KvType,
        fa: FlashAttention,
        n_ctx: u32,
        batch: &impl BatchSizes,
        test: Test,
        depth: usize,
        samples_ns: Vec<u64>,
        mem: MemoryReport,
    ) -> Self {
        let n_tokens = (test.n_prompt + test.n_gen) as f64;
        let samples_ts: Vec<f64> = samples_ns
            .iter()
            .map(|&ns| n_tokens * 1e9 / ns as f64)
            .collect();
        let (avg_ns, stddev_ns) =
            mean_sd(&samples_ns.iter().map(|&x| x as f64).collect::<Vec<_>>());
        let (avg_ts, stddev_ts) = mean_sd(&samples_ts);
        BenchRecord {
            build_commit: edge_infer_llama_sys::PINNED_SOURCE.to_string(),
            cpu_info: cpu_model(),
            backends: "CPU".into(),
            model_filename: info.filename.clone(),
            model_type: info.model_type.clone(),
            model_size: info.size,
            model_n_params: info.n_params,
            n_batch: batch.n_batch(),
            n_ubatch: batch.n_ubatch(),
            n_threads: threads,
            type_k: type_k.to_string(),
            type_v: type_v.to_string(),
            flash_attn: match fa {
                FlashAttention::Auto => -1,
                FlashAttention::On => 1,
                FlashAttention::Off => 0,
            },
            n_prompt: test.n_prompt,
            n_gen: test.n_gen,
            n_depth: depth,
            test_time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            avg_ns: avg_ns as u64,
            stddev_ns: stddev_ns as u64,
            avg_ts,
            stddev_ts,
            samples_ns,
            samples_ts,
            n_ctx,
            build_profile: edge_infer_llama::build_profile().into(),
            peak_rss_bytes: peak_rss_bytes(),
            model_bytes: mem.model_bytes,
            kv_bytes: mem.kv_bytes,
            compute_bytes: mem.compute_bytes,
        }
    }

    /// llama-bench's test name: `pp512`, `tg128`, `pp512+tg128`, with ` @ d1024` for a depth.
    pub fn test_name(&self) -> String {
        let mut s = match (self.n_prompt, self.n_gen) {
            (p, 0) => format!("pp{p}"),
            (0, g) => format!("tg{g}"),
            (p, g) => format!("pp{p}+tg{g}"),
        };
        if self.n_depth > 0 {
            let _ = write!(s, " @ d{}", self.n_depth);
        }
        s
    }
}

/// Batch sizes of a run (implemented by the runner's arguments).
pub trait BatchSizes {
    /// Logical batch.
    fn n_batch(&self) -> u32;
    /// Physical batch.
    fn n_ubatch(&self) -> u32;
}

/// Fixed batch sizes.
pub struct Batches(pub u32, pub u32);

impl BatchSizes for Batches {
    fn n_batch(&self) -> u32 {
        self.0
    }
    fn n_ubatch(&self) -> u32 {
        self.1
    }
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The markdown table llama-bench prints (`-o md`).
pub struct MarkdownPrinter {
    enabled: bool,
    header_done: bool,
}

/// The columns of the table, in llama-bench's order for a CPU backend with the cache
/// types and flash attention shown.
pub const COLUMNS: &[&str] = &[
    "model", "size", "params", "backend", "threads", "type_k", "type_v", "fa", "test", "t/s",
];

impl MarkdownPrinter {
    /// A printer; `enabled = false` prints nothing.
    pub fn new(enabled: bool) -> Self {
        MarkdownPrinter {
            enabled,
            header_done: false,
        }
    }

    /// Prints a row (and the header before the first).
    pub fn row(&mut self, r: &BenchRecord) {
        if !self.enabled {
            return;
        }
        if !self.header_done {
            println!("{}", header());
            self.header_done = true;
        }
        println!("{}", format_row(r));
    }
}

/// The table header (two lines).
pub fn header() -> String {
    let names = format!("| {} |", COLUMNS.join(" | "));
    let rule = format!(
        "|{}",
        COLUMNS
            .iter()
            .map(
                |c| if matches!(*c, "model" | "backend" | "type_k" | "type_v" | "test") {
                    " --- |"
                } else {
                    " ---: |"
                }
            )
            .collect::<String>()
    );
    format!("{names}\n{rule}")
}

/// One table row, formatted as llama-bench formats it.
pub fn format_row(r: &BenchRecord) -> String {
    let size = if r.model_size < 1 << 30 {
        format!("{:.2} MiB", r.model_size as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.2} GiB", r.model_size as f64 / (1u64 << 30) as f64)
    };
    let params = if r.model_n_params < 1_000_000_000 {
        format!("{:.2} M", r.model_n_params as f64 / 1e6)
    } else {
        format!("{:.2} B", r.model_n_params as f64 / 1e9)
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} ± {:.2} |",
        r.model_type,
        size,
        params,
        r.backends,
        r.n_threads,
        r.type_k,
        r.type_v,
        match r.flash_attn {
            -1 => "auto".to_string(),
            v => v.to_string(),
        },
        r.test_name(),
        r.avg_ts,
        r.stddev_ts
    )
}

/// A row of the markdown table read back: `(test, threads, type_k, type_v, fa, avg_ts, stddev_ts)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    /// Test name, e.g. `pp512`.
    pub test: String,
    /// Threads.
    pub threads: i32,
    /// K type.
    pub type_k: String,
    /// V type.
    pub type_v: String,
    /// Flash attention column.
    pub fa: String,
    /// Mean tokens per second.
    pub avg_ts: f64,
    /// Standard deviation.
    pub stddev_ts: f64,
}

/// Parses the markdown output of the runner (or of llama-bench with the same columns).
pub fn parse_markdown(out: &str) -> Result<Vec<ParsedRow>, String> {
    let mut lines = out.lines().filter(|l| l.starts_with('|'));
    let head: Vec<String> = lines
        .next()
        .ok_or("no table")?
        .trim_matches('|')
        .split('|')
        .map(|s| s.trim().to_string())
        .collect();
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .ok_or(format!("no column {name}"))
    };
    let (ct, cth, ck, cv, cf, cts) = (
        col("test")?,
        col("threads")?,
        col("type_k")?,
        col("type_v")?,
        col("fa")?,
        col("t/s")?,
    );
    lines.next().ok_or("no rule line")?;
    lines
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            if cells.len() != head.len() {
                return Err(format!(
                    "row has {} cells, header {}: {l}",
                    cells.len(),
                    head.len()
                ));
            }
            let (avg, sd) = cells[cts]
                .split_once('±')
                .ok_or(format!("bad t/s cell {}", cells[cts]))?;
            Ok(ParsedRow {
                test: cells[ct].to_string(),
                threads: cells[cth].parse().map_err(|e| format!("threads: {e}"))?,
                type_k: cells[ck].to_string(),
                type_v: cells[cv].to_string(),
                fa: cells[cf].to_string(),
                avg_ts: avg.trim().parse().map_err(|e| format!("t/s: {e}"))?,
                stddev_ts: sd.trim().parse().map_err(|e| format!("t/s: {e}"))?,
            })
        })
        .collect()
}

/// A small deterministic generator for benchmark tokens.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 32) % n as u64) as u32
    }
}

/// Parses `4-7`, `4,5,6,7` or `0-1,4-7` (edge-infer-base's parser; an empty list is
/// refused here, since a bench needs at least one core).
pub fn parse_cpu_list(spec: &str) -> anyhow::Result<Vec<usize>> {
    let cpus = edge_infer_base::cpu::parse_cpu_list(spec)?;
    anyhow::ensure!(!cpus.is_empty(), "empty CPU list `{spec}`");
    Ok(cpus)
}

/// Pins the calling thread, and the OpenMP workers it will start, to `cpus`.
///
/// llama.cpp's OpenMP team inherits the affinity of the thread that opens the first
/// parallel region, so pinning before the first decode pins the whole computation.
pub fn pin_to(cpus: &[usize]) -> anyhow::Result<()> {
    Ok(edge_infer_base::cpu::pin_current_thread(cpus)?)
}

/// Peak resident set size of this process (VmHWM), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("CPU part"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// Read bandwidth in bytes/s: `threads` threads each summing its share of a `bytes`
/// buffer, best of `rounds`.
pub fn read_bandwidth(threads: usize, bytes: usize, rounds: usize) -> f64 {
    let words = bytes / 8;
    let buf: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads.max(1));
    let mut best = 0f64;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = buf
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        // Four independent accumulators keep the loop memory-bound.
                        let mut acc = [0u64; 4];
                        for q in part.chunks_exact(4) {
                            for i in 0..4 {
                                acc[i] = acc[i].wrapping_add(q[i]);
                            }
                        }
                        acc.iter().fold(0u64, |a, b| a.wrapping_add(*b))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add)
        });
        std::hint::black_box(sum);
        best = best.max((words * 8) as f64 / t0.elapsed().as_secs_f64());
    }
    best
}
