//! Runs against edge-infer's RKLLM test double (a fake librkllmrt, not the NPU runtime).
//! Where the real runtime's behaviour is unknown, each test runs under every variant the
//! double offers.
mod common;
use common::*;
use edge_infer_rkllm::{AsyncEvent, Control, Error, Input, RunOptions};
use rkllm_test_double::{FakeModel, DEFAULT_REPLY};
use std::time::{Duration, Instant};

const WAITING: [&str; 3] = ["split", "cumulative", "empty"];
const ABORT_FINAL: [&str; 3] = ["none", "finish", "error"];

#[test]
fn streams_whole_characters_under_every_waiting_variant() {
    for w in WAITING {
        let (_f, llm) = llm("stream", FakeModel::default().waiting(w));
        let mut chunks = Vec::new();
        let summary = llm
            .run(&Input::prompt("héllo"), &RunOptions::new(), |c| {
                assert!(!c.text().contains('\u{FFFD}'), "{w}: {:?}", c.text());
                chunks.push(c.text().to_owned());
                Control::Continue
            })
            .unwrap();
        assert_eq!(chunks.concat(), DEFAULT_REPLY, "{w}");
        // Every character arrives whole, in its own chunk, although multi-byte ones were
        // split over 2-3 calls by the double.
        assert_eq!(chunks.len(), DEFAULT_REPLY.chars().count(), "{w}");
        let perf = summary.perf.expect("FINISH carries perf");
        assert_eq!(perf.generate_tokens, pieces(DEFAULT_REPLY));
        assert_eq!(perf.prefill_tokens, 5); // one per character of the prompt
        assert_eq!(perf.prefill_time_ms, 2.5);
        assert_eq!(perf.memory_usage_mb, 123.5);
        assert!(!summary.paused && !summary.aborted && summary.trailing_text.is_empty());
        // Async runs read the protocol the same way.
        let (text, s) = llm
            .run_async(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(text, DEFAULT_REPLY, "{w} (async)");
        assert!(s.trailing_text.is_empty());
    }
}

#[test]
fn max_new_tokens_cutting_a_character_ends_the_text_with_one_replacement_character() {
    for w in ["split", "cumulative"] {
        let f = fixture("cut", FakeModel::default().reply("a🦀b").waiting(w));
        let llm = builder(&f).max_new_tokens(2).build().unwrap();
        let (text, summary) = llm
            .generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap();
        // The first byte of 🦀, never completed: U+FFFD, as the CPU path and
        // String::from_utf8_lossy make it; the callback saw only "a".
        assert_eq!(text, "a\u{FFFD}", "{w}");
        assert_eq!(summary.trailing_text, "\u{FFFD}", "{w}");
        assert_eq!(summary.perf.unwrap().generate_tokens, 2);
    }
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

#[cfg(not(rkllm_abi_1_2))]
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
    assert_eq!(query(Some(&llm), "last_temperature_milli"), 800);
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        "abcdefghij"
    );
    assert_eq!(query(Some(&llm), "last_top_k"), 40);
}

#[cfg(rkllm_abi_1_2)]
#[test]
fn per_run_overrides_are_typed_errors_on_1_2() {
    let (_f, llm) = llm("override12", FakeModel::default());
    let e = llm
        .generate(&Input::prompt("x"), &RunOptions::new().max_new_tokens(3))
        .unwrap_err();
    assert!(matches!(e, Error::NotInAbi { .. }), "{e}");
    let opts = RunOptions::new().sampling(edge_infer_rkllm::Sampling::new().top_k(1));
    let e = llm.generate(&Input::prompt("x"), &opts).unwrap_err();
    assert!(matches!(e, Error::NotInAbi { .. }), "{e}");
}

#[test]
fn pause_keeps_state_and_the_next_run_resumes_with_or_without_a_finish() {
    for pf in ["none", "finish"] {
        let (_f, llm) = llm(
            "pause",
            FakeModel::default().reply("abcdef").pause_final(pf),
        );
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
        assert_eq!(first, "ab", "{pf}: no text after the pause");
        assert!(s.paused, "{pf}");
        assert_eq!(s.perf.is_some(), pf == "finish", "{pf}");
        assert!(
            llm.kv_cache_size().unwrap() > 0,
            "KV cache kept while paused"
        );
        let (rest, s2) = llm
            .generate(&Input::prompt(""), &RunOptions::new())
            .unwrap();
        assert_eq!(rest, "cdef", "{pf}");
        assert!(!s2.paused);
    }
}

#[test]
fn async_runs_pause_too() {
    let (_f, llm) = llm(
        "apause",
        FakeModel::default().reply("abcdefghij").token_delay_ms(5),
    );
    let mut run = llm
        .run_async(&Input::prompt("go"), &RunOptions::new())
        .unwrap();
    let first = run.next().unwrap();
    assert!(
        matches!(first, AsyncEvent::Text { ref text, .. } if text == "a"),
        "{first:?}"
    );
    run.pause();
    let mut text = String::from("a");
    let mut summary = None;
    for ev in run {
        match ev {
            AsyncEvent::Text { text: t, .. } => text.push_str(&t),
            AsyncEvent::Finished(s) => summary = Some(s),
            e => panic!("{e:?}"),
        }
    }
    let s = summary.expect("a paused async run ends with Finished");
    assert!(s.paused && !s.aborted);
    assert!(text.len() < 10, "paused early: {text}");
    assert_eq!(query(Some(&llm), "runs"), 1);
    // The model is free again, and the rest of the reply comes next.
    let (rest, _) = llm
        .generate(&Input::prompt(""), &RunOptions::new())
        .unwrap();
    assert_eq!(format!("{text}{rest}"), "abcdefghij");
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
}

fn abort_mid_run(
    llm: &edge_infer_rkllm::Llm,
) -> (
    edge_infer_rkllm::Result<edge_infer_rkllm::RunSummary>,
    Duration,
    usize,
) {
    let handle = llm.abort_handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let aborter = std::thread::spawn(move || {
        rx.recv().unwrap(); // first token seen
        assert!(
            handle.is_running().unwrap(),
            "is_running is not blocked by the run lock"
        );
        handle.abort().unwrap();
        Instant::now()
    });
    let mut n = 0;
    let mut tx = Some(tx);
    let r = llm.run(&Input::prompt("#LONG#"), &RunOptions::new(), |_| {
        n += 1;
        if let Some(tx) = tx.take() {
            tx.send(()).unwrap();
        }
        Control::Continue
    });
    let latency = aborter.join().unwrap().elapsed();
    (r, latency, n)
}

#[test]
fn abort_from_another_thread_under_every_final_variant() {
    for fin in ABORT_FINAL {
        let (_f, llm) = llm("abort", quick_abort().abort_final(fin));
        let (r, latency, n) = abort_mid_run(&llm);
        // An ERROR after our own abort is the abort's end, not a failure.
        let s = r.unwrap_or_else(|e| panic!("{fin}: {e}"));
        assert!(s.aborted, "{fin}");
        assert_eq!(s.perf.is_some(), fin == "finish", "{fin}");
        assert!(n < 20000, "{fin}: the run stopped early");
        assert!(latency < Duration::from_secs(5), "{fin}: {latency:?}");
        assert!(!llm.is_running());
        // The next run is untouched.
        let (t, s2) = llm
            .generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap();
        assert_eq!(t, DEFAULT_REPLY);
        assert!(!s2.aborted);
    }
}

#[test]
fn the_runtime_goes_on_generating_for_its_abort_delay() {
    // The double's default imitates the ~1.3 s measured on a board.
    let (_f, llm) = llm("slowabort", FakeModel::default());
    let t0 = Instant::now();
    let (r, latency, n) = abort_mid_run(&llm);
    let s = r.unwrap();
    println!("abort took effect after {latency:?} ({n} tokens streamed)");
    assert!(s.aborted);
    assert!(latency >= Duration::from_millis(1200), "{latency:?}");
    assert!(
        query(Some(&llm), "generated_after_abort") > 0,
        "tokens came after the abort"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn panic_in_the_callback_is_reported_after_the_run_and_the_model_stays_usable() {
    let (_f, llm) = llm("panic", quick_abort().reply("abcdefgh").token_delay_ms(2));
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
fn callback_reentering_the_model_is_an_error_not_a_deadlock_but_another_model_is_fine() {
    let (_f, llm) = llm("reenter", FakeModel::default().reply("ab"));
    let (_g, other) = common::llm("reenter-other", FakeModel::default().reply("zz"));
    let mut inner = None;
    let mut other_text = None;
    llm.run(&Input::prompt("x"), &RunOptions::new(), |_| {
        inner.get_or_insert_with(|| llm.kv_cache_size());
        other_text.get_or_insert_with(|| {
            other
                .generate(&Input::prompt("y"), &RunOptions::new())
                .map(|t| t.0)
        });
        Control::Continue
    })
    .unwrap();
    assert!(
        matches!(inner, Some(Err(Error::InvalidArgument(_)))),
        "{inner:?}"
    );
    assert_eq!(other_text.unwrap().unwrap(), "zz");
}

#[test]
fn two_threads_running_on_one_handle_are_serialised() {
    let (_f, llm) = llm(
        "twothreads",
        FakeModel::default().reply("abcdefghijkl").token_delay_ms(2),
    );
    let overlaps_before = query(None, "overlaps");
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
    assert_eq!(query(Some(&llm), "runs"), 2);
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
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
}

#[test]
fn a_refused_input_that_never_calls_back_is_a_typed_error() {
    // ABI.md: a bad input returns 0 and never calls back (run_async, #321); for rkllm_run
    // that is unknown, so both variants.
    let (_f, llm) = llm("badinput", FakeModel::default());
    let e = llm
        .generate(&Input::prompt("#BADINPUT#"), &RunOptions::new())
        .unwrap_err();
    assert!(matches!(e, Error::NotRun { code: 0 }), "{e}");
    let e = llm
        .run_async(&Input::prompt("#BADINPUT#"), &RunOptions::new())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(matches!(e, Error::NotRun { code: 0 }), "{e}");
    let (_f, llm) = common::llm("badinput-err", FakeModel::default().bad_input("error"));
    let e = llm
        .generate(&Input::prompt("#BADINPUT#"), &RunOptions::new())
        .unwrap_err();
    assert!(matches!(e, Error::RunFailed { .. }), "{e}");
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
}

#[test]
fn async_run_delivers_events() {
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
    assert_eq!(
        llm.run_async(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .wait()
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
    assert_eq!(query(None, "overlaps"), 0);
    assert_eq!(
        query(None, "run_async_defect_calls"),
        0,
        "rkllm_run_async is never called"
    );
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
    let (text, _) = llm
        .generate(&Input::prompt("y"), &RunOptions::new())
        .unwrap(); // waits
    assert_eq!(text, "abcdef");
    assert_eq!(run.wait().unwrap().0, "abcdef");
}

#[test]
fn dropping_the_model_during_an_async_run_aborts_waits_and_destroys_under_every_final_variant() {
    for fin in ABORT_FINAL {
        let (_f, llm) = llm("drop-async", quick_abort().abort_final(fin));
        let destroyed_running_before = query(None, "destroyed_while_running");
        let mut run = llm
            .run_async(&Input::prompt("#LONG#"), &RunOptions::new())
            .unwrap();
        assert!(matches!(run.next(), Some(AsyncEvent::Text { .. })));
        let t = Instant::now();
        drop(llm);
        println!("{fin}: drop during async run took {:?}", t.elapsed());
        // Even without a final callback, the run's end is known: Finished(aborted).
        match run.by_ref().last().expect("events") {
            AsyncEvent::Finished(s) => assert!(s.aborted, "{fin}"),
            e => panic!("{fin}: unexpected last event {e:?}"),
        }
        assert!(run.is_finished());
        assert_eq!(
            query(None, "destroyed_while_running") - destroyed_running_before,
            0,
            "{fin}"
        );
        assert!(matches!(run.abort(), Err(Error::Destroyed)));
    }
}

#[test]
fn dropping_an_async_run_aborts_it() {
    let (_f, llm) = llm("drop-run", quick_abort());
    let run = llm
        .run_async(&Input::prompt("#LONG#"), &RunOptions::new())
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(run);
    let t = Instant::now();
    assert_eq!(
        llm.generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap()
            .0,
        DEFAULT_REPLY
    );
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn abort_from_inside_the_callback_stops_this_run_only() {
    let (_f, llm) = llm(
        "abort-inside",
        quick_abort().reply("abcdefghijklmnop").token_delay_ms(5),
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
    let (t, s2) = llm
        .generate(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    assert_eq!(t, "abcdefghijklmnop");
    assert!(!s2.aborted);
}

#[test]
fn an_ended_async_run_can_never_abort_the_next_run() {
    let (_f, llm) = llm(
        "abort-identity",
        quick_abort().reply("abcdefghij").token_delay_ms(10),
    );
    let mut first = llm
        .run_async(&Input::prompt("one"), &RunOptions::new())
        .unwrap();
    while first.next().is_some() {}
    assert!(first.is_finished());
    std::thread::scope(|s| {
        let second = s.spawn(|| llm.generate(&Input::prompt("two"), &RunOptions::new()));
        while !llm.is_running() {
            std::thread::yield_now();
        }
        first.abort().unwrap(); // the first run is over: this must not touch the second
        drop(first);
        let (text, summary) = second.join().unwrap().unwrap();
        assert_eq!(text, "abcdefghij");
        assert!(!summary.aborted);
    });
}

#[test]
fn no_abort_reaches_an_idle_runtime_even_where_idle_aborts_are_sticky() {
    // Variant: an abort made while idle kills the runtime's next run.
    let (_f, llm) = llm("sticky", quick_abort().abort_sticky(true).reply("abc"));
    let idle_before = query(None, "idle_aborts");
    let mut run = llm
        .run_async(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    while run.next().is_some() {}
    run.abort().unwrap();
    llm.abort().unwrap();
    llm.abort_handle().abort().unwrap();
    drop(run);
    assert_eq!(
        query(None, "idle_aborts"),
        idle_before,
        "rkllm_abort was called while idle"
    );
    let (text, s) = llm
        .generate(&Input::prompt("x"), &RunOptions::new())
        .unwrap();
    assert_eq!(text, "abc");
    assert!(!s.aborted);
}

#[test]
fn a_run_that_never_returns_is_leaked_on_purpose_not_freed() {
    let f = fixture("hang", quick_abort().hang_after_abort(true));
    let llm = builder(&f)
        .drop_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = llm.raw_handle();
    let late_before = query(None, "late_callbacks");
    let mut run = llm
        .run_async(&Input::prompt("#LONG#"), &RunOptions::new())
        .unwrap();
    assert!(matches!(run.next(), Some(AsyncEvent::Text { .. })));
    drop(run); // aborts; the run then hangs in the runtime
    while query(None, "hung_runs") == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    drop(llm);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Not destroyed: the double still knows the (leaked) handle.
    assert_eq!(query_raw(handle, "runs"), 1, "the handle was destroyed");
    // The runtime comes back and calls back once more: into memory we kept, not freed.
    release_hung_runs();
    while query(None, "late_callbacks") == late_before {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn async_run_timeouts_for_a_silent_runtime() {
    let (_f, llm) = llm(
        "async-timeout",
        quick_abort().reply("abc").token_delay_ms(300),
    );
    let mut run = llm
        .run_async(&Input::prompt("hi"), &RunOptions::new())
        .unwrap();
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
    let mut text = String::from("a");
    while let Some(ev) = run.next_timeout(Duration::from_secs(10)).unwrap() {
        if let AsyncEvent::Text { text: t, .. } = ev {
            text.push_str(&t);
        }
    }
    assert_eq!(text, "abc");
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
