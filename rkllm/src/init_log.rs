//! The runtime's log lines during `rkllm_init`: the only place it states its version, the
//! RKNPU driver's, the model's toolkit version, context limit and target platform, and
//! the reason an init failed.
//!
//! The lines go to stdout or stderr (which one is not documented), so both file
//! descriptors are redirected into pipes for the duration of the call; everything read is
//! written through to where it was going, unchanged, as it arrives. Rust's and C's stdio
//! buffers are flushed around the redirection. Only one init runs at a time, captured or not.
use crate::version::RuntimeVersion;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

static CAPTURE: Mutex<()> = Mutex::new(());

/// What init's log said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitLog {
    /// Every line, in order (stdout's and stderr's interleaved as read).
    pub lines: Vec<String>,
    /// `rkllm-runtime version: <v>`.
    pub runtime_version: Option<RuntimeVersion>,
    /// `rknpu driver version: <d>`.
    pub driver_version: Option<RuntimeVersion>,
    /// `platform: <p>` (the board's SoC, as the runtime sees it).
    pub platform: Option<String>,
    /// `rkllm-toolkit version: <t>` (what the model was converted with).
    pub toolkit_version: Option<RuntimeVersion>,
    /// `max_context_limit: <n>` (fixed when the model was converted).
    pub max_context_limit: Option<i32>,
    /// `npu_core_num: <k>`.
    pub npu_core_num: Option<i32>,
    /// `target_platform: <p>` (what the model was converted for).
    pub target_platform: Option<String>,
    /// `model_dtype: <t>` (1.3).
    pub model_dtype: Option<String>,
}

impl InitLog {
    /// Parses log lines of the forms ABI.md lists.
    pub fn parse(lines: Vec<String>) -> InitLog {
        let mut log = InitLog::default();
        for line in &lines {
            for part in line.split(", ") {
                let part = part
                    .trim()
                    .trim_start_matches("I rkllm:")
                    .trim_start_matches("W rkllm:")
                    .trim();
                let Some((key, value)) = part.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                match key.trim() {
                    "rkllm-runtime version" => {
                        log.runtime_version = RuntimeVersion::parse_prefix(value)
                    }
                    "rknpu driver version" => {
                        log.driver_version = RuntimeVersion::parse_prefix(value)
                    }
                    "platform" => log.platform = Some(value.to_owned()),
                    "rkllm-toolkit version" => {
                        log.toolkit_version = RuntimeVersion::parse_prefix(value)
                    }
                    "max_context_limit" => log.max_context_limit = value.parse().ok(),
                    "npu_core_num" => log.npu_core_num = value.parse().ok(),
                    "target_platform" => log.target_platform = Some(value.to_owned()),
                    "model_dtype" => log.model_dtype = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        log.lines = lines;
        log
    }

    /// The error and warning lines (`E ...`, `W ...`, and lines mentioning an error).
    pub fn problems(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| {
                l.starts_with("E ")
                    || l.starts_with("W ")
                    || l.contains("error")
                    || l.contains("Error")
            })
            .cloned()
            .collect()
    }

    /// Whether the runtime warned that the RKNPU driver is too old.
    pub fn driver_too_low(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l.contains("driver version is too low"))
    }
}

/// Runs `f` with fds 1 and 2 redirected into pipes (written through as read) and returns
/// its result with the lines seen. Without capture (`enabled` false, or a pipe/dup failure)
/// `f` runs as is and no lines are returned.
pub(crate) fn capture<R>(enabled: bool, f: impl FnOnce() -> R) -> (R, Vec<String>) {
    // Uncaptured calls take the lock too: fds 1/2 are the process's, so an init running
    // beside a capture would put its own version lines into the other's log.
    let _one_at_a_time = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    if !enabled {
        return (f(), Vec::new());
    }
    let Some(redirect) = Redirect::start() else {
        return (f(), Vec::new());
    };
    let r = f();
    let lines = redirect.finish();
    (r, lines)
}

/// How long to wait, after fds 1/2 are back, for the pipe's end: a process the runtime
/// started during init may hold the write end open, and must not hang init.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// What a reader has read so far, and whether its pipe has ended.
type Seen = std::sync::Arc<(Mutex<(Vec<u8>, bool)>, std::sync::Condvar)>;

struct Stream {
    fd: RawFd,
    saved: OwnedFd,
    seen: Seen,
}

struct Redirect {
    streams: Vec<Stream>,
}

fn flush_all() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: fflush(NULL) flushes every C stdio output stream; no pointer is passed.
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

impl Redirect {
    fn start() -> Option<Redirect> {
        flush_all();
        let mut streams = Vec::new();
        for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
            match Self::redirect(fd) {
                Some(s) => streams.push(s),
                None => {
                    // Undo what was done; run without capture.
                    Redirect { streams }.finish();
                    return None;
                }
            }
        }
        Some(Redirect { streams })
    }

    fn redirect(fd: RawFd) -> Option<Stream> {
        let mut p = [0 as RawFd; 2];
        // SAFETY: pipe writes two fds into `p`.
        if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: both fds were just created and are owned here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
        // SAFETY: dup of a descriptor this process has (fd 1 or 2); -1 on failure.
        let saved = unsafe { libc::dup(fd) };
        if saved < 0 {
            return None;
        }
        // SAFETY: `saved` is a fresh descriptor owned from here on.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        let through = saved.try_clone().ok()?;
        // SAFETY: dup2 onto fd 1/2 atomically replaces it with the pipe's write end.
        if unsafe { libc::dup2(write.as_raw_fd(), fd) } < 0 {
            return None;
        }
        drop(write); // fd 1/2 now holds the only write end
        let seen =
            std::sync::Arc::new((Mutex::new((Vec::new(), false)), std::sync::Condvar::new()));
        let shared = seen.clone();
        // Detached: it forwards until the pipe ends, even if that is after init.
        std::thread::Builder::new()
            .name("rkllm-init-log".into())
            .spawn(move || {
                let mut read = std::fs::File::from(read);
                let mut through = std::fs::File::from(through);
                let mut buf = [0u8; 4096];
                loop {
                    match std::io::Read::read(&mut read, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = through.write_all(&buf[..n]);
                            let mut s = shared.0.lock().unwrap_or_else(|e| e.into_inner());
                            s.0.extend_from_slice(&buf[..n]);
                        }
                    }
                }
                shared.0.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
                shared.1.notify_all();
            })
            .ok()?;
        Some(Stream { fd, saved, seen })
    }

    fn finish(self) -> Vec<String> {
        flush_all();
        let mut lines = Vec::new();
        for s in self.streams {
            // SAFETY: puts the original descriptor back on fd 1/2, which closes the pipe's
            // write end there: the reader sees EOF once no other copy is open.
            unsafe { libc::dup2(s.saved.as_raw_fd(), s.fd) };
            let (lock, cv) = &*s.seen;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = cv
                .wait_timeout_while(guard, DRAIN, |(_, ended)| !*ended)
                .unwrap_or_else(|e| e.into_inner());
            let bytes = guard.0.clone();
            drop(guard);
            lines.extend(
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::trim_end)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_version_and_toolkit_lines() {
        let log = InitLog::parse(vec![
            "I rkllm: rkllm-runtime version: 1.3.0, rknpu driver version: 0.9.8, platform: RK3588".into(),
            "I rkllm: rkllm-toolkit version: 1.2.1b1, max_context_limit: 4096, npu_core_num: 3, target_platform: RK3588, model_dtype: W8A8".into(),
        ]);
        assert_eq!(log.runtime_version, Some(RuntimeVersion::new(1, 3, 0)));
        assert_eq!(log.driver_version, Some(RuntimeVersion::new(0, 9, 8)));
        assert_eq!(log.platform.as_deref(), Some("RK3588"));
        assert_eq!(
            log.toolkit_version
                .as_ref()
                .map(|v| v.to_string())
                .as_deref(),
            Some("1.2.1b1")
        );
        assert_eq!(
            (log.max_context_limit, log.npu_core_num),
            (Some(4096), Some(3))
        );
        assert_eq!(log.target_platform.as_deref(), Some("RK3588"));
        assert_eq!(log.model_dtype.as_deref(), Some("W8A8"));
        assert!(log.problems().is_empty() && !log.driver_too_low());
        let low = InitLog::parse(vec![
            "W rkllm: Warning: Your rknpu driver version is too low, please upgrade to 0.9.7."
                .into(),
        ]);
        assert!(low.driver_too_low() && low.problems().len() == 1);
    }

    #[test]
    fn a_process_holding_the_pipe_does_not_hang_init() {
        let t = std::time::Instant::now();
        let (mut child, lines) = capture(true, || {
            // SAFETY: writes a literal to fd 1.
            unsafe { libc::write(1, b"before\n".as_ptr().cast(), 7) };
            // Inherits fds 1 and 2, i.e. the pipes' write ends, for 3 s.
            std::process::Command::new("sleep")
                .arg("3")
                .spawn()
                .unwrap()
        });
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert!(lines.contains(&"before".to_string()), "{lines:?}");
        child.wait().unwrap();
    }

    #[test]
    fn captures_both_streams_and_writes_them_through() {
        let (r, lines) = capture(true, || {
            // SAFETY: writes a literal to fds 1 and 2.
            unsafe {
                libc::write(1, b"to stdout\n".as_ptr().cast(), 10);
                libc::write(2, b"to stderr\n".as_ptr().cast(), 10);
            }
            7
        });
        assert_eq!(r, 7);
        assert!(lines.contains(&"to stdout".to_string()), "{lines:?}");
        assert!(lines.contains(&"to stderr".to_string()), "{lines:?}");
        // The descriptors are back: a write after the capture is not captured.
        let (_, none) = capture(false, || ());
        assert!(none.is_empty());
    }
}
