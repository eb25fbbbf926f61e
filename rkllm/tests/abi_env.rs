//! `EDGE_INFER_RKLLM_ABI` states the ABI of an unknown runtime file. Its own process: the
//! variable is process-wide.
use edge_infer_rkllm::{Abi, AbiSource, Error, Runtime, ABI_ENV};
use rkllm_test_double::anonymous_library_path;

#[test]
fn the_environment_states_the_abi_of_an_unknown_file() {
    let abi = if Abi::COMPILED == Abi::V1_2 {
        rkllm_test_double::Abi::V1_2
    } else {
        rkllm_test_double::Abi::V1_3
    };
    let anon = anonymous_library_path(abi);
    std::env::remove_var(ABI_ENV);
    match Runtime::load(anon) {
        Ok(rt) => assert_eq!(
            rt.abi_source(),
            AbiSource::Feature,
            "only the abi-1-2 feature states it"
        ),
        Err(e) => assert!(matches!(e, Error::RuntimeUnknown { .. }), "{e}"),
    }
    std::env::set_var(ABI_ENV, Abi::COMPILED.short());
    assert_eq!(
        Runtime::load(anon).unwrap().abi_source(),
        AbiSource::Environment
    );
    let other = if Abi::COMPILED == Abi::V1_2 {
        "1.3"
    } else {
        "1.2"
    };
    std::env::set_var(ABI_ENV, other);
    assert!(matches!(
        Runtime::load(anon),
        Err(Error::AbiStatementMismatch { .. })
    ));
    std::env::set_var(ABI_ENV, "9.9");
    let e = Runtime::load(anon).unwrap_err();
    assert!(
        matches!(e, Error::BadAbiStatement { .. }) && e.to_string().contains("1.2 or 1.3"),
        "{e}"
    );
    std::env::remove_var(ABI_ENV);
}
