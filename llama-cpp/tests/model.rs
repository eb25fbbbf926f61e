//! Model metadata, tokenization, chat template and memory accounting on the real model.

mod common;

use common::{model, params};
use edge_infer_llama::{ChatMessage, Context, FlashAttention, KvType, Model, Token};

#[test]
fn metadata_of_gemma3_270m() {
    let m = model();
    assert_eq!(m.architecture(), "gemma3");
    assert_eq!(m.n_layer(), 18);
    assert_eq!(m.n_embd(), 640);
    assert_eq!(m.n_ctx_train(), 32768);
    assert_eq!(m.n_params(), 268_098_176);
    assert_eq!(m.file_size(), std::fs::metadata(m.path()).unwrap().len());
    assert!(m.size() > 100_000_000 && m.size() < m.file_size());
    assert!(m.n_vocab() > 200_000);
    assert!(m.description().contains("gemma3"));
    assert!(m.n_swa() > 0, "gemma3 uses sliding-window attention");
}

#[test]
fn tokenize_roundtrip() {
    let m = model();
    let text = "Hello, world! Grüße aus Köln 🦀";
    let toks = m.tokenize(text, false, false).unwrap();
    assert!(toks.len() > 5);
    assert_eq!(m.detokenize(&toks, false).unwrap(), text);
    let with_bos = m.tokenize(text, true, false).unwrap();
    assert_eq!(with_bos.first().copied(), m.token_bos());
    assert_eq!(with_bos.len(), toks.len() + 1);
}

#[test]
fn special_tokens_parse_only_when_asked() {
    let m = model();
    let parsed = m.tokenize("<start_of_turn>", false, true).unwrap();
    let plain = m.tokenize("<start_of_turn>", false, false).unwrap();
    assert_eq!(parsed.len(), 1);
    assert!(plain.len() > 1);
}

#[test]
fn chat_template_formats_gemma_turns() {
    let m = model();
    let p = m
        .apply_chat_template(
            &[
                ChatMessage::user("Hi there"),
                ChatMessage::assistant("Hello!"),
                ChatMessage::user("Bye"),
            ],
            true,
        )
        .unwrap();
    assert!(
        p.starts_with("<start_of_turn>user\nHi there<end_of_turn>\n"),
        "{p:?}"
    );
    assert!(
        p.contains("<start_of_turn>model\nHello!<end_of_turn>\n"),
        "{p:?}"
    );
    assert!(p.ends_with("<start_of_turn>model\n"), "{p:?}");
    let named =
        edge_infer_llama::apply_template("chatml", &[ChatMessage::user("x")], true).unwrap();
    assert_eq!(
        named,
        "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn progress_callback_reaches_one() {
    let path = m_path();
    let mut last = 0.0f32;
    let mut calls = 0;
    let m = Model::load_with_progress(&path, &Default::default(), |p| {
        assert!(p >= last);
        last = p;
        calls += 1;
        true
    })
    .unwrap();
    assert!(calls >= 2);
    assert_eq!(last, 1.0);
    drop(m);
}

#[test]
fn progress_callback_can_cancel_and_panics_are_caught() {
    let path = m_path();
    let err = Model::load_with_progress(&path, &Default::default(), |_| false).unwrap_err();
    assert!(
        matches!(err, edge_infer_llama::Error::LoadCancelled(_)),
        "{err}"
    );
    let err = Model::load_with_progress(&path, &Default::default(), |_| panic!("boom in progress"))
        .unwrap_err();
    match err {
        edge_infer_llama::Error::CallbackPanicked(msg) => assert!(msg.contains("boom in progress")),
        other => panic!("unexpected {other}"),
    }
}

fn m_path() -> std::path::PathBuf {
    xtask::default_model().unwrap()
}

fn kv_bytes(k: KvType, v: KvType) -> u64 {
    let m = model();
    let ctx = Context::new(
        m,
        &params()
            .n_ctx(1024)
            .flash_attention(FlashAttention::On)
            .type_k(k)
            .type_v(v),
    )
    .unwrap();
    let r = ctx.memory_report();
    assert_eq!((r.type_k, r.type_v), (k, v));
    assert!(r.model_bytes > 0 && r.compute_bytes > 0);
    r.kv_bytes
}

#[test]
fn quantized_kv_sizes_follow_the_type_sizes() {
    let f16 = kv_bytes(KvType::F16, KvType::F16);
    assert!(f16 > 0);
    for t in [KvType::Q8_0, KvType::Q4_0] {
        let got = kv_bytes(t, t) as f64 / f16 as f64;
        let want = t.bytes_per_element() / KvType::F16.bytes_per_element();
        assert!(
            (got / want - 1.0).abs() < 0.05,
            "{t}: ratio {got:.4}, predicted {want:.4}"
        );
    }
    // K and V types are independent.
    let mixed = kv_bytes(KvType::Q8_0, KvType::F16) as f64 / f16 as f64;
    let want = (KvType::Q8_0.bytes_per_element() + 2.0) / 4.0;
    assert!(
        (mixed / want - 1.0).abs() < 0.05,
        "q8_0/f16: ratio {mixed:.4}, predicted {want:.4}"
    );
}

#[test]
fn kv_type_names_parse() {
    for name in [
        "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
    ] {
        let t: KvType = name.parse().unwrap();
        assert_eq!(t.name(), name);
    }
    assert!("q3_banana".parse::<KvType>().is_err());
}

#[test]
fn logits_have_vocab_length() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    assert!(ctx.logits().is_empty());
    let toks = m.tokenize(common::PROMPT, true, true).unwrap();
    ctx.eval(&toks).unwrap();
    let l = ctx.logits();
    assert_eq!(l.len(), m.n_vocab() as usize);
    assert!(l.iter().all(|x| x.is_finite()));
    let argmax = l
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert!(m.token_to_piece(Token(argmax as i32), false).is_ok());
}

#[test]
fn logits_are_never_stale() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let toks = m.tokenize(common::PROMPT, true, true).unwrap();
    ctx.eval(&toks).unwrap();
    let full = ctx.logits().to_vec();
    // After a truncate the last row belongs to a token no longer in the cache.
    ctx.truncate(toks.len() - 1);
    assert!(ctx.logits().is_empty());
    // Re-evaluating the dropped token brings back the same logits.
    ctx.eval(&toks[toks.len() - 1..]).unwrap();
    let again = ctx.logits();
    assert_eq!(again.len(), full.len());
    let max_diff = full
        .iter()
        .zip(again)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-2, "re-evaluated logits differ by {max_diff}");
    ctx.clear();
    assert!(ctx.logits().is_empty());
    // A state load restores the cache but not the logits.
    ctx.eval(&toks).unwrap();
    let state = ctx.state_save().unwrap();
    ctx.state_load(&state).unwrap();
    assert_eq!(ctx.tokens(), &toks[..]);
    assert!(ctx.logits().is_empty());
}

#[test]
fn model_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
    assert_send_sync::<edge_infer_llama::CancelHandle>();
    fn assert_send<T: Send>() {}
    assert_send::<Context<'static>>();
    let m = model();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut ctx = Context::new(m, &params().n_threads(1)).unwrap();
                let toks = m.tokenize("Hello", true, false).unwrap();
                ctx.eval(&toks).unwrap();
                assert_eq!(ctx.logits().len(), m.n_vocab() as usize);
            });
        }
    });
}

#[test]
fn a_cancel_between_runs_does_not_stop_the_next_eval() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let toks = m.tokenize(common::PROMPT, true, true).unwrap();
    ctx.cancel_handle().cancel();
    ctx.eval(&toks).unwrap();
    assert_eq!(ctx.tokens().len(), toks.len());
    assert!(!ctx.logits().is_empty());
}
