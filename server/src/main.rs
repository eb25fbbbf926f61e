//! `edge-infer-server`: serves a model registry over OpenAI's HTTP API.
//!
//! ```text
//! cargo run --release -p edge-infer-server -- --config edge-infer.toml
//! ```
//! Without `--config` it serves the built-in registry (the default model). See `--help`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use edge_infer_server::cli::{duration, pair};
use edge_infer_server::{parse_size, Server, ServerConfig};

/// An OpenAI-compatible server over an edge-infer model registry (CPU and NPU models).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The model registry (TOML, see examples/edge-infer.toml). Default: the built-in one.
    #[arg(long, short = 'c')]
    config: Option<std::path::PathBuf>,
    /// Address to listen on. Anything but loopback exposes the server to the network:
    /// set an API key then.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer <KEY>` on the API.
    #[arg(long, env = "EDGE_INFER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Allow cross-origin requests from this origin (repeatable; `*` for any). Default: off.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Largest request body (e.g. 2MiB).
    #[arg(long, default_value = "2MiB", value_parser = parse_size)]
    body_limit: u64,
    /// Requests that may wait per model besides the running one; more get 429.
    #[arg(long, default_value_t = 8)]
    queue_size: usize,
    /// Longest a request may take, queueing included (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", value_parser = duration)]
    request_timeout: Duration,
    /// Load every model of every profile at start (default: on first use).
    #[arg(long)]
    eager: bool,
    /// Unload a model after this long without requests (e.g. 15m). Default: never.
    #[arg(long, value_parser = duration)]
    idle_unload: Option<Duration>,
    /// The server's memory ceiling over all loaded models (e.g. 6GiB), estimated before
    /// each load from llama.cpp's accounting (RKLLM: the model file's size).
    #[arg(long, value_parser = parse_size)]
    memory_limit: Option<u64>,
    /// A model's own ceiling, NAME=SIZE (repeatable).
    #[arg(long = "model-memory-limit", value_parser = size_pair)]
    model_memory_limits: Vec<(String, u64)>,
    /// A profile's latency budget, PROFILE=DURATION (repeatable): a request that would
    /// wait longer for the first model goes to the profile's next loaded model.
    #[arg(long = "latency-budget", value_parser = duration_pair)]
    latency_budgets: Vec<(String, Duration)>,
    /// `max_tokens` when a request gives none.
    #[arg(long, default_value_t = 512)]
    default_max_tokens: usize,
    /// Largest `max_tokens` a request may ask for.
    #[arg(long, default_value_t = 8192)]
    max_tokens_cap: usize,
    /// On SIGTERM/Ctrl-C, how long running requests may go on before they are cancelled.
    #[arg(long, default_value = "10s", value_parser = duration)]
    shutdown_grace: Duration,
}

fn size_pair(s: &str) -> Result<(String, u64), String> {
    pair(s, parse_size)
}
fn duration_pair(s: &str) -> Result<(String, Duration), String> {
    pair(s, duration)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,llama.cpp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let registry = match &args.config {
        Some(p) => match edge_infer::Registry::load(p) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => edge_infer::Registry::builtin(),
    };
    let mut config = ServerConfig::default()
        .addr(SocketAddr::new(args.host, args.port))
        .body_limit(args.body_limit as usize)
        .queue_size(args.queue_size)
        .request_timeout(args.request_timeout)
        .eager(args.eager)
        .default_max_tokens(args.default_max_tokens)
        .max_tokens_cap(args.max_tokens_cap)
        .shutdown_grace(args.shutdown_grace);
    if let Some(k) = args.api_key {
        config = config.api_key(k);
    }
    for o in args.cors_origins {
        config = config.cors_origin(o);
    }
    if let Some(d) = args.idle_unload {
        config = config.idle_unload(d);
    }
    if let Some(l) = args.memory_limit {
        config = config.memory_limit(l);
    }
    for (m, l) in args.model_memory_limits {
        if registry.model(&m).is_none() {
            eprintln!("error: --model-memory-limit names `{m}`, which is not a model of the registry ({})", registry.models().join(", "));
            return ExitCode::from(2);
        }
        config = config.model_memory_limit(m, l);
    }
    for (p, d) in args.latency_budgets {
        if registry.profile(&p).is_err() {
            eprintln!(
                "error: --latency-budget names `{p}`, which is not a profile of the registry ({})",
                registry.profiles().join(", ")
            );
            return ExitCode::from(2);
        }
        config = config.latency_budget(p, d);
    }
    if !config.addr.ip().is_loopback() && config.api_key.is_none() {
        tracing::warn!(
            "listening on {} without an API key: anyone on the network can use the models",
            config.addr
        );
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let server = Server::bind(registry, config).await?;
        // Tests and scripts read this line to find the port.
        println!(
            "edge-infer-server listening on http://{}",
            server.local_addr()
        );
        server.run(edge_infer_server::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
