//! Whether attention runs through llama.cpp's flash-attention kernels.

use std::str::FromStr;

use edge_infer_llama_sys as sys;

use crate::error::{Error, Result};

/// When to use flash attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlashAttention {
    /// Let llama.cpp decide (on for the CPU backend when supported).
    #[default]
    Auto,
    /// Force on.
    On,
    /// Force off (a quantized V cache is then refused).
    Off,
}

impl FlashAttention {
    pub(crate) fn raw(self) -> sys::llama_flash_attn_type {
        match self {
            FlashAttention::Auto => sys::LLAMA_FLASH_ATTN_TYPE_AUTO,
            FlashAttention::On => sys::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttention::Off => sys::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        }
    }
}

impl std::fmt::Display for FlashAttention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FlashAttention::Auto => "auto",
            FlashAttention::On => "on",
            FlashAttention::Off => "off",
        })
    }
}

impl FromStr for FlashAttention {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "-1" => Ok(FlashAttention::Auto),
            "on" | "1" | "true" => Ok(FlashAttention::On),
            "off" | "0" | "false" => Ok(FlashAttention::Off),
            _ => Err(Error::InvalidParameter {
                name: "flash attention",
                reason: format!("`{s}` is not auto, on or off"),
            }),
        }
    }
}
