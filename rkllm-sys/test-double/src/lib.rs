//! The edge-infer RKLLM **test double**: a fake `librkllmrt.so` for tests and demos.
//!
//! This crate is *not* Rockchip's NPU runtime and never runs a model. Its build script
//! compiles `csrc/rkllm_test_double.c` (our own C implementation of the RKLLM C ABI, written
//! from `shared/rkllm/ABI.md`) once per ABI generation and this crate tells you where the
//! resulting shared objects are, plus how to write the tiny fake model files the double
//! accepts. The doubles embed the version strings
//! `rkllm-runtime version: 1.2.3 (edge-infer test double)` and
//! `rkllm-runtime version: 1.3.0 (edge-infer test double)`, print a one-time
//! "fake librkllmrt for tests" line on stderr at the first init, and log errors with an
//! `(edge-infer TEST DOUBLE)` tag.
//!
//! ```
//! use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
//! assert!(library_path(Abi::V1_3).ends_with("abi-1.3/librkllmrt.so"));
//! let dir = TempDir::new("doc").unwrap();
//! let model = FakeModel::default().reply("hi").write(dir.path().join("m.rkllm")).unwrap();
//! assert!(std::fs::read_to_string(model).unwrap().starts_with("RKLLM-TEST-DOUBLE\n"));
//! ```
//!
//! # Fake model format
//! A UTF-8 text file whose first line is exactly `RKLLM-TEST-DOUBLE`, followed by
//! `key=value` lines (`#` starts a comment line):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `reply` | a fixed sentence with 2-, 3- and 4-byte UTF-8 characters | text streamed by GENERATE runs |
//! | `max_context_len` | 16384 | the "conversion-time" limit: init fails above it |
//! | `vocab_size` | 32 | logits length in GET_LOGITS mode |
//! | `embd_size` | 8 | hidden size in GET_LAST_HIDDEN_LAYER mode |
//! | `token_delay_ms` | 0 | sleep between streamed tokens |
//! | `null_handle` | 0 | 1: `rkllm_init` returns 0 but leaves the handle NULL |
//!
//! Any other first line makes `rkllm_init` fail (bad magic).
//!
//! # Behaviour
//! * GENERATE streams the reply one "token" per callback; a multi-byte character is split
//!   across calls (`WAITING` for all but the last piece: 2 bytes → 1+1, 3 → 1+2, 4 → 1+2+1),
//!   and every piece counts against `max_new_tokens`.
//! * Prompt markers: `#ECHO#rest` replies `system + prefix + rest + postfix` from the chat
//!   template; `#ERROR#` streams two tokens and then reports `ERROR` (run returns -1);
//!   `#LONG#` streams 20000 tokens with ≥1 ms between them (for abort tests); `#TOOL#` replies
//!   with a `<tool_call>` naming the first `"name"` in the function-tools JSON. An input with
//!   role `tool` gets `Tool result received: <prompt>`.
//! * A callback returning 1 pauses: no FINISH, the KV cache and the rest of the reply are
//!   kept, and the next run resumes the reply. `rkllm_abort` stops at the next token and a
//!   FINISH follows. FINISH carries perf: prefill_tokens = prompt tokens (one per character,
//!   or the 1.3 tokenizer callback's count), prefill_time_ms = 0.5·prefill_tokens,
//!   generate_time_ms = 2·generate_tokens, memory_usage_mb = 123.5.
//! * Text, logits and hidden-state buffers are filled with 0xFF (poison) and freed right
//!   after each callback returns.
//! * Two runs overlapping on one handle make the second fail and count an "overlap".
//! * `rkllm_test_double_query(handle, key)` and `rkllm_test_double_layout(type, field)` are
//!   extra exports for tests (observations and the C compiler's struct layouts); they are
//!   not part of the RKLLM ABI.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// RKLLM ABI generation of a test-double build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// The 1.2.x layout; the double embeds version 1.2.3.
    V1_2,
    /// The 1.3.x layout; the double embeds version 1.3.0.
    V1_3,
}

impl Abi {
    /// The runtime version string this double embeds (e.g. `"1.3.0"`).
    pub fn embedded_version(self) -> &'static str {
        match self {
            Abi::V1_2 => "1.2.3",
            Abi::V1_3 => "1.3.0",
        }
    }
}

/// Absolute path of the test double `librkllmrt.so` for `abi`, built for the target.
pub fn library_path(abi: Abi) -> &'static Path {
    Path::new(match abi {
        Abi::V1_2 => env!("RKLLM_TEST_DOUBLE_1_2"),
        Abi::V1_3 => env!("RKLLM_TEST_DOUBLE_1_3"),
    })
}

/// First line of every fake model file.
pub const MODEL_MAGIC: &str = "RKLLM-TEST-DOUBLE";

/// Builder for a fake model file understood by the test double.
#[derive(Debug, Clone, Default)]
pub struct FakeModel {
    reply: Option<String>,
    max_context_len: Option<i32>,
    vocab_size: Option<i32>,
    embd_size: Option<i32>,
    token_delay_ms: Option<u32>,
    null_handle: bool,
}

impl FakeModel {
    /// Text streamed by GENERATE runs (must not contain a newline).
    pub fn reply(mut self, text: &str) -> Self {
        assert!(!text.contains('\n'), "fake model reply must be one line");
        self.reply = Some(text.to_owned());
        self
    }
    /// The model's conversion-time context limit.
    pub fn max_context_len(mut self, n: i32) -> Self {
        self.max_context_len = Some(n);
        self
    }
    /// Logits length for GET_LOGITS runs.
    pub fn vocab_size(mut self, n: i32) -> Self {
        self.vocab_size = Some(n);
        self
    }
    /// Hidden size for GET_LAST_HIDDEN_LAYER runs.
    pub fn embd_size(mut self, n: i32) -> Self {
        self.embd_size = Some(n);
        self
    }
    /// Delay between streamed tokens.
    pub fn token_delay_ms(mut self, ms: u32) -> Self {
        self.token_delay_ms = Some(ms);
        self
    }
    /// Make init "succeed" with a NULL handle (a reported runtime bug).
    pub fn null_handle(mut self) -> Self {
        self.null_handle = true;
        self
    }

    /// The file contents.
    pub fn contents(&self) -> String {
        let mut s = format!(
            "{MODEL_MAGIC}\n# edge-infer RKLLM test-double fake model, not a real .rkllm\n"
        );
        if let Some(r) = &self.reply {
            s += &format!("reply={r}\n");
        }
        for (k, v) in [
            ("max_context_len", self.max_context_len),
            ("vocab_size", self.vocab_size),
            ("embd_size", self.embd_size),
            ("token_delay_ms", self.token_delay_ms.map(|v| v as i32)),
        ] {
            if let Some(v) = v {
                s += &format!("{k}={v}\n");
            }
        }
        if self.null_handle {
            s += "null_handle=1\n";
        }
        s
    }

    /// Writes the fake model to `path` and returns the path.
    pub fn write(&self, path: impl AsRef<Path>) -> io::Result<PathBuf> {
        std::fs::write(path.as_ref(), self.contents())?;
        Ok(path.as_ref().to_path_buf())
    }
}

/// The reply streamed when a fake model sets none.
pub const DEFAULT_REPLY: &str = "Hello from the RKLLM test double! ¿Qué tal? 你好 🦀";

/// A directory under the system temp dir, removed on drop (keeps tests free of extra deps).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh, uniquely named directory.
    pub fn new(tag: &str) -> io::Result<TempDir> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rkllm-td-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_built_and_embed_their_version() {
        for abi in [Abi::V1_2, Abi::V1_3] {
            let bytes = std::fs::read(library_path(abi)).expect("test double was built");
            let banner = format!(
                "rkllm-runtime version: {} (edge-infer test double)",
                abi.embedded_version()
            );
            assert!(
                bytes.windows(banner.len()).any(|w| w == banner.as_bytes()),
                "{abi:?} double lacks its banner"
            );
        }
    }

    #[test]
    fn fake_model_contents() {
        let c = FakeModel::default()
            .reply("x")
            .max_context_len(64)
            .null_handle()
            .contents();
        assert!(c.starts_with("RKLLM-TEST-DOUBLE\n"));
        assert!(
            c.contains("reply=x\n")
                && c.contains("max_context_len=64\n")
                && c.contains("null_handle=1\n")
        );
    }
}
