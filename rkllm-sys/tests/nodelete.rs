//! `Library::load` keeps the runtime mapped for the life of the process (RTLD_NODELETE):
//! vendor threads may still run its code after every handle is gone. Its own process, so
//! that nothing else holds the object open.
use edge_infer_rkllm_sys::{AbiGeneration, Library};
use rkllm_test_double::{library_path, Abi};
use std::ffi::CString;

#[test]
fn the_runtime_stays_mapped_after_the_library_is_dropped() {
    let abi = match AbiGeneration::SELECTED {
        AbiGeneration::V1_2 => Abi::V1_2,
        AbiGeneration::V1_3 => Abi::V1_3,
    };
    let path = CString::new(library_path(abi).to_str().unwrap()).unwrap();
    // SAFETY: RTLD_NOLOAD only asks whether the object is loaded; it never loads it.
    let loaded = || unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if !h.is_null() {
            libc::dlclose(h); // drops the reference NOLOAD just took
        }
        !h.is_null()
    };
    assert!(!loaded(), "nothing has loaded the double yet");
    // SAFETY: the selected-ABI test double.
    let lib = unsafe { Library::load(library_path(abi)) }.unwrap();
    assert!(loaded());
    drop(lib);
    assert!(
        loaded(),
        "dropping the Library unmapped the runtime (no RTLD_NODELETE)"
    );
}
