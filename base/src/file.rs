//! Prechecks of a model file, before a runtime sees it: the mistakes that runtimes report
//! poorly or not at all (a missing or empty file, a Git LFS pointer, another format).

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The magic bytes a format starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Magic {
    /// The format's name, for messages.
    pub format: &'static str,
    /// The bytes the file must start with (as text, for messages too).
    pub bytes: &'static str,
}

impl Magic {
    /// llama.cpp's GGUF models.
    pub const GGUF: Magic = Magic {
        format: "GGUF",
        bytes: "GGUF",
    };
}

/// What a Git LFS pointer file starts with (the spec's first line).
const LFS_POINTER: &[u8] = b"version https://git-lfs";

/// Checks that `path` is a non-empty regular file that is not a Git LFS pointer and, with
/// `magic`, starts with that format's magic. Returns the file's size.
///
/// ```
/// use edge_infer_base::{file, Error};
/// let dir = tempfile::tempdir()?;
/// let pointer = dir.path().join("model.gguf");
/// std::fs::write(&pointer, "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")?;
/// let e = file::precheck(&pointer, Some(file::Magic::GGUF)).unwrap_err();
/// assert!(matches!(e, Error::LfsPointer(_)));
/// assert!(e.to_string().contains("a Git LFS pointer file, not the model: fetch the real file"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn precheck(path: &Path, magic: Option<Magic>) -> Result<u64> {
    let md = match fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(path.into()))
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.into(),
                source,
            })
        }
    };
    if !md.is_file() {
        return Err(Error::NotAFile(path.into()));
    }
    if md.len() == 0 {
        return Err(Error::Empty(path.into()));
    }
    let mut head = Vec::with_capacity(LFS_POINTER.len());
    fs::File::open(path)
        .and_then(|f| f.take(LFS_POINTER.len() as u64).read_to_end(&mut head))
        .map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
    if head.starts_with(LFS_POINTER) {
        return Err(Error::LfsPointer(path.into()));
    }
    if let Some(m) = magic {
        if !head.starts_with(m.bytes.as_bytes()) {
            head.truncate(m.bytes.len().max(4));
            return Err(Error::WrongMagic {
                path: path.into(),
                format: m.format,
                expected: m.bytes,
                found: head,
            });
        }
    }
    Ok(md.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.bin");
        fs::write(&p, bytes).unwrap();
        (d, p)
    }

    #[test]
    fn each_problem_is_named() {
        let gguf = Some(Magic::GGUF);
        assert!(matches!(
            precheck(Path::new("/no/such/file"), gguf),
            Err(Error::NotFound(_))
        ));
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(precheck(d.path(), gguf), Err(Error::NotAFile(_))));
        let (_d, p) = file(b"");
        assert!(matches!(precheck(&p, gguf), Err(Error::Empty(_))));
        let (_d, p) = file(b"version https://git-lfs.github.com/spec/v1\n");
        assert!(matches!(precheck(&p, None), Err(Error::LfsPointer(_))));
        let (_d, p) = file(b"RKLL\0\0\0\0");
        let e = precheck(&p, gguf).unwrap_err();
        assert!(
            matches!(&e, Error::WrongMagic { found, .. } if found == b"RKLL"),
            "{e}"
        );
        let (_d, p) = file(b"GGUF\x03\0\0\0");
        assert_eq!(precheck(&p, gguf).unwrap(), 8);
        assert_eq!(precheck(&p, None).unwrap(), 8);
    }
}
