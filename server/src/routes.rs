//! The router: endpoints, the API key check, CORS, the body limit, request ids and logs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::pool::Pool;
use crate::slot::State as SlotState;

/// What every handler shares.
pub(crate) struct App {
    pub pool: Pool,
    pub config: ServerConfig,
    pub metrics: PrometheusHandle,
    /// SHA-256 of the API key: compared in constant time whatever the lengths.
    pub key_digest: Option<[u8; 32]>,
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: `req-<process start, hex>-<counter>`, unique per server run, or the
/// client's own `x-request-id`.
#[derive(Clone, Default)]
struct Ids(Arc<AtomicU64>);

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:x}-{n}", *START))
            .ok()
            .map(RequestId::new)
    }
}

static START: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
});

/// The request's id (set by the request-id layer).
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or("unknown")
        .to_string()
}

pub(crate) fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(crate::completion::chat))
        .route("/v1/completions", post(crate::completion::text))
        .route("/v1/models", get(models))
        .route("/v1/runtime", get(crate::workbench::runtime))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), auth));
    let mut router = Router::new()
        .merge(api)
        .route("/health", get(health))
        .merge(crate::workbench::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(DefaultBodyLimit::max(app.config.body_limit));
    if !app.config.cors_origins.is_empty() {
        let origins = &app.config.cors_origins;
        let allow = if origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        router = router.layer(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(&X_REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), Ids::default()))
        .with_state(app)
}

async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(want) = &app.key_digest else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = given else {
        return ApiError::Unauthorized(
            "this server requires an API key: send `Authorization: Bearer <key>`",
        )
        .into_response();
    };
    let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    if bool::from(digest.ct_eq(want)) {
        next.run(req).await
    } else {
        ApiError::Unauthorized("the API key is not valid").into_response()
    }
}

async fn not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} {}",
        uri.path().chars().take(200).collect::<String>()
    ))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().chars().take(200).collect())
}

/// 503 `{"status": "loading model"}` while a model loads, else 200 `{"status": "ok"}`,
/// as llama-server answers.
async fn health(State(app): State<Arc<App>>) -> Response {
    if app.pool.loading() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "loading model"})),
        )
            .into_response()
    } else {
        Json(json!({"status": "ok"})).into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// Profiles, then models, each with what it is and its state.
async fn models(State(app): State<Arc<App>>) -> Json<Value> {
    let reg = &app.pool.registry;
    let mut data = Vec::new();
    for p in reg.profiles() {
        let members = reg.profile(p).map(|m| m.to_vec()).unwrap_or_default();
        let serving = members
            .iter()
            .find(|m| app.pool.slots[m.as_str()].is_loaded())
            .cloned();
        data.push(json!({
            "id": p, "object": "model", "created": 0, "owned_by": "edge-infer",
            "kind": "profile", "models": members, "serving": serving,
            "default": reg.default_profile() == Some(p),
        }));
    }
    for (name, slot) in &app.pool.slots {
        let cfg = reg.model(name).expect("a registry model");
        let state = slot.state();
        let mut entry = json!({
            "id": name, "object": "model", "created": 0, "owned_by": "edge-infer",
            "kind": "model",
            "backend": match slot.backend { edge_infer::BackendKind::Llama => "llama", edge_infer::BackendKind::Rkllm => "rkllm" },
            "state": state.name(),
            "n_ctx": cfg.context_len(),
            "description": cfg.description(),
            "queued": slot.queued(),
        });
        match state {
            SlotState::Loaded(info) => entry["loaded"] = json!(info.description),
            SlotState::Failed(f) => entry["error"] = json!(f.message),
            _ => {}
        }
        data.push(entry);
    }
    Json(json!({"object": "list", "data": data}))
}
