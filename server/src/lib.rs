//! An OpenAI-compatible HTTP server over an edge-infer [`Registry`]: llama.cpp models on
//! the CPU and RKLLM models on the NPU behind one set of endpoints, with a workbench page.
//!
//! * `POST /v1/chat/completions` (streaming or not; tools, `tool_choice`,
//!   `response_format`, `reasoning_content`, `usage` with cached tokens, llama-server's
//!   `timings`), `POST /v1/completions`, `GET /v1/models`, `GET /health`, `GET /metrics`
//!   (Prometheus), `GET /v1/runtime` and the workbench page at `/`.
//! * One generator per model, each on its own thread with a bounded queue; a request names
//!   a profile (routed with fallback, and past a busy first model to a loaded next one) or
//!   a model. Models load lazily or at start, unload when idle, and must fit a memory
//!   ceiling estimated from llama.cpp's own accounting before they load.
//! * A client that goes away cancels its generation; every request has a timeout; errors
//!   come in OpenAI's shape.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use edge_infer_server::{Server, ServerConfig};
//! let server = Server::bind(edge_infer::Registry::builtin(), ServerConfig::default()).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(edge_infer_server::shutdown_signal()).await
//! # }
//! ```
#![warn(missing_docs)]

mod completion;
mod config;
mod convert;
mod error;
mod memory;
mod metrics;
mod openai;
mod pool;
mod routes;
mod slot;
mod workbench;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use edge_infer::Registry;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub use config::{parse_size, ServerConfig};
pub use error::ApiError;

/// Flag parsers the binary shares.
#[doc(hidden)]
pub mod cli {
    pub use crate::config::{parse_duration as duration, parse_pair as pair};
}

/// A bound server: [`Server::bind`], then [`Server::run`].
pub struct Server {
    app: Arc<routes::App>,
    listener: TcpListener,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.addr` (port 0 picks a free port) over `registry`.
    pub async fn bind(registry: Registry, config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.addr).await?;
        let key_digest = config
            .api_key
            .as_ref()
            .map(|k| Sha256::digest(k.trim().as_bytes()).into());
        let app = Arc::new(routes::App {
            pool: pool::Pool::new(registry, &config),
            metrics: metrics::handle(),
            key_digest,
            config,
        });
        Ok(Server { app, listener })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting, lets running requests
    /// finish for the grace period (`ServerConfig::shutdown_grace`), cancels what is left,
    /// frees every model and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.app.clone();
        if app.config.eager {
            let app = app.clone();
            tokio::spawn(async move { app.pool.load_all().await });
        }
        let on_signal = {
            let app = app.clone();
            async move {
                shutdown.await;
                let grace = app.config.shutdown_grace;
                tracing::info!(
                    grace_secs = grace.as_secs_f64(),
                    "shutting down: no new requests; running ones may finish"
                );
                app.pool.begin_shutdown();
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    tracing::info!("grace period over: cancelling running requests");
                    app.pool.cancel_all();
                });
            }
        };
        axum::serve(self.listener, routes::router(app.clone()))
            .with_graceful_shutdown(on_signal)
            .await?;
        tokio::task::spawn_blocking(move || app.pool.join())
            .await
            .map_err(std::io::Error::other)?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
