//! One Generator API over llama.cpp (CPU) and RKLLM (NPU) (not yet implemented).
//!
//! This crate is a placeholder in the workspace; it exports nothing yet.
