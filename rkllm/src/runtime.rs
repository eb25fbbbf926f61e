//! Which `librkllmrt` to use, and the pre-init version check.
use crate::error::{Error, Result};
use edge_infer_rkllm_sys::{find_embedded_version, AbiGeneration, EmbeddedVersion, Library};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How strictly to check the runtime's embedded version against the ABI this crate targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionCheck {
    /// A version must be found and match (default).
    #[default]
    Strict,
    /// A version that is found must match; a file without one is accepted.
    AllowUnknown,
    /// No check (you vouch for the ABI generation).
    Skip,
}

/// A loaded RKLLM runtime library whose version was checked. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub(crate) lib: Arc<LibRef>,
    version: Option<EmbeddedVersion>,
}

#[derive(Debug)]
pub(crate) enum LibRef {
    Linked(&'static Library),
    Loaded(Library),
}

impl LibRef {
    pub(crate) fn get(&self) -> &Library {
        match self {
            LibRef::Linked(l) => l,
            LibRef::Loaded(l) => l,
        }
    }
}

impl Runtime {
    /// The system's runtime: the one linked at build time if edge-infer-rkllm-sys linked one, else
    /// `librkllmrt.so` found by the dynamic loader. Version-checked strictly.
    pub fn system() -> Result<Runtime> {
        Self::system_with(VersionCheck::Strict)
    }

    /// [`Runtime::system`] with an explicit version policy.
    pub fn system_with(check: VersionCheck) -> Result<Runtime> {
        match Library::linked() {
            Ok(lib) => {
                let version = check_file(lib.path(), check)?;
                Ok(Runtime {
                    lib: Arc::new(LibRef::Linked(lib)),
                    version,
                })
            }
            Err(edge_infer_rkllm_sys::LoadError::NotLinked) => {
                // SAFETY: the name is the RKLLM runtime's; its version is checked below before
                // any of its functions is called.
                let lib = unsafe { Library::load("librkllmrt.so") }?;
                let version = check_file(lib.path(), check)?;
                Ok(Runtime {
                    lib: Arc::new(LibRef::Loaded(lib)),
                    version,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Loads the runtime at `path`, checking its embedded version *before* opening it.
    ///
    /// ```
    /// # let path = rkllm_test_double::library_path(
    /// #     if cfg!(feature = "abi-1-2") { rkllm_test_double::Abi::V1_2 } else { rkllm_test_double::Abi::V1_3 });
    /// let rt = edge_infer_rkllm::Runtime::load(path)?; // edge-infer's test double here
    /// assert!(rt.is_test_double());
    /// # Ok::<(), edge_infer_rkllm::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Runtime> {
        Self::load_with(path, VersionCheck::Strict)
    }

    /// [`Runtime::load`] with an explicit version policy.
    pub fn load_with(path: impl AsRef<Path>, check: VersionCheck) -> Result<Runtime> {
        let path = path.as_ref();
        let version = check_file(Some(path), check)?;
        // SAFETY: `path` passed the version check for the ABI generation our declarations
        // describe (or the caller chose to skip it, vouching for it).
        let lib = unsafe { Library::load(path) }?;
        Ok(Runtime {
            lib: Arc::new(LibRef::Loaded(lib)),
            version,
        })
    }

    /// The version string found in the library file, if it was checked.
    pub fn embedded_version(&self) -> Option<&EmbeddedVersion> {
        self.version.as_ref()
    }

    /// True when this is edge-infer's test double (a fake librkllmrt), never the real runtime.
    pub fn is_test_double(&self) -> bool {
        self.version.as_ref().is_some_and(|v| v.is_test_double())
    }

    /// The library file, when known.
    pub fn path(&self) -> Option<&Path> {
        self.lib.get().path()
    }

    pub(crate) fn api(&self) -> &edge_infer_rkllm_sys::Api {
        self.lib.get().api()
    }
}

/// Reads `path` and checks its embedded version against the selected ABI generation.
pub fn check_file(path: Option<&Path>, check: VersionCheck) -> Result<Option<EmbeddedVersion>> {
    if check == VersionCheck::Skip {
        return Ok(None);
    }
    let path = path.ok_or(Error::RuntimePathUnknown)?;
    let bytes = std::fs::read(path).map_err(|source| Error::RuntimeUnreadable {
        path: path.into(),
        source,
    })?;
    check_bytes(&bytes, path, check)
}

pub(crate) fn check_bytes(
    bytes: &[u8],
    path: &Path,
    check: VersionCheck,
) -> Result<Option<EmbeddedVersion>> {
    let expected = AbiGeneration::SELECTED;
    match find_embedded_version(bytes) {
        Some(found) if expected.accepts(found.version) => {
            log::info!("RKLLM runtime {path:?}: {}", found.text);
            Ok(Some(found))
        }
        Some(found) => Err(Error::RuntimeVersionMismatch {
            path: PathBuf::from(path),
            found: found.version,
            text: found.text,
            expected,
            hint: if found.version.minor == 2 {
                " feature `abi-1-2`"
            } else {
                "out feature `abi-1-2` (or another version of rkllm)"
            },
        }),
        None if check == VersionCheck::AllowUnknown => {
            log::warn!("no RKLLM version string in {path:?}; assuming the {expected} ABI");
            Ok(None)
        }
        None => Err(Error::RuntimeVersionUnknown {
            path: path.into(),
            expected,
        }),
    }
}
