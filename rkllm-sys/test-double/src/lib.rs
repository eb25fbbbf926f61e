//! The edge-infer RKLLM **test double**: a fake `librkllmrt.so` for tests and demos.
//!
//! This crate is *not* Rockchip's NPU runtime and never runs a model. Its build script
//! compiles `csrc/rkllm_test_double.c` (our own C implementation of the RKLLM C ABI, written
//! from `shared/rkllm/ABI.md`) per ABI generation, and this crate tells you where the
//! shared objects are, plus how to write the tiny fake model files the double accepts.
//!
//! Like the real runtime, the double holds no version literal: it prints its version only
//! in `rkllm_init`'s log lines (`I rkllm: rkllm-runtime version: 1.3.0, rknpu driver version:
//! 0.9.8, platform: RK3588`, then the toolkit line). [`library_path`] builds carry the marker
//! `edge-infer RKLLM TEST DOUBLE abi=1.N` so that edge-infer-rkllm recognises them;
//! [`anonymous_library_path`] builds lack it and pass for an unknown vendor rebuild.
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
//! `key=value` lines (`#` starts a comment line). Keys marked *known* imitate what ABI.md
//! states about the real runtime; keys marked *variant* choose among behaviours nobody has
//! documented, so that the binding can be tested under each.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `reply` | a fixed sentence with 2-, 3- and 4-byte UTF-8 characters | text streamed by GENERATE runs |
//! | `max_context_len` | 4096 | the model's conversion-time limit: init fails above it (*known* message) |
//! | `target_platform` / `platform` | RK3588 / RK3588 | model's target and the "board": init fails when they differ (*known*) |
//! | `runtime_version` / `toolkit_version` | the build's / the build's | versions in the log lines; init fails when the runtime is older (*known*); `1.2.1` makes `run_async` never return (*known*) |
//! | `driver_version` | 0.9.8 | below 0.9.7 with a 1.3 runtime: a warning at init, then every run fails (*known*) |
//! | `no_npu` | 0 | 1: init prints the no-device errors and fails (*known*) |
//! | `log_stream` | stderr | `stdout` (*variant*: which stream the real runtime logs to is unknown) |
//! | `vocab_size` / `embd_size` | 32 / 8 | logits width; hidden size (hidden states, embedding and image inputs, cross-attention rows) |
//! | `token_delay_ms` | 0 | sleep between streamed tokens |
//! | `abort_delay_ms` | 1300 | generation goes on this long after `rkllm_abort` (*known*: ~1.3 s measured) |
//! | `abort_final` | none | what follows an abort: `none`, `finish` or `error` (*variant*) |
//! | `abort_sticky` | 0 | 1: an abort while idle kills the next run (*variant*) |
//! | `hang_after_abort` | 0 | 1: an aborted run never returns until [`release_hung_runs`]; it then calls back once more |
//! | `pause_final` | none | after a callback returned 1: `none` or `finish` (*variant*) |
//! | `waiting` | split | WAITING text: `split` (partial bytes, the rest in NORMAL), `cumulative` (NORMAL repeats them) or `empty` (NULL text, NORMAL has the character) (*variant*) |
//! | `bad_input` | silent | a refused input in `rkllm_run`: `silent` (returns 0, no callback, as run_async is *known* to) or `error` (*variant*) |
//! | `internal_tokenizer` | 1 | 0: the 1.3 tokenizer callback is used (the real runtime uses it only for models without a tokenizer) |
//! | `null_handle` | 0 | 1: `rkllm_init` returns 0 but leaves the handle NULL |
//!
//! Any other first line makes `rkllm_init` fail (bad magic).
//!
//! # Behaviour
//! * GENERATE streams the reply one "token" per callback; a multi-byte character is split
//!   across calls (WAITING for all but the last piece: 2 bytes → 1+1, 3 → 1+2, 4 → 1+2+1),
//!   and every call counts against `max_new_tokens`.
//! * LOGITS and LAST_HIDDEN_LAYER call back once for the prompt and then once per generated
//!   token until the callback returns 1, an abort takes effect or `max_new_tokens` is reached.
//! * Prompt markers: `#ECHO#rest` replies `system + prefix + rest + postfix` from the chat
//!   template; `#ERROR#` streams two tokens and then reports `ERROR` (run returns -1);
//!   `#LONG#` streams 20000 tokens with ≥1 ms between them; `#TOOL#` replies with a
//!   `<tool_call>` naming the first `"name"` in the function-tools JSON; `#BADINPUT#` is an
//!   input the runtime refuses. An input with role `tool` gets `Tool result received: <prompt>`.
//! * Inputs are read like a runtime would: every float of an embedding or image input
//!   (`n_tokens × embd_size`), token ids checked against `vocab_size`; multimodal prompts
//!   must hold one `<image>` per image.
//! * `n_batch > 1`: inputs and results are arrays; entry *i* streams the reply minus its last
//!   *i* characters, whole characters per call, `token_id = -1` once finished.
//! * A callback returning 1 pauses: the KV cache and the rest of the reply are kept, and the
//!   next run resumes the reply. FINISH carries perf: prefill_tokens = prompt tokens (one per
//!   character, or the tokenizer callback's count), prefill_time_ms = 0.5·prefill_tokens,
//!   generate_time_ms = 2·generate_tokens, memory_usage_mb = 123.5.
//! * `rkllm_createDefaultParam` writes the fields only; reserved bytes and padding are 0xAB.
//!   Init records whether they came back zeroed and whether a C `bool` held anything but 0/1.
//! * Text, logits and hidden-state buffers are filled with 0xFF (poison) and freed right
//!   after each callback returns. Two runs overlapping on one handle make the second fail
//!   and count an "overlap".
//! * `rkllm_test_double_query(handle, key)`, `rkllm_test_double_release_hung()` and
//!   `rkllm_test_double_layout(type, field)` are extra exports for tests; they are not part
//!   of the RKLLM ABI.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// RKLLM ABI generation of a test-double build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// The 1.2.x layout; the double reports version 1.2.3.
    V1_2,
    /// The 1.3.x layout; the double reports version 1.3.0.
    V1_3,
}

impl Abi {
    /// The runtime version this double reports in its init log line (e.g. `"1.3.0"`).
    pub fn reported_version(self) -> &'static str {
        match self {
            Abi::V1_2 => "1.2.3",
            Abi::V1_3 => "1.3.0",
        }
    }
}

/// The marker text a [`library_path`] build carries, for `abi`.
pub fn marker(abi: Abi) -> &'static str {
    match abi {
        Abi::V1_2 => "edge-infer RKLLM TEST DOUBLE abi=1.2",
        Abi::V1_3 => "edge-infer RKLLM TEST DOUBLE abi=1.3",
    }
}

/// Absolute path of the test double `librkllmrt.so` for `abi`, built for the target.
pub fn library_path(abi: Abi) -> &'static Path {
    Path::new(match abi {
        Abi::V1_2 => env!("RKLLM_TEST_DOUBLE_1_2"),
        Abi::V1_3 => env!("RKLLM_TEST_DOUBLE_1_3"),
    })
}

/// The same double without its marker: to edge-infer-rkllm it is an unknown runtime file
/// (like a vendor's rebuild), identified only by an ABI the user states.
pub fn anonymous_library_path(abi: Abi) -> &'static Path {
    Path::new(match abi {
        Abi::V1_2 => env!("RKLLM_TEST_DOUBLE_ANON_1_2"),
        Abi::V1_3 => env!("RKLLM_TEST_DOUBLE_ANON_1_3"),
    })
}

/// Lets every run blocked by `hang_after_abort` go on, in the double loaded from `lib`.
///
/// # Safety
/// `lib` must be a test-double build (it exports `rkllm_test_double_release_hung`).
pub unsafe fn release_hung_runs(lib: &Path) {
    extern "C" {
        fn dlopen(
            filename: *const std::ffi::c_char,
            flag: std::ffi::c_int,
        ) -> *mut std::ffi::c_void;
        fn dlsym(
            handle: *mut std::ffi::c_void,
            symbol: *const std::ffi::c_char,
        ) -> *mut std::ffi::c_void;
    }
    const RTLD_NOW: std::ffi::c_int = 2;
    let path =
        std::ffi::CString::new(lib.as_os_str().as_encoded_bytes()).expect("path without NUL");
    // SAFETY: the caller vouches for `lib`; dlopen of an already loaded object only bumps
    // its count, and the symbol is the double's `void (void)`.
    unsafe {
        let h = dlopen(path.as_ptr(), RTLD_NOW);
        assert!(!h.is_null(), "cannot dlopen {lib:?}");
        let f = dlsym(h, c"rkllm_test_double_release_hung".as_ptr());
        assert!(!f.is_null(), "{lib:?} is not the test double");
        let f: extern "C" fn() = std::mem::transmute(f);
        f();
    }
}

/// First line of every fake model file.
pub const MODEL_MAGIC: &str = "RKLLM-TEST-DOUBLE";

/// Builder for a fake model file understood by the test double (keys: see the crate docs).
#[derive(Debug, Clone, Default)]
pub struct FakeModel {
    reply: Option<String>,
    keys: Vec<(&'static str, String)>,
}

macro_rules! keys {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty => $key:literal; )*) => {$(
        $(#[$doc])*
        pub fn $name(self, v: $ty) -> Self {
            self.key($key, v.to_string())
        }
    )*};
}

impl FakeModel {
    /// Text streamed by GENERATE runs (must not contain a newline).
    pub fn reply(mut self, text: &str) -> Self {
        assert!(!text.contains('\n'), "fake model reply must be one line");
        self.reply = Some(text.to_owned());
        self
    }

    fn key(mut self, key: &'static str, value: String) -> Self {
        assert!(!value.contains('\n'), "fake model values are one line");
        self.keys.retain(|(k, _)| *k != key);
        self.keys.push((key, value));
        self
    }

    keys! {
        /// The model's conversion-time context limit (default 4096).
        max_context_len: i32 => "max_context_len";
        /// Logits width.
        vocab_size: i32 => "vocab_size";
        /// Hidden size.
        embd_size: i32 => "embd_size";
        /// Delay between streamed tokens.
        token_delay_ms: u32 => "token_delay_ms";
        /// How long generation goes on after an abort (default 1300).
        abort_delay_ms: u32 => "abort_delay_ms";
        /// What follows an abort: `none` (default), `finish` or `error`.
        abort_final: &str => "abort_final";
        /// An abort while idle kills the next run.
        abort_sticky: bool => "abort_sticky";
        /// An aborted run blocks until [`release_hung_runs`].
        hang_after_abort: bool => "hang_after_abort";
        /// After a pause: `none` (default) or `finish`.
        pause_final: &str => "pause_final";
        /// WAITING text: `split` (default), `cumulative` or `empty`.
        waiting: &str => "waiting";
        /// A refused input in `rkllm_run`: `silent` (default) or `error`.
        bad_input: &str => "bad_input";
        /// Whether the model has its own tokenizer (default true: the tokenizer callback is unused).
        internal_tokenizer: bool => "internal_tokenizer";
        /// The version init's log line reports.
        runtime_version: &str => "runtime_version";
        /// The toolkit version init's log line reports.
        toolkit_version: &str => "toolkit_version";
        /// The RKNPU driver version init's log line reports.
        driver_version: &str => "driver_version";
        /// The model's target platform.
        target_platform: &str => "target_platform";
        /// The "board's" platform.
        platform: &str => "platform";
        /// `stdout` or `stderr` (default) for the log lines.
        log_stream: &str => "log_stream";
        /// Init fails as without an NPU device.
        no_npu: bool => "no_npu";
    }

    /// Make init "succeed" with a NULL handle (a reported runtime bug).
    pub fn null_handle(self) -> Self {
        self.key("null_handle", "1".into())
    }

    /// The file contents.
    pub fn contents(&self) -> String {
        let mut s = format!(
            "{MODEL_MAGIC}\n# edge-infer RKLLM test-double fake model, not a real .rkllm\n"
        );
        if let Some(r) = &self.reply {
            s += &format!("reply={r}\n");
        }
        for (k, v) in &self.keys {
            let v = match v.as_str() {
                "true" => "1",
                "false" => "0",
                v => v,
            };
            s += &format!("{k}={v}\n");
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

    fn contains(bytes: &[u8], s: &str) -> bool {
        bytes.windows(s.len()).any(|w| w == s.as_bytes())
    }

    #[test]
    fn doubles_are_built_with_the_real_log_format_and_no_version_literal() {
        for abi in [Abi::V1_2, Abi::V1_3] {
            for (path, marked) in [
                (library_path(abi), true),
                (anonymous_library_path(abi), false),
            ] {
                let bytes = std::fs::read(path).expect("test double was built");
                assert!(contains(
                    &bytes,
                    "rkllm-runtime version: %s, rknpu driver version: %s, platform: %s"
                ));
                assert!(
                    !contains(&bytes, &format!("version: {}", abi.reported_version())),
                    "{path:?} holds a version literal"
                );
                assert_eq!(contains(&bytes, marker(abi)), marked, "{path:?}");
            }
        }
    }

    #[test]
    fn fake_model_contents() {
        let c = FakeModel::default()
            .reply("x")
            .max_context_len(64)
            .abort_final("finish")
            .hang_after_abort(true)
            .null_handle()
            .contents();
        assert!(c.starts_with("RKLLM-TEST-DOUBLE\n"));
        for line in [
            "reply=x\n",
            "max_context_len=64\n",
            "null_handle=1\n",
            "abort_final=finish\n",
            "hang_after_abort=1\n",
        ] {
            assert!(c.contains(line), "{line:?} in {c}");
        }
    }
}
