//! How the server serves: address, limits, queues, timeouts, memory ceilings, security.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The server's settings. [`ServerConfig::default`] is what the binary runs without flags:
/// `127.0.0.1:8080`, no API key, CORS off, 2 MiB bodies, 8 queued requests per model,
/// 10 minutes per request, lazy loading, no idle unload, no memory ceiling.
///
/// ```
/// use std::time::Duration;
/// use edge_infer_server::ServerConfig;
/// let c = ServerConfig::default()
///     .queue_size(2)
///     .request_timeout(Duration::from_secs(30))
///     .memory_limit(edge_infer_server::parse_size("6GiB").unwrap());
/// assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Requests must carry `Authorization: Bearer <key>` (compared in constant time).
    pub api_key: Option<String>,
    /// Origins allowed by CORS (`*` for any); empty: CORS off (browsers then allow only
    /// the workbench page served by this server).
    pub cors_origins: Vec<String>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Requests that may wait per model (besides the one running); more get 429.
    pub queue_size: usize,
    /// The longest a request may take, queueing included; it is then cancelled (504).
    pub request_timeout: Duration,
    /// Unload a model after this long without requests (`None`: keep it).
    pub idle_unload: Option<Duration>,
    /// Load every model of every profile at start instead of on first use.
    pub eager: bool,
    /// The server's memory ceiling: the estimated bytes of all loaded models.
    pub memory_limit: Option<u64>,
    /// Per-model ceilings (bytes), by model name.
    pub model_memory_limits: BTreeMap<String, u64>,
    /// Per-profile latency budgets: when the first model's expected wait is longer, the
    /// request goes to the profile's next loaded model.
    pub latency_budgets: BTreeMap<String, Duration>,
    /// `max_tokens` when a request gives none.
    pub default_max_tokens: usize,
    /// The largest `max_tokens` a request may ask for.
    pub max_tokens_cap: usize,
    /// On shutdown, running requests get this long to finish before they are cancelled.
    pub shutdown_grace: Duration,
    /// `Retry-After` of a 429.
    pub retry_after: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_key: None,
            cors_origins: Vec::new(),
            body_limit: 2 << 20,
            queue_size: 8,
            request_timeout: Duration::from_secs(600),
            idle_unload: None,
            eager: false,
            memory_limit: None,
            model_memory_limits: BTreeMap::new(),
            latency_budgets: BTreeMap::new(),
            default_max_tokens: 512,
            max_tokens_cap: 8192,
            shutdown_grace: Duration::from_secs(10),
            retry_after: Duration::from_secs(1),
        }
    }
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty; )*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = v.into();
            self
        }
    )*};
}

impl ServerConfig {
    setters! {
        /// Where to listen.
        addr: SocketAddr;
        /// Requests per model that may wait.
        queue_size: usize;
        /// The longest a request may take.
        request_timeout: Duration;
        /// Load every model at start.
        eager: bool;
        /// Largest request body in bytes.
        body_limit: usize;
        /// The largest `max_tokens` a request may ask for.
        max_tokens_cap: usize;
        /// `max_tokens` when a request gives none.
        default_max_tokens: usize;
        /// How long running requests may go on after a shutdown signal.
        shutdown_grace: Duration;
    }

    /// Require this API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into()).filter(|k: &String| !k.is_empty());
        self
    }
    /// Allow a CORS origin (`*` for any).
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }
    /// Unload idle models after `d`.
    pub fn idle_unload(mut self, d: Duration) -> Self {
        self.idle_unload = Some(d);
        self
    }
    /// The server's memory ceiling in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }
    /// A model's own memory ceiling in bytes.
    pub fn model_memory_limit(mut self, model: impl Into<String>, bytes: u64) -> Self {
        self.model_memory_limits.insert(model.into(), bytes);
        self
    }
    /// A profile's latency budget.
    pub fn latency_budget(mut self, profile: impl Into<String>, d: Duration) -> Self {
        self.latency_budgets.insert(profile.into(), d);
        self
    }
}

/// Parses a byte size: `1048576`, `512MiB`, `6GiB`, `2G`, `300MB` (K/M/G are powers of
/// 1024 with or without `i`/`B`, as on a board's `free -h`).
///
/// ```
/// assert_eq!(edge_infer_server::parse_size("2GiB"), Ok(2 << 30));
/// assert_eq!(edge_infer_server::parse_size("512M"), Ok(512 << 20));
/// assert!(edge_infer_server::parse_size("lots").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 512MiB, 6GiB, 1048576)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => {
            return Err(format!(
                "`{u}` in `{s}` is not a size unit (B, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    Ok((n * mult as f64).round() as u64)
}

/// Parses `NAME=VALUE` (for per-model and per-profile flags).
pub fn parse_pair<T>(
    s: &str,
    value: impl Fn(&str) -> Result<T, String>,
) -> Result<(String, T), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("`{s}` has no name before `=`"));
    }
    Ok((k.trim().to_string(), value(v.trim())?))
}

/// Parses a duration: `250ms`, `30s`, `5m`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 250ms, 30s, 5m)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => {
            return Err(format!(
                "`{u}` in `{s}` is not a duration unit (ms, s, m, h)"
            ))
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_durations_and_pairs() {
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("3 parsecs").unwrap_err().contains("parsecs"));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            parse_pair("fast=300ms", parse_duration),
            Ok(("fast".into(), Duration::from_millis(300)))
        );
        assert!(parse_pair("=1", parse_size).is_err());
        assert!(parse_pair("x", parse_size).is_err());
    }
}
