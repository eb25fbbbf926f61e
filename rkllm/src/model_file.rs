//! Checks of a `.rkllm` model file that need no runtime: run them before loading one, so
//! that a bad download is reported as such on any machine, every problem at once.
//!
//! The `.rkllm` layout is not published, so a real file's target platform and context limit
//! cannot be read from it (the runtime prints both at init; see [`InitLog`](crate::InitLog)).
//! What is checked: existence, type, size, readability, a Git LFS pointer in place of the
//! model, a file of a recognisably other format (GGUF, ELF, an archive, an HTML page), and,
//! for files whose header *can* be read (edge-infer's test-double models), the target
//! platform and context limit.
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest `max_context_len` any RKLLM conversion supports.
pub const MAX_CONTEXT_LEN: i32 = 16384;

/// rkllm-toolkit's default `max_context` at conversion: the limit of most published
/// models, and what a context is checked against when the file's own limit is unknown.
pub const DEFAULT_CONVERSION_CONTEXT: i32 = 4096;

/// What the file's header says, where it can be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The SoC the model was converted for (`RK3588`, ...).
    pub target_platform: Option<String>,
    /// The context limit fixed at conversion.
    pub max_context: Option<i32>,
    /// True for edge-infer's test-double model format (not a real model).
    pub test_double: bool,
}

/// One thing wrong with a model file or its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The file does not exist.
    Missing,
    /// The path is a directory.
    Directory,
    /// The file is empty.
    Empty,
    /// The file cannot be read.
    Unreadable(String),
    /// A Git LFS pointer file stands in place of the model.
    LfsPointer {
        /// The real file's size, from the pointer.
        size: Option<u64>,
    },
    /// The file is of another format.
    OtherFormat(&'static str),
    /// The model was converted for another SoC than the board's.
    WrongPlatform { model: String, board: String },
    /// The requested context exceeds the limit in the file's header.
    ContextAboveModelLimit { requested: i32, limit: i32 },
    /// The requested context exceeds what any conversion allows, or is not positive.
    ContextOutOfRange { requested: i32 },
    /// (A warning.) The requested context exceeds the default conversion limit and the
    /// file's own limit cannot be read: init fails unless the model was converted larger.
    ContextAboveDefaultLimit { requested: i32 },
}

impl Problem {
    /// Warnings do not stop a load; errors do.
    pub fn is_warning(&self) -> bool {
        matches!(self, Problem::ContextAboveDefaultLimit { .. })
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("the file does not exist"),
            Problem::Directory => f.write_str("it is a directory, not a .rkllm file"),
            Problem::Empty => f.write_str("the file is empty (0 bytes): an interrupted download? fetch or convert it again"),
            Problem::Unreadable(e) => write!(f, "the file cannot be read: {e}"),
            Problem::LfsPointer { size } => write!(
                f,
                "it is a Git LFS pointer file, not the model{}: fetch the real file (`git lfs pull`)",
                size.map(|s| format!(" (the model is {s} bytes)")).unwrap_or_default()
            ),
            Problem::OtherFormat(what) => write!(f, "it is {what}, not an RKLLM model"),
            Problem::WrongPlatform { model, board } => write!(
                f,
                "the model was converted for {model} but this board is {board}: convert it with \
                 rkllm-toolkit for {board} (target_platform)"
            ),
            Problem::ContextAboveModelLimit { requested, limit } => write!(
                f,
                "context {requested} is above the model's limit {limit} (fixed at conversion): use \
                 at most {limit}, or convert the model with a larger max_context"
            ),
            Problem::ContextOutOfRange { requested } => write!(
                f,
                "context {requested} is out of range: RKLLM takes 1..={MAX_CONTEXT_LEN} (and at \
                 most the model's conversion limit)"
            ),
            Problem::ContextAboveDefaultLimit { requested } => write!(
                f,
                "context {requested} is above {DEFAULT_CONVERSION_CONTEXT}, rkllm-toolkit's default \
                 limit: init fails unless the model was converted with a larger max_context (the \
                 file's own limit cannot be read before init)"
            ),
        }
    }
}

/// The result of checking one model file: every problem found, and what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes, when it exists.
    pub size: Option<u64>,
    /// Its header, when it could be read.
    pub header: Option<Header>,
    /// Errors and warnings, in the order found.
    pub problems: Vec<Problem>,
}

impl FileReport {
    /// Whether any problem is an error (not a warning).
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| !p.is_warning())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_warning())
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model file {:?}:", self.path)?;
        for (i, p) in self.problems.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            let tag = if p.is_warning() { "warning: " } else { "" };
            write!(f, "{sep}{tag}{p}")?;
        }
        Ok(())
    }
}

/// Checks for one model file. Builder: set what is known, then [`run`](FileCheck::run).
///
/// ```
/// use edge_infer_rkllm::{FileCheck, Problem};
/// let dir = std::env::temp_dir().join(format!("fc-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let m = dir.join("m.rkllm");
/// std::fs::write(&m, "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 1234\n")?;
/// let report = FileCheck::new(&m).context(8192).run();
/// assert_eq!(report.problems, vec![
///     Problem::LfsPointer { size: Some(1234) },
///     Problem::ContextAboveDefaultLimit { requested: 8192 },
/// ]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileCheck {
    path: PathBuf,
    context: Option<i32>,
    board: Option<String>,
}

impl FileCheck {
    /// Checks of `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileCheck {
        FileCheck {
            path: path.into(),
            context: None,
            board: None,
        }
    }

    /// The context the model is to run with.
    pub fn context(mut self, n: i32) -> FileCheck {
        self.context = Some(n);
        self
    }

    /// The board's SoC (e.g. from [`board_platform`](crate::checks::board_platform)).
    pub fn board_platform(mut self, p: impl Into<String>) -> FileCheck {
        self.board = Some(p.into());
        self
    }

    /// Runs every check.
    pub fn run(&self) -> FileReport {
        let mut problems = Vec::new();
        let (size, header) = inspect(&self.path, &mut problems);
        if let Some(n) = self.context {
            if !(1..=MAX_CONTEXT_LEN).contains(&n) {
                problems.push(Problem::ContextOutOfRange { requested: n });
            } else {
                match header.as_ref().and_then(|h| h.max_context) {
                    Some(limit) if n > limit => problems.push(Problem::ContextAboveModelLimit {
                        requested: n,
                        limit,
                    }),
                    Some(_) => {}
                    None if n > DEFAULT_CONVERSION_CONTEXT => {
                        problems.push(Problem::ContextAboveDefaultLimit { requested: n })
                    }
                    None => {}
                }
            }
        }
        if let (Some(board), Some(model)) = (
            &self.board,
            header.as_ref().and_then(|h| h.target_platform.as_ref()),
        ) {
            if !board.eq_ignore_ascii_case(model) {
                problems.push(Problem::WrongPlatform {
                    model: model.clone(),
                    board: board.clone(),
                });
            }
        }
        FileReport {
            path: self.path.clone(),
            size,
            header,
            problems,
        }
    }
}

const HEAD: usize = 16 * 1024;

fn inspect(path: &Path, problems: &mut Vec<Problem>) -> (Option<u64>, Option<Header>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink exists but is missing too.
            problems.push(Problem::Missing);
            return (None, None);
        }
        Err(e) => {
            problems.push(Problem::Unreadable(e.to_string()));
            return (None, None);
        }
    };
    if meta.is_dir() {
        problems.push(Problem::Directory);
        return (None, None);
    }
    let size = meta.len();
    if size == 0 {
        problems.push(Problem::Empty);
        return (Some(0), None);
    }
    let mut head = vec![0u8; HEAD.min(size as usize)];
    let n = match std::fs::File::open(path).and_then(|mut f| read_up_to(&mut f, &mut head)) {
        Ok(n) => n,
        Err(e) => {
            problems.push(Problem::Unreadable(e.to_string()));
            return (Some(size), None);
        }
    };
    let head = &head[..n];
    if head.starts_with(b"version https://git-lfs") {
        let real = String::from_utf8_lossy(head)
            .lines()
            .find_map(|l| l.strip_prefix("size ").and_then(|s| s.trim().parse().ok()));
        problems.push(Problem::LfsPointer { size: real });
        return (Some(size), None);
    }
    if let Some(what) = other_format(head) {
        problems.push(Problem::OtherFormat(what));
        return (Some(size), None);
    }
    (Some(size), Some(header(head)))
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Formats a download or a mix-up produces instead of an `.rkllm` (magics with evidence
/// only: nothing here can be the start of a real `.rkllm`).
fn other_format(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(&head[..head.len().min(512)]).to_ascii_lowercase();
    let t = text.trim_start();
    if head.starts_with(b"GGUF") {
        Some("a GGUF file (a model for the llama.cpp backend)")
    } else if head.starts_with(b"\x7fELF") {
        Some("an ELF executable or library")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("a zip archive (a PyTorch checkpoint or a packed download?)")
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some("a gzip archive (unpack it first)")
    } else if t.starts_with("<!doctype html") || t.starts_with("<html") {
        Some("an HTML page (a failed download or a login page)")
    } else {
        None
    }
}

/// Header facts: readable for the test double's text format only (see the module docs).
fn header(head: &[u8]) -> Header {
    if !head.starts_with(b"RKLLM-TEST-DOUBLE\n") {
        return Header::default();
    }
    let text = String::from_utf8_lossy(head);
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(str::trim)
    };
    Header {
        // The double's defaults, as its own documentation gives them.
        target_platform: Some(get("target_platform").unwrap_or("RK3588").to_owned()),
        max_context: Some(
            get("max_context_len")
                .and_then(|v| v.parse().ok())
                .unwrap_or(4096),
        ),
        test_double: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_formats_are_named() {
        assert!(other_format(b"GGUF\x03\0\0\0").unwrap().contains("GGUF"));
        assert!(other_format(b"  <!DOCTYPE html><html>")
            .unwrap()
            .contains("HTML"));
        assert!(other_format(b"\x7fELF\x02").is_some());
        assert_eq!(other_format(b"\0\0\0\x01RKLLM?"), None);
    }
}
