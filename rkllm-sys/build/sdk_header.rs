// Shared by build.rs and tests/sdk_header.rs (included with #[path]): fixes applied to the
// bindings bindgen generates from a user's SDK header before they are compared with ours.

/// Lines to append to bindgen's output so that every SDK release exposes the names
/// `sdk_check.rs` compares. The 1.2.1 and 1.2.2 headers spell the multimodal struct
/// `RKLLMMultiModelInput` (a typo; same layout); 1.2.3 and 1.3.0 spell it
/// `RKLLMMultiModalInput`.
pub fn sdk_aliases(bindings: &str) -> String {
    let has = |name: &str| {
        bindings.contains(&format!("pub struct {name} "))
            || bindings.contains(&format!("pub struct {name}{{"))
            || bindings.contains(&format!("pub type {name} "))
    };
    let mut out = String::new();
    if has("RKLLMMultiModelInput") && !has("RKLLMMultiModalInput") {
        out.push_str(
            "\n/// The 1.2.1/1.2.2 headers' spelling (`Model`), aliased by edge-infer-rkllm-sys.\n\
             pub type RKLLMMultiModalInput = RKLLMMultiModelInput;\n",
        );
    }
    out
}
