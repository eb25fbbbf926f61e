//! The SDK-header fix-ups of build.rs (`RKLLM_INCLUDE_DIR` layout checks).
#[path = "../build/sdk_header.rs"]
mod sdk_header;

#[test]
fn the_1_2_1_and_1_2_2_multimodal_typo_gets_an_alias() {
    // What bindgen prints for the 1.2.1/1.2.2 headers' `RKLLMMultiModelInput`.
    let old = "#[repr(C)]\npub struct RKLLMMultiModelInput {\n    pub prompt: *mut ::std::os::raw::c_char,\n}\n";
    let alias = sdk_header::sdk_aliases(old);
    assert!(
        alias.contains("pub type RKLLMMultiModalInput = RKLLMMultiModelInput;"),
        "{alias}"
    );
    // 1.2.3 and 1.3.0 already spell it right: nothing added.
    let new = "#[repr(C)]\npub struct RKLLMMultiModalInput {\n    pub prompt: *mut ::std::os::raw::c_char,\n}\n";
    assert_eq!(sdk_header::sdk_aliases(new), "");
}
