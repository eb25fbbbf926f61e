//! Helpers for tests against edge-infer's RKLLM test double (a fake librkllmrt).
#![allow(dead_code)]
use edge_infer_rkllm::{Abi as RtAbi, Llm, LlmBuilder, Runtime};
use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn abi() -> Abi {
    if RtAbi::COMPILED == RtAbi::V1_2 {
        Abi::V1_2
    } else {
        Abi::V1_3
    }
}

pub fn other_abi() -> Abi {
    if abi() == Abi::V1_2 {
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

fn lib() -> &'static libloading::Library {
    static LIB: OnceLock<libloading::Library> = OnceLock::new();
    // SAFETY: same file as the loaded runtime, so dlopen returns the same object.
    LIB.get_or_init(|| unsafe { libloading::Library::new(library_path(abi())) }.unwrap())
}

/// `rkllm_test_double_query`: observations the double records (not part of the RKLLM ABI).
pub fn query(llm: Option<&Llm>, key: &str) -> i32 {
    let v = query_raw(llm.map_or(std::ptr::null_mut(), |l| l.raw_handle()), key);
    assert_ne!(v, i32::MIN, "unknown query key {key}");
    v
}

/// The same on a raw handle; `i32::MIN` when the double does not know the handle.
pub fn query_raw(h: *mut c_void, key: &str) -> i32 {
    type Q = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
    // SAFETY: the double exports this signature.
    let f = unsafe { lib().get::<Q>(b"rkllm_test_double_query\0") }.unwrap();
    let k = CString::new(key).unwrap();
    // SAFETY: handle is live (or NULL for global keys); key is NUL-terminated.
    unsafe { f(h, k.as_ptr()) }
}

/// Lets runs blocked by the double's `hang_after_abort` go on.
pub fn release_hung_runs() {
    // SAFETY: the selected-ABI test double.
    unsafe { rkllm_test_double::release_hung_runs(library_path(abi())) }
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

/// A fake model whose aborts take effect quickly (the default imitates the real 1.3 s).
pub fn quick_abort() -> FakeModel {
    FakeModel::default().abort_delay_ms(20)
}
