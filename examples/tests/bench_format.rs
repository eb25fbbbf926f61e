//! The runner's output is parsed here, so its llama-bench-compatible format cannot rot.

use std::process::Command;

use edge_infer_examples::bench::{parse_markdown, BenchRecord, COLUMNS};

/// qemu-user cannot exec the aarch64 runner binary from inside an emulated test (no
/// binfmt handler), so the two tests that spawn it are skipped there.
fn emulated() -> bool {
    cfg!(target_arch = "aarch64")
        && std::fs::read_to_string("/proc/cpuinfo")
            .map(|s| s.contains("GenuineIntel") || s.contains("AuthenticAMD"))
            .unwrap_or(false)
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edge-bench"))
        .args([
            "-p",
            "8",
            "-n",
            "4",
            "-r",
            "2",
            "-t",
            "2",
            "-b",
            "64",
            "--ubatch-size",
            "64",
        ])
        .args(args)
        .output()
        .expect("run edge-bench");
    assert!(
        out.status.success(),
        "edge-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn markdown_table_has_llama_bench_columns_and_rows() {
    if emulated() {
        eprintln!("skipped under qemu-user: cannot spawn the aarch64 runner");
        return;
    }
    let out = run(&["--ctk", "f16,q8_0", "-o", "md"]);
    let header = out.lines().next().unwrap();
    let cols: Vec<&str> = header.trim_matches('|').split('|').map(str::trim).collect();
    assert_eq!(cols, COLUMNS);
    let rows = parse_markdown(&out).unwrap();
    let tests: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.test.as_str(), r.type_k.as_str()))
        .collect();
    assert_eq!(
        tests,
        [
            ("pp8", "f16"),
            ("tg4", "f16"),
            ("pp8", "q8_0"),
            ("tg4", "q8_0")
        ]
    );
    for r in &rows {
        assert_eq!(r.threads, 2);
        assert!(r.avg_ts > 0.0 && r.stddev_ts >= 0.0, "{r:?}");
    }
}

#[test]
fn json_has_llama_bench_fields_and_consistent_numbers() {
    if emulated() {
        eprintln!("skipped under qemu-user: cannot spawn the aarch64 runner");
        return;
    }
    // llama-bench's own spelling of the K/V flags must work too.
    let out = run(&[
        "-d", "0,16", "-ctk", "f16", "-ctv", "f16", "-fa", "1", "-o", "json",
    ]);
    let recs: Vec<BenchRecord> = serde_json::from_str(&out).unwrap();
    assert_eq!(recs.len(), 4);
    let names: Vec<String> = recs.iter().map(|r| r.test_name()).collect();
    assert_eq!(names, ["pp8", "tg4", "pp8 @ d16", "tg4 @ d16"]);
    for r in &recs {
        assert_eq!(r.samples_ns.len(), 2);
        let n = (r.n_prompt + r.n_gen) as f64;
        let mean_ts = r
            .samples_ns
            .iter()
            .map(|&ns| n * 1e9 / ns as f64)
            .sum::<f64>()
            / 2.0;
        assert!((mean_ts - r.avg_ts).abs() / r.avg_ts < 1e-9);
        assert!(r.model_n_params > 0 && r.model_size > 0 && r.kv_bytes > 0);
        assert!(
            r.peak_rss_bytes > r.model_size / 2,
            "peak RSS {} looks wrong",
            r.peak_rss_bytes
        );
        assert_eq!((r.type_k.as_str(), r.type_v.as_str()), ("f16", "f16"));
        assert_eq!(r.flash_attn, 1);
        // RFC 3339 in UTC, as llama-bench writes it: 2026-11-21T18:37:46Z.
        let t = r.test_time.as_bytes();
        assert!(
            t.len() == 20 && t[4] == b'-' && t[10] == b'T' && t[19] == b'Z',
            "test_time {:?}",
            r.test_time
        );
    }
    // The raw JSON uses llama-bench's own field names.
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "model_type",
        "model_size",
        "model_n_params",
        "n_threads",
        "n_prompt",
        "n_gen",
        "n_depth",
        "avg_ts",
        "stddev_ts",
    ] {
        assert!(v[0].get(key).is_some(), "missing {key}");
    }
}

#[test]
fn cpu_lists_parse() {
    use edge_infer_examples::bench::parse_cpu_list;
    assert_eq!(parse_cpu_list("4-7").unwrap(), [4, 5, 6, 7]);
    assert_eq!(parse_cpu_list("0,2-3").unwrap(), [0, 2, 3]);
    assert!(parse_cpu_list("7-4").is_err());
    assert!(parse_cpu_list("").is_err());
}
