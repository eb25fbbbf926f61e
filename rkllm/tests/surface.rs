//! The 1.3 surface beyond plain runs (multimodal input, cross-attention, the embedding
//! callback, batched runs), against edge-infer's RKLLM test double (a fake librkllmrt).
mod common;
use common::*;
use edge_infer_rkllm::{CrossAttention, Error, Images, Input, RunOptions};
use rkllm_test_double::FakeModel;

#[test]
fn multimodal_images_go_where_their_placeholders_are() {
    let f = fixture("mm", FakeModel::default().reply("a cat").embd_size(8));
    #[allow(unused_mut)]
    let mut b = builder(&f).hidden_size(8);
    if cfg!(rkllm_abi_1_2) {
        b = b.image_tags("<s>", "</s>", "<p>"); // 1.2 takes them at init
    }
    let llm = b.build().unwrap();
    let mut images = Images::new(vec![0.25; 2 * 3 * 8], 2, 3).size(448, 448);
    if !cfg!(rkllm_abi_1_2) {
        images = images.tags("<s>", "</s>", "<p>");
    }
    let (text, s) = llm
        .generate(
            &Input::multimodal("<image>ab<image>", images.clone()),
            &RunOptions::new(),
        )
        .unwrap();
    assert_eq!(text, "a cat");
    assert_eq!(s.perf.unwrap().prefill_tokens, 2 + 2 * 3);
    assert_eq!(query(Some(&llm), "last_n_image"), 2);
    assert_eq!(query(Some(&llm), "last_n_image_tokens"), 3);
    assert_eq!(
        query(Some(&llm), "last_image_sum_milli"),
        12_000,
        "every float was read"
    );
    assert_eq!(query(Some(&llm), "last_image_tags_len"), 3 + 4 + 3);
    let runs = query(Some(&llm), "runs");
    let e = llm
        .generate(
            &Input::multimodal("one <image> only", images.clone()),
            &RunOptions::new(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("placeholders"), "{e}");
    let short = Images::new(vec![0.25; 2 * 3 * 4], 2, 3);
    let e = llm
        .generate(
            &Input::multimodal("<image><image>", short),
            &RunOptions::new(),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::EmbeddingShape {
                width: 8,
                expected: 48,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        query(Some(&llm), "runs"),
        runs,
        "refused before the runtime"
    );
    #[cfg(rkllm_abi_1_2)]
    assert!(matches!(
        llm.generate(
            &Input::multimodal("<image><image>", images.tags("a", "b", "c")),
            &RunOptions::new()
        ),
        Err(Error::NotInAbi { .. })
    ));
}

#[test]
fn cross_attention_params_reach_the_runtime() {
    let f = fixture("xattn", FakeModel::default().embd_size(8));
    let ca =
        || CrossAttention::new(vec![1.0; 16], vec![1.0; 16], vec![1.0; 2], vec![0, 1]).unwrap();
    let plain = builder(&f).build().unwrap();
    assert!(matches!(
        plain.set_cross_attn_params(ca()),
        Err(Error::InvalidArgument(_))
    ));
    let llm = builder(&f).cross_attention(true).build().unwrap();
    assert_eq!(query(Some(&llm), "param_use_cross_attn"), 1);
    llm.set_cross_attn_params(ca()).unwrap();
    assert_eq!(query(Some(&llm), "cross_attn_set"), 1);
    assert_eq!(query(Some(&llm), "cross_attn_num_tokens"), 2);
    assert_eq!(
        query(Some(&llm), "cross_attn_sum_milli"),
        (16 + 16 + 2 + 1) * 1000
    );
    // Replacing them keeps the runtime's view valid; runs go on.
    llm.set_cross_attn_params(
        CrossAttention::new(vec![2.0; 8], vec![2.0; 8], vec![1.0], vec![3]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        query(Some(&llm), "cross_attn_sum_milli"),
        (16 + 16 + 1 + 3) * 1000
    );
    llm.generate(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
}

#[cfg(not(rkllm_abi_1_2))]
#[test]
fn the_embedding_callback_fills_token_embeddings() {
    let f = fixture("embedcb", FakeModel::default().embd_size(8).reply("ok"));
    let llm = builder(&f)
        .vocab_size(32)
        .embed_callback(|ids, out| {
            for (row, id) in out.chunks_mut(8).zip(ids) {
                row.fill(*id as f32);
            }
            true
        })
        .build()
        .unwrap();
    assert_eq!(query(Some(&llm), "has_embed_callback"), 1);
    llm.generate(&Input::tokens(vec![1, 2, 3]), &RunOptions::new())
        .unwrap();
    assert_eq!(query(Some(&llm), "embed_callback_calls"), 1);
    assert_eq!(
        query(Some(&llm), "last_embed_cb_sum_milli"),
        8 * (1 + 2 + 3) * 1000
    );
    // A callback that fails, or panics, makes the runtime refuse the input.
    for ok in [false, true] {
        let llm = builder(&f)
            .vocab_size(32)
            .embed_callback(move |_, _| {
                if ok {
                    panic!("boom in embed callback")
                } else {
                    false
                }
            })
            .build()
            .unwrap();
        let e = llm
            .generate(&Input::tokens(vec![1]), &RunOptions::new())
            .unwrap_err();
        assert!(matches!(e, Error::NotRun { .. }), "{e}");
    }
}

#[cfg(rkllm_abi_1_2)]
#[test]
fn the_embedding_callback_is_not_in_1_2() {
    let f = fixture("embedcb12", FakeModel::default());
    assert!(matches!(
        builder(&f).embed_callback(|_, _| true).build(),
        Err(Error::NotInAbi { .. })
    ));
}

#[test]
fn batched_runs_stream_every_entry() {
    let f = fixture(
        "batch",
        FakeModel::default().reply("abcd").token_delay_ms(1),
    );
    let llm = builder(&f).n_batch(3).build().unwrap();
    assert_eq!(query(Some(&llm), "param_n_batch"), 3);
    let inputs = [
        Input::prompt("a"),
        Input::prompt("bb"),
        Input::prompt("ccc"),
    ];
    let out = llm
        .generate_batch(&inputs, &RunOptions::new().keep_history(true))
        .unwrap();
    let texts: Vec<_> = out.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        texts,
        ["abcd", "abc", "ab"],
        "entry i drops i characters in the double"
    );
    let prefill: Vec<_> = out
        .iter()
        .map(|(_, s)| s.perf.unwrap().prefill_tokens)
        .collect();
    assert_eq!(prefill, [1, 2, 3]);
    assert_eq!(query(Some(&llm), "last_batch"), 3);
    assert_eq!(llm.kv_cache_sizes().unwrap(), [1 + 4, 2 + 3, 3 + 2]);
    assert!(matches!(
        llm.generate(&Input::prompt("x"), &RunOptions::new()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        llm.generate_batch(&inputs[..2], &RunOptions::new()),
        Err(Error::InvalidArgument(_))
    ));
    // A pause from any entry pauses the batch.
    let mut n = 0;
    let s = llm
        .run_batch(&inputs, &RunOptions::new(), |_, _| {
            n += 1;
            if n == 2 {
                edge_infer_rkllm::Control::Pause
            } else {
                edge_infer_rkllm::Control::Continue
            }
        })
        .unwrap();
    assert!(s.iter().all(|s| s.paused));
    assert!(n <= 3, "{n}");
}
