//! Per-layer (hybrid) KV cache types on the real default model (gemma-3-270m, an iSWA
//! model: 15 sliding-window layers with a small cache, 3 full-attention layers).
//!
//! What is tested: the vendored patch applies exactly to the pinned tree; the cache is
//! allocated with the types asked for and its size matches the layer-shape formula; greedy
//! generation is deterministic and close to an f16 cache; a saved state loads into a
//! context with the same layout and is refused by one with another; a K-shift on a mixed
//! cache (f16 + quantized layers, rotated and unrotated) gives the next-token logits of a
//! fresh evaluation of the shifted sequence.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{model, params, pinned_tree, workspace};
use edge_infer_llama::raw::AsRaw;
use edge_infer_llama::{
    Context, ContextParams, Error, FlashAttention, KvLayers, KvType, LayerKv, Model, Token,
};

const TEXT: &str = "The history of the lighthouse begins in the ancient world, where fires were \
lit on hilltops to guide ships into harbour. The most famous of these was the Pharos of \
Alexandria, built in the third century before our era, which stood for more than a thousand \
years before earthquakes brought it down. In the centuries that followed, towers of stone and \
brick rose along the coasts of Europe, each burning wood, coal or oil, and each tended by a \
keeper who climbed the stairs every evening to light the lamp. The invention of the Fresnel \
lens in 1822 changed everything: a single lamp could now be seen from twenty miles away, and \
the keepers' work turned from feeding fires to cleaning glass and winding clockwork.";

fn q8_q4(split: u32) -> ContextParams {
    params().kv_hybrid(split, KvType::Q8_0, KvType::Q4_0)
}

fn tokens(m: &Model, text: &str) -> Vec<Token> {
    m.tokenize(text, true, false).unwrap()
}

fn argmax(l: &[f32]) -> usize {
    l.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0
}

/// KL(p || q) of the softmaxes of two logit vectors, in nats.
fn kld(p: &[f32], q: &[f32]) -> f64 {
    let lse = |l: &[f32]| {
        let m = l.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        m + l.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln()
    };
    let (lp, lq) = (lse(p), lse(q));
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let la = a as f64 - lp;
            la.exp() * (la - (b as f64 - lq))
        })
        .sum()
}

/// Logits after evaluating `toks` in a fresh context.
fn logits_after(p: &ContextParams, toks: &[Token]) -> Vec<f32> {
    let mut ctx = Context::new(model(), p).unwrap();
    ctx.eval(toks).unwrap();
    ctx.logits().to_vec()
}

// --- the patch ------------------------------------------------------------------------

#[test]
fn vendored_patches_apply_exactly_to_the_pinned_tree() {
    let tree = pinned_tree();
    assert!(
        tree.join(".edge-infer-verified").is_file(),
        "the pinned llama.cpp tree is not in the cache at {} (building llama-cpp-sys without \
         LLAMA_CPP_DIR puts it there)",
        tree.display()
    );
    let mut patches: Vec<PathBuf> = std::fs::read_dir(workspace().join("llama-cpp-sys/patches"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    assert!(!patches.is_empty(), "no patch in llama-cpp-sys/patches");

    // Copy only the files the patches touch, then apply them in order, with no fuzz: a
    // patch that needs fuzz or offsets to apply would be a drifting patch.
    let tmp = tempfile::tempdir().unwrap();
    for p in &patches {
        let text = std::fs::read_to_string(p).unwrap();
        for rel in text.lines().filter_map(|l| l.strip_prefix("--- a/")) {
            let rel = rel.split('\t').next().unwrap().trim();
            let (src, dst) = (tree.join(rel), tmp.path().join(rel));
            if src.is_file() && !dst.exists() {
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    for p in &patches {
        let out = Command::new("patch")
            .args(["-p1", "--forward", "--batch", "--fuzz=0", "-d"])
            .arg(tmp.path())
            .arg("-i")
            .arg(p)
            .output()
            .expect("run patch(1)");
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} does not apply:\n{log}",
            p.display()
        );
        assert!(
            !log.contains("offset") && !log.contains("fuzz"),
            "{} applies only approximately:\n{log}",
            p.display()
        );
    }
    // The entry point the crate links against is the one the patch adds.
    let header = std::fs::read_to_string(tmp.path().join("include/llama.h")).unwrap();
    assert!(header.contains("llama_init_from_model_kv_layers"));
}

// --- allocation and memory ------------------------------------------------------------

#[test]
fn the_cache_has_the_types_asked_for_per_layer() {
    let m = model();
    let n_layer = m.n_layer();
    assert_eq!(n_layer, 18, "the default model changed");
    let ctx = Context::new(m, &q8_q4(6)).unwrap();
    let layers = ctx.kv_layer_caches();
    assert_eq!(layers.len(), n_layer as usize);
    for l in &layers {
        let want = if l.layer < 6 {
            KvType::Q8_0
        } else {
            KvType::Q4_0
        };
        assert_eq!((l.k, l.v), (Some(want), Some(want)), "layer {}", l.layer);
        assert!(l.cells > 0);
    }
    let r = ctx.memory_report();
    assert_eq!(
        r.kv_layers.to_string(),
        "K q8_0×6 q4_0×12, V q8_0×6 q4_0×12"
    );
    assert!(!r.kv_layers.is_uniform());
    assert_eq!((r.type_k, r.type_v), (KvType::Q8_0, KvType::Q8_0));

    // Without per-layer types, the report is uniform and nothing else changes.
    let u = Context::new(m, &params().type_k(KvType::Q8_0)).unwrap();
    assert!(u.memory_report().kv_layers.is_uniform());
    assert_eq!(
        u.memory_report().kv_layers.to_string(),
        "K q8_0×18, V f16×18"
    );

    // A table with separate K and V types.
    let table: Vec<LayerKv> = (0..n_layer)
        .map(|il| {
            if il % 2 == 0 {
                LayerKv::new(KvType::Q8_0, KvType::Q4_0)
            } else {
                LayerKv::both(KvType::F16)
            }
        })
        .collect();
    let t = Context::new(m, &params().kv_layer_table(table.clone())).unwrap();
    for (l, want) in t.kv_layer_caches().iter().zip(&table) {
        assert_eq!(
            (l.k, l.v),
            (Some(want.k), Some(want.v)),
            "layer {}",
            l.layer
        );
    }
}

/// Bytes from the layer shapes: for every layer with a cache, cells × n_head_kv × head
/// size × bytes per element, for K and for V.
fn formula_bytes(ctx: &Context) -> u64 {
    let m = ctx.model();
    let (hk, hv) = m.head_dims();
    let kv_heads = m.n_head_kv();
    ctx.kv_layer_caches()
        .iter()
        .map(|l| l.bytes(kv_heads * hk, kv_heads * hv))
        .sum()
}

#[test]
fn hybrid_kv_bytes_match_the_layer_shape_formula() {
    let m = model();
    // n_ctx well above the sliding window, so the iSWA layers' smaller cache shows.
    let base = params().n_ctx(4096);
    let n_swa = m.n_swa();
    assert!(n_swa > 0 && n_swa < 4096);
    let mut sizes = Vec::new();
    for p in [
        base.clone(),
        base.clone().type_k(KvType::Q8_0).type_v(KvType::Q8_0),
        base.clone().type_k(KvType::Q4_0).type_v(KvType::Q4_0),
        base.clone().kv_hybrid(6, KvType::Q8_0, KvType::Q4_0),
        base.clone().kv_hybrid(12, KvType::Q8_0, KvType::Q4_0),
        base.clone()
            .kv_layers(KvLayers::block(18, 6..12, KvType::Q4_0, KvType::Q8_0)),
    ] {
        let ctx = Context::new(m, &p).unwrap();
        let layers = ctx.kv_layer_caches();
        // Sliding-window layers hold fewer cells than the full-attention ones.
        let full = layers.iter().map(|l| l.cells).max().unwrap();
        let swa = layers.iter().map(|l| l.cells).min().unwrap();
        assert_eq!(full, 4096);
        assert!(swa < full && swa >= n_swa, "swa cells {swa}");
        let measured = ctx.memory_report().kv_bytes;
        let formula = formula_bytes(&ctx);
        let err = (measured as f64 - formula as f64).abs() / formula as f64;
        assert!(
            err < 0.01,
            "{}: measured {measured} B, formula {formula} B ({:.3}% off)",
            p.kv_layout(),
            err * 100.0
        );
        sizes.push(measured);
    }
    // f16 > q8_0 > hybrid 12 > hybrid 6 > q4_0
    let (f16, q8, q4, h6, h12) = (sizes[0], sizes[1], sizes[2], sizes[3], sizes[4]);
    assert!(f16 > q8 && q8 > h12 && h12 > h6 && h6 > q4, "{sizes:?}");
}

// --- parameters and errors ------------------------------------------------------------

#[test]
fn bad_tables_and_splits_are_typed_errors() {
    let m = model();
    let short = params().kv_layer_table(vec![LayerKv::both(KvType::Q8_0); 17]);
    match Context::new(m, &short) {
        Err(Error::KvLayerTableLength { expected, got }) => assert_eq!((expected, got), (18, 17)),
        other => panic!("expected KvLayerTableLength, got {other:?}"),
    }
    match Context::new(m, &q8_q4(19)) {
        Err(e @ Error::KvSplitOutOfRange { .. }) => {
            assert!(e.to_string().contains("0..=18"), "{e}")
        }
        other => panic!("expected KvSplitOutOfRange, got {other:?}"),
    }
    // A quantized V in any layer needs flash attention.
    let fa_off = q8_q4(6).flash_attention(FlashAttention::Off);
    assert!(matches!(
        Context::new(m, &fa_off),
        Err(Error::QuantizedVNeedsFlashAttention { .. })
    ));
    let k_only = params()
        .flash_attention(FlashAttention::Off)
        .kv_layer_table(vec![LayerKv::new(KvType::Q8_0, KvType::F16); 18]);
    Context::new(m, &k_only).expect("a quantized K alone does not need flash attention");
    // The edges of the split are valid: all late, all early.
    for split in [0, 18] {
        let ctx = Context::new(m, &q8_q4(split)).unwrap();
        assert!(ctx.memory_report().kv_layers.is_uniform());
    }
}

// --- quality --------------------------------------------------------------------------

/// The minimum share of teacher-forced positions where the hybrid cache's top-1 token is
/// the f16 cache's greedy token. Measured on the default model: 64/64 (q8_0 ×6 + q4_0 ×12).
const MIN_TOP1_AGREEMENT: f64 = 0.90;

#[test]
fn greedy_with_hybrid_kv_is_deterministic_and_close_to_f16() {
    if common::emulated() {
        // Hundreds of tokens at about a second each under qemu; native runs cover it.
        eprintln!("skipped under qemu: too slow emulated");
        return;
    }
    let m = model();
    let prompt = tokens(m, TEXT);
    let greedy = |p: &ContextParams| -> Vec<Token> {
        let mut ctx = Context::new(m, p).unwrap();
        ctx.eval(&prompt).unwrap();
        let mut out = Vec::new();
        for _ in 0..64 {
            let t = Token(argmax(ctx.logits()) as i32);
            out.push(t);
            ctx.eval(&[t]).unwrap();
        }
        out
    };
    let hybrid = q8_q4(6);
    let a = greedy(&hybrid);
    let b = greedy(&hybrid);
    assert_eq!(
        a, b,
        "greedy decoding with a hybrid cache is not deterministic"
    );

    // Teacher forcing: feed the f16 continuation to the hybrid cache and count where its
    // own top-1 agrees, so that one early difference does not decide the rest.
    let reference = greedy(&params());
    let mut ctx = Context::new(m, &hybrid).unwrap();
    let mut agree = 0;
    let mut input = prompt.clone();
    input.extend_from_slice(&reference[..63]);
    let first = prompt.len() - 1;
    ctx.eval_with_logits(&input, first, |i, l| {
        if i >= first && Token(argmax(l) as i32) == reference[i - first] {
            agree += 1;
        }
    })
    .unwrap();
    let share = agree as f64 / 64.0;
    eprintln!("top-1 agreement with f16 over 64 greedy tokens: {agree}/64");
    assert!(
        share >= MIN_TOP1_AGREEMENT,
        "top-1 agreement {agree}/64 is below {MIN_TOP1_AGREEMENT}"
    );
}

// --- state save / load ----------------------------------------------------------------

#[test]
fn state_round_trips_with_the_same_layout_and_is_refused_by_another() {
    let m = model();
    let prompt = tokens(m, TEXT);
    let next = [Token(argmax(&logits_after(&q8_q4(6), &prompt)) as i32)];

    let mut a = Context::new(m, &q8_q4(6)).unwrap();
    a.eval(&prompt).unwrap();
    let saved = a.state_save().unwrap();
    a.eval(&next).unwrap();
    let want = a.logits().to_vec();

    // Same layout: the restored cache continues exactly like the original.
    let mut b = Context::new(m, &q8_q4(6)).unwrap();
    b.state_load(&saved).unwrap();
    assert_eq!(b.tokens(), &prompt[..]);
    b.eval(&next).unwrap();
    let max_diff = want
        .iter()
        .zip(b.logits())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-4, "restored logits differ by {max_diff}");

    // Through a file too.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.bin");
    a.truncate(prompt.len());
    a.state_save_file(&file).unwrap();
    let mut f = Context::new(m, &q8_q4(6)).unwrap();
    f.state_load_file(&file).unwrap();
    assert_eq!(f.tokens(), &prompt[..]);

    // Another split: refused at the first layer whose types differ, cache left empty.
    let mut c = Context::new(m, &q8_q4(3)).unwrap();
    match c.state_load(&saved) {
        Err(Error::StateLayoutMismatch {
            layer,
            saved,
            current,
        }) => {
            assert_eq!(layer, 3);
            assert_eq!(saved, "K q8_0 / V q8_0");
            assert_eq!(current, "K q4_0 / V q4_0");
        }
        other => panic!("expected StateLayoutMismatch, got {other:?}"),
    }
    assert!(c.tokens().is_empty());

    // A uniform cache of either type is another layout as well.
    for t in [KvType::Q8_0, KvType::F16] {
        let mut u = Context::new(m, &params().type_k(t).type_v(t)).unwrap();
        let e = u.state_load(&saved).unwrap_err();
        assert!(
            matches!(e, Error::StateLayoutMismatch { .. }),
            "uniform {t}: {e:?}"
        );
        assert!(e.to_string().contains("different KV cache layout"), "{e}");
    }

    // llama.cpp's own per-layer check is the second line: forge the header so that it
    // claims c's layout, and llama.cpp must still refuse the data.
    let mut forged = saved.clone();
    let header_layers = 12..12 + 8 * 18;
    let q4 = KvType::Q4_0.as_raw() as i32;
    for il in 3..6 {
        let off = header_layers.start + 8 * il;
        forged[off..off + 4].copy_from_slice(&q4.to_le_bytes());
        forged[off + 4..off + 8].copy_from_slice(&q4.to_le_bytes());
    }
    match c.state_load(&forged) {
        Err(Error::StateLoad(reason)) => {
            assert!(reason.contains("mismatched key type"), "{reason}")
        }
        other => panic!("expected StateLoad, got {other:?}"),
    }
    assert!(c.tokens().is_empty());
    // ... and c still works afterwards.
    c.eval(&prompt).unwrap();
    assert_eq!(c.tokens().len(), prompt.len());

    // Garbage is not a state.
    assert!(matches!(
        c.state_load(b"not a state"),
        Err(Error::StateFormat(_))
    ));
}

// --- K-shift --------------------------------------------------------------------------

/// Positions the sequence is shifted back by.
const SHIFT: i32 = 100;

/// Tokens evaluated after the shift (and compared with the fresh evaluation).
const TAIL: usize = 16;

/// Logits after a K-shift, against a fresh evaluation of the shifted sequence.
///
/// Context A evaluates `body` from an empty cache at positions SHIFT..SHIFT + n (allowed
/// for the first batch of a sequence), removes positions 0..SHIFT (`llama_memory_seq_rm`,
/// which holds nothing) and shifts the rest back by SHIFT (`llama_memory_seq_add`): the
/// cached keys must now be re-rotated (RoPE) to positions 0..n, which happens in the K-shift
/// before the next decode, of the TAIL tokens at positions n... Context B evaluates
/// body + tail from scratch. RoPE attention depends on position differences only, so the
/// two agree up to rounding and the re-quantization of the shifted keys; a K-shift that
/// left the keys at their old positions, or that applied the Hadamard rotation to the wrong
/// layers, makes them disagree. Returns the mean KL(fresh || shifted) over the tail and
/// the number of tail positions whose top-1 tokens agree.
pub fn shift_vs_recompute(p: &ContextParams) -> (f64, usize) {
    use edge_infer_llama_sys as sys;
    let m = model();
    let toks = tokens(m, TEXT);
    let (body, tail) = toks.split_at(toks.len() - TAIL);

    let mut a = Context::new(m, p).unwrap();
    assert!(a.can_shift());
    let raw = a.as_raw();
    // SAFETY: raw is a valid context owned by `a`, used on this thread only; the batch
    // holds body.len() <= n_batch tokens (checked) and is freed below.
    unsafe {
        assert!(body.len() <= a.n_batch() as usize);
        let mut batch = sys::llama_batch_init(body.len() as i32, 0, 1);
        batch.n_tokens = body.len() as i32;
        for (i, t) in body.iter().enumerate() {
            *batch.token.add(i) = t.0;
            *batch.pos.add(i) = SHIFT + i as i32;
            *batch.n_seq_id.add(i) = 1;
            **batch.seq_id.add(i) = 0;
            *batch.logits.add(i) = (i + 1 == body.len()) as i8;
        }
        let rc = sys::llama_decode(raw, batch);
        sys::llama_batch_free(batch);
        assert_eq!(rc, 0, "decode at shifted positions");
        let mem = sys::llama_get_memory(raw);
        assert_eq!(sys::llama_memory_seq_pos_min(mem, 0), SHIFT);
        assert!(sys::llama_memory_seq_rm(mem, 0, 0, SHIFT));
        sys::llama_memory_seq_add(mem, 0, SHIFT, -1, -SHIFT);
        assert_eq!(sys::llama_memory_seq_pos_min(mem, 0), 0);
        assert_eq!(sys::llama_memory_seq_pos_max(mem, 0), body.len() as i32 - 1);
    }
    // The tail goes to positions body.len().., right after the shifted tokens.
    let mut shifted = Vec::new();
    a.eval_with_logits(tail, 0, |_, l| shifted.push(l.to_vec()))
        .unwrap();

    let mut fresh = Vec::new();
    let mut b = Context::new(m, p).unwrap();
    b.eval_with_logits(&toks, body.len(), |i, l| {
        if i >= body.len() {
            fresh.push(l.to_vec())
        }
    })
    .unwrap();
    assert_eq!((shifted.len(), fresh.len()), (TAIL, TAIL));
    let mean_kld = fresh
        .iter()
        .zip(&shifted)
        .map(|(f, s)| kld(f, s))
        .sum::<f64>()
        / TAIL as f64;
    let same = fresh
        .iter()
        .zip(&shifted)
        .filter(|(f, s)| argmax(f) == argmax(s))
        .count();
    (mean_kld, same)
}

#[test]
fn k_shift_on_a_mixed_cache_matches_recomputing() {
    if common::emulated() {
        // Hundreds of tokens at about a second each under qemu; native runs cover it.
        eprintln!("skipped under qemu: too slow emulated");
        return;
    }
    // swa_full: an iSWA cache can shift only when its sliding-window part is full size.
    let base = params().swa_full(true);
    let uniform = |t: KvType| base.clone().type_k(t).type_v(t);

    // llama.cpp's own uniform paths set the scale: re-quantizing shifted keys costs
    // something (most for q4_0), rounding alone very little (f16).
    let mut reference = Vec::new();
    for t in [KvType::F16, KvType::Q8_0, KvType::Q4_0] {
        let (d, same) = shift_vs_recompute(&uniform(t));
        eprintln!("uniform {t}: mean KL(fresh || shifted) = {d:.6}, top-1 {same}/{TAIL}");
        reference.push((t, d, same));
    }
    let (f16_kld, f16_same) = (reference[0].1, reference[0].2);
    assert!(
        f16_kld < 0.02 && f16_same == TAIL,
        "the f16 reference itself is off: {f16_kld}, top-1 {f16_same}/{TAIL}"
    );

    let layouts = [
        // q8_0 and q4_0 layers: both stored rotated.
        base.clone().kv_hybrid(6, KvType::Q8_0, KvType::Q4_0),
        // f16 layers stored as is next to rotated q4_0 layers, in both the
        // sliding-window and the full-attention part of the cache.
        base.clone().kv_hybrid(6, KvType::F16, KvType::Q4_0),
        base.clone().kv_layer_table(
            (0..18)
                .map(|il| {
                    if il % 2 == 0 {
                        LayerKv::new(KvType::Q8_0, KvType::F16)
                    } else {
                        LayerKv::new(KvType::F16, KvType::Q4_0)
                    }
                })
                .collect::<Vec<_>>(),
        ),
        // f16 and q8_0 only.
        base.clone().kv_hybrid(9, KvType::F16, KvType::Q8_0),
    ];
    for p in &layouts {
        let ctx = Context::new(model(), p).unwrap();
        // The K-shift re-rotates keys only: the K types set the scale.
        let types: Vec<KvType> = ctx.kv_layer_caches().iter().filter_map(|l| l.k).collect();
        drop(ctx);
        // Tolerance: what llama.cpp's uniform cache of the coarsest type in the layout
        // loses to the shift, with 50% headroom plus a floor (and two top-1 tokens); a
        // mishandled rotation scrambles whole layers and is far above it.
        let (worst, worst_same) = reference
            .iter()
            .filter(|(t, _, _)| types.contains(t))
            .fold((f16_kld, f16_same), |(d, s), r| (d.max(r.1), s.min(r.2)));
        let tol = 1.5 * worst + 0.01;
        let (d, same) = shift_vs_recompute(p);
        eprintln!(
            "{}: mean KL(fresh || shifted) = {d:.6} (tolerance {tol:.4}), top-1 {same}/{TAIL}",
            p.kv_layout()
        );
        assert!(
            d <= tol && same + 2 >= worst_same,
            "{}: K-shift differs from recomputing: mean KL {d} (tolerance {tol}), top-1 \
             {same}/{TAIL} (uniform reference {worst_same})",
            p.kv_layout()
        );
    }
}

#[test]
fn discard_checks_its_range() {
    let m = model();
    let mut ctx = Context::new(m, &q8_q4(6).swa_full(true)).unwrap();
    ctx.eval(&tokens(m, "One two three four five")).unwrap();
    let n = ctx.tokens().len();
    assert!(matches!(
        ctx.discard(n - 1, 2),
        Err(Error::InvalidParameter { .. })
    ));
    assert_eq!(ctx.tokens().len(), n);
    ctx.discard(1, 0).unwrap();
    assert_eq!(ctx.tokens().len(), n);
}
