//! edge-infer-rkllm-sys against the edge-infer test double (a fake librkllmrt, not Rockchip's runtime).
use edge_infer_rkllm_sys::{AbiGeneration, Library, LoadError};
use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};
use std::ffi::{c_char, c_int, c_long, c_void, CStr, CString};
use std::mem::{offset_of, size_of};

fn selected() -> Abi {
    match AbiGeneration::SELECTED {
        AbiGeneration::V1_2 => Abi::V1_2,
        AbiGeneration::V1_3 => Abi::V1_3,
    }
}

type LayoutFn = unsafe extern "C" fn(*const c_char, *const c_char) -> c_long;

fn c_layout(lib: &libloading::Library, ty: &str, field: Option<&str>) -> i64 {
    let ty = CString::new(ty).unwrap();
    let field = field.map(|f| CString::new(f).unwrap());
    // SAFETY: rkllm_test_double_layout is the double's `long (const char*, const char*)`.
    let f = unsafe { lib.get::<LayoutFn>(b"rkllm_test_double_layout\0") }.unwrap();
    // SAFETY: both strings are NUL-terminated and outlive the call.
    unsafe {
        f(
            ty.as_ptr(),
            field.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
        ) as i64
    }
}

macro_rules! same_as_c {
    ($lib:expr, $m:ident :: $t:ident $(, $f:ident)*) => {{
        assert_eq!(c_layout($lib, stringify!($t), None), size_of::<edge_infer_rkllm_sys::$m::$t>() as i64, "sizeof {}", stringify!($t));
        $( assert_eq!(c_layout($lib, stringify!($t), Some(stringify!($f))),
            offset_of!(edge_infer_rkllm_sys::$m::$t, $f) as i64, "{}.{}", stringify!($t), stringify!($f)); )*
    }};
}

#[test]
fn rust_layouts_match_the_c_compiler_for_both_doubles() {
    // SAFETY: the test double's initialisers only set globals.
    let l12 = unsafe { libloading::Library::new(library_path(Abi::V1_2)) }.unwrap();
    // SAFETY: as above.
    let l13 = unsafe { libloading::Library::new(library_path(Abi::V1_3)) }.unwrap();
    same_as_c!(
        &l12,
        v1_2::RKLLMParam,
        max_context_len,
        n_keep,
        top_p,
        mirostat_eta,
        skip_special_token,
        is_async,
        img_start,
        img_content,
        extend_param
    );
    same_as_c!(&l12, v1_2::RKLLMInput, role, enable_thinking, input_type);
    same_as_c!(
        &l12,
        v1_2::RKLLMInferParam,
        lora_params,
        prompt_cache_params,
        keep_history
    );
    same_as_c!(&l12, v1_2::RKLLMMultiModalInput);
    same_as_c!(
        &l13,
        v1_3::RKLLMParam,
        max_context_len,
        n_keep,
        top_p,
        mirostat_eta,
        skip_special_token,
        ignore_eos_token,
        is_async,
        extend_param
    );
    same_as_c!(&l13, v1_3::RKLLMInput, role, enable_thinking, input_type);
    same_as_c!(
        &l13,
        v1_3::RKLLMInferParam,
        lora_params,
        prompt_cache_params,
        sampling_params,
        keep_history,
        max_new_tokens
    );
    same_as_c!(&l13, v1_3::RKLLMMultiModalInput, image, video);
    same_as_c!(&l13, v1_3::RKLLMSamplingParam, mirostat_eta);
    same_as_c!(
        &l13,
        v1_3::RKLLMCallback,
        tokenizer_callback,
        embed_userdata
    );
    for lib in [&l12, &l13] {
        same_as_c!(
            lib,
            v1_3::RKLLMExtendParam,
            enabled_cpus_mask,
            n_batch,
            use_cross_attn,
            reserved
        );
        same_as_c!(
            lib,
            v1_3::RKLLMResult,
            token_id,
            last_hidden_layer,
            logits,
            perf
        );
        same_as_c!(lib, v1_3::RKLLMCrossAttnParam, num_tokens);
        same_as_c!(lib, v1_3::RKLLMPerfStat);
        same_as_c!(lib, v1_3::RKLLMLoraAdapter);
        same_as_c!(lib, v1_3::RKLLMPromptCacheParam);
        same_as_c!(lib, v1_3::RKLLMTokenInput);
        same_as_c!(lib, v1_3::RKLLMEmbedInput);
        same_as_c!(lib, v1_3::RKLLMResultLogits);
        same_as_c!(lib, v1_3::RKLLMResultLastHiddenLayer);
    }
}

#[test]
fn linked_reports_not_linked_unless_linked() {
    let linked = edge_infer_rkllm_sys::LINKED;
    match Library::linked() {
        Ok(lib) => {
            assert!(linked);
            assert!(lib.is_linked());
        }
        Err(e) => {
            assert!(!linked);
            assert!(matches!(e, LoadError::NotLinked));
            assert!(e.to_string().contains("RKLLM_LIB_DIR"));
        }
    }
}

#[test]
fn load_missing_library_is_a_clean_error() {
    // SAFETY: the path does not exist, so nothing is loaded.
    let err = unsafe { Library::load("/nonexistent/librkllmrt.so") }.unwrap_err();
    assert!(matches!(err, LoadError::Open { .. }), "{err}");
}

#[test]
fn load_a_library_without_rkllm_symbols_is_a_clean_error() {
    // SAFETY: libc's initialisers are already run in this process.
    let err = unsafe { Library::load("libc.so.6") }.unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::MissingSymbol {
                symbol: "rkllm_createDefaultParam",
                ..
            }
        ),
        "{err}"
    );
}

struct Collected {
    bytes: Vec<u8>,
    states: Vec<c_int>,
}

unsafe extern "C" fn collect(
    result: *mut edge_infer_rkllm_sys::RKLLMResult,
    ud: *mut c_void,
    state: c_int,
) -> c_int {
    // SAFETY: `ud` is the &mut Collected passed to rkllm_run, alive for the blocking run.
    let c = unsafe { &mut *(ud as *mut Collected) };
    c.states.push(state);
    // SAFETY: the runtime passes a valid result for the duration of the call.
    let r = unsafe { &*result };
    if !r.text.is_null() {
        // SAFETY: text is NUL-terminated while the callback runs.
        c.bytes
            .extend_from_slice(unsafe { CStr::from_ptr(r.text) }.to_bytes());
    }
    0
}

#[test]
fn raw_blocking_run_against_the_double() {
    let dir = TempDir::new("sys-raw").unwrap();
    let model = FakeModel::default()
        .reply("añ🦀")
        .write(dir.path().join("m.rkllm"))
        .unwrap();
    let model = CString::new(model.to_str().unwrap()).unwrap();
    // SAFETY: the selected-ABI double implements exactly the declared ABI.
    let lib = unsafe { Library::load(library_path(selected())) }.unwrap();
    assert!(!lib.is_linked());
    assert_eq!(lib.path().unwrap(), library_path(selected()));
    let api = lib.api();
    // SAFETY: plain by-value call into the double; layouts checked above.
    let mut param = unsafe { (api.rkllm_createDefaultParam)() };
    assert_eq!(param.max_context_len, 512);
    // Like the real function, the double leaves reserved bytes (and the CPU mask on machines
    // with neither 4 nor 8 CPUs) unwritten.
    assert!(param.extend_param.reserved.iter().all(|&b| b == 0xAB));
    param.extend_param.reserved = [0; 104];
    param.extend_param.enabled_cpus_mask = edge_infer_rkllm_sys::CPU4 | edge_infer_rkllm_sys::CPU5;
    param.extend_param.enabled_cpus_num = 2;
    param.model_path = model.as_ptr();
    param.max_context_len = 128;
    let mut handle: edge_infer_rkllm_sys::LLMHandle = std::ptr::null_mut();
    #[cfg(not(feature = "abi-1-2"))]
    let mut cbs = edge_infer_rkllm_sys::RKLLMCallback {
        result_callback: Some(collect),
        result_userdata: std::ptr::null_mut(),
        tokenizer_callback: None,
        tokenizer_userdata: std::ptr::null_mut(),
        embed_callback: None,
        embed_userdata: std::ptr::null_mut(),
    };
    #[cfg(not(feature = "abi-1-2"))]
    let cb_arg = &mut cbs as *mut _;
    #[cfg(feature = "abi-1-2")]
    let cb_arg = Some(collect as unsafe extern "C" fn(_, _, _) -> _);
    // SAFETY: handle/param/callback pointers are valid for the call; `model` outlives init.
    let rc = unsafe { (api.rkllm_init)(&mut handle, &mut param, cb_arg) };
    assert_eq!(rc, 0);
    assert!(!handle.is_null());
    let prompt = CString::new("hi").unwrap();
    // SAFETY: RKLLMInput is plain data; zero is a valid starting value for every field.
    let mut input: edge_infer_rkllm_sys::RKLLMInput = unsafe { std::mem::zeroed() };
    input.input_type = edge_infer_rkllm_sys::RKLLM_INPUT_PROMPT;
    input.input.prompt_input = prompt.as_ptr();
    // SAFETY: as above.
    let mut infer: edge_infer_rkllm_sys::RKLLMInferParam = unsafe { std::mem::zeroed() };
    infer.mode = edge_infer_rkllm_sys::RKLLM_INFER_GENERATE;
    let mut out = Collected {
        bytes: vec![],
        states: vec![],
    };
    // SAFETY: blocking run; every pointer outlives it.
    let rc = unsafe {
        (api.rkllm_run)(
            handle,
            &mut input,
            &mut infer,
            &mut out as *mut Collected as *mut c_void,
        )
    };
    assert_eq!(rc, 0);
    assert_eq!(String::from_utf8(out.bytes).unwrap(), "añ🦀");
    use edge_infer_rkllm_sys::{
        RKLLM_RUN_FINISH as F, RKLLM_RUN_NORMAL as N, RKLLM_RUN_WAITING as W,
    };
    // a, ñ (2 bytes: W N), 🦀 (4 bytes: W W N), FINISH
    assert_eq!(out.states, vec![N, W, N, W, W, N, F]);
    // SAFETY: handle is valid and idle.
    assert_eq!(unsafe { (api.rkllm_destroy)(handle) }, 0);
}
