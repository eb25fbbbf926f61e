//! Soak: the real binary serves 200 sequential chat requests; its resident memory stays
//! flat (within 5% after warm-up), and its open files and threads do not grow. Then
//! SIGTERM stops it with exit status 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rkllm_test_double::TempDir;
use serde_json::json;

use crate::common::{http, llama_entry};

/// (resident KiB, open fds, threads) of a process.
fn usage(pid: u32) -> (u64, usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (field("VmRSS:"), fds, field("Threads:") as usize)
}

#[tokio::test]
async fn two_hundred_requests_keep_memory_files_and_threads_flat() {
    crate::common::default_model();
    let dir = TempDir::new("server-soak").unwrap();
    let config = dir.path().join("edge-infer.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles]\ndefault = [\"soak\"]\n\n{}",
            llama_entry("soak", 512)
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-infer-server"))
        .args(["--port", "0", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("edge-infer-server listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let client = http();
    let mut samples = Vec::new();
    for i in 0..200 {
        let body = json!({"model": "default", "max_tokens": 4, "seed": i,
            "messages": [{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": format!("Request {i}: say something.")}]});
        let res = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        let v: serde_json::Value = res.json().await.unwrap();
        assert!(v["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
        if i == 19 || i % 45 == 44 || i == 199 {
            samples.push((i + 1, usage(pid)));
        }
    }
    let (_, (rss0, fds0, threads0)) = samples[0];
    eprintln!("soak (requests, (RSS KiB, fds, threads)): {samples:?}");
    for &(n, (rss, fds, threads)) in &samples[1..] {
        let growth = (rss as f64 - rss0 as f64) / rss0 as f64;
        assert!(
            growth < 0.05,
            "RSS grew {:.1}% from {rss0} KiB after warm-up to {rss} KiB at {n} requests",
            growth * 100.0
        );
        assert!(
            fds <= fds0,
            "open files grew from {fds0} to {fds} at {n} requests"
        );
        assert!(
            threads <= threads0,
            "threads grew from {threads0} to {threads} at {n} requests"
        );
    }
    // SAFETY: kill(2) on our own child's pid, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM ends it cleanly: {status:?}");
}
