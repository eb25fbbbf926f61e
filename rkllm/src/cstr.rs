//! Strings and paths handed to the runtime as C strings.
use crate::error::{Error, Result};
use std::ffi::CString;
use std::path::Path;

/// `s` as a C string; a NUL inside is an error naming `what`.
pub(crate) fn cstring(s: &str, what: &'static str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InteriorNul { what })
}

/// `p` as a C string (its bytes as the OS gives them).
pub(crate) fn path_cstring(p: &Path, what: &'static str) -> Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| Error::InteriorNul { what })
}
