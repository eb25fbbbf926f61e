//! Which `librkllmrt` to use, and how its ABI is known before the first call into it.
//!
//! RKLLM 1.2.x and 1.3.x export the same symbols with different struct layouts, so the
//! linker cannot catch a mismatch and the first call (`rkllm_createDefaultParam`, which
//! returns a struct by value) corrupts the stack. The file is identified first:
//!
//! 1. its git blob id is one of Rockchip's releases ([`known_releases`](crate::known_releases)):
//!    the exact version, and so the ABI, is known;
//! 2. it is edge-infer's test double (it carries a marker saying so);
//! 3. otherwise (a vendor or distribution rebuild) the ABI must be *stated*: with
//!    [`Runtime::load_stated`] / [`LlmBuilder::runtime_abi`](crate::LlmBuilder::runtime_abi),
//!    the `EDGE_INFER_RKLLM_ABI` environment variable (`1.2` or `1.3`), or by building with
//!    the `abi-1-2` feature (which states 1.2). The statement must match the ABI this build
//!    calls with.
//!
//! After `rkllm_init`, the runtime's own version log line is checked against the ABI when it
//! can be captured (see [`LlmBuilder::capture_init_log`](crate::LlmBuilder::capture_init_log)).
use crate::error::{Error, Result, RuntimeLoadError};
use crate::release::{git_blob_id, lookup, Release};
use crate::version::Abi;
use edge_infer_rkllm_sys::Library;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable that states the ABI of a runtime file whose blob id is unknown.
pub const ABI_ENV: &str = "EDGE_INFER_RKLLM_ABI";

/// How much of the identification to skip. Anything but `Strict` lets a wrong-ABI call
/// happen from safe code, so only the `unsafe` constructors take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionCheck {
    /// Known release, test double, or a stated ABI (default).
    #[default]
    Strict,
    /// Also accept an unknown file with no statement as [`Abi::COMPILED`], and do not
    /// refuse a contradicting init log line (only warn).
    AllowUnknown,
    /// Do not read the file at all.
    Skip,
}

/// What the runtime file was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// One of Rockchip's releases.
    Release(Release),
    /// edge-infer's test double (a fake librkllmrt for tests), of this ABI.
    TestDouble(Abi),
    /// A file edge-infer does not know.
    Unknown,
    /// Not checked ([`VersionCheck::Skip`]).
    Unchecked,
}

/// Why the ABI the runtime is called with is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiSource {
    /// The file is a known release.
    Release,
    /// The file is the test double.
    TestDouble,
    /// Stated in code ([`Runtime::load_stated`], [`LlmBuilder::runtime_abi`](crate::LlmBuilder::runtime_abi)).
    Stated,
    /// Stated by `EDGE_INFER_RKLLM_ABI`.
    Environment,
    /// Stated by building with the `abi-1-2` feature.
    Feature,
    /// Not established: [`VersionCheck::AllowUnknown`] or [`VersionCheck::Skip`].
    Assumed,
}

/// A loaded RKLLM runtime library whose ABI is established. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    lib: Arc<LibRef>,
    identity: Identity,
    source: AbiSource,
    blob_id: Option<String>,
    pub(crate) check: VersionCheck,
}

#[derive(Debug)]
enum LibRef {
    Linked(&'static Library),
    Loaded(Library),
}

impl LibRef {
    fn get(&self) -> &Library {
        match self {
            LibRef::Linked(l) => l,
            LibRef::Loaded(l) => l,
        }
    }
}

/// Identification of a file's bytes (pure: no loading).
pub(crate) fn identify(bytes: &[u8]) -> (Identity, String) {
    let id = git_blob_id(bytes);
    if let Some(r) = lookup(&id) {
        return (Identity::Release(r), id);
    }
    for abi in [Abi::V1_2, Abi::V1_3] {
        let marker = format!("edge-infer RKLLM TEST DOUBLE abi={}", abi.short());
        if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            return (Identity::TestDouble(abi), id);
        }
    }
    (Identity::Unknown, id)
}

/// The ABI stated outside the code: `EDGE_INFER_RKLLM_ABI`, else the `abi-1-2` feature.
fn ambient_statement() -> Result<Option<(Abi, AbiSource)>> {
    match std::env::var(ABI_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            let abi = v.parse::<Abi>().map_err(|reason| Error::BadAbiStatement {
                value: v.clone(),
                reason,
            })?;
            Ok(Some((abi, AbiSource::Environment)))
        }
        _ if cfg!(rkllm_abi_1_2) => Ok(Some((Abi::V1_2, AbiSource::Feature))),
        _ => Ok(None),
    }
}

/// Decides whether a file of `identity` may be called with [`Abi::COMPILED`].
pub(crate) fn decide(
    path: &Path,
    identity: &Identity,
    blob_id: &str,
    stated: Option<(Abi, AbiSource)>,
    check: VersionCheck,
) -> Result<AbiSource> {
    let compiled = Abi::COMPILED;
    if let Some((abi, _)) = stated {
        if abi != compiled {
            return Err(Error::AbiStatementMismatch {
                stated: abi,
                compiled,
            });
        }
    }
    match identity {
        Identity::Unchecked => Ok(AbiSource::Assumed),
        Identity::Release(r) => {
            if Some(r.platform) != crate::release::Platform::current() {
                // A Linux aarch64 file on an x86-64 dev machine, an armhf file on aarch64...
                // dlopen would refuse it anyway; say what it is.
                if crate::release::Platform::current().is_some() {
                    return Err(Error::RuntimeUnsupported {
                        path: path.into(),
                        release: r.version.to_string(),
                        why: format!("it is the {} build", r.platform),
                    });
                }
            }
            match r.abi() {
                Some(abi) if abi == compiled => Ok(AbiSource::Release),
                Some(abi) => Err(Error::RuntimeVersionMismatch {
                    path: path.into(),
                    found: r.version.to_string(),
                    found_abi: abi,
                    expected: compiled,
                }),
                None => Err(Error::RuntimeUnsupported {
                    path: path.into(),
                    release: r.version.to_string(),
                    why: "edge-infer-rkllm drives 1.2.1-1.2.3 and 1.3.x (1.2.0 and 1.2.1b1 have \
                          other structs and functions): install 1.2.3 or 1.3.0"
                        .into(),
                }),
            }
        }
        Identity::TestDouble(abi) if *abi == compiled => Ok(AbiSource::TestDouble),
        Identity::TestDouble(abi) => Err(Error::RuntimeVersionMismatch {
            path: path.into(),
            found: format!("the {abi} test double"),
            found_abi: *abi,
            expected: compiled,
        }),
        Identity::Unknown => match (stated, check) {
            (Some((_, source)), _) => {
                log::info!(
                    "RKLLM runtime {path:?} (git blob id {blob_id}) is not a release edge-infer \
                     knows; using the {compiled} ABI as stated ({source:?})"
                );
                Ok(source)
            }
            (None, VersionCheck::Strict) => Err(Error::RuntimeUnknown {
                path: path.into(),
                blob_id: blob_id.to_owned(),
                compiled,
            }),
            (None, _) => {
                log::warn!(
                    "RKLLM runtime {path:?} (git blob id {blob_id}) is unknown; assuming the \
                     {compiled} ABI (VersionCheck::AllowUnknown)"
                );
                Ok(AbiSource::Assumed)
            }
        },
    }
}

impl Runtime {
    /// The system's runtime: the one linked at build time if edge-infer-rkllm-sys linked one,
    /// else `librkllmrt.so` found by the dynamic loader.
    pub fn system() -> Result<Runtime> {
        // SAFETY: Strict identification happens before any function of the runtime is called.
        unsafe { Self::system_impl(None, VersionCheck::Strict) }
    }

    /// [`Runtime::system`] for a runtime file whose ABI you state (a vendor rebuild).
    pub fn system_stated(abi: Abi) -> Result<Runtime> {
        // SAFETY: as above; the statement must equal the compiled ABI (checked).
        unsafe { Self::system_impl(Some((abi, AbiSource::Stated)), VersionCheck::Strict) }
    }

    /// [`Runtime::system`] with a weaker identification.
    ///
    /// # Safety
    /// With [`VersionCheck::AllowUnknown`] or [`VersionCheck::Skip`], a runtime of the other
    /// ABI generation may be called with this build's struct layouts, which corrupts memory.
    /// The caller vouches that the runtime is of [`Abi::COMPILED`].
    pub unsafe fn system_with(check: VersionCheck) -> Result<Runtime> {
        // SAFETY: forwarded to the caller.
        unsafe { Self::system_impl(None, check) }
    }

    unsafe fn system_impl(
        stated: Option<(Abi, AbiSource)>,
        check: VersionCheck,
    ) -> Result<Runtime> {
        let lib = match Library::linked() {
            Ok(lib) => LibRef::Linked(lib),
            Err(edge_infer_rkllm_sys::LoadError::NotLinked) => {
                // SAFETY: opening runs the library's initialisers only; no RKLLM function is
                // called before the file is identified below.
                LibRef::Loaded(
                    unsafe { Library::load("librkllmrt.so") }.map_err(RuntimeLoadError::wrap)?,
                )
            }
            Err(e) => return Err(RuntimeLoadError::wrap(e)),
        };
        let path = lib.get().path().map(Path::to_path_buf);
        Self::finish(lib, path.as_deref(), stated, check)
    }

    /// Loads the runtime at `path`, identifying the file *before* it is opened.
    ///
    /// ```
    /// # let path = rkllm_test_double::library_path(
    /// #     if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_2 { rkllm_test_double::Abi::V1_2 } else { rkllm_test_double::Abi::V1_3 });
    /// let rt = edge_infer_rkllm::Runtime::load(path)?; // edge-infer's test double here
    /// assert!(rt.is_test_double());
    /// # Ok::<(), edge_infer_rkllm::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Runtime> {
        // SAFETY: Strict identification before the file is opened.
        unsafe { Self::load_impl(path.as_ref(), None, VersionCheck::Strict) }
    }

    /// Loads a runtime file whose ABI you state: for a file whose blob id is unknown (a
    /// vendor's rebuild). A known release or the test double is still checked against it.
    pub fn load_stated(path: impl AsRef<Path>, abi: Abi) -> Result<Runtime> {
        // SAFETY: as in `load`; the statement must equal the compiled ABI (checked).
        unsafe {
            Self::load_impl(
                path.as_ref(),
                Some((abi, AbiSource::Stated)),
                VersionCheck::Strict,
            )
        }
    }

    /// [`Runtime::load`] with a weaker identification.
    ///
    /// # Safety
    /// As for [`Runtime::system_with`]: the caller vouches that the file is an RKLLM runtime
    /// of [`Abi::COMPILED`].
    pub unsafe fn load_with(path: impl AsRef<Path>, check: VersionCheck) -> Result<Runtime> {
        // SAFETY: forwarded to the caller.
        unsafe { Self::load_impl(path.as_ref(), None, check) }
    }

    unsafe fn load_impl(
        path: &Path,
        stated: Option<(Abi, AbiSource)>,
        check: VersionCheck,
    ) -> Result<Runtime> {
        let (identity, blob_id) = Self::identify_file(Some(path), check)?;
        let stated = match stated {
            Some(s) => Some(s),
            None => ambient_statement()?,
        };
        let source = decide(
            path,
            &identity,
            blob_id.as_deref().unwrap_or("?"),
            stated,
            check,
        )?;
        // SAFETY: the file was identified as a runtime of the compiled ABI (or the caller of
        // an unsafe constructor vouched for it).
        let lib = unsafe { Library::load(path) }.map_err(RuntimeLoadError::wrap)?;
        Ok(Runtime {
            lib: Arc::new(LibRef::Loaded(lib)),
            identity,
            source,
            blob_id,
            check,
        })
    }

    fn identify_file(
        path: Option<&Path>,
        check: VersionCheck,
    ) -> Result<(Identity, Option<String>)> {
        if check == VersionCheck::Skip {
            return Ok((Identity::Unchecked, None));
        }
        let path = path.ok_or(Error::RuntimePathUnknown)?;
        let bytes = std::fs::read(path).map_err(|source| Error::RuntimeUnreadable {
            path: path.into(),
            source,
        })?;
        let (identity, id) = identify(&bytes);
        Ok((identity, Some(id)))
    }

    fn finish(
        lib: LibRef,
        path: Option<&Path>,
        stated: Option<(Abi, AbiSource)>,
        check: VersionCheck,
    ) -> Result<Runtime> {
        let (identity, blob_id) = Self::identify_file(path, check)?;
        let stated = match stated {
            Some(s) => Some(s),
            None => ambient_statement()?,
        };
        let shown = path.map_or_else(|| PathBuf::from("librkllmrt.so"), Path::to_path_buf);
        let source = decide(
            &shown,
            &identity,
            blob_id.as_deref().unwrap_or("?"),
            stated,
            check,
        )?;
        Ok(Runtime {
            lib: Arc::new(lib),
            identity,
            source,
            blob_id,
            check,
        })
    }

    /// What the file was found to be.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Why its ABI is believed.
    pub fn abi_source(&self) -> AbiSource {
        self.source
    }

    /// The known release, if the file is one.
    pub fn release(&self) -> Option<&Release> {
        match &self.identity {
            Identity::Release(r) => Some(r),
            _ => None,
        }
    }

    /// `git hash-object` of the file (unless identification was skipped).
    pub fn blob_id(&self) -> Option<&str> {
        self.blob_id.as_deref()
    }

    /// True when this is edge-infer's test double (a fake librkllmrt), never the real runtime.
    pub fn is_test_double(&self) -> bool {
        matches!(self.identity, Identity::TestDouble(_))
    }

    /// The library file, when known.
    pub fn path(&self) -> Option<&Path> {
        self.lib.get().path()
    }

    pub(crate) fn api(&self) -> &edge_infer_rkllm_sys::Api {
        self.lib.get().api()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::known_releases;

    fn p() -> &'static Path {
        Path::new("/x/librkllmrt.so")
    }

    #[test]
    fn known_release_of_the_compiled_abi_is_accepted_without_a_statement() {
        // Identification by blob id cannot be faked with a real file here (no Rockchip binary
        // may be in the repo); the decision is tested on the table's entries.
        for r in known_releases() {
            let ident = Identity::Release(r.clone());
            let got = decide(p(), &ident, r.blob_id, None, VersionCheck::Strict);
            let native = Some(r.platform) == crate::release::Platform::current()
                || crate::release::Platform::current().is_none();
            match (r.abi(), native) {
                (_, false) => assert!(matches!(got, Err(Error::RuntimeUnsupported { .. }))),
                (Some(a), true) if a == Abi::COMPILED => {
                    assert_eq!(got.unwrap(), AbiSource::Release)
                }
                (Some(_), true) => {
                    let e = got.unwrap_err();
                    assert!(matches!(e, Error::RuntimeVersionMismatch { .. }), "{e}");
                }
                (None, true) => {
                    let e = got.unwrap_err();
                    assert!(matches!(e, Error::RuntimeUnsupported { .. }), "{e}");
                    assert!(e.to_string().contains(&r.version.to_string()), "{e}");
                }
            }
        }
    }

    #[test]
    fn unknown_file_needs_a_statement_that_matches_the_build() {
        let e = decide(p(), &Identity::Unknown, "abc", None, VersionCheck::Strict).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("abc") && msg.contains(ABI_ENV) && msg.contains("runtime_abi"),
            "the error says how to state the ABI: {msg}"
        );
        let stated = Some((Abi::COMPILED, AbiSource::Environment));
        assert_eq!(
            decide(p(), &Identity::Unknown, "abc", stated, VersionCheck::Strict).unwrap(),
            AbiSource::Environment
        );
        let other = if Abi::COMPILED == Abi::V1_2 {
            Abi::V1_3
        } else {
            Abi::V1_2
        };
        assert!(matches!(
            decide(
                p(),
                &Identity::Unknown,
                "abc",
                Some((other, AbiSource::Stated)),
                VersionCheck::Strict
            ),
            Err(Error::AbiStatementMismatch { .. })
        ));
        assert_eq!(
            decide(
                p(),
                &Identity::Unknown,
                "abc",
                None,
                VersionCheck::AllowUnknown
            )
            .unwrap(),
            AbiSource::Assumed
        );
    }

    #[test]
    fn identifies_the_double_by_its_marker() {
        let (i, id) = identify(b"\x7fELF...edge-infer RKLLM TEST DOUBLE abi=1.3...");
        assert_eq!(i, Identity::TestDouble(Abi::V1_3));
        assert_eq!(id.len(), 40);
        assert_eq!(
            identify(b"\x7fELF rkllm-runtime version: %s").0,
            Identity::Unknown
        );
    }
}
