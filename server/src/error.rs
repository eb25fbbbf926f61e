//! The server's one error type, and its OpenAI-shaped HTTP form:
//! `{"error": {"message", "type", "param", "code"}}` with the matching status.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edge_infer::{Error as CoreError, ModelError};
use serde_json::json;

/// Everything a request can fail with. Messages say what was wrong and, where there is one,
/// what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed or asks for something impossible (400).
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The request field concerned (`messages[0].content`, ...).
        param: Option<String>,
        /// A machine-readable code (`context_length_exceeded`, ...).
        code: Option<&'static str>,
    },
    /// No or a wrong API key (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No model or profile has this name (404).
    #[error("{0}")]
    ModelNotFound(String),
    /// No such route (404).
    #[error(
        "no route for {0}; see GET /v1/models, POST /v1/chat/completions, POST /v1/completions"
    )]
    NotFound(String),
    /// The route exists, not with this method (405).
    #[error("{0} is not allowed here; the API takes POST for completions and GET for the rest")]
    MethodNotAllowed(String),
    /// The body is over the size limit (413).
    #[error(
        "the request body is larger than the server's limit of {limit} bytes (see --body-limit)"
    )]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The model's queue is full (429, with `Retry-After`).
    #[error("model `{model}` is busy: {queued} requests are queued, the limit (--queue-size); retry after {}s", retry_after.as_secs().max(1))]
    QueueFull {
        /// The model.
        model: String,
        /// Requests waiting.
        queued: usize,
        /// When to retry.
        retry_after: Duration,
    },
    /// A model would not fit the memory ceiling (503).
    #[error("{0}")]
    InsufficientMemory(String),
    /// No model can serve the request (503, with `Retry-After`).
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
        /// A machine-readable code.
        code: &'static str,
    },
    /// The request took longer than the per-request timeout (504).
    #[error("the request took longer than the server's timeout of {}s (see --request-timeout) and was cancelled", .0.as_secs_f64())]
    Timeout(Duration),
    /// The server is shutting down (503).
    #[error("the server is shutting down; retry on another instance or after it restarts")]
    ShuttingDown,
    /// Something failed inside (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming a field.
    pub fn bad(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            param: Some(param.into()),
            code: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::ModelNotFound(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InsufficientMemory(_)
            | ApiError::Unavailable { .. }
            | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::MethodNotAllowed(_) => "invalid_request_error",
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::ModelNotFound(_) | ApiError::NotFound(_) => "not_found_error",
            ApiError::QueueFull { .. } => "rate_limit_error",
            ApiError::InsufficientMemory(_)
            | ApiError::Unavailable { .. }
            | ApiError::ShuttingDown => "unavailable_error",
            ApiError::Timeout(_) => "timeout_error",
            ApiError::Internal(_) => "server_error",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::BadRequest { code, .. } => *code,
            ApiError::Unauthorized(_) => Some("invalid_api_key"),
            ApiError::ModelNotFound(_) => Some("model_not_found"),
            ApiError::PayloadTooLarge { .. } => Some("body_too_large"),
            ApiError::QueueFull { .. } => Some("queue_full"),
            ApiError::InsufficientMemory(_) => Some("insufficient_memory"),
            ApiError::Unavailable { code, .. } => Some(code),
            ApiError::Timeout(_) => Some("timeout"),
            ApiError::ShuttingDown => Some("shutting_down"),
            ApiError::NotFound(_) | ApiError::MethodNotAllowed(_) | ApiError::Internal(_) => None,
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { param, .. } => param.as_deref(),
            ApiError::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::QueueFull { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable { .. } | ApiError::InsufficientMemory(_) => {
                Some(Duration::from_secs(5))
            }
            _ => None,
        }
    }

    /// The OpenAI-shaped body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.to_string(),
            "type": self.kind(),
            "param": self.param(),
            "code": self.code(),
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), axum::Json(self.body())).into_response();
        if let Some(after) = self.retry_after() {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::UnknownModel { .. } | CoreError::UnknownProfile { .. } => {
                ApiError::ModelNotFound(message)
            }
            CoreError::ContextFull { .. } => ApiError::BadRequest {
                message,
                param: Some("messages".into()),
                code: Some("context_length_exceeded"),
            },
            CoreError::InvalidTools(_) => ApiError::BadRequest {
                message,
                param: Some("tools".into()),
                code: None,
            },
            CoreError::InvalidRequest(_) => ApiError::BadRequest {
                message,
                param: None,
                code: None,
            },
            CoreError::Model { cause, .. } => match *cause {
                ModelError::Unsupported(_) => ApiError::BadRequest {
                    message,
                    param: None,
                    code: Some("unsupported_feature"),
                },
                ModelError::Llama(l) if is_bad_input(&l) => ApiError::BadRequest {
                    message,
                    param: None,
                    code: None,
                },
                ModelError::FileMissing(_)
                | ModelError::DefaultModel(_)
                | ModelError::NpuRuntimeUnavailable(_) => ApiError::Unavailable {
                    message,
                    code: "model_unavailable",
                },
                _ => ApiError::Internal(message),
            },
            CoreError::AllModelsFailed { .. } | CoreError::EmptyProfile { .. } => {
                ApiError::Unavailable {
                    message,
                    code: "model_unavailable",
                }
            }
            _ => ApiError::Internal(message),
        }
    }
}

/// llama.cpp errors that the request caused (its template, tools, schema or prompt), as
/// opposed to the model or the machine.
fn is_bad_input(e: &edge_infer_llama::Error) -> bool {
    use edge_infer_llama::Error as L;
    matches!(
        e,
        L::PromptTooLong { .. }
            | L::EmptyPrompt
            | L::InteriorNul { .. }
            | L::TemplateRender(_)
            | L::InvalidTools(_)
            | L::InvalidMessages(_)
            | L::UnknownToolCallId { .. }
            | L::UnknownTool { .. }
            | L::Schema(_)
            | L::ReasoningUnsupported { .. }
    )
}
