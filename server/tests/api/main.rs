//! The server over real HTTP, one test binary: the default model (llama.cpp, CPU) and the
//! RKLLM test double (a fake librkllmrt: no NPU), driven by an independent OpenAI client
//! crate (`async-openai`) and by raw HTTP where the client would hide the wire.

mod browser;
mod chat;
mod common;
mod errors;
mod npu;
mod policy;
mod serving;
mod soak;
