//! Handle-level features against edge-infer's RKLLM test double (a fake librkllmrt).
mod common;
use common::*;
use edge_infer_rkllm::{AsyncEvent, Control, Error, InferMode, Input, OwnedFloats, RunOptions};
use rkllm_test_double::FakeModel;

#[test]
fn logits_borrowed_in_the_callback_and_copied_out() {
    let (_f, llm) = llm("logits", FakeModel::default().vocab_size(16));
    let freed_before = query(None, "freed_buffers");
    let mut borrowed_ok = false;
    let mut copied: Option<OwnedFloats> = None;
    let opts = RunOptions::new().mode(InferMode::Logits);
    assert_eq!(llm.vocab_size(), None);
    llm.run(&Input::prompt("abcd"), &opts, |c| {
        let l = c.logits().expect("logits in logits mode");
        assert_eq!((l.width(), l.num_tokens()), (16, 1));
        // value i + 0.25 * prompt tokens
        borrowed_ok = l
            .as_slice()
            .iter()
            .enumerate()
            .all(|(i, v)| *v == i as f32 + 1.0);
        copied = Some(l.to_owned());
        Control::Pause // the prompt's logits are all we want
    })
    .unwrap();
    assert!(borrowed_ok);
    // The runtime poisoned (0xFF = NaN) and freed its buffer after the callback; the copy is intact.
    assert!(query(None, "freed_buffers") > freed_before);
    let copied = copied.unwrap();
    assert!(copied
        .data
        .iter()
        .enumerate()
        .all(|(i, v)| *v == i as f32 + 1.0));
    assert_eq!(query(Some(&llm), "last_mode"), 2);
    assert_eq!(query(Some(&llm), "last_steps"), 1);
    assert_eq!(
        llm.vocab_size(),
        Some(16),
        "learned from the runtime's logits width"
    );
}

#[test]
fn logits_runs_go_on_until_the_callback_says_stop() {
    // ABI.md: in logits and hidden-state modes the runtime goes on calling back until the
    // callback returns 1. Blocking runs leave that to the caller; async runs take one step.
    let (_f, llm) = llm("logits-steps", FakeModel::default().vocab_size(4));
    let opts = RunOptions::new().mode(InferMode::Logits);
    let mut calls = 0;
    llm.run(&Input::prompt("ab"), &opts, |_| {
        calls += 1;
        if calls == 4 {
            Control::Pause
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert_eq!((calls, query(Some(&llm), "last_steps")), (4, 4));
    let events: Vec<_> = llm
        .run_async(&Input::prompt("ab"), &opts)
        .unwrap()
        .collect();
    assert!(matches!(events[0], AsyncEvent::Logits(_)), "{events:?}");
    assert_eq!(events.len(), 2, "one buffer, then the end: {events:?}");
    assert_eq!(query(Some(&llm), "last_steps"), 1);
}

#[test]
fn hidden_states_and_async_copies() {
    let (_f, llm) = llm("hidden", FakeModel::default().embd_size(4));
    let mut rows = Vec::new();
    let opts = RunOptions::new().mode(InferMode::LastHiddenLayer);
    llm.run(&Input::prompt("abc"), &opts, |c| {
        let h = c.hidden_states().expect("hidden states");
        assert_eq!((h.width(), h.num_tokens()), (4, 3));
        rows.push(h.row(2).unwrap().to_vec());
        assert_eq!(h.row(3), None);
        Control::Pause
    })
    .unwrap();
    assert_eq!(rows, vec![vec![2.0, 2.01, 2.02, 2.03]]);
    assert_eq!(
        llm.hidden_size(),
        Some(4),
        "learned from the runtime's hidden width"
    );
    let events: Vec<_> = llm
        .run_async(&Input::prompt("ab"), &opts)
        .unwrap()
        .collect();
    match &events[0] {
        AsyncEvent::HiddenStates(h) => {
            assert_eq!((h.width, h.num_tokens), (4, 2));
            assert_eq!(&h.data[4..], &[1.0, 1.01, 1.02, 1.03]);
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(matches!(events.last(), Some(AsyncEvent::Finished(_))));
}

#[test]
fn token_inputs_are_checked_against_the_vocabulary() {
    let (f, llm) = llm("tokens", FakeModel::default().reply("ok"));
    let runs = query(Some(&llm), "runs");
    // Unknown vocabulary: refused, with what to do.
    let e = llm
        .generate(&Input::tokens(vec![1, 2]), &RunOptions::new())
        .unwrap_err();
    assert!(matches!(e, Error::VocabSizeUnknown), "{e}");
    assert!(e.to_string().contains("vocab_size"), "{e}");
    let llm = builder(&f).vocab_size(32).build().unwrap();
    let (t, s) = llm
        .generate(&Input::tokens(vec![1, 2, 3, 4, 5]), &RunOptions::new())
        .unwrap();
    assert_eq!((t.as_str(), s.perf.unwrap().prefill_tokens), ("ok", 5));
    for (bad, index) in [(vec![1, 32, 2], 1), (vec![-1], 0)] {
        match llm
            .generate(&Input::tokens(bad.clone()), &RunOptions::new())
            .unwrap_err()
        {
            Error::TokenOutOfRange {
                id,
                index: i,
                vocab_size: 32,
            } => assert_eq!((id, i), (bad[index], index)),
            e => panic!("{e}"),
        }
    }
    assert_eq!(
        query(Some(&llm), "last_bad_token_ids"),
        0,
        "no bad id reached the runtime"
    );
    assert!(matches!(
        llm.generate(&Input::tokens(vec![]), &RunOptions::new()),
        Err(Error::InvalidArgument(_))
    ));
    let _ = runs;
}

#[test]
fn embedding_rows_must_be_of_the_hidden_size() {
    let (f, llm) = llm("embed", FakeModel::default().reply("ok").embd_size(8));
    let e = llm
        .generate(&Input::embeddings(vec![0.5; 24], 3), &RunOptions::new())
        .unwrap_err();
    assert!(matches!(e, Error::HiddenSizeUnknown { .. }), "{e}");
    let llm = builder(&f).hidden_size(8).build().unwrap();
    let runs = query(Some(&llm), "runs");
    // 12 floats for 3 tokens of width 8: the runtime would read 24.
    match llm
        .generate(&Input::embeddings(vec![0.5; 12], 3), &RunOptions::new())
        .unwrap_err()
    {
        Error::EmbeddingShape {
            floats: 12,
            rows: 3,
            width: 8,
            expected: 24,
            ..
        } => {}
        e => panic!("{e}"),
    }
    assert!(matches!(
        llm.generate(&Input::embeddings(vec![0.5; 10], 3), &RunOptions::new()),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        query(Some(&llm), "runs"),
        runs,
        "the runtime never saw them"
    );
    let (_, s) = llm
        .generate(&Input::embeddings(vec![0.5; 24], 3), &RunOptions::new())
        .unwrap();
    assert_eq!(s.perf.unwrap().prefill_tokens, 3);
    assert_eq!(
        query(Some(&llm), "last_embed_sum_milli"),
        12_000,
        "all 24 floats read"
    );
    // The caller may vouch for the width instead.
    let (_, llm2) = common::llm(
        "embed-unchecked",
        FakeModel::default().reply("ok").embd_size(2),
    );
    // SAFETY: 3 rows of the double's hidden size 2.
    let input = unsafe { Input::embeddings_unchecked(vec![1.0; 6], 3) };
    llm2.generate(&input, &RunOptions::new()).unwrap();
    assert_eq!(query(Some(&llm2), "last_embed_sum_milli"), 6_000);
}

#[test]
fn the_prompt_guard_counts_the_cached_history_and_works_without_a_tokenizer() {
    let f = fixture("guard", FakeModel::default().reply("ok"));
    let llm = builder(&f)
        .max_context_len(64)
        .vocab_size(32)
        .build()
        .unwrap();
    assert!(matches!(
        llm.generate(&Input::tokens(vec![7; 64]), &RunOptions::new()),
        Err(Error::PromptTooLong {
            tokens: 64,
            cached: 0,
            max_context_len: 64,
            exact: true
        })
    ));
    let keep = RunOptions::new().keep_history(true);
    llm.generate(&Input::prompt("a".repeat(40)), &keep).unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 42);
    let runs = query(Some(&llm), "runs");
    // 30 bytes fit alone, not after the 42 cached tokens.
    match llm
        .generate(&Input::prompt("b".repeat(30)), &keep)
        .unwrap_err()
    {
        Error::PromptTooLong {
            tokens: 30,
            cached: 42,
            exact: false,
            ..
        } => {}
        e => panic!("{e}"),
    }
    // Without keep_history the cache is not carried over, so it fits.
    llm.generate(&Input::prompt("b".repeat(30)), &RunOptions::new())
        .unwrap();
    // Without a tokenizer the bound is the byte count: 40 two-byte characters are 80.
    let e = llm
        .generate(&Input::prompt("é".repeat(40)), &RunOptions::new())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::PromptTooLong {
                tokens: 80,
                exact: false,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("tokenizer"), "{e}");
    assert_eq!(query(Some(&llm), "runs"), runs + 1);
}

#[test]
fn other_inputs_and_thinking() {
    let (_f, llm) = llm("inputs", FakeModel::default().reply("ok"));
    assert!(matches!(
        llm.generate(&Input::prompt("a\0b"), &RunOptions::new()),
        Err(Error::InteriorNul { .. })
    ));
    let (_, s) = llm
        .generate(&Input::prompt("hi").thinking(true), &RunOptions::new())
        .unwrap();
    assert!(s.perf.is_some());
    assert_eq!(query(Some(&llm), "last_enable_thinking"), 1);
}

#[test]
fn kv_cache_clear_all_and_range() {
    let (_f, llm) = llm("kv", FakeModel::default().reply("xy"));
    llm.generate(
        &Input::prompt("abcdef"),
        &RunOptions::new().keep_history(true),
    )
    .unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 8);
    llm.clear_kv_cache_range(false, 0..2).unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 6);
    assert_eq!(
        (
            query(Some(&llm), "last_clear_start"),
            query(Some(&llm), "last_clear_end")
        ),
        (0, 2)
    );
    let (start, end) = (3, 1); // a reversed range
    assert!(matches!(
        llm.clear_kv_cache_range(false, start..end),
        Err(Error::InvalidArgument(_))
    ));
    llm.set_chat_template("SYS", "", "").unwrap();
    llm.clear_kv_cache(true).unwrap();
    assert_eq!(query(Some(&llm), "last_clear_keep"), 1);
    assert_eq!(llm.kv_cache_size().unwrap(), 3, "system prompt kept");
    llm.clear_kv_cache(false).unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 0);
}

#[test]
fn chat_template_is_applied() {
    let (_f, llm) = llm("template", FakeModel::default());
    llm.set_chat_template("SYS|", "<u>", "</u><a>").unwrap();
    let (t, _) = llm
        .generate(&Input::prompt("#ECHO#héllo"), &RunOptions::new())
        .unwrap();
    assert_eq!(t, "SYS|<u>héllo</u><a>");
    assert!(matches!(
        llm.set_chat_template("a\0", "", ""),
        Err(Error::InteriorNul { .. })
    ));
}

#[test]
fn function_tools_and_tool_role_replies() {
    let (_f, llm) = llm("tools", FakeModel::default());
    let tools = r#"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]"#;
    llm.set_function_tools("You can call tools.", tools, "<tool_response>")
        .unwrap();
    let (t, _) = llm
        .generate(
            &Input::prompt("#TOOL# weather in Paris?"),
            &RunOptions::new(),
        )
        .unwrap();
    assert!(
        t.starts_with("<tool_call>") && t.contains("\"get_weather\""),
        "{t}"
    );
    let (t, _) = llm
        .generate(&Input::tool_response("21 C"), &RunOptions::new())
        .unwrap();
    assert_eq!(t, "Tool result received: 21 C");
    assert_eq!(query(Some(&llm), "last_role_tool"), 1);
    for bad in ["not json", "{\"name\": \"x\"}", "[{\"parameters\": {}}]"] {
        assert!(
            matches!(
                llm.set_function_tools("", bad, "t"),
                Err(Error::InvalidToolsJson(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn lora_load_and_per_run_selection() {
    let (f, llm) = llm("lora", FakeModel::default().reply("hi"));
    let adapter = f.dir.path().join("style.rkllm");
    std::fs::write(&adapter, b"fake lora").unwrap();
    llm.load_lora(&adapter, "style", 0.5).unwrap();
    assert_eq!(query(Some(&llm), "n_lora"), 1);
    let (t, _) = llm
        .generate(&Input::prompt("x"), &RunOptions::new().lora("style"))
        .unwrap();
    assert_eq!(t, "[lora:style] hi");
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        "hi"
    );
    assert!(matches!(
        llm.generate(&Input::prompt("x"), &RunOptions::new().lora("nope")),
        Err(Error::RunFailed {
            error_state: true,
            ..
        })
    ));
    assert!(matches!(
        llm.load_lora(f.dir.path().join("missing"), "m", 1.0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn prompt_cache_save_load_release() {
    let (f, llm) = llm("pcache", FakeModel::default().reply("ok"));
    let cache = f.dir.path().join("prompt.cache");
    llm.generate(
        &Input::prompt("abcd"),
        &RunOptions::new().save_prompt_cache(&cache),
    )
    .unwrap();
    let saved = std::fs::read_to_string(&cache).unwrap();
    assert!(
        saved.starts_with("RKLLM-TEST-DOUBLE-PROMPT-CACHE\n"),
        "{saved}"
    );
    assert_eq!(llm.kv_cache_size().unwrap(), 0);
    llm.load_prompt_cache(&cache).unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 4);
    llm.release_prompt_cache().unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 0);
    let bogus = f.dir.path().join("bogus.cache");
    std::fs::write(&bogus, b"nope").unwrap();
    assert!(matches!(
        llm.load_prompt_cache(&bogus),
        Err(Error::CallFailed {
            function: "rkllm_load_prompt_cache",
            ..
        })
    ));
}

#[test]
fn init_parameters_reach_the_runtime() {
    let f = fixture("params", FakeModel::default());
    let llm = builder(&f)
        .max_context_len(2048)
        .max_new_tokens(77)
        .n_keep(5)
        .skip_special_token(false)
        .embed_flash(true)
        .base_domain_id(2)
        .cpu_mask(0x0C)
        .sampling(
            edge_infer_rkllm::Sampling::new()
                .top_k(3)
                .top_p(0.5)
                .temperature(0.25)
                .repeat_penalty(1.5)
                .frequency_penalty(0.125)
                .presence_penalty(0.75)
                .mirostat(2, 4.0, 0.2),
        )
        .build()
        .unwrap();
    let q = |k| query(Some(&llm), k);
    assert_eq!(q("param_max_context_len"), 2048);
    assert_eq!(llm.max_context_len(), 2048);
    assert_eq!(q("param_max_new_tokens"), 77);
    assert_eq!(q("param_n_keep"), 5);
    assert_eq!(q("param_skip_special_token"), 0);
    assert_eq!(q("param_embed_flash"), 1);
    assert_eq!(q("param_base_domain_id"), 2);
    assert_eq!((q("param_cpus_mask"), q("param_cpus_num")), (0x0C, 2));
    assert_eq!(q("param_n_batch"), 1);
    assert_eq!(q("param_is_async"), 0);
    // The defaults were copied into zeroed memory: rkllm_createDefaultParam leaves the
    // reserved bytes and the padding unwritten (the double fills them with 0xAB).
    assert_eq!(q("init_reserved_nonzero"), 0);
    assert_eq!(q("init_padding_nonzero"), 0);
    assert_eq!(q("init_bad_bool"), 0);
    assert_eq!(q("param_top_k"), 3);
    assert_eq!(q("param_top_p_milli"), 500);
    assert_eq!(q("param_temperature_milli"), 250);
    assert_eq!(q("param_repeat_penalty_milli"), 1500);
    assert_eq!(q("param_frequency_penalty_milli"), 125);
    assert_eq!(q("param_presence_penalty_milli"), 750);
    assert_eq!(q("param_mirostat"), 2);
    assert_eq!(q("param_mirostat_tau_milli"), 4000);
    assert_eq!(q("param_mirostat_eta_milli"), 200);
}

#[test]
fn default_cpu_mask_is_the_a76_cores() {
    // The default host checks are skipped for the test double (it identifies itself), so the
    // RK3588 default mask initialises even on this machine; see checks.rs for the real check.
    let (_f, llm) = llm("defaultmask", FakeModel::default());
    assert_eq!(query(Some(&llm), "param_cpus_mask"), 0xF0);
    assert_eq!(query(Some(&llm), "param_cpus_num"), 4);
    assert!(llm.runtime().is_test_double());
}

#[cfg(not(rkllm_abi_1_2))]
#[test]
fn ignore_eos_token_on_1_3() {
    let f = fixture("eos", FakeModel::default());
    let llm = builder(&f).ignore_eos_token(true).build().unwrap();
    assert_eq!(query(Some(&llm), "param_ignore_eos_token"), 1);
}

#[cfg(rkllm_abi_1_2)]
#[test]
fn ignore_eos_token_is_not_in_1_2() {
    let f = fixture("eos12", FakeModel::default());
    assert!(matches!(
        builder(&f).ignore_eos_token(true).build(),
        Err(Error::NotInAbi { .. })
    ));
}
