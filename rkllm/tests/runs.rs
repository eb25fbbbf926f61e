//! Runs against edge-infer's RKLLM test double (a fake librkllmrt, not the NPU runtime).
mod common;
use common::*;
use edge_infer_rkllm::{AsyncEvent, CallState, Control, Error, Input, RunOptions};
use rkllm_test_double::{FakeModel, DEFAULT_REPLY};
use std::time::{Duration, Instant};

#[test]
fn streams_text_reassembling_characters_split_across_waiting_calls() {
    let (_f, llm) = llm("stream", FakeModel::default());
    let mut chunks = Vec::new();
    let summary = llm
        .run(&Input::prompt("héllo"), &RunOptions::new(), |c| {
            assert_eq!(
                c.state(),
                CallState::Normal,
                "WAITING calls with nothing complete are not surfaced"
            );
            assert!(c.invalid_bytes().is_empty());
            chunks.push(c.text().to_owned());
            Control::Continue
        })
        .unwrap();
    assert_eq!(chunks.concat(), DEFAULT_REPLY);
    // Every character arrives whole, in its own chunk, although multi-byte ones were split
    // over 2-3 calls by the double.
    assert_eq!(chunks.len(), DEFAULT_REPLY.chars().count());
    assert!(chunks.iter().all(|c| c.chars().count() == 1));
    let perf = summary.perf.expect("FINISH carries perf");
    assert_eq!(perf.generate_tokens, pieces(DEFAULT_REPLY));
    assert!(
        perf.generate_tokens > DEFAULT_REPLY.chars().count() as i32,
        "the reply must contain split characters"
    );
    assert_eq!(perf.prefill_tokens, 5); // one per character of the prompt
    assert_eq!(perf.prefill_time_ms, 2.5);
    assert_eq!(perf.generate_time_ms, 2.0 * perf.generate_tokens as f32);
    assert_eq!(perf.memory_usage_mb, 123.5);
    assert!(!summary.paused && !summary.aborted && summary.trailing_invalid.is_empty());
}

#[test]
fn max_new_tokens_cutting_a_character_reports_its_bytes_instead_of_replacing_them() {
    let f = fixture("cut", FakeModel::default().reply("a🦀b"));
    let llm = builder(&f).max_new_tokens(2).build().unwrap();
    let (text, summary) = llm
        .generate(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    assert_eq!(text, "a");
    assert_eq!(summary.trailing_invalid, vec![0xF0]); // first byte of 🦀, never completed
    assert_eq!(summary.perf.unwrap().generate_tokens, 2);
}

#[test]
fn init_max_new_tokens_limits_generation() {
    let f = fixture("maxnew", FakeModel::default().reply("abcdefghij"));
    let llm = builder(&f).max_new_tokens(4).build().unwrap();
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        "abcd"
    );
    assert_eq!(query(Some(&llm), "param_max_new_tokens"), 4);
}

#[cfg(not(feature = "abi-1-2"))]
#[test]
fn per_run_overrides_reach_the_runtime() {
    let f = fixture("override", FakeModel::default().reply("abcdefghij"));
    let llm = builder(&f)
        .sampling(edge_infer_rkllm::Sampling::new().top_k(40).temperature(0.8))
        .build()
        .unwrap();
    let opts = RunOptions::new()
        .max_new_tokens(3)
        .sampling(edge_infer_rkllm::Sampling::new().top_k(7));
    assert_eq!(llm.generate(&Input::prompt("x"), &opts).unwrap().0, "abc");
    assert_eq!(query(Some(&llm), "last_max_new_tokens"), 3);
    assert_eq!(query(Some(&llm), "last_top_k"), 7);
    // Unset fields keep the init values.
    assert_eq!(query(Some(&llm), "last_temperature_milli"), 800);
    // Without overrides, the init values apply.
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        "abcdefghij"
    );
    assert_eq!(query(Some(&llm), "last_top_k"), 40);
}

#[cfg(feature = "abi-1-2")]
#[test]
fn per_run_overrides_are_typed_errors_on_1_2() {
    let (_f, llm) = llm("override12", FakeModel::default());
    let e = llm
        .generate(&Input::prompt("x"), &RunOptions::new().max_new_tokens(3))
        .unwrap_err();
    assert!(matches!(e, Error::NotInAbi { .. }), "{e}");
    let e = llm
        .generate(
            &Input::prompt("x"),
            &RunOptions::new().sampling(edge_infer_rkllm::Sampling::new().top_k(1)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::NotInAbi { .. }), "{e}");
}

#[test]
fn pause_keeps_state_and_the_next_run_resumes() {
    let (_f, llm) = llm("pause", FakeModel::default().reply("abcdef"));
    let mut first = String::new();
    let s = llm
        .run(&Input::prompt("go"), &RunOptions::new(), |c| {
            first.push_str(c.text());
            if first.len() == 2 {
                Control::Pause
            } else {
                Control::Continue
            }
        })
        .unwrap();
    assert_eq!(first, "ab");
    assert!(s.paused);
    assert!(s.perf.is_none(), "no FINISH after a pause");
    assert!(
        llm.kv_cache_size().unwrap() > 0,
        "KV cache kept while paused"
    );
    let (rest, s2) = llm
        .generate(&Input::prompt(""), &RunOptions::new())
        .unwrap();
    assert_eq!(rest, "cdef");
    assert!(!s2.paused);
}

#[test]
fn keep_history_accumulates_the_kv_cache() {
    let (_f, llm) = llm("history", FakeModel::default().reply("ok"));
    let keep = RunOptions::new().keep_history(true);
    llm.generate(&Input::prompt("abc"), &keep).unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 3 + 2);
    assert_eq!(query(Some(&llm), "last_keep_history"), 1);
    llm.generate(&Input::prompt("de"), &keep).unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 5 + 2 + 2);
    llm.generate(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    assert_eq!(llm.kv_cache_size().unwrap(), 0);
    assert_eq!(query(Some(&llm), "last_keep_history"), 0);
}

#[test]
fn abort_from_another_thread_during_a_run() {
    let (_f, llm) = llm("abort", FakeModel::default());
    let handle = llm.abort_handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let aborter = std::thread::spawn(move || {
        rx.recv().unwrap(); // first token seen
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            handle.is_running().unwrap(),
            "is_running is not blocked by the run lock"
        );
        let t = Instant::now();
        handle.abort().unwrap();
        t
    });
    let mut n = 0;
    let mut tx = Some(tx);
    let s = llm
        .run(&Input::prompt("#LONG#"), &RunOptions::new(), |_| {
            n += 1;
            if let Some(tx) = tx.take() {
                tx.send(()).unwrap();
            }
            Control::Continue
        })
        .unwrap();
    let latency = aborter.join().unwrap().elapsed();
    println!("abort latency against the test double: {latency:?} ({n} tokens streamed)");
    assert!(latency < Duration::from_secs(1), "abort took {latency:?}");
    assert!(s.aborted);
    assert!(n < 20000, "the run stopped early");
    assert!(s.perf.is_some(), "the double sends FINISH after an abort");
    assert!(!llm.is_running());
}

#[test]
fn panic_in_the_callback_is_reported_after_the_run_and_the_model_stays_usable() {
    let (_f, llm) = llm("panic", FakeModel::default().reply("abcdefgh"));
    let mut seen = 0;
    let err = llm
        .run(&Input::prompt("x"), &RunOptions::new(), |_| {
            seen += 1;
            if seen == 3 {
                panic!("boom in user callback");
            }
            Control::Continue
        })
        .unwrap_err();
    match err {
        Error::CallbackPanicked(m) => assert!(m.contains("boom in user callback"), "{m}"),
        e => panic!("unexpected {e}"),
    }
    assert_eq!(seen, 3, "no callback after the panic");
    assert!(!llm.is_running());
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        "abcdefgh"
    );
}

#[test]
fn callback_reentering_the_model_is_an_error_not_a_deadlock() {
    let (_f, llm) = llm("reenter", FakeModel::default().reply("ab"));
    let mut inner = None;
    llm.run(&Input::prompt("x"), &RunOptions::new(), |_| {
        inner.get_or_insert_with(|| llm.kv_cache_size());
        Control::Continue
    })
    .unwrap();
    assert!(
        matches!(inner, Some(Err(Error::InvalidArgument(_)))),
        "{inner:?}"
    );
}

#[test]
fn two_threads_running_on_one_handle_are_serialised() {
    let (_f, llm) = llm(
        "twothreads",
        FakeModel::default().reply("abcdefghijkl").token_delay_ms(2),
    );
    let overlaps_before = query(None, "overlaps");
    let runs_before = query(Some(&llm), "runs");
    std::thread::scope(|s| {
        let a = s.spawn(|| llm.generate(&Input::prompt("one"), &RunOptions::new()));
        let b = s.spawn(|| llm.generate(&Input::prompt("two"), &RunOptions::new()));
        assert_eq!(a.join().unwrap().unwrap().0, "abcdefghijkl");
        assert_eq!(b.join().unwrap().unwrap().0, "abcdefghijkl");
    });
    assert_eq!(
        query(None, "overlaps") - overlaps_before,
        0,
        "the double saw overlapping runs"
    );
    assert_eq!(query(Some(&llm), "runs") - runs_before, 2);
}

#[test]
fn callback_need_not_be_send_or_static() {
    let (_f, llm) = llm("nonsend", FakeModel::default().reply("xyz"));
    let local = std::rc::Rc::new(std::cell::RefCell::new(String::new())); // !Send
    let sink = local.clone();
    llm.run(&Input::prompt("x"), &RunOptions::new(), move |c| {
        sink.borrow_mut().push_str(c.text());
        Control::Continue
    })
    .unwrap();
    assert_eq!(*local.borrow(), "xyz");
}

#[test]
fn error_state_is_a_typed_error() {
    let (_f, llm) = llm("error", FakeModel::default());
    let err = llm
        .generate(&Input::prompt("#ERROR# please"), &RunOptions::new())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::RunFailed {
                error_state: true,
                ..
            }
        ),
        "{err}"
    );
    let err = llm
        .run_async(&Input::prompt("#ERROR#"), &RunOptions::new())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::RunFailed {
                error_state: true,
                ..
            }
        ),
        "{err}"
    );
    // still usable
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
}

#[test]
fn async_run_delivers_events_from_the_runtime_thread() {
    let (_f, llm) = llm("async", FakeModel::default());
    let run = llm
        .run_async(&Input::prompt("hi"), &RunOptions::new())
        .unwrap();
    let mut text = String::new();
    let mut finished = None;
    for ev in run {
        match ev {
            AsyncEvent::Text { text: t, .. } => text.push_str(&t),
            AsyncEvent::Finished(s) => finished = Some(s),
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(text, DEFAULT_REPLY);
    let s = finished.expect("Finished is the last event");
    assert_eq!(s.perf.unwrap().generate_tokens, pieces(DEFAULT_REPLY));
    // The next run waits for the async run's end, then works.
    assert_eq!(
        llm.run_async(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .wait()
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
    assert_eq!(query(None, "overlaps"), 0);
}

#[test]
fn blocking_run_after_async_run_waits_for_it() {
    let (_f, llm) = llm(
        "async-then-sync",
        FakeModel::default().reply("abcdef").token_delay_ms(3),
    );
    let run = llm
        .run_async(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    assert!(llm.is_running());
    let (text, _) = llm
        .generate(&Input::prompt("y"), &RunOptions::new())
        .unwrap(); // waits
    assert_eq!(text, "abcdef");
    assert_eq!(run.wait().unwrap().0, "abcdef");
}

#[test]
fn dropping_the_model_during_an_async_run_aborts_waits_and_destroys() {
    let (_f, llm) = llm("drop-async", FakeModel::default());
    let destroyed_running_before = query(None, "destroyed_while_running");
    let mut run = llm
        .run_async(&Input::prompt("#LONG#"), &RunOptions::new())
        .unwrap();
    // Wait until tokens flow.
    assert!(matches!(run.next(), Some(AsyncEvent::Text { .. })));
    let t = Instant::now();
    drop(llm);
    let took = t.elapsed();
    println!("drop during async run took {took:?}");
    assert!(took < Duration::from_secs(2));
    // The final callback was delivered before destroy: the stream ends with Finished(aborted).
    let last = run.by_ref().last().expect("events");
    match last {
        AsyncEvent::Finished(s) => assert!(s.aborted),
        e => panic!("unexpected last event {e:?}"),
    }
    assert!(run.is_finished());
    assert_eq!(
        query(None, "destroyed_while_running") - destroyed_running_before,
        0,
        "rkllm_destroy was called while the run was still in progress"
    );
    // An abort handle outliving the model reports it cleanly.
    assert!(matches!(run.abort(), Err(Error::Destroyed)));
}

#[test]
fn dropping_an_async_run_aborts_it() {
    let (_f, llm) = llm("drop-run", FakeModel::default());
    let run = llm
        .run_async(&Input::prompt("#LONG#"), &RunOptions::new())
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(run);
    let t = Instant::now();
    // The next run gets the gate once the aborted one has finished.
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn abort_from_inside_the_callback_stops_this_run_only() {
    let (_f, llm) = llm(
        "abort-inside",
        // A token every 5 ms: the abort is completed by another thread, which a loaded
        // machine may not schedule before an undelayed reply is over.
        FakeModel::default()
            .reply("abcdefghijklmnop")
            .token_delay_ms(5),
    );
    let mut n = 0;
    let s = llm
        .run(&Input::prompt("x"), &RunOptions::new(), |_| {
            n += 1;
            if n == 2 {
                llm.abort().unwrap(); // does not block the runtime thread waiting on us
            }
            Control::Continue
        })
        .unwrap();
    assert!(s.aborted);
    assert!(n < 16, "stopped early ({n} chunks)");
    // The deferred abort was completed inside the first run: the next run is untouched.
    let (t, s2) = llm
        .generate(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    assert_eq!(t, "abcdefghijklmnop");
    assert!(!s2.aborted);
}

#[test]
fn async_run_timeouts_for_a_silent_runtime() {
    // 300 ms per token: nothing arrives within 20 ms.
    let (_f, llm) = llm(
        "async-timeout",
        FakeModel::default().reply("abc").token_delay_ms(300),
    );
    let mut run = llm
        .run_async(&Input::prompt("hi"), &RunOptions::new())
        .unwrap();
    // The first token comes at once, the next after the delay.
    let first = run.next_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        matches!(first, Some(AsyncEvent::Text { ref text, .. }) if text == "a"),
        "{first:?}"
    );
    let e = run.next_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(
        matches!(e, Error::Timeout(d) if d == Duration::from_millis(20)),
        "{e}"
    );
    assert!(e.to_string().contains("no event within"), "{e}");
    // The run goes on after a timeout: the events still come, in order.
    let mut text = String::from("a");
    while let Some(ev) = run.next_timeout(Duration::from_secs(10)).unwrap() {
        if let AsyncEvent::Text { text: t, .. } = ev {
            text.push_str(&t);
        }
    }
    assert_eq!(text, "abc");

    // A whole-run deadline aborts the run and says so; the model stays usable.
    let t0 = Instant::now();
    let e = llm
        .run_async(&Input::prompt("hi"), &RunOptions::new())
        .unwrap()
        .wait_timeout(Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let (text, _) = llm
        .run_async(&Input::prompt("hi"), &RunOptions::new())
        .unwrap()
        .wait_timeout(Duration::from_secs(10))
        .unwrap();
    assert_eq!(text, "abc");
}
