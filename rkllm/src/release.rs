//! Rockchip's runtime releases, identified by the git blob id of `librkllmrt.so`
//! (`git hash-object FILE`), as listed by the release tags (table in shared/rkllm/ABI.md).
//!
//! The library has no version function and no version literal: the blob id is the only way
//! to know the release before calling into it. Vendors and distributions also ship rebuilt
//! copies, whose ids are not here; an unknown id is normal, and the ABI must then be stated
//! (see [`Runtime`](crate::Runtime)).
use crate::version::{Abi, RuntimeVersion};
use sha1::{Digest, Sha1};
use std::fmt;

/// What a release file was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Linux, aarch64 (RK3588 boards).
    LinuxAarch64,
    /// Linux, 32-bit ARM (armhf).
    LinuxArmhf,
    /// Android, arm64-v8a.
    AndroidArm64,
}

impl Platform {
    /// The platform this program runs on, if it is one of the three.
    pub fn current() -> Option<Platform> {
        if cfg!(all(target_os = "android", target_arch = "aarch64")) {
            Some(Platform::AndroidArm64)
        } else if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
            Some(Platform::LinuxAarch64)
        } else if cfg!(all(target_os = "linux", target_arch = "arm")) {
            Some(Platform::LinuxArmhf)
        } else {
            None
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::LinuxAarch64 => "Linux aarch64",
            Platform::LinuxArmhf => "Linux armhf",
            Platform::AndroidArm64 => "Android arm64-v8a",
        })
    }
}

/// One Rockchip release of `librkllmrt.so`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Its version.
    pub version: RuntimeVersion,
    /// What the file was built for.
    pub platform: Platform,
    /// `git hash-object` of the file.
    pub blob_id: &'static str,
}

impl Release {
    /// The ABI generation of the release; `None` for releases this crate cannot drive
    /// (1.2.0 has a void callback and another `clear_kv_cache`; 1.2.1b1 other structs).
    pub fn abi(&self) -> Option<Abi> {
        [Abi::V1_2, Abi::V1_3]
            .into_iter()
            .find(|a| a.accepts(&self.version))
    }

    /// 1.2.1's `rkllm_run_async` never returns and never calls back (ABI.md, vendor issue
    /// #320). edge-infer-rkllm never calls `rkllm_run_async` (see [`AsyncRun`](crate::AsyncRun)).
    pub fn run_async_is_broken(&self) -> bool {
        self.version == RuntimeVersion::new(1, 2, 1)
    }
}

macro_rules! releases {
    ($(($maj:literal, $min:literal, $pat:literal, $pre:literal) $plat:ident $id:literal;)*) => {
        /// Every release whose blob id is known (ABI.md, gathered 2026-12).
        pub fn known_releases() -> Vec<Release> {
            vec![$(Release {
                version: RuntimeVersion {
                    major: $maj, minor: $min, patch: $pat, pre: String::from($pre),
                },
                platform: Platform::$plat,
                blob_id: $id,
            },)*]
        }
    };
}

releases! {
    (1, 2, 0, "") LinuxAarch64 "d45ee9b8dcb9ef27d7dd875ce3be3d5e6dfb654d";
    (1, 2, 1, "b1") LinuxAarch64 "db041c01bba5e0e8f624bb2ff50d48825dde1bfc";
    (1, 2, 1, "") LinuxAarch64 "6b9439d59f2fe4bb8ef5ee2b09c102f1bf993da9";
    (1, 2, 2, "") LinuxAarch64 "8ed9cca16f8d5ad8f7cdd7d393de6561182b3395";
    (1, 2, 3, "") LinuxAarch64 "0084abc34ab43359cfa9fd5d4c92ece34127dbd0";
    (1, 3, 0, "") LinuxAarch64 "34167b32f99cb7ab19e21fb579fb750d96b878f1";
    (1, 2, 1, "") LinuxArmhf "7025f35825e04ad75d839d10392e3c02cc88e57a";
    (1, 2, 2, "") LinuxArmhf "d5953fdad6e60521f1dc696f6d638425c93ba08d";
    (1, 2, 3, "") LinuxArmhf "fe1ca6849603a770c54f82d26b826a120c79a01a";
    (1, 3, 0, "") LinuxArmhf "17c9063b46168c4e7d093d6fedb097874f92d076";
    (1, 2, 1, "") AndroidArm64 "4464ccb4f167d72dbd61fe1c92b44976ed45dda5";
    (1, 2, 2, "") AndroidArm64 "471639b60c2c7fdcb2c8dffd553acc8548d10c2e";
    (1, 2, 3, "") AndroidArm64 "348986e7a8170ddb2c3b43e99257d2e64d9699f6";
    (1, 3, 0, "") AndroidArm64 "5f0bd5f39bd05263a59786733687d29e66982aa6";
}

/// The release with this blob id, if it is one of Rockchip's.
pub fn lookup(blob_id: &str) -> Option<Release> {
    known_releases()
        .into_iter()
        .find(|r| r.blob_id.eq_ignore_ascii_case(blob_id))
}

/// `git hash-object` of `bytes`: SHA-1 of `"blob <len>\0"` followed by the bytes.
///
/// ```
/// // `printf 'hello\n' | git hash-object --stdin`
/// assert_eq!(edge_infer_rkllm::git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
/// ```
pub fn git_blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    format!("{:x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git() {
        // `git hash-object /dev/null`
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn table_lookup_and_abis() {
        let r = lookup("34167B32F99CB7AB19E21FB579FB750D96B878F1").unwrap();
        assert_eq!(
            (r.version.to_string(), r.platform),
            ("1.3.0".into(), Platform::LinuxAarch64)
        );
        assert_eq!(r.abi(), Some(Abi::V1_3));
        let b1 = lookup("db041c01bba5e0e8f624bb2ff50d48825dde1bfc").unwrap();
        assert_eq!((b1.version.to_string(), b1.abi()), ("1.2.1b1".into(), None));
        assert_eq!(
            lookup("d45ee9b8dcb9ef27d7dd875ce3be3d5e6dfb654d")
                .unwrap()
                .abi(),
            None
        );
        let r121 = lookup("6b9439d59f2fe4bb8ef5ee2b09c102f1bf993da9").unwrap();
        assert!(r121.run_async_is_broken() && r121.abi() == Some(Abi::V1_2));
        assert!(!lookup("0084abc34ab43359cfa9fd5d4c92ece34127dbd0")
            .unwrap()
            .run_async_is_broken());
        assert_eq!(known_releases().len(), 14);
        assert!(lookup("0000000000000000000000000000000000000000").is_none());
    }
}
