//! Which generation of the RKLLM C ABI these declarations describe.
use std::fmt;

/// RKLLM ABI generations. Symbols are the same in both; struct layouts are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbiGeneration {
    /// 1.2.1, 1.2.2, 1.2.3 (one layout).
    V1_2,
    /// 1.3.x.
    V1_3,
}

impl AbiGeneration {
    /// The generation this build declares: feature `abi-1-2`, else 1.3. Dependents read the
    /// same fact from the `links` metadata `DEP_EDGE_INFER_RKLLMRT_ABI` (`1.2` or `1.3`), so
    /// their code follows this crate even when another crate enabled the feature.
    pub const SELECTED: AbiGeneration = if cfg!(feature = "abi-1-2") {
        AbiGeneration::V1_2
    } else {
        AbiGeneration::V1_3
    };

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
