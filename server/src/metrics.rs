//! Prometheus metrics through the `metrics` facade (see the README for why this pair of
//! crates). One recorder per process: servers started in one process (tests) share it.

use std::sync::OnceLock;
use std::time::Duration;

use edge_infer::{MemoryEstimate, Stats};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once) and returns the handle that renders `/metrics`.
pub(crate) fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("edge_infer_ttft_seconds".into()),
                    &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("edge_infer_decode_tokens_per_second".into()),
                        &[
                            1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 200.0,
                        ],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("edge_infer_queue_wait_seconds".into()),
                        &[0.001, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
                    )
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (an embedding app's): then ours
            // only renders what it was given, which is nothing; say so once.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder is already installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "edge_infer_requests_total",
        "Requests by model (the one that served, else the one asked for), endpoint and HTTP status"
    );
    describe_counter!(
        "edge_infer_prompt_tokens_total",
        Unit::Count,
        "Prompt tokens evaluated"
    );
    describe_counter!(
        "edge_infer_cached_tokens_total",
        Unit::Count,
        "Prompt tokens reused from the KV cache (prefix reuse)"
    );
    describe_counter!(
        "edge_infer_generated_tokens_total",
        Unit::Count,
        "Tokens generated"
    );
    describe_histogram!(
        "edge_infer_ttft_seconds",
        Unit::Seconds,
        "Time to first token (the backend's, after queueing)"
    );
    describe_histogram!(
        "edge_infer_decode_tokens_per_second",
        "Decode rate per request"
    );
    describe_histogram!(
        "edge_infer_queue_wait_seconds",
        Unit::Seconds,
        "Time a request waited in its model's queue"
    );
    describe_gauge!(
        "edge_infer_queue_depth",
        Unit::Count,
        "Requests waiting per model"
    );
    describe_counter!(
        "edge_infer_fallbacks_total",
        "Requests a profile sent past its first model, by reason"
    );
    describe_gauge!(
        "edge_infer_kv_bytes",
        Unit::Bytes,
        "KV cache of each loaded model (llama.cpp's accounting)"
    );
    describe_gauge!(
        "edge_infer_model_memory_bytes",
        Unit::Bytes,
        "Estimated memory of each loaded model (weights + KV + compute)"
    );
    describe_gauge!(
        "edge_infer_memory_reserved_bytes",
        Unit::Bytes,
        "Estimated memory of all loaded models, against --memory-limit"
    );
    describe_gauge!("edge_infer_model_loaded", "1 while a model is loaded");
    describe_counter!("edge_infer_model_loads_total", "Model loads by outcome");
    describe_counter!(
        "edge_infer_cancelled_total",
        "Generations cancelled because the client went away or timed out"
    );
}

pub(crate) fn request(model: &str, endpoint: &'static str, status: u16) {
    counter!("edge_infer_requests_total", "model" => model.to_string(), "endpoint" => endpoint, "status" => status.to_string()).increment(1);
}

pub(crate) fn generation(model: &str, stats: &Stats, waited: Duration) {
    let m = model.to_string();
    counter!("edge_infer_prompt_tokens_total", "model" => m.clone())
        .increment(stats.prompt_tokens as u64);
    counter!("edge_infer_cached_tokens_total", "model" => m.clone())
        .increment(stats.cached_tokens as u64);
    counter!("edge_infer_generated_tokens_total", "model" => m.clone())
        .increment(stats.generated_tokens as u64);
    if stats.generated_tokens > 0 {
        histogram!("edge_infer_ttft_seconds", "model" => m.clone())
            .record(stats.time_to_first_token.as_secs_f64());
    }
    if stats.generated_tokens > 1 {
        histogram!("edge_infer_decode_tokens_per_second", "model" => m.clone())
            .record(stats.decode_tokens_per_second());
    }
    histogram!("edge_infer_queue_wait_seconds", "model" => m).record(waited.as_secs_f64());
}

pub(crate) fn cancelled(model: &str, why: &'static str) {
    counter!("edge_infer_cancelled_total", "model" => model.to_string(), "reason" => why)
        .increment(1);
}

pub(crate) fn queue_depth(model: &str, n: usize) {
    gauge!("edge_infer_queue_depth", "model" => model.to_string()).set(n as f64);
}

pub(crate) fn fallback(profile: &str, from: &str, to: &str, reason: &'static str) {
    counter!("edge_infer_fallbacks_total", "profile" => profile.to_string(), "from" => from.to_string(), "to" => to.to_string(), "reason" => reason).increment(1);
}

pub(crate) fn model_memory(model: &str, est: &MemoryEstimate) {
    gauge!("edge_infer_kv_bytes", "model" => model.to_string()).set(est.kv_bytes as f64);
    gauge!("edge_infer_model_memory_bytes", "model" => model.to_string())
        .set(est.total_bytes() as f64);
}

pub(crate) fn memory_reserved(bytes: u64) {
    gauge!("edge_infer_memory_reserved_bytes").set(bytes as f64);
}

pub(crate) fn model_load(model: &str, ok: bool, took: Duration) {
    counter!("edge_infer_model_loads_total", "model" => model.to_string(), "result" => if ok { "ok" } else { "failed" }).increment(1);
    if ok {
        gauge!("edge_infer_model_loaded", "model" => model.to_string()).set(1.0);
    }
    tracing::debug!(model, ok, secs = took.as_secs_f64(), "model load");
}

pub(crate) fn model_unloaded(model: &str) {
    gauge!("edge_infer_model_loaded", "model" => model.to_string()).set(0.0);
    gauge!("edge_infer_kv_bytes", "model" => model.to_string()).set(0.0);
    gauge!("edge_infer_model_memory_bytes", "model" => model.to_string()).set(0.0);
}
