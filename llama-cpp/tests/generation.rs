//! Generation on the real default model (gemma-3-270m Q4_K_M).

mod common;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{model, params, PROMPT};
use edge_infer_llama::{Context, Event, GenerateOptions, Sampling, StopReason};

fn greedy_text(n: usize) -> (String, edge_infer_llama::Stats) {
    run(Sampling::greedy(), GenerateOptions::default().max_tokens(n))
}

#[test]
fn greedy_32_tokens_is_deterministic() {
    let (a, sa) = greedy_text(32);
    let (b, sb) = greedy_text(32);
    assert_eq!(a, b);
    assert!(a.len() > 20, "suspiciously short output: {a:?}");
    assert_eq!(sa.generated_tokens, 32);
    assert_eq!(sb.generated_tokens, 32);
    assert_eq!(sa.stop_reason, StopReason::MaxTokens);
    assert!(
        a.contains("Paris") || a.contains("France"),
        "unexpected continuation: {a:?}"
    );
}

#[test]
fn callback_and_iterator_yield_the_same_text() {
    let (cb, cb_stats) = greedy_text(32);
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let mut it = String::new();
    let mut done = None;
    let mut events_after_done = 0;
    for ev in ctx
        .generate(PROMPT, &mut s, GenerateOptions::default().max_tokens(32))
        .unwrap()
    {
        match ev.unwrap() {
            Event::Text(t) => {
                assert!(!t.is_empty(), "empty text events are not emitted");
                assert!(done.is_none());
                it.push_str(&t);
            }
            Event::Done(st) => {
                if done.is_some() {
                    events_after_done += 1;
                }
                done = Some(st);
            }
        }
    }
    assert_eq!(it, cb);
    assert_eq!(events_after_done, 0);
    let done = done.expect("a Done event");
    assert_eq!(done.generated_tokens, cb_stats.generated_tokens);
    assert_eq!(done.prompt_tokens, cb_stats.prompt_tokens);
}

#[test]
fn stats_are_filled_in() {
    let (_, st) = greedy_text(16);
    let expected_prompt = model().tokenize(PROMPT, true, true).unwrap().len();
    assert_eq!(st.prompt_tokens, expected_prompt);
    assert_eq!(st.generated_tokens, 16);
    assert!(st.time_to_first_token > std::time::Duration::ZERO);
    assert!(st.time_to_first_token >= st.prefill_time);
    assert!(st.prefill_tokens_per_second() > 0.0);
    assert!(st.decode_tokens_per_second() > 0.0);
}

#[test]
fn cancel_from_another_thread_stops_within_one_token() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let handle = ctx.cancel_handle();
    let mut s = Sampling::default()
        .temperature(1.0)
        .seed(7)
        .build(m)
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let at_cancel = Arc::new(AtomicUsize::new(usize::MAX));
    let canceller = {
        let (seen, at_cancel) = (seen.clone(), at_cancel.clone());
        std::thread::spawn(move || {
            while seen.load(Ordering::SeqCst) < 5 {
                std::thread::yield_now();
            }
            at_cancel.store(seen.load(Ordering::SeqCst), Ordering::SeqCst);
            handle.cancel();
        })
    };
    let mut tokens_text = 0usize;
    let stats = ctx
        .generate_with(
            PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(400),
            |_| {
                tokens_text += 1;
                seen.store(tokens_text, Ordering::SeqCst);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    canceller.join().unwrap();
    let at = at_cancel.load(Ordering::SeqCst);
    assert_eq!(stats.stop_reason, StopReason::Cancelled);
    assert!(at >= 5);
    // The token being decoded when cancel() returned may still finish; no more.
    assert!(
        stats.generated_tokens <= at + 1,
        "generated {} tokens, cancel came after {at}",
        stats.generated_tokens
    );
    // The context stays usable after a cancel.
    let mut g = Sampling::greedy().build(m).unwrap();
    ctx.clear();
    let st = ctx
        .generate_with(
            PROMPT,
            &mut g,
            GenerateOptions::default().max_tokens(4),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(st.generated_tokens, 4);
}

#[test]
fn callback_break_stops_generation() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let mut calls = 0;
    let st = ctx
        .generate_with(
            PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(64),
            |_| {
                calls += 1;
                if calls == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
    assert_eq!(calls, 3);
    assert_eq!(st.stop_reason, StopReason::Cancelled);
}

#[test]
fn stop_string_ends_generation_before_it() {
    let (full, _) = greedy_text(32);
    // A stop string taken from the middle of the greedy continuation.
    let start = full.char_indices().nth(full.chars().count() / 2).unwrap().0;
    let stop: String = full[start..].chars().take(4).collect();
    let expected = &full[..full.find(&stop).unwrap()];

    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let mut text = String::new();
    let st = ctx
        .generate_with(
            PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(32).stop(stop.clone()),
            |t| {
                text.push_str(t);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    assert_eq!(text, expected);
    assert_eq!(st.stop_reason, StopReason::StopString(stop));
}

#[test]
fn seeded_sampling_is_reproducible_and_seed_matters() {
    let m = model();
    let run = |seed| {
        let mut ctx = Context::new(m, &params()).unwrap();
        let mut s = Sampling::default()
            .temperature(1.2)
            .top_k(100)
            .seed(seed)
            .build(m)
            .unwrap();
        let mut text = String::new();
        ctx.generate_with(
            PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(24),
            |t| {
                text.push_str(t);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        text
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert!(run(2) != a || run(3) != a, "three seeds gave the same text");
}

#[test]
fn continuing_a_context_only_evaluates_new_tokens() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let st1 = ctx
        .generate_with(
            PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(8),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    let cached = ctx.tokens().len();
    // The 8th token was not decoded (nobody needs its logits).
    assert_eq!(cached, st1.prompt_tokens + 7);
    let more = m.tokenize(" And", false, false).unwrap();
    let st2 = ctx
        .generate_with(
            &more,
            &mut s,
            GenerateOptions::default().max_tokens(4),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(st2.prompt_tokens, more.len());
    assert_eq!(ctx.tokens().len(), cached + more.len() + 3);
}

#[test]
fn context_full_is_a_stop_reason_not_an_error() {
    if common::emulated() {
        // ~250 tokens at about a second each under qemu; the board and x86-64 run it.
        eprintln!("skipped under qemu: too slow emulated");
        return;
    }
    let m = model();
    let mut ctx = Context::new(m, &params().n_ctx(16)).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let n_ctx = ctx.n_ctx() as usize; // llama.cpp rounds small sizes up
    let st = ctx
        .generate_with(
            PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(n_ctx * 2),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(st.stop_reason, StopReason::ContextFull);
    assert_eq!(ctx.tokens().len(), n_ctx);
    assert!(st.prompt_tokens + st.generated_tokens <= n_ctx + 1);
}

fn run(sampling: Sampling, opts: GenerateOptions) -> (String, edge_infer_llama::Stats) {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = sampling.build(m).unwrap();
    let mut text = String::new();
    let stats = ctx
        .generate_with(PROMPT, &mut s, opts, |t| {
            text.push_str(t);
            ControlFlow::Continue(())
        })
        .unwrap();
    (text, stats)
}

#[test]
fn a_grammar_constrains_the_output_and_ends_it() {
    let (text, stats) = run(
        Sampling::greedy().grammar(r#"root ::= ("yes" | "no") " and " [0-9] [0-9]"#),
        GenerateOptions::default().max_tokens(32),
    );
    let (word, num) = text.split_once(" and ").expect("grammar shape");
    assert!(matches!(word, "yes" | "no"), "{text:?}");
    assert!(
        num.len() == 2 && num.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    // Once the grammar is complete only end-of-generation is allowed.
    assert_eq!(stats.stop_reason, StopReason::EndOfGeneration, "{text:?}");
}

#[test]
fn render_tokens_shows_only_the_listed_control_tokens() {
    let m = model();
    // <unused0>/<unused1> are control tokens of Gemma 3: dropped from text by default.
    let (open, close) = (edge_infer_llama::Token(6), edge_infer_llama::Token(7));
    assert!(m.is_control(open) && m.is_control(close));
    assert!(
        !m.is_control(edge_infer_llama::Token(-1))
            && !m.is_control(edge_infer_llama::Token(m.n_vocab()))
    );
    let forced = || Sampling::greedy().grammar(r#"root ::= <[6]> "hmm" <[7]> "Paris""#);
    let opts = || GenerateOptions::default().max_tokens(16);

    let (plain, stats) = run(forced(), opts());
    assert_eq!(plain, "hmmParis");
    assert_eq!(stats.stop_reason, StopReason::EndOfGeneration);

    let (listed, _) = run(forced(), opts().render_tokens([open, close]));
    assert_eq!(listed, "<unused0>hmm<unused1>Paris");

    let (only_open, _) = run(forced(), opts().render_tokens([open]));
    assert_eq!(only_open, "<unused0>hmmParis");

    let (all, _) = run(forced(), opts().render_special(true));
    assert_eq!(all, "<unused0>hmm<unused1>Paris");
}

#[test]
fn penalty_last_n_minus_one_is_the_context_window() {
    let m = model();
    let mut ctx = Context::new(m, &params().n_ctx(64)).unwrap();
    let n_ctx = ctx.n_ctx() as i32;
    // The text of the first token generated after the prompt.
    let first = |ctx: &mut Context<'_>, s: &mut edge_infer_llama::Sampler<'_>| {
        ctx.clear();
        let mut text = String::new();
        ctx.generate_with(PROMPT, s, GenerateOptions::default().max_tokens(1), |t| {
            text.push_str(t);
            ControlFlow::Continue(())
        })
        .unwrap();
        text
    };
    // The unpenalized greedy choice after the prompt.
    let a_text = first(&mut ctx, &mut Sampling::greedy().build(m).unwrap());
    let a = m.tokenize(&a_text, false, false).unwrap()[0];
    let filler = m.tokenize(" zebra", false, false).unwrap()[0];
    // `a`, then a window's worth of filler: with a window of n_ctx tokens `a` has left
    // it; with any longer window (n_vocab, as -1 used to mean) it is still penalized.
    let with_window = |last_n: i32| {
        let mut s = Sampling::greedy()
            .presence_penalty(100.0)
            .penalty_last_n(last_n)
            .build(m)
            .unwrap();
        s.accept(a).unwrap();
        for _ in 0..n_ctx {
            s.accept(filler).unwrap();
        }
        s
    };
    assert_eq!(first(&mut ctx, &mut with_window(n_ctx)), a_text);
    assert_ne!(
        first(&mut ctx, &mut with_window(n_ctx + 1)),
        a_text,
        "the penalty must bite"
    );
    assert_eq!(
        first(&mut ctx, &mut with_window(-1)),
        a_text,
        "-1 is n_ctx = {n_ctx}"
    );
}

#[test]
fn detokenizer_pieces_join_to_llama_cpp_detokenize() {
    let m = model();
    // Characters that byte-level tokens split: CJK, emoji, accents.
    let text = "Grüße aus Köln! 東京は日本の首都です。 🦀🦀 naïve café";
    let tokens = m.tokenize(text, false, false).unwrap();
    let whole = m.detokenize(&tokens, false).unwrap();
    let mut d = edge_infer_llama::Detokenizer::new(m, &GenerateOptions::default());
    let (mut out, mut pieces) = (String::new(), 0);
    for &t in &tokens {
        let before = out.len();
        assert!(d.push(t, &mut out).unwrap().is_none());
        pieces += usize::from(out.len() > before);
    }
    assert!(d.finish(&mut out).is_none());
    assert_eq!(out, whole);
    assert!(pieces > 5 && pieces <= tokens.len());
    // A stop string anywhere in it cuts the text there, however the tokens split it.
    let mut d = edge_infer_llama::Detokenizer::new(m, &GenerateOptions::default().stop("の首"));
    let mut cut = String::new();
    let stop = tokens
        .iter()
        .find_map(|&t| d.push(t, &mut cut).unwrap().map(str::to_string));
    assert_eq!(stop.as_deref(), Some("の首"));
    assert_eq!(cut, whole[..whole.find("の首").unwrap()]);
}
