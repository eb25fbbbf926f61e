//! Helpers for tests against edge-infer's RKLLM test double (a fake librkllmrt).
#![allow(dead_code)]
use edge_infer_rkllm::{Llm, LlmBuilder, Runtime};
use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn abi() -> Abi {
    if cfg!(feature = "abi-1-2") {
        Abi::V1_2
    } else {
        Abi::V1_3
    }
}

pub fn other_abi() -> Abi {
    if cfg!(feature = "abi-1-2") {
        Abi::V1_3
    } else {
        Abi::V1_2
    }
}

pub fn runtime() -> Runtime {
    Runtime::load(library_path(abi())).expect("test double loads")
}

pub struct Fixture {
    pub dir: TempDir,
    pub model: PathBuf,
}

pub fn fixture(tag: &str, fake: FakeModel) -> Fixture {
    let dir = TempDir::new(tag).unwrap();
    let model = fake.write(dir.path().join("model.rkllm")).unwrap();
    Fixture { dir, model }
}

pub fn builder(f: &Fixture) -> LlmBuilder {
    Llm::builder(&f.model)
        .runtime(runtime())
        .max_context_len(1024)
}

pub fn llm(tag: &str, fake: FakeModel) -> (Fixture, Llm) {
    let f = fixture(tag, fake);
    let llm = builder(&f).build().expect("init against the test double");
    (f, llm)
}

/// `rkllm_test_double_query`: observations the double records (not part of the RKLLM ABI).
pub fn query(llm: Option<&Llm>, key: &str) -> i32 {
    static LIB: OnceLock<libloading::Library> = OnceLock::new();
    // SAFETY: same file as the loaded runtime, so dlopen returns the same object.
    let lib = LIB.get_or_init(|| unsafe { libloading::Library::new(library_path(abi())) }.unwrap());
    type Q = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
    // SAFETY: the double exports this signature.
    let f = unsafe { lib.get::<Q>(b"rkllm_test_double_query\0") }.unwrap();
    let k = CString::new(key).unwrap();
    let h = llm.map_or(std::ptr::null_mut(), |l| l.raw_handle());
    // SAFETY: handle is live (or NULL for global keys); key is NUL-terminated.
    let v = unsafe { f(h, k.as_ptr()) };
    assert_ne!(v, i32::MIN, "unknown query key {key}");
    v
}

/// Number of callback calls ("tokens") the double uses to stream `s`.
pub fn pieces(s: &str) -> i32 {
    s.chars()
        .map(|c| match c.len_utf8() {
            1 => 1,
            2 | 3 => 2,
            _ => 3,
        })
        .sum()
}
