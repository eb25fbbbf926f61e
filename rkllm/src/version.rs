//! RKLLM runtime versions (with prerelease tags such as `1.2.1b1`) and ABI generations.
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A runtime, toolkit or driver version such as `1.3.0` or `1.2.1b1`.
///
/// A prerelease sorts before its release: `1.2.1b1 < 1.2.1`.
///
/// ```
/// use edge_infer_rkllm::RuntimeVersion;
/// let b1: RuntimeVersion = "1.2.1b1".parse().unwrap();
/// let rel: RuntimeVersion = "1.2.1".parse().unwrap();
/// assert!(b1 < rel);
/// assert_eq!(b1.to_string(), "1.2.1b1");
/// assert!(b1.is_prerelease());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuntimeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// A prerelease tag such as `b1` (empty for a release).
    pub pre: String,
}

impl RuntimeVersion {
    /// A release version.
    pub const fn new(major: u32, minor: u32, patch: u32) -> RuntimeVersion {
        RuntimeVersion {
            major,
            minor,
            patch,
            pre: String::new(),
        }
    }

    /// Whether this is a prerelease (`1.2.1b1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Parses the version at the start of `s` (`v1.3.0`, `1.2.1b1, ...`); `None` without one.
    pub(crate) fn parse_prefix(s: &str) -> Option<RuntimeVersion> {
        let s = s.trim_start().trim_start_matches(['v', 'V']);
        let mut nums = [0u32; 3];
        let mut rest = s;
        let mut n = 0;
        while n < 3 {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 6 {
                break;
            }
            nums[n] = rest[..digits].parse().ok()?;
            n += 1;
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(r) if n < 3 && r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        if n < 2 {
            return None;
        }
        // A prerelease tag: letters then digits, directly after the numbers (`b1`, `rc2`).
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let digits = rest[letters..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let pre = if letters > 0 && letters <= 5 {
            rest[..letters + digits].to_owned()
        } else {
            String::new()
        };
        Some(RuntimeVersion {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
        })
    }
}

impl Ord for RuntimeVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for RuntimeVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RuntimeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.major, self.minor, self.patch, self.pre
        )
    }
}

impl FromStr for RuntimeVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v = RuntimeVersion::parse_prefix(s).ok_or_else(|| format!("{s:?} is not a version"))?;
        if v.to_string().len() < s.trim().trim_start_matches(['v', 'V']).len() {
            return Err(format!("{s:?} has text after its version"));
        }
        Ok(v)
    }
}

/// An RKLLM ABI generation: struct layouts differ between them, symbols do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Abi {
    /// Runtimes 1.2.1, 1.2.2, 1.2.3 (one layout).
    V1_2,
    /// Runtimes 1.3.x.
    V1_3,
}

impl Abi {
    /// The generation this build calls with: what edge-infer-rkllm-sys was compiled for
    /// (its `abi-1-2` feature, from whichever crate in the tree enabled it).
    pub const COMPILED: Abi = if cfg!(rkllm_abi_1_2) {
        Abi::V1_2
    } else {
        Abi::V1_3
    };

    /// Whether a runtime of `version` uses this generation's layout. Prereleases never do
    /// (1.2.1b1 has other structs and fewer functions than 1.2.1).
    pub fn accepts(self, version: &RuntimeVersion) -> bool {
        if version.is_prerelease() || version.major != 1 {
            return false;
        }
        match self {
            Abi::V1_2 => version.minor == 2 && version.patch >= 1,
            Abi::V1_3 => version.minor == 3,
        }
    }

    /// Human-readable range, e.g. `1.3.x`.
    pub fn describe(self) -> &'static str {
        match self {
            Abi::V1_2 => "1.2.1-1.2.3",
            Abi::V1_3 => "1.3.x",
        }
    }

    /// `1.2` or `1.3`, as the `EDGE_INFER_RKLLM_ABI` variable spells it.
    pub fn short(self) -> &'static str {
        match self {
            Abi::V1_2 => "1.2",
            Abi::V1_3 => "1.3",
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl FromStr for Abi {
    type Err = String;
    /// `1.2` / `1.3` (also `1.2.x`, `v1.3`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().trim_start_matches(['v', 'V']) {
            "1.2" | "1.2.x" => Ok(Abi::V1_2),
            "1.3" | "1.3.x" => Ok(Abi::V1_3),
            other => Err(format!("{other:?} is not an RKLLM ABI (write 1.2 or 1.3)")),
        }
    }
}

// The sys crate and this crate agree on what was compiled (both follow the `links` metadata).
const _: () = assert!(
    matches!(
        (Abi::COMPILED, edge_infer_rkllm_sys::AbiGeneration::SELECTED),
        (Abi::V1_2, edge_infer_rkllm_sys::AbiGeneration::V1_2)
            | (Abi::V1_3, edge_infer_rkllm_sys::AbiGeneration::V1_3)
    ),
    "edge-infer-rkllm and edge-infer-rkllm-sys disagree on the ABI"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> RuntimeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_releases_and_prereleases() {
        assert_eq!(v("1.3.0"), RuntimeVersion::new(1, 3, 0));
        assert_eq!(v("v1.2.3"), RuntimeVersion::new(1, 2, 3));
        let b1 = v("1.2.1b1");
        assert_eq!((b1.patch, b1.pre.as_str()), (1, "b1"));
        assert!(b1 < v("1.2.1") && v("1.2.1") < v("1.2.2") && v("1.2.1b1") > v("1.2.0"));
        assert_eq!(v("0.9.7"), RuntimeVersion::new(0, 9, 7));
        assert!("1".parse::<RuntimeVersion>().is_err());
        assert!("1.3.0 extra".parse::<RuntimeVersion>().is_err());
        assert!("x1.3".parse::<RuntimeVersion>().is_err());
        assert_eq!(
            RuntimeVersion::parse_prefix("1.3.0, rknpu driver"),
            Some(v("1.3.0"))
        );
    }

    #[test]
    fn abi_acceptance() {
        assert!(Abi::V1_2.accepts(&v("1.2.1")) && Abi::V1_2.accepts(&v("1.2.3")));
        assert!(!Abi::V1_2.accepts(&v("1.2.0")));
        assert!(
            !Abi::V1_2.accepts(&v("1.2.1b1")),
            "1.2.1b1 has another layout"
        );
        assert!(!Abi::V1_2.accepts(&v("1.3.0")));
        assert!(Abi::V1_3.accepts(&v("1.3.0")) && Abi::V1_3.accepts(&v("1.3.7")));
        assert!(!Abi::V1_3.accepts(&v("1.2.3")) && !Abi::V1_3.accepts(&v("2.3.0")));
        assert_eq!("1.2".parse::<Abi>(), Ok(Abi::V1_2));
        assert_eq!("1.3.x".parse::<Abi>(), Ok(Abi::V1_3));
        assert!("1.4".parse::<Abi>().is_err());
    }
}
