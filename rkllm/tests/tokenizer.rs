//! Tokenizer support with a tiny WordLevel tokenizer built here (nothing downloaded), against
//! edge-infer's RKLLM test double.
#![cfg(feature = "tokenizer")]
mod common;
use common::*;
use edge_infer_rkllm::{Error, Input, RunOptions};
use rkllm_test_double::FakeModel;
use std::collections::HashMap;
use std::path::PathBuf;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;

fn write_tokenizer(dir: &std::path::Path) -> PathBuf {
    let words = [
        "[UNK]", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
    ];
    let vocab: HashMap<String, u32> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tok = tokenizers::Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Whitespace {}));
    let path = dir.join("tokenizer.json");
    tok.save(&path, false).unwrap();
    path
}

#[test]
fn prompt_that_does_not_fit_is_refused_before_the_run() {
    let f = fixture("tok-fit", FakeModel::default().reply("ok"));
    let tj = write_tokenizer(f.dir.path());
    let llm = builder(&f)
        .tokenizer(&tj)
        .max_context_len(8)
        .build()
        .unwrap();
    assert_eq!(
        llm.tokenizer()
            .unwrap()
            .count("the quick brown fox")
            .unwrap(),
        4
    );
    let runs_before = query(Some(&llm), "runs");
    let long = "the quick brown fox jumps over the lazy dog";
    match llm
        .generate(&Input::prompt(long), &RunOptions::new())
        .unwrap_err()
    {
        Error::PromptTooLong {
            tokens,
            max_context_len,
            exact: true,
            ..
        } => assert_eq!((tokens, max_context_len), (9, 8)),
        e => panic!("unexpected {e}"),
    }
    assert!(llm
        .run_async(&Input::prompt(long), &RunOptions::new())
        .is_err());
    assert_eq!(
        query(Some(&llm), "runs"),
        runs_before,
        "the runtime never saw the prompt"
    );
    assert_eq!(
        llm.generate(&Input::prompt("the dog"), &RunOptions::new())
            .unwrap()
            .0,
        "ok"
    );
}

#[test]
fn bad_tokenizer_file_is_a_typed_error() {
    let f = fixture("tok-bad", FakeModel::default());
    let bad = f.dir.path().join("tokenizer.json");
    std::fs::write(&bad, b"{ not json").unwrap();
    assert!(matches!(
        builder(&f).tokenizer(&bad).build(),
        Err(Error::Tokenizer(_))
    ));
}

#[cfg(not(rkllm_abi_1_2))]
#[test]
fn tokenizer_callback_is_used_by_a_1_3_runtime() {
    // The real runtime calls it only for models without a tokenizer of their own.
    let f = fixture(
        "tok-cb",
        FakeModel::default().reply("ok").internal_tokenizer(false),
    );
    let tj = write_tokenizer(f.dir.path());
    let llm = builder(&f)
        .tokenizer(&tj)
        .tokenizer_callback(true)
        .build()
        .unwrap();
    assert_eq!(query(Some(&llm), "has_tokenizer_callback"), 1);
    // 3 words = 3 tokens from our tokenizer (the double alone would count 12 characters).
    let (_, s) = llm
        .generate(&Input::prompt("the lazy dog"), &RunOptions::new())
        .unwrap();
    assert_eq!(s.perf.unwrap().prefill_tokens, 3);
    assert_eq!(query(Some(&llm), "tokenizer_calls"), 1);
    // Async runs call it from the runtime thread.
    let (_, s) = llm
        .run_async(&Input::prompt("quick brown fox jumps"), &RunOptions::new())
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(s.perf.unwrap().prefill_tokens, 4);
    // A model with its own tokenizer: the callback is registered but not used.
    let g = fixture("tok-cb-internal", FakeModel::default().reply("ok"));
    let llm = builder(&g)
        .tokenizer(&tj)
        .tokenizer_callback(true)
        .build()
        .unwrap();
    llm.generate(&Input::prompt("the lazy dog"), &RunOptions::new())
        .unwrap();
    assert_eq!(query(Some(&llm), "tokenizer_calls"), 0);
    // Token ids are checked against the tokenizer's vocabulary (9 words).
    assert_eq!(llm.vocab_size(), Some(9));
    assert!(matches!(
        llm.generate(&Input::tokens(vec![9]), &RunOptions::new()),
        Err(Error::TokenOutOfRange { vocab_size: 9, .. })
    ));
}

#[cfg(rkllm_abi_1_2)]
#[test]
fn tokenizer_callback_is_not_in_1_2() {
    let f = fixture("tok-cb12", FakeModel::default());
    let tj = write_tokenizer(f.dir.path());
    assert!(matches!(
        builder(&f).tokenizer(&tj).tokenizer_callback(true).build(),
        Err(Error::NotInAbi { .. })
    ));
}
