//! The element type of a K or V cache.

use std::ffi::CStr;
use std::fmt;
use std::str::FromStr;

use edge_infer_llama_sys as sys;

use crate::error::{Error, Result};

/// A K or V cache element type: one of [`KvType::CACHE_TYPES`], the `ggml_type`s
/// llama.cpp's CPU backend can keep a cache in. Parsing refuses every other type (ggml has
/// weight-only types such as `iq2_xxs` or `i32` with no cache kernels), so a `KvType` is
/// always usable; there is no other way to make one.
///
/// ```
/// use edge_infer_llama::KvType;
/// let t: KvType = "q8_0".parse().unwrap();
/// assert_eq!(t, KvType::Q8_0);
/// assert!(t.is_quantized());
/// assert_eq!(KvType::F16.to_string(), "f16");
/// assert!("iq2_xxs".parse::<KvType>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvType(sys::ggml_type);

impl KvType {
    /// 32-bit float.
    pub const F32: KvType = KvType(sys::GGML_TYPE_F32);
    /// 16-bit float (llama.cpp's default).
    pub const F16: KvType = KvType(sys::GGML_TYPE_F16);
    /// bfloat16.
    pub const BF16: KvType = KvType(sys::GGML_TYPE_BF16);
    /// 8-bit blocks of 32 with an f16 scale (8.5 bits per element).
    pub const Q8_0: KvType = KvType(sys::GGML_TYPE_Q8_0);
    /// 4-bit blocks of 32 with an f16 scale (4.5 bits per element).
    pub const Q4_0: KvType = KvType(sys::GGML_TYPE_Q4_0);
    /// 4-bit blocks with scale and minimum.
    pub const Q4_1: KvType = KvType(sys::GGML_TYPE_Q4_1);
    /// 5-bit blocks.
    pub const Q5_0: KvType = KvType(sys::GGML_TYPE_Q5_0);
    /// 5-bit blocks with minimum.
    pub const Q5_1: KvType = KvType(sys::GGML_TYPE_Q5_1);
    /// 4-bit non-linear.
    pub const IQ4_NL: KvType = KvType(sys::GGML_TYPE_IQ4_NL);

    /// The types llama.cpp's CPU backend supports for the K and V caches.
    pub const CACHE_TYPES: [KvType; 9] = [
        KvType::F32,
        KvType::F16,
        KvType::BF16,
        KvType::Q8_0,
        KvType::Q4_0,
        KvType::Q4_1,
        KvType::Q5_0,
        KvType::Q5_1,
        KvType::IQ4_NL,
    ];

    /// The raw `ggml_type` (public through [`AsRaw`](crate::raw::AsRaw)).
    pub(crate) fn raw(self) -> sys::ggml_type {
        self.0
    }

    /// From a raw `ggml_type` that llama.cpp reports for a cache it allocated: a cache
    /// type, or `None`.
    pub(crate) fn from_raw(t: sys::ggml_type) -> Option<KvType> {
        KvType::CACHE_TYPES.into_iter().find(|k| k.0 == t)
    }

    /// ggml's name for the type (`f16`, `q8_0`, ...).
    pub fn name(self) -> &'static str {
        type_name(self.0).unwrap_or("?")
    }

    /// Whether the type is block-quantized (a quantized V cache needs flash attention).
    pub fn is_quantized(self) -> bool {
        // SAFETY: pure function of a valid type (every KvType is a cache type).
        unsafe { sys::ggml_is_quantized(self.0) }
    }

    /// Bytes per element, e.g. 2.0 for f16 and 34/32 for q8_0.
    pub fn bytes_per_element(self) -> f64 {
        // SAFETY: pure functions of a valid type.
        let (size, blck) = unsafe { (sys::ggml_type_size(self.0), sys::ggml_blck_size(self.0)) };
        size as f64 / blck as f64
    }
}

impl fmt::Debug for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KvType {
    type Err = Error;
    /// Parses a cache type name (`f16`, `q8_0`, ...), case-insensitively. A ggml type that
    /// is not a cache type is [`Error::UnsupportedKvType`]; any other name
    /// [`Error::InvalidParameter`].
    fn from_str(s: &str) -> Result<KvType> {
        let want = s.trim();
        if let Some(t) = KvType::CACHE_TYPES
            .iter()
            .find(|t| t.name().eq_ignore_ascii_case(want))
        {
            return Ok(*t);
        }
        let ggml = (0..sys::GGML_TYPE_COUNT)
            .filter_map(type_name)
            .find(|n| n.eq_ignore_ascii_case(want));
        if let Some(name) = ggml {
            return Err(Error::UnsupportedKvType {
                name: name.to_string(),
                at: "the cache type".into(),
                layer: None,
            });
        }
        Err(Error::InvalidParameter {
            name: "cache type",
            reason: format!("`{s}` is not a ggml type; use one of {CACHE_TYPE_NAMES}"),
        })
    }
}

/// The names of [`KvType::CACHE_TYPES`], for messages.
pub(crate) const CACHE_TYPE_NAMES: &str = "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl";

/// ggml's name of a raw type, `None` for values that name no type.
pub(crate) fn type_name(t: sys::ggml_type) -> Option<&'static str> {
    if t >= sys::GGML_TYPE_COUNT {
        return None;
    }
    // SAFETY: every value below GGML_TYPE_COUNT is a ggml_type; ggml_type_name returns a
    // static string for it (removed types have a NULL or empty name).
    let p = unsafe { sys::ggml_type_name(t) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL, NUL-terminated, static.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .ok()
        .filter(|n| !n.is_empty())
}
