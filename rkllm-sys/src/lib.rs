//! Raw FFI declarations for Rockchip's RKLLM runtime (not yet implemented).
//!
//! This crate is a placeholder in the workspace; it exports nothing yet.
