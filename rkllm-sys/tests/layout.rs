//! Struct layouts of both ABI generations, as measured from the real headers on aarch64
//! (shared/rkllm/ABI.md). x86-64 (LP64, same alignment rules for these types) has identical
//! layouts; each architecture gets its own test so the qemu/aarch64 run asserts ABI.md.
#![allow(non_snake_case)]
use std::mem::{align_of, offset_of, size_of};

macro_rules! check {
    ($t:ty, $size:expr, $align:expr $(, $f:ident @ $off:expr)*) => {{
        assert_eq!(size_of::<$t>(), $size, "size of {}", stringify!($t));
        assert_eq!(align_of::<$t>(), $align, "align of {}", stringify!($t));
        $( assert_eq!(offset_of!($t, $f), $off, "{}.{}", stringify!($t), stringify!($f)); )*
    }};
}

fn abi_1_2() {
    use edge_infer_rkllm_sys::v1_2::*;
    check!(RKLLMExtendParam, 120, 4, enabled_cpus_mask @ 8, n_batch @ 12, use_cross_attn @ 13, reserved @ 14);
    check!(RKLLMParam, 208, 8, max_context_len @ 8, n_keep @ 20, top_p @ 24, mirostat_eta @ 52,
        skip_special_token @ 56, is_async @ 57, img_start @ 64, extend_param @ 88);
    check!(RKLLMInput, 64, 8, role @ 0, enable_thinking @ 8, input_type @ 12, input @ 16);
    check!(RKLLMInferParam, 32, 8, lora_params @ 8, prompt_cache_params @ 16, keep_history @ 24);
    common();
}

fn abi_1_3() {
    use edge_infer_rkllm_sys::v1_3::*;
    check!(RKLLMExtendParam, 120, 4, enabled_cpus_mask @ 8, n_batch @ 12, use_cross_attn @ 13, reserved @ 14);
    check!(RKLLMParam, 184, 8, max_context_len @ 8, n_keep @ 20, top_p @ 24, mirostat_eta @ 52,
        skip_special_token @ 56, ignore_eos_token @ 57, is_async @ 58, extend_param @ 60);
    check!(RKLLMInput, 160, 8, role @ 0, enable_thinking @ 8, input_type @ 12, input @ 16);
    check!(RKLLMMultiModalInput, 144, 8, image @ 8, video @ 72);
    check!(RKLLMInferParam, 40, 8, lora_params @ 8, prompt_cache_params @ 16, sampling_params @ 24,
        keep_history @ 32, max_new_tokens @ 36);
    check!(RKLLMSamplingParam, 36, 4, mirostat_eta @ 32);
    check!(RKLLMCallback, 48, 8, tokenizer_callback @ 16, embed_userdata @ 40);
    common();
}

fn common() {
    use edge_infer_rkllm_sys::v1_3::*;
    check!(RKLLMResult, 72, 8, token_id @ 8, last_hidden_layer @ 16, logits @ 32, perf @ 48);
    check!(RKLLMPerfStat, 20, 4);
    check!(RKLLMTokenInput, 16, 8);
    check!(RKLLMEmbedInput, 16, 8);
    check!(RKLLMLoraAdapter, 24, 8, scale @ 16);
    check!(RKLLMPromptCacheParam, 16, 8, prompt_cache_path @ 8);
    check!(RKLLMResultLogits, 16, 8);
    check!(RKLLMResultLastHiddenLayer, 16, 8);
    check!(RKLLMCrossAttnParam, 40, 8, num_tokens @ 32);
    check!(RKLLMLoraParam, 8, 8);
}

#[test]
#[cfg(target_arch = "aarch64")]
fn aarch64_layouts_match_abi_md() {
    abi_1_2();
    abi_1_3();
}

#[test]
#[cfg(target_arch = "x86_64")]
fn x86_64_layouts_match_aarch64() {
    abi_1_2();
    abi_1_3();
}

#[test]
fn crate_root_reexports_the_selected_abi() {
    let want = if cfg!(feature = "abi-1-2") { 208 } else { 184 };
    assert_eq!(size_of::<edge_infer_rkllm_sys::RKLLMParam>(), want);
    assert_eq!(
        edge_infer_rkllm_sys::AbiGeneration::SELECTED,
        if cfg!(feature = "abi-1-2") {
            edge_infer_rkllm_sys::AbiGeneration::V1_2
        } else {
            edge_infer_rkllm_sys::AbiGeneration::V1_3
        }
    );
}
