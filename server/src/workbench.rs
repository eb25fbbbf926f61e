//! The workbench page (`GET /`): three static files compiled into the binary, served by
//! exact name (no request path ever reaches the filesystem), and `GET /v1/runtime`, the
//! data of its runtime panel.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::routes::App;
use crate::slot::State as SlotState;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { page("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { page("text/css; charset=utf-8", STYLE) }),
        )
}

fn page(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            // The page loads nothing from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:",
            ),
        ],
        body,
    )
}

/// Per model: backend, threads and cores, n_ctx, K/V types, flash attention, the memory
/// estimate and state; the server's ceiling and this process's resident memory.
pub(crate) async fn runtime(State(app): State<Arc<App>>) -> Json<Value> {
    let pool = &app.pool;
    let slots: Vec<_> = pool.slots.values().cloned().collect();
    let registry = pool.registry.clone();
    // Estimates read model metadata (llama.cpp's dry run): off the async threads.
    let models = tokio::task::spawn_blocking(move || {
        slots
            .iter()
            .map(|slot| {
                let settings = registry.runtime_settings(&slot.name).ok();
                let state = slot.state();
                let mut m = json!({
                    "name": slot.name,
                    "state": state.name(),
                    "queued": slot.queued(),
                    "expected_wait_ms": slot.expected_wait().as_millis() as u64,
                });
                if let Some(s) = settings {
                    m["backend"] = json!(s.backend.to_string());
                    m["n_ctx"] = json!(s.n_ctx);
                    m["threads"] = json!(s.threads);
                    m["cores"] = json!(s.cores);
                    m["cache_type_k"] = json!(s.cache_type_k);
                    m["cache_type_v"] = json!(s.cache_type_v);
                    m["cache_layers"] = json!(s.cache_layers);
                    m["flash_attention"] = json!(s.flash_attention);
                    m["swa_full"] = json!(s.swa_full);
                    m["cpu_mask"] = json!(s.cpu_mask.map(|m| format!("{m:#x}")));
                }
                match slot.estimate() {
                    Ok(e) => {
                        m["memory"] = json!({
                            "weights_bytes": e.weights_bytes,
                            "kv_bytes": e.kv_bytes,
                            "compute_bytes": e.compute_bytes,
                            "total_bytes": e.total_bytes(),
                            "source": format!("{:?}", e.source),
                        })
                    }
                    Err(e) => m["memory_error"] = json!(e),
                }
                match state {
                    SlotState::Loaded(info) => m["loaded"] = json!(info.description),
                    SlotState::Failed(f) => m["error"] = json!(f.message),
                    _ => {}
                }
                m
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Json(json!({
        "models": models,
        "memory_limit_bytes": pool.ledger.limit(),
        "memory_reserved_bytes": pool.ledger.held(),
        "process_rss_bytes": crate::memory::rss_bytes(),
        "llama_cpp": {"build": edge_infer_llama::build_profile(), "system_info": edge_infer_llama::system_info()},
    }))
}
