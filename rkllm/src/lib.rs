//! Safe wrapper over the RKLLM NPU runtime (not yet implemented).
//!
//! This crate is a placeholder in the workspace; it exports nothing yet.
