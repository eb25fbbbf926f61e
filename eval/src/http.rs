//! An OpenAI-compatible endpoint as a target: `POST /v1/chat/completions`, streamed
//! (server-sent events) so the time to the first token is measured, with `tool_calls`
//! read from the response. llama-server, Ollama and edge-infer's own server answer it.
//!
//! The per-test timeout is the request's overall timeout: when it runs out the
//! connection is dropped, which a server takes as a cancel.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::answer::{Answer, Attempt, Outcome, ToolCall};
use crate::error::{Error, Result};
use crate::memory;
use crate::suite;
use crate::target::{Prompt, Settings, Target, TargetInfo, TargetKind};

/// Options of an endpoint target beyond its URL and model.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Sent as `Authorization: Bearer ...`.
    pub api_key: Option<String>,
    /// The backend column of the tables (default `HTTP`).
    pub backend_label: Option<String>,
    /// The size column of the tables (e.g. `1.5B Q4_K_M`).
    pub size_label: Option<String>,
    /// The server's process id, to report its peak RSS (same machine only).
    pub server_pid: Option<u32>,
}

/// A model behind an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct HttpTarget {
    info: TargetInfo,
    url: String,
    model: String,
    agent: ureq::Agent,
    options: HttpOptions,
}

/// The chat-completions URL for what a user gives: a server root
/// (`http://host:8081`), its `/v1` base (Ollama's usual form), or the full URL.
pub fn chat_url(endpoint: &str) -> Result<String> {
    let bad = |reason: &str| Error::BadUrl {
        url: endpoint.into(),
        reason: reason.into(),
    };
    let e = endpoint.trim().trim_end_matches('/');
    let rest = if let Some(r) = e.strip_prefix("http://") {
        r
    } else if let Some(r) = e.strip_prefix("https://") {
        if !cfg!(feature = "tls") {
            return Err(bad("https needs edge-infer-eval's `tls` feature"));
        }
        r
    } else {
        return Err(bad("it must start with http://"));
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("no host"));
    }
    Ok(if e.ends_with("/chat/completions") {
        e.to_string()
    } else if e.ends_with("/v1") {
        format!("{e}/chat/completions")
    } else {
        format!("{e}/v1/chat/completions")
    })
}

impl HttpTarget {
    /// A target for `model` at `endpoint` (see [`chat_url`]).
    pub fn new(endpoint: &str, model: &str, options: HttpOptions) -> Result<HttpTarget> {
        let url = chat_url(endpoint)?;
        if let Some(pid) = options.server_pid {
            memory::reset_peak_rss(Some(pid));
        }
        let info = TargetInfo {
            name: model.to_string(),
            backend: options
                .backend_label
                .clone()
                .unwrap_or_else(|| "HTTP".into()),
            kind: TargetKind::Http,
            endpoint: Some(url.clone()),
            size_bytes: None,
            size_label: options.size_label.clone(),
            load_seconds: None,
            note: None,
        };
        Ok(HttpTarget {
            info,
            url,
            model: model.to_string(),
            agent: ureq::AgentBuilder::new().build(),
            options,
        })
    }

    fn body(&self, prompt: Prompt<'_>, settings: &Settings) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": [{"role": "user", "content": prompt.text}],
            "max_tokens": prompt.max_tokens,
            "temperature": settings.temperature,
            "seed": settings.seed,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if prompt.tools {
            body["tools"] = suite::tools_json();
            body["tool_choice"] = json!("auto");
        }
        body
    }
}

/// A tool call being assembled from streamed deltas.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    object: Option<Value>,
}

/// What the response says so far.
#[derive(Debug, Default)]
struct Collected {
    text: String,
    reasoning: String,
    calls: BTreeMap<u64, PartialCall>,
    first_token: Option<Duration>,
    last_token: Option<Duration>,
    chunks: usize,
    usage_tokens: Option<usize>,
    timings_tokens: Option<usize>,
    timings_tps: Option<f64>,
    error: Option<String>,
}

impl Collected {
    /// Folds one chunk (streamed `delta`) or a whole response (`message`) in.
    fn take(&mut self, v: &Value, at: Duration) {
        if let Some(e) = v.get("error") {
            self.error = Some(
                e.get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| e.to_string(), String::from),
            );
            return;
        }
        if let Some(n) = v
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
        {
            self.usage_tokens = Some(n as usize);
        }
        if let Some(t) = v.get("timings") {
            if let Some(n) = t.get("predicted_n").and_then(Value::as_u64) {
                self.timings_tokens = Some(n as usize);
            }
            if let Some(s) = t.get("predicted_per_second").and_then(Value::as_f64) {
                self.timings_tps = Some(s);
            }
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return;
        };
        let Some(m) = choice.get("delta").or_else(|| choice.get("message")) else {
            return;
        };
        let mut produced = false;
        if let Some(t) = m.get("content").and_then(Value::as_str) {
            produced |= !t.is_empty();
            self.text.push_str(t);
        }
        for key in ["reasoning_content", "reasoning"] {
            if let Some(t) = m.get(key).and_then(Value::as_str) {
                produced |= !t.is_empty();
                self.reasoning.push_str(t);
            }
        }
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for (i, c) in calls.iter().enumerate() {
                produced = true;
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
                let p = self.calls.entry(index).or_default();
                if let Some(id) = c.get("id").and_then(Value::as_str) {
                    p.id.push_str(id);
                }
                let f = c.get("function").unwrap_or(&Value::Null);
                if let Some(n) = f.get("name").and_then(Value::as_str) {
                    p.name.push_str(n);
                }
                match f.get("arguments") {
                    Some(Value::String(a)) => p.arguments.push_str(a),
                    Some(obj @ Value::Object(_)) => p.object = Some(obj.clone()),
                    _ => {}
                }
            }
        }
        if produced {
            self.chunks += 1;
            self.first_token.get_or_insert(at);
            self.last_token = Some(at);
        }
    }

    fn into_attempt(self, outcome: Outcome, wall: Duration) -> Attempt {
        let tool_calls = self
            .calls
            .into_values()
            .map(|p| ToolCall {
                id: p.id,
                name: p.name,
                arguments: p.object.unwrap_or_else(|| {
                    let raw = p.arguments.trim();
                    if raw.is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.into()))
                    }
                }),
            })
            .collect();
        let tokens = self
            .usage_tokens
            .or(self.timings_tokens)
            .or((self.chunks > 0).then_some(self.chunks));
        let tps = self.timings_tps.or_else(|| {
            let (first, last, n) = (self.first_token?, self.last_token?, tokens?);
            let span = last.checked_sub(first)?.as_secs_f64();
            (n > 1 && span > 0.0).then(|| (n - 1) as f64 / span)
        });
        let outcome = match (outcome, self.error) {
            (Outcome::Completed, Some(e)) => Outcome::Failed(e),
            (o, _) => o,
        };
        Attempt {
            answer: Answer {
                text: self.text,
                reasoning: self.reasoning,
                tool_calls,
                tool_calls_supported: true,
            },
            outcome,
            wall,
            ttft: self.first_token,
            generated_tokens: tokens,
            decode_tps: tps,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

impl Target for HttpTarget {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    fn run(&mut self, prompt: Prompt<'_>, settings: &Settings) -> Attempt {
        let body = self.body(prompt, settings).to_string();
        let sent = Instant::now();
        let mut request = self
            .agent
            .post(&self.url)
            .timeout(settings.timeout)
            .set("Content-Type", "application/json")
            .set("Accept", "text/event-stream");
        if let Some(key) = &self.options.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        let response = match request.send_string(&body) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                // OpenAI-shaped errors carry a message; anything else is shown cut short.
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.pointer("/error/message")?.as_str().map(String::from))
                    .unwrap_or_else(|| text.chars().take(300).collect());
                return Attempt::failed(format!("HTTP {code}: {message}"), sent.elapsed());
            }
            Err(ureq::Error::Transport(t)) => {
                if sent.elapsed() >= settings.timeout {
                    return Attempt {
                        outcome: Outcome::TimedOut,
                        ..Attempt::failed("", sent.elapsed())
                    };
                }
                return Attempt::failed(
                    format!("request to {} failed: {t}", self.url),
                    sent.elapsed(),
                );
            }
        };
        let streamed = response.content_type() == "text/event-stream";
        let mut collected = Collected::default();
        let mut reader = BufReader::new(response.into_reader());
        if !streamed {
            let mut text = String::new();
            return match reader.read_to_string(&mut text) {
                Ok(_) => match serde_json::from_str::<Value>(&text) {
                    Ok(v) => {
                        collected.take(&v, sent.elapsed());
                        collected.into_attempt(Outcome::Completed, sent.elapsed())
                    }
                    Err(e) => {
                        Attempt::failed(format!("the response is not JSON: {e}"), sent.elapsed())
                    }
                },
                Err(e) if is_timeout(&e) || sent.elapsed() >= settings.timeout => {
                    collected.into_attempt(Outcome::TimedOut, sent.elapsed())
                }
                Err(e) => {
                    Attempt::failed(format!("reading the response failed: {e}"), sent.elapsed())
                }
            };
        }
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) || sent.elapsed() >= settings.timeout => {
                    return collected.into_attempt(Outcome::TimedOut, sent.elapsed());
                }
                Err(e) => {
                    return Attempt {
                        outcome: Outcome::Failed(format!("reading the stream failed: {e}")),
                        ..collected.into_attempt(Outcome::Completed, sent.elapsed())
                    }
                }
            }
            if sent.elapsed() >= settings.timeout {
                // Dropping the reader closes the connection: the server's cancel.
                return collected.into_attempt(Outcome::TimedOut, sent.elapsed());
            }
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            match serde_json::from_str::<Value>(data) {
                Ok(v) => collected.take(&v, sent.elapsed()),
                Err(e) => {
                    return Attempt {
                        outcome: Outcome::Failed(format!("a stream chunk is not JSON: {e}")),
                        ..collected.into_attempt(Outcome::Completed, sent.elapsed())
                    }
                }
            }
        }
        collected.into_attempt(Outcome::Completed, sent.elapsed())
    }

    fn peak_rss_bytes(&self) -> Option<u64> {
        self.options
            .server_pid
            .and_then(|pid| memory::peak_rss_bytes(Some(pid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        let want = "http://127.0.0.1:8081/v1/chat/completions";
        for e in [
            "http://127.0.0.1:8081",
            "http://127.0.0.1:8081/",
            "http://127.0.0.1:8081/v1",
            "http://127.0.0.1:8081/v1/chat/completions",
        ] {
            assert_eq!(chat_url(e).unwrap(), want, "{e}");
        }
        for bad in ["127.0.0.1:8081", "ftp://x", "http://", "http:// x"] {
            let err = chat_url(bad).unwrap_err();
            assert!(matches!(err, Error::BadUrl { .. }), "{bad}: {err}");
        }
        if !cfg!(feature = "tls") {
            let e = chat_url("https://example.invalid").unwrap_err().to_string();
            assert!(e.contains("tls"), "{e}");
        }
    }

    #[test]
    fn streamed_tool_call_deltas_are_joined() {
        let mut c = Collected::default();
        let at = Duration::from_millis(5);
        for chunk in [
            json!({"choices":[{"delta":{"role":"assistant"}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"calculator","arguments":""}}]}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"expression\": \"12"}}]}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"34*5678\"}"}}]}}]}),
            json!({"choices":[],"usage":{"completion_tokens":17}}),
        ] {
            c.take(&chunk, at);
        }
        let a = c.into_attempt(Outcome::Completed, at);
        assert_eq!(a.answer.tool_calls.len(), 1);
        let call = &a.answer.tool_calls[0];
        assert_eq!(call.id, "call_1");
        assert_eq!(call.name, "calculator");
        assert_eq!(call.arguments, json!({"expression": "1234*5678"}));
        assert_eq!(a.generated_tokens, Some(17));
        assert_eq!(a.ttft, Some(at));
    }

    #[test]
    fn bad_arguments_stay_a_string_and_errors_fail() {
        let mut c = Collected::default();
        c.take(
            &json!({"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"web_search","arguments":"{query: rust"}}]}}]}),
            Duration::ZERO,
        );
        let a = c.into_attempt(Outcome::Completed, Duration::ZERO);
        assert_eq!(a.answer.tool_calls[0].arguments, json!("{query: rust"));
        let mut c = Collected::default();
        c.take(
            &json!({"error":{"message":"model not found"}}),
            Duration::ZERO,
        );
        let a = c.into_attempt(Outcome::Completed, Duration::ZERO);
        assert_eq!(a.outcome, Outcome::Failed("model not found".into()));
    }
}
