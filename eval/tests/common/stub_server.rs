//! A STUB OpenAI-compatible server, written only to test edge-eval's HTTP target: it
//! answers `POST /v1/chat/completions` from a fixed table of canned replies (matched on
//! the prompt) and never runs or scores a model.
//!
//! It is plain `std::net` rather than a server crate because the test needs exact
//! control of the stream: a flush after every event (tiny_http's chunked encoder holds
//! 8 KiB before sending), a delay before the first token, and a reply that stalls until
//! the client drops the connection.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What the stub sends back.
#[derive(Debug, Clone)]
pub enum StubReply {
    /// Streamed text, a few characters per event.
    Text(&'static str),
    /// A streamed tool call, its arguments split over two events.
    ToolCall {
        name: &'static str,
        arguments: &'static str,
    },
    /// Headers, then only SSE comments until the client goes away (at most 30 s).
    Hang,
    /// An HTTP error with an OpenAI-shaped body.
    Status(u16, &'static str),
    /// A whole (non-streamed) JSON response, as servers that ignore `stream` send.
    NotStreamed(&'static str),
}

/// Delay before the first streamed token.
pub const FIRST_TOKEN_DELAY: Duration = Duration::from_millis(60);

/// The stub: a listener on 127.0.0.1 and the requests it received.
pub struct StubServer {
    port: u16,
    requests: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

type Table = Arc<Vec<(&'static str, StubReply)>>;

impl StubServer {
    /// Starts the stub. A request whose `model` is `stub-500` gets HTTP 500; otherwise
    /// the first entry whose needle is in the user message answers, else `fallback`.
    pub fn start(table: Vec<(&'static str, StubReply)>, fallback: StubReply) -> StubServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut table = table;
        table.push(("", fallback));
        let table: Table = Arc::new(table);
        let (r, s) = (requests.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, t) = (r.clone(), table.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &r, &t);
                });
            }
        });
        StubServer {
            port,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    /// The stub's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The JSON bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
    }
}

fn serve(conn: TcpStream, requests: &Mutex<Vec<Value>>, table: &Table) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("POST ") || !line.contains("/v1/chat/completions") {
        return respond_status(conn, 404, "stub: only POST /v1/chat/completions");
    }
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return respond_status(conn, 400, "stub: the body is not JSON");
    };
    requests.lock().unwrap().push(request.clone());
    if request["model"] == "stub-500" {
        return respond_status(conn, 500, "stub: internal error for model stub-500");
    }
    let prompt = request["messages"][0]["content"].as_str().unwrap_or("");
    let reply = table
        .iter()
        .find(|(needle, _)| prompt.contains(needle))
        .map(|(_, r)| r.clone())
        .expect("the fallback matches everything");
    match reply {
        StubReply::Status(code, message) => respond_status(conn, code, message),
        StubReply::NotStreamed(text) => {
            let body = json!({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"completion_tokens": 7}
            })
            .to_string();
            let mut conn = conn;
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        StubReply::Text(text) => stream(conn, |send| {
            let pieces: Vec<String> = text
                .chars()
                .collect::<Vec<_>>()
                .chunks(4)
                .map(|c| c.iter().collect())
                .collect();
            for p in &pieces {
                send(json!({"choices": [{"index": 0, "delta": {"content": p}}]}))?;
            }
            send(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))?;
            send(json!({"choices": [], "usage": {"completion_tokens": pieces.len()}}))
        }),
        StubReply::ToolCall { name, arguments } => stream(conn, |send| {
            send(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_stub", "type": "function", "function": {"name": name, "arguments": ""}}
            ]}}]}))?;
            let (a, b) = arguments.split_at(arguments.len() / 2);
            for part in [a, b] {
                send(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": 0, "function": {"arguments": part}}
                ]}}]}))?;
            }
            send(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
        }),
        StubReply::Hang => {
            let mut conn = conn;
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
            )?;
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(250));
                // Fails once the client has dropped the connection.
                conn.write_all(b": stub still thinking\n\n")?;
                conn.flush()?;
            }
            Ok(())
        }
    }
}

fn respond_status(mut conn: TcpStream, code: u16, message: &str) -> std::io::Result<()> {
    let body = json!({"error": {"message": message, "type": "stub_error"}}).to_string();
    write!(
        conn,
        "HTTP/1.1 {code} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Streams SSE events: a role event, a delay, then what `events` sends, then `[DONE]`.
fn stream(
    mut conn: TcpStream,
    events: impl FnOnce(&mut dyn FnMut(Value) -> std::io::Result<()>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")?;
    let mut send = |v: Value| -> std::io::Result<()> {
        write!(conn, "data: {v}\n\n")?;
        conn.flush()?;
        std::thread::sleep(Duration::from_millis(5));
        Ok(())
    };
    send(json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))?;
    std::thread::sleep(FIRST_TOKEN_DELAY);
    events(&mut send)?;
    conn.write_all(b"data: [DONE]\n\n")?;
    conn.flush()
}
