//! The runtime's embedded version string, read from the library file before any call into it.
//!
//! RKLLM 1.2.x and 1.3.x export the same symbols with different struct layouts, so the
//! linker cannot catch a mismatch and the first call (`rkllm_createDefaultParam`, which
//! returns a struct by value) corrupts the stack. Reading the version from the file is the
//! only check that happens before that.

use std::fmt;

/// A runtime version such as 1.3.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuntimeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for RuntimeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A version string found in a library file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedVersion {
    pub version: RuntimeVersion,
    /// The surrounding printable text, e.g. `rkllm-runtime version: 1.3.0 (edge-infer test double)`.
    pub text: String,
}

impl EmbeddedVersion {
    /// True for edge-infer's test double (its banner says so), never for Rockchip's runtime.
    pub fn is_test_double(&self) -> bool {
        self.text.contains("test double")
    }
}

/// RKLLM ABI generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiGeneration {
    /// 1.2.1, 1.2.2, 1.2.3 (one layout).
    V1_2,
    /// 1.3.x.
    V1_3,
}

impl AbiGeneration {
    /// The generation this build of edge-infer-rkllm-sys declares (feature `abi-1-2` or the default 1.3).
    pub const SELECTED: AbiGeneration = if cfg!(feature = "abi-1-2") {
        AbiGeneration::V1_2
    } else {
        AbiGeneration::V1_3
    };

    /// Whether a runtime of `version` uses this generation's layout.
    pub fn accepts(self, version: RuntimeVersion) -> bool {
        match self {
            AbiGeneration::V1_2 => version.major == 1 && version.minor == 2 && version.patch >= 1,
            AbiGeneration::V1_3 => version.major == 1 && version.minor == 3,
        }
    }

    /// Human-readable range, e.g. `1.3.x`.
    pub fn describe(self) -> &'static str {
        match self {
            AbiGeneration::V1_2 => "1.2.1-1.2.3",
            AbiGeneration::V1_3 => "1.3.x",
        }
    }
}

impl fmt::Display for AbiGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

const MARKERS: &[&[u8]] = &[
    b"rkllm-runtime version",
    b"RKLLM SDK",
    b"rkllm_runtime version",
    b"RKLLM Runtime version",
];

/// Finds the first `<marker> [version][:=] X.Y[.Z]` in `bytes`. Markers followed by a format
/// directive (`%s`) are skipped, since they carry no version.
pub fn find_embedded_version(bytes: &[u8]) -> Option<EmbeddedVersion> {
    for marker in MARKERS {
        let mut from = 0;
        while let Some(at) = find(&bytes[from..], marker).map(|i| i + from) {
            from = at + marker.len();
            if let Some(v) = parse_after(&bytes[at + marker.len()..]) {
                return Some(EmbeddedVersion {
                    version: v,
                    text: printable_around(bytes, at),
                });
            }
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_after(rest: &[u8]) -> Option<RuntimeVersion> {
    // Allow only separator words ("version", ':', '=', 'v', spaces) before the digits.
    let window = &rest[..rest.len().min(24)];
    let start = window.iter().position(|b| b.is_ascii_digit())?;
    let sep = &window[..start];
    if !sep
        .iter()
        .all(|b| b" :=vV".contains(b) || b"ersion".contains(b))
    {
        return None;
    }
    let mut nums = [0u32; 3];
    let mut n = 0;
    let mut i = start;
    while n < 3 {
        let digits = rest[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 4 {
            break;
        }
        nums[n] = std::str::from_utf8(&rest[i..i + digits])
            .ok()?
            .parse()
            .ok()?;
        n += 1;
        i += digits;
        if rest.get(i) == Some(&b'.') && rest.get(i + 1).is_some_and(|b| b.is_ascii_digit()) {
            i += 1;
        } else {
            break;
        }
    }
    (n >= 2).then_some(RuntimeVersion {
        major: nums[0],
        minor: nums[1],
        patch: nums[2],
    })
}

fn printable_around(bytes: &[u8], at: usize) -> String {
    let ok = |b: &u8| (0x20..0x7f).contains(b);
    let end = at + bytes[at..].iter().take(160).take_while(|b| ok(b)).count();
    String::from_utf8_lossy(&bytes[at..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: u32, b: u32, c: u32) -> RuntimeVersion {
        RuntimeVersion {
            major: a,
            minor: b,
            patch: c,
        }
    }

    #[test]
    fn finds_runtime_banner() {
        let bytes = b"\0\x7fELF junk\0rkllm-runtime version: 1.3.0 (edge-infer test double)\0more";
        let e = find_embedded_version(bytes).unwrap();
        assert_eq!(e.version, v(1, 3, 0));
        assert_eq!(
            e.text,
            "rkllm-runtime version: 1.3.0 (edge-infer test double)"
        );
        assert!(e.is_test_double());
    }

    #[test]
    fn skips_format_strings_and_finds_later_match() {
        let bytes = b"rkllm-runtime version: %s, platform %s\0xx\0RKLLM SDK version: 1.2.1\0";
        let e = find_embedded_version(bytes).unwrap();
        assert_eq!(e.version, v(1, 2, 1));
        assert!(!e.is_test_double());
    }

    #[test]
    fn none_without_marker_or_digits() {
        assert_eq!(find_embedded_version(b"nothing here 1.2.3"), None);
        assert_eq!(
            find_embedded_version(b"rkllm-runtime version: unknown"),
            None
        );
        assert_eq!(find_embedded_version(b"rkllm-runtime version: 7"), None);
    }

    #[test]
    fn generation_acceptance() {
        assert!(AbiGeneration::V1_2.accepts(v(1, 2, 3)));
        assert!(AbiGeneration::V1_2.accepts(v(1, 2, 1)));
        assert!(!AbiGeneration::V1_2.accepts(v(1, 2, 0)));
        assert!(!AbiGeneration::V1_2.accepts(v(1, 3, 0)));
        assert!(AbiGeneration::V1_3.accepts(v(1, 3, 0)));
        assert!(AbiGeneration::V1_3.accepts(v(1, 3, 7)));
        assert!(!AbiGeneration::V1_3.accepts(v(1, 2, 3)));
        assert!(!AbiGeneration::V1_3.accepts(v(2, 3, 0)));
    }
}
