//! Per-layer KV types on a hybrid attention + recurrent model: Qwen3.5's layout, where
//! gated delta-net layers keep a recurrent state and every second layer (here) is full
//! attention with a KV cache.
//!
//! No model of this kind is small enough to fetch here, so llama.cpp builds one from
//! metadata with random weights (`llama_model_init_from_user`, the way its own
//! architecture tests do): the real `qwen35` graph and hybrid memory code, with weights
//! that produce noise. The checks are about the cache: per-layer types reach the attention
//! layers and only those, their bytes match the layer-shape formula, a quantized V cache
//! keeps flash attention on, generation is deterministic, a saved state loads into the
//! same layout and is refused by another, and a context shift (impossible for a
//! recurrent state) is a typed error that leaves the context usable.

use std::ffi::{c_void, CString};
use std::ops::ControlFlow;

use edge_infer_llama::{
    Context, ContextParams, Error, GenerateOptions, KvLayers, KvType, LayerKv, Model, Prompt,
    Sampling, Token,
};
use edge_infer_llama_sys as sys;

const N_LAYER: u32 = 4;
const N_VOCAB: u32 = 128;
const N_EMBD: u32 = 256;
const N_HEAD: u32 = 2;
const HEAD_DIM: u32 = N_EMBD / N_HEAD;

/// Deterministic weights: a small uniform noise from a hash of the tensor name, so
/// every run builds the same model. `ssm_a` (the state decay) must be negative.
extern "C" fn fill_tensor(t: *mut sys::ggml_tensor, _ud: *mut c_void) {
    // Never unwind into C; a failure is recorded and checked after the model is built.
    let filled = std::panic::catch_unwind(|| {
        // SAFETY: llama.cpp passes a valid, allocated tensor for the duration of the call.
        let (n, name, ty) = unsafe {
            let name = std::ffi::CStr::from_ptr((*t).name.as_ptr())
                .to_bytes()
                .to_vec();
            (sys::ggml_nelements(t) as usize, name, (*t).type_)
        };
        assert_eq!(ty, sys::GGML_TYPE_F32, "tensors are created as f32");
        let negative = name.windows(5).any(|w| w == b"ssm_a");
        let mut state = name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let data: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5; // [-0.5, 0.5)
                let v = u * 0.1;
                if negative {
                    -v.abs() - 0.01
                } else {
                    v
                }
            })
            .collect();
        // SAFETY: `data` holds exactly ggml_nbytes(t) bytes of f32 for this f32 tensor.
        unsafe { sys::ggml_backend_tensor_set(t, data.as_ptr().cast(), 0, sys::ggml_nbytes(t)) };
    });
    if filled.is_err() {
        FILL_FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

static FILL_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn qwen35_tiny() -> Model {
    let _ = edge_infer_llama::system_info(); // initialises the llama.cpp backend
    let key = |k: &str| CString::new(k).unwrap();
    // SAFETY: a fresh gguf context that this function frees; every key and value is a
    // valid C string or array of the stated length.
    unsafe {
        let g = sys::gguf_init_empty();
        assert!(!g.is_null());
        let arch = "qwen35";
        sys::gguf_set_val_str(g, key("general.architecture").as_ptr(), key(arch).as_ptr());
        let u32s: &[(&str, u32)] = &[
            ("vocab_size", N_VOCAB),
            ("context_length", 256),
            ("embedding_length", N_EMBD),
            ("block_count", N_LAYER),
            ("feed_forward_length", 384),
            ("attention.head_count", N_HEAD),
            ("attention.head_count_kv", N_HEAD),
            ("attention.key_length", HEAD_DIM),
            ("attention.value_length", HEAD_DIM),
            ("rope.dimension_count", HEAD_DIM / 2),
            ("ssm.conv_kernel", 4),
            ("ssm.inner_size", 256),
            ("ssm.state_size", 128),
            ("ssm.time_step_rank", N_HEAD),
            ("ssm.group_count", 2),
            ("full_attention_interval", 2),
        ];
        for (k, v) in u32s {
            sys::gguf_set_val_u32(g, key(&format!("{arch}.{k}")).as_ptr(), *v);
        }
        sys::gguf_set_val_f32(
            g,
            key(&format!("{arch}.attention.layer_norm_rms_epsilon")).as_ptr(),
            1e-5,
        );
        let sections = [HEAD_DIM / 4; 4];
        sys::gguf_set_arr_data(
            g,
            key(&format!("{arch}.rope.dimension_sections")).as_ptr(),
            sys::GGUF_TYPE_UINT32,
            sections.as_ptr().cast(),
            sections.len(),
        );
        // llama.cpp's test tokenizer: fixed tokens, good for token-level tests.
        sys::gguf_set_val_str(
            g,
            key("tokenizer.ggml.model").as_ptr(),
            key("test").as_ptr(),
        );
        let names: Vec<CString> = (0..N_VOCAB).map(|i| key(&format!("tok_{i}"))).collect();
        let ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|s| s.as_ptr()).collect();
        sys::gguf_set_arr_str(
            g,
            key("tokenizer.ggml.tokens").as_ptr(),
            ptrs.as_ptr() as *mut _,
            ptrs.len(),
        );
        let scores = vec![0f32; N_VOCAB as usize];
        sys::gguf_set_arr_data(
            g,
            key("tokenizer.ggml.scores").as_ptr(),
            sys::GGUF_TYPE_FLOAT32,
            scores.as_ptr().cast(),
            scores.len(),
        );
        let mut mp = sys::llama_model_default_params();
        mp.n_gpu_layers = 0;
        let raw = sys::llama_model_init_from_user(g, Some(fill_tensor), std::ptr::null_mut(), mp);
        sys::gguf_free(g);
        assert!(
            !FILL_FAILED.load(std::sync::atomic::Ordering::Relaxed),
            "filling a tensor failed"
        );
        edge_infer_llama::raw::model_from_raw(raw, "qwen35-tiny (random weights)")
            .expect("llama.cpp built the model")
    }
}

fn model() -> &'static Model {
    static M: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    M.get_or_init(qwen35_tiny)
}

fn params() -> ContextParams {
    ContextParams::default()
        .n_ctx(256)
        .n_batch(64)
        .n_ubatch(64)
        .n_threads(2)
}

fn prompt() -> Vec<Token> {
    (0..40)
        .map(|i| Token((i * 37 + 11) % N_VOCAB as i32))
        .collect()
}

fn greedy(ctx: &mut Context<'_>, n: usize) -> Vec<u8> {
    let mut s = Sampling::greedy().build(model()).unwrap();
    let mut out = Vec::new();
    ctx.generate_with(
        Prompt::Tokens(&prompt()),
        &mut s,
        GenerateOptions::default()
            .max_tokens(n)
            .render_special(true),
        |t| {
            out.extend_from_slice(t.as_bytes());
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    out
}

#[test]
fn the_model_is_hybrid_attention_and_recurrent() {
    let m = model();
    assert_eq!(m.architecture(), "qwen35");
    assert_eq!(m.n_layer(), N_LAYER);
    let ctx = Context::new(m, &params()).unwrap();
    let layers = ctx.kv_layer_caches();
    assert_eq!(layers.len(), N_LAYER as usize);
    // full_attention_interval 2: layers 1 and 3 attend, 0 and 2 are recurrent.
    let with_cache: Vec<u32> = layers
        .iter()
        .filter(|l| l.k.is_some())
        .map(|l| l.layer)
        .collect();
    assert_eq!(with_cache, [1, 3], "{layers:?}");
}

#[test]
fn per_layer_types_reach_the_attention_layers_and_match_the_formula() {
    let m = model();
    let n_ctx = 256u64;
    let f16 = Context::new(m, &params()).unwrap();
    let base = f16.memory_report().kv_bytes;
    let table = |l1: KvType, l3: KvType| {
        KvLayers::Table(vec![
            LayerKv::both(KvType::F16), // recurrent: ignored
            LayerKv::both(l1),
            LayerKv::both(KvType::Q4_0), // recurrent: ignored
            LayerKv::both(l3),
        ])
    };
    for (l1, l3) in [
        (KvType::Q8_0, KvType::Q4_0),
        (KvType::Q4_0, KvType::Q8_0),
        (KvType::Q8_0, KvType::Q8_0),
    ] {
        let ctx = Context::new(m, &params().kv_layers(table(l1, l3))).unwrap();
        let layers = ctx.kv_layer_caches();
        assert_eq!((layers[1].k, layers[1].v), (Some(l1), Some(l1)));
        assert_eq!((layers[3].k, layers[3].v), (Some(l3), Some(l3)));
        assert!(layers[0].k.is_none() && layers[2].k.is_none());
        // The recurrent state is the same in both, so the difference is the KV cache's.
        let formula = |c: &Context<'_>| -> i64 {
            c.kv_layer_caches()
                .iter()
                .map(|l| l.bytes(N_HEAD * HEAD_DIM, N_HEAD * HEAD_DIM) as i64)
                .sum()
        };
        assert!(layers[1].cells as u64 >= n_ctx);
        let expect = base as i64 - formula(&f16) + formula(&ctx);
        let got = ctx.memory_report().kv_bytes as i64;
        assert_eq!(
            got, expect,
            "K/V {l1}/{l3}: measured {got}, formula {expect}"
        );
    }
}

#[test]
fn generation_is_deterministic_and_state_layouts_are_checked() {
    let m = model();
    let hybrid = params().kv_layers(KvLayers::Table(vec![
        LayerKv::both(KvType::F16),
        LayerKv::both(KvType::Q8_0),
        LayerKv::both(KvType::F16),
        LayerKv::both(KvType::Q4_0),
    ]));
    let mut a = Context::new(m, &hybrid).unwrap();
    let first = greedy(&mut a, 16);
    let mut b = Context::new(m, &hybrid).unwrap();
    assert_eq!(first, greedy(&mut b, 16));
    assert!(!first.is_empty());

    // Same layout: the state round-trips, recurrent part included.
    let state = a.state_save().unwrap();
    let mut c = Context::new(m, &hybrid).unwrap();
    c.state_load(&state).unwrap();
    assert_eq!(c.tokens(), a.tokens());
    let next = |ctx: &mut Context<'_>| {
        ctx.eval(&[Token(5)]).unwrap();
        ctx.logits().to_vec()
    };
    let (la, lc) = (next(&mut a), next(&mut c));
    assert!(la.iter().all(|x| x.is_finite()));
    let diff = la
        .iter()
        .zip(&lc)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        diff < 1e-3,
        "restored state gives other logits (max diff {diff})"
    );

    // Another layout refuses it, naming the mismatch.
    let mut d = Context::new(m, &params()).unwrap();
    let e = d.state_load(&state).unwrap_err();
    assert!(matches!(e, Error::StateLayoutMismatch { .. }), "{e}");
    assert!(d.tokens().is_empty());
}

#[test]
fn a_context_shift_is_refused_and_the_context_stays_usable() {
    let m = model();
    let mut ctx = Context::new(m, &params().kv_hybrid(2, KvType::Q8_0, KvType::Q4_0)).unwrap();
    ctx.eval(&prompt()).unwrap();
    assert!(!ctx.can_shift());
    let e = ctx.discard(1, 8).unwrap_err();
    assert!(matches!(e, Error::KvShiftUnsupported), "{e}");
    assert_eq!(ctx.tokens().len(), prompt().len());
    ctx.eval(&[Token(3)]).unwrap();
    assert_eq!(ctx.logits().len(), N_VOCAB as usize);
}
