//! Both backends behind the same trait: llama.cpp on the real default model, RKLLM on the
//! test double (a fake librkllmrt; no NPU).
mod common;

use std::ops::ControlFlow;

use common::{both, check_stats, collect};
use edge_infer::{
    BackendKind, ChatSession, ContextPolicy, Error, Event, Generator, Markers, Message, ModelError,
    ReasoningMode, Request, Sampling, StopReason,
};
use rkllm_test_double::FakeModel;

fn request() -> Request {
    Request::new(vec![
        Message::system("You are a helpful assistant."),
        Message::user("Name three colours."),
    ])
    .sampling(Sampling::greedy())
    .max_tokens(12)
}

#[test]
fn the_same_request_streams_well_formed_events_on_both_backends() {
    let (_dir, reg) = both("same", FakeModel::default().reply("Red, blue."));
    for (model, backend) in [("cpu", BackendKind::Llama), ("npu", BackendKind::Rkllm)] {
        let mut g = reg.open_model(model).unwrap();
        assert_eq!(g.info().backend, backend);
        let (text, reasoning, stats) = collect(&mut g, &request());
        assert!(!text.is_empty(), "{model}: no text");
        assert!(reasoning.is_empty(), "{model}: reasoning in Drop mode");
        check_stats(&stats, 12);
        assert_eq!(stats.cached_tokens, 0, "{model}: fresh generator");
        if backend == BackendKind::Rkllm {
            assert_eq!(text, "Red, blue.");
            assert_eq!(stats.stop_reason, StopReason::EndOfGeneration);
            assert_eq!(stats.generated_tokens, 10);
            assert_eq!(
                stats.peak_memory_bytes,
                Some((123.5 * 1024.0 * 1024.0) as u64)
            );
        }
    }
}

#[test]
fn llama_greedy_is_reproducible_and_reset_forgets_history() {
    let (_dir, reg) = both("repro", FakeModel::default());
    let mut g = reg.open_model("cpu").unwrap();
    let (a, _, s1) = collect(&mut g, &request());
    // Same request again: everything but the last prompt token comes from the cache.
    let (b, _, s2) = collect(&mut g, &request());
    assert_eq!(a, b);
    assert_eq!(s2.prompt_tokens, 1, "{s2:?}");
    assert_eq!(s2.cached_tokens, s1.prompt_tokens - 1);
    g.reset().unwrap();
    let (c, _, s3) = collect(&mut g, &request());
    assert_eq!(a, c);
    assert_eq!((s3.prompt_tokens, s3.cached_tokens), (s1.prompt_tokens, 0));
}

#[test]
fn llama_history_reuse_evaluates_only_the_new_turn() {
    let (_dir, reg) = both("reuse-cpu", FakeModel::default());
    let mut chat = ChatSession::new(reg.open_model("cpu").unwrap())
        .system("Answer briefly.")
        .settings(
            Request::default()
                .sampling(Sampling::greedy())
                .max_tokens(8),
        );
    let first = chat.send("What is the capital of France?").unwrap();
    let second = chat.send("And of Italy?").unwrap();

    // The second prompt, tokenized in full, as the backend sees it.
    let model = edge_infer_llama::Model::load(xtask::default_model().unwrap(), &Default::default())
        .unwrap();
    let render = |msgs: &[Message]| {
        let chat: Vec<_> = msgs
            .iter()
            .map(|m| edge_infer_llama::ChatMessage::new(m.role.as_str(), m.content.clone()))
            .collect();
        let text = model.apply_chat_template(&chat, true).unwrap();
        model.tokenize(&text, true, true).unwrap().len()
    };
    let mut msgs = vec![Message::system("Answer briefly.")];
    msgs.extend(chat.history()[..3].iter().cloned());
    let full_second = render(&msgs);
    let full_first = render(&msgs[..2]);

    assert_eq!(first.stats.prompt_tokens, full_first);
    // Everything already in the cache (the first prompt and at least part of the reply)
    // is reused; only the rest is evaluated.
    assert_eq!(
        second.stats.cached_tokens + second.stats.prompt_tokens,
        full_second
    );
    assert!(
        second.stats.cached_tokens >= full_first,
        "{:?}",
        second.stats
    );
    assert!(
        second.stats.prompt_tokens < full_second - full_first + 1,
        "{:?}",
        second.stats
    );
}

#[test]
fn rkllm_history_reuse_sends_only_the_new_message() {
    let (_dir, reg) = both("reuse-npu", FakeModel::default().reply("Paris."));
    let mut chat = ChatSession::new(reg.open_model("npu").unwrap())
        .settings(Request::default().max_tokens(32));
    let first = chat.send("What is the capital of France?").unwrap();
    assert_eq!(first.text, "Paris.");
    // The double counts one prompt token per character.
    assert_eq!(
        first.stats.prompt_tokens,
        "What is the capital of France?".len()
    );
    let second = chat.send("And Italy?").unwrap();
    assert_eq!(second.stats.prompt_tokens, "And Italy?".len());
    assert_eq!(
        second.stats.cached_tokens,
        first.stats.prompt_tokens + first.stats.generated_tokens
    );
    // An edited history cannot continue the cache: the conversation is sent again.
    chat.reset().unwrap();
    let third = chat.send("Hi").unwrap();
    assert_eq!(
        (third.stats.prompt_tokens, third.stats.cached_tokens),
        (2, 0)
    );
}

#[test]
fn reasoning_split_across_tokens_is_separated_on_the_npu_path() {
    // The double streams ASCII one character per callback, so each marker arrives split
    // across several tokens; "é" arrives as two byte-pieces.
    let reply = "<think>plan é</think>Answer é";
    let (_dir, reg) = both("reason", FakeModel::default().reply(reply));
    let mut g = reg.open_model("npu").unwrap();
    let base = Request::user("q").max_tokens(100);
    let (t, r, _) = collect(&mut g, &base.clone().reasoning(ReasoningMode::Separate));
    assert_eq!((t.as_str(), r.as_str()), ("Answer é", "plan é"));
    let (t, r, _) = collect(&mut g, &base.clone().reasoning(ReasoningMode::Drop));
    assert_eq!((t.as_str(), r.as_str()), ("Answer é", ""));
    let (t, r, _) = collect(&mut g, &base.clone().reasoning(ReasoningMode::Inline));
    assert_eq!((t.as_str(), r.as_str()), (reply, ""));
}

#[test]
fn reasoning_on_the_cpu_path_in_text_and_in_control_tokens() {
    let (_dir, reg) = both("reason-cpu", FakeModel::default());
    let mut g = reg.open_model("cpu").unwrap();
    let forced = |gbnf: &str, mode| {
        Request::user("q")
            .sampling(Sampling::greedy())
            .max_tokens(64)
            .grammar(gbnf)
            .reasoning(mode)
    };

    // A textual marker, which the model writes across several tokens.
    let think = r#"root ::= "<think>plan é</think>Answer é""#;
    let (t, r, s) = collect(&mut g, &forced(think, ReasoningMode::Separate));
    assert_eq!((t.as_str(), r.as_str()), ("Answer é", "plan é"));
    assert_eq!(s.stop_reason, StopReason::EndOfGeneration);
    assert!(s.generated_tokens > 4, "markers split across tokens: {s:?}");

    // A thought channel made of control tokens, as Gemma's is. This model has none, so
    // two of its unused control tokens (ids 6 and 7) stand in for it.
    let channel = Markers::new("<unused0>", "<unused1>");
    let tokens = r#"root ::= <[6]> "plan é" <[7]> "Answer é""#;
    let with = |mode| forced(tokens, mode).reasoning_markers(vec![channel.clone()]);
    let (t, r, _) = collect(&mut g, &with(ReasoningMode::Separate));
    assert_eq!((t.as_str(), r.as_str()), ("Answer é", "plan é"));
    let (t, r, _) = collect(&mut g, &with(ReasoningMode::Drop));
    assert_eq!((t.as_str(), r.as_str()), ("Answer é", ""));
    let (t, _, _) = collect(&mut g, &with(ReasoningMode::Inline));
    assert_eq!(t, "<unused0>plan é<unused1>Answer é");
    // Control tokens that are not markers stay out of the text.
    let (t, _, _) = collect(&mut g, &forced(tokens, ReasoningMode::Inline));
    assert_eq!(t, "plan éAnswer é");
}

#[test]
fn grammar_errors_name_the_problem() {
    let (_dir, reg) = both("grammar", FakeModel::default());
    let mut cpu = reg.open_model("cpu").unwrap();
    let e = cpu
        .generate(&Request::user("q").grammar("root ::= nowhere"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`cpu`") && e.contains("grammar"), "{e}");
    let mut npu = reg.open_model("npu").unwrap();
    let e = npu
        .generate(&Request::user("q").grammar(r#"root ::= "x""#))
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Model { cause, .. } if matches!(**cause, ModelError::Unsupported(_))
        ),
        "{e}"
    );
    assert!(e.to_string().contains("`npu`"), "{e}");
    let bad = Request::user("q").reasoning_markers(vec![Markers::new("", "x")]);
    let e = cpu.generate(&bad).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    // The generator still works after each of these.
    let (t, _, _) = collect(
        &mut cpu,
        &Request::user("q").max_tokens(2).grammar(r#"root ::= "ok""#),
    );
    assert_eq!(t, "ok");
}

#[test]
fn stop_strings_behave_the_same_on_both_backends() {
    let (_dir, reg) = both("stop", FakeModel::default().reply("one, two, three"));
    let mut npu = reg.open_model("npu").unwrap();
    let (t, _, s) = collect(
        &mut npu,
        &Request::user("count").max_tokens(100).stop(", t"),
    );
    assert_eq!(t, "one");
    assert_eq!(s.stop_reason, StopReason::StopString(", t".into()));

    // On the real model: learn the greedy output, then stop inside it.
    let mut cpu = reg.open_model("cpu").unwrap();
    let (full, _, _) = collect(&mut cpu, &request());
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() >= 4, "{full:?}");
    let cut: String = chars[..chars.len() / 2].iter().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let (t, _, s) = collect(&mut cpu, &request().stop(stop.clone()));
    assert!(
        t.starts_with(&cut[..cut.find(&stop).unwrap_or(cut.len())]),
        "{t:?} vs {full:?}"
    );
    assert!(!t.contains(&stop), "{t:?} contains {stop:?}");
    assert_eq!(s.stop_reason, StopReason::StopString(stop));
}

#[test]
fn cancellation_works_the_same_on_both_backends() {
    // The double's aborts take 1.3 s by default, as measured on a board, during which
    // "#LONG#" would stream 1300 tokens: make them take effect at once here.
    let (_dir, reg) = both("cancel", FakeModel::default().abort_delay_ms(1));
    for model in ["cpu", "npu"] {
        let mut g = reg.open_model(model).unwrap();
        // "#LONG#" makes the double stream 20000 tokens; the real model gets a big budget.
        let req = Request::user("#LONG# Tell me a very long story.")
            .sampling(Sampling::greedy())
            .max_tokens(400);
        let cancel = g.cancel_handle();
        let mut events = 0;
        let stats = g
            .generate_with(&req, &mut |_| {
                events += 1;
                if events == 1 {
                    // From another thread, as a UI would.
                    let c = cancel.clone();
                    std::thread::spawn(move || c.cancel()).join().unwrap();
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(stats.stop_reason, StopReason::Cancelled, "{model}");
        assert!(stats.generated_tokens < 400, "{model}: {stats:?}");

        // A break from the callback cancels too, and the generator is usable afterwards.
        let stats = g
            .generate_with(&req, &mut |_| ControlFlow::Break(()))
            .unwrap();
        assert_eq!(stats.stop_reason, StopReason::Cancelled, "{model}");
        let (text, _, _) = collect(&mut g, &request());
        assert!(!text.is_empty(), "{model}: usable after cancel");

        // A cancel before the generation starts (stream created, then cancelled) stops it
        // at once; dropping a stream early cancels it as well.
        let stream = g.stream(&req).unwrap();
        stream.cancel_handle().cancel();
        let last = stream.last().unwrap().unwrap();
        assert!(
            matches!(&last, Event::Done(s) if s.stop_reason == StopReason::Cancelled),
            "{model}: {last:?}"
        );
        drop(g.stream(&req).unwrap());
        let (text, _, _) = collect(&mut g, &request());
        assert!(!text.is_empty(), "{model}: usable after a dropped stream");
    }
}

#[test]
fn max_tokens_and_tools_on_the_npu() {
    let (_dir, reg) = both("tools", FakeModel::default().reply("abcdefghij"));
    let mut g = reg.open_model("npu").unwrap();
    let (t, _, s) = collect(&mut g, &Request::user("x").max_tokens(4));
    assert_eq!((t.as_str(), s.generated_tokens), ("abcd", 4));
    assert_eq!(s.stop_reason, StopReason::MaxTokens);
    // Without the model's template the reply's tool-call format is unknown: refused, named.
    let req = Request::user("#TOOL# what time is it?")
        .max_tokens(200)
        .tools_json(r#"[{"type": "function", "function": {"name": "get_time", "parameters": {}}}]"#)
        .unwrap();
    let err = g.generate(&req).unwrap_err();
    assert!(err.to_string().contains("chat_template"), "{err}");
}

#[test]
fn context_policy_drops_oldest_turns_or_errors() {
    let (_dir, reg) = both("full", FakeModel::default().reply("ok"));
    let long = "word ".repeat(300);
    let mut history = vec![Message::system("Be brief.")];
    for i in 0..4 {
        history.push(Message::user(format!("{i} {long}")));
        history.push(Message::assistant("ok"));
    }
    history.push(Message::user("last question"));
    for model in ["cpu", "npu"] {
        let mut g = reg.open_model(model).unwrap();
        let req = Request::new(history.clone()).max_tokens(16);
        let err = g
            .generate(&req.clone().context_policy(ContextPolicy::Error))
            .unwrap_err();
        assert!(
            matches!(&err, Error::ContextFull { model: m, n_ctx: 1024, .. } if m == model),
            "{model}: {err}"
        );
        let done = g.generate(&req).unwrap();
        let dropped = done.stats.dropped_messages;
        assert!(
            dropped >= 2 && dropped % 2 == 0 && dropped <= 8,
            "{model}: {dropped}"
        );
    }
}

#[test]
fn a_session_forgets_what_the_generator_dropped() {
    let (_dir, reg) = both("session-drop", FakeModel::default().reply("ok"));
    let mut chat = ChatSession::new(reg.open_model("npu").unwrap())
        .system("s")
        .settings(Request::default().max_tokens(8));
    let long = "x".repeat(400);
    let mut dropped = 0;
    for _ in 0..4 {
        dropped += chat.send(&long).unwrap().stats.dropped_messages;
    }
    assert!(dropped > 0);
    assert_eq!(chat.history().len(), 8 - dropped);
    assert_eq!(chat.history().last().unwrap().content, "ok");
}

/// Polls an async stream to its next item on this thread (no executor needed).
#[cfg(feature = "async")]
fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match Pin::new(&mut *s).poll_next(&mut cx) {
            Poll::Ready(x) => return x,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(feature = "async")]
#[test]
fn async_stream_yields_the_same_events() {
    let (_dir, reg) = both("async", FakeModel::default().reply("async ok"));
    for model in ["cpu", "npu"] {
        let mut g = reg.open_model(model).unwrap();
        let mut s = g.stream_async(&request()).unwrap();
        let (mut text, mut done) = (String::new(), None);
        while let Some(item) = next(&mut s) {
            match item.unwrap() {
                Event::Text(t) => text.push_str(&t),
                Event::Reasoning(_) => {}
                Event::Done(stats) => done = Some(stats),
                _ => {}
            }
        }
        assert!(!text.is_empty() && done.is_some(), "{model}");
        assert!(next(&mut s).is_none(), "{model}: nothing after Done");
    }
}

/// An executor's task must not block: dropping an async stream cancels its generation and
/// returns at once, and the cancel never reaches the generation after it.
#[cfg(feature = "async")]
#[test]
fn dropping_an_async_stream_does_not_wait_and_cancels_only_its_generation() {
    use std::time::{Duration, Instant};
    // The double's aborts take 1.3 s to take effect, as measured on a board: a drop that
    // waited for the backend to stop would take that long. `abort_sticky` is the variant
    // of the runtime in which an abort while idle kills the next run.
    for fake in [
        FakeModel::default().token_delay_ms(2),
        FakeModel::default().token_delay_ms(2).abort_sticky(true),
    ] {
        let (_dir, reg) = both("async-drop", fake);
        for model in ["cpu", "npu"] {
            let mut g = reg.open_model(model).unwrap();
            let long = Request::user("#LONG# Tell me a very long story.")
                .sampling(Sampling::greedy())
                .max_tokens(400);
            let mut s = g.stream_async(&long).unwrap();
            let first = next(&mut s).unwrap().unwrap();
            assert!(!matches!(first, Event::Done(_)), "{model}: {first:?}");
            let t = Instant::now();
            drop(s);
            let took = t.elapsed();
            if model == "npu" {
                assert!(
                    took < Duration::from_millis(600),
                    "{model}: drop took {took:?}"
                );
            }
            // The next generation waits for the old one on the backend's thread, then runs
            // uncancelled, also when it is dropped in turn right away.
            drop(g.stream_async(&long).unwrap());
            let (text, _, stats) = collect(&mut g, &request());
            assert!(!text.is_empty(), "{model}");
            assert_ne!(
                stats.stop_reason,
                StopReason::Cancelled,
                "{model}: {stats:?}"
            );
        }
    }
}

#[test]
fn per_layer_kv_types_from_the_registry() {
    let entry = |name: &str, layers: &str| {
        format!(
            "{}cache_layers = \"{layers}\"\nflash_attention = \"on\"\n",
            common::llama_entry(name)
        )
    };
    let toml = format!(
        "{}\n{}",
        entry("hybrid", "hybrid:6:q8_0:q4_0"),
        entry("too-deep", "hybrid:99:q8_0:q4_0")
    );
    let reg = edge_infer::Registry::from_toml_str(&toml).unwrap();
    let mut g = reg.open_model("hybrid").unwrap();
    let (t, _, s) = collect(&mut g, &request());
    assert!(!t.is_empty() && s.generated_tokens > 0, "{t:?} {s:?}");
    // A split past the model's 18 layers fails when the model opens, naming the cause.
    let e = reg.open_model("too-deep").unwrap_err().to_string();
    assert!(e.contains("`too-deep`") && e.contains("99"), "{e}");
}
